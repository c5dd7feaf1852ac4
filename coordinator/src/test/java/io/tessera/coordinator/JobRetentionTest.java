package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import io.tessera.coordinator.CheckpointRecord.ShardPosition;
import io.tessera.coordinator.CoordinatorEvent.CheckpointCompleted;
import io.tessera.coordinator.CoordinatorEvent.CheckpointStarted;
import io.tessera.coordinator.CoordinatorEvent.JobArchived;
import io.tessera.coordinator.CoordinatorEvent.JobCancelled;
import io.tessera.coordinator.CoordinatorEvent.JobFailed;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.testkit.WireRoundTrip;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Archiving finished jobs: an archived job keeps its figures, results and checkpoint positions and
 * loses its ledgers; the coordinator keeps a bounded number of them, dropping the oldest first but
 * never one a queued stage reads, and only the newest keep their plans and loss curves.
 */
class JobRetentionTest {
  private static final String WORKER = "akka://tessera@127.0.0.1:25520/user/worker-a#101";
  private static final DatasetInfo DATA = new DatasetInfo(10, 5, "c0ffee12");
  private static final long T0 = 1_700_000_000_000L;

  private static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("JobRetentionTest");
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static JobSpec spec() {
    return JobSpec.builder().setName("tiny").optGlobalBatch(4).optMicroBatch(2).optSplitSize(4).optEpochs(2).build();
  }

  /** Keeps {@code finished} archived jobs, {@code detailed} of them with plans and curves. */
  private static CoordinatorEvent.Retention keep(int finished, int detailed) {
    return new CoordinatorEvent.Retention(finished, detailed, 1000);
  }

  private static CoordinatorState apply(CoordinatorState state, CoordinatorEvent... events) {
    CoordinatorState next = state;
    for (CoordinatorEvent event : events) {
      next = next.apply(event);
    }
    return next;
  }

  /** A job that trained two splits and took checkpoint 1 of them, then failed. */
  private static CoordinatorState trainedAndFailed(CoordinatorState state, String jobId) {
    return apply(
        state,
        new JobSubmitted(jobId, spec(), T0),
        new JobInitializationStarted(jobId),
        new MemberInitialized(jobId, 0, DATA, 1_000, T0),
        new SplitLeased(jobId, 0, 0, 2, state.nextLeaseId(), WORKER),
        new SplitCompleted(jobId, 0, 0, 2, state.nextLeaseId(), WORKER, 4, 6.0, 2, 1_000),
        new CheckpointStarted(jobId, 1, T0 + 10),
        new CheckpointCompleted(
            jobId, 1, List.of(new ShardPosition(0, 0, 2, 1), new ShardPosition(0, 1, 2, 1)), 3),
        new JobFailed(jobId, "worker pool empty"));
  }

  private static CoordinatorState withWorker() {
    return CoordinatorState.empty()
        .apply(new WorkerJoined(WORKER, testKit.<WorkerProtocol.Command>createTestProbe().getRef()));
  }

  @Test
  void anArchivedJobKeepsItsFiguresResultsAndCheckpointsButNotItsLedgers() {
    CoordinatorState failed = trainedAndFailed(withWorker(), "job-1");
    JobRun before = failed.job("job-1").orElseThrow();
    assertEquals(4, before.samplesDone());
    assertEquals(10, before.splitsTotal());

    CoordinatorState archived = failed.apply(new JobArchived("job-1", keep(100, 3)));
    JobRun after = archived.job("job-1").orElseThrow();

    assertTrue(after.isArchived());
    assertNull(after.member(0).ledger(), "the ledger is dropped");
    assertEquals(JobState.FAILED, after.state());
    assertEquals("worker pool empty", after.failure());
    assertEquals(before.samplesDone(), after.samplesDone());
    assertEquals(before.samplesTotal(), after.samplesTotal());
    assertEquals(before.splitsDone(), after.splitsDone());
    assertEquals(before.splitsTotal(), after.splitsTotal());
    assertEquals(before.member(0).plans(), after.member(0).plans(), "the newest archived jobs keep their plans");
    assertEquals(List.of(0L, 1L), after.checkpoints().stream().map(CheckpointRecord::checkpointId).toList());
    assertEquals(before.lastCheckpoint().orElseThrow().positions(), after.lastCheckpoint().orElseThrow().positions());
    assertTrue(after.lastCheckpoint().orElseThrow().cuts().isEmpty(), "cuts are of no use once nothing rewinds");
    assertEquals(JobReports.status(failed, before, 0), JobReports.status(archived, after, 0), "status reads the same");

    // The snapshot holds it as it is.
    assertEquals(archived, WireRoundTrip.roundTrip(testKit.system(), archived));
  }

  @Test
  void theOldestArchivedJobsAreDroppedButNotOneAQueuedStageReads() {
    CoordinatorState state = withWorker();
    JobSpec pretrain =
        JobSpecParser.parsePipeline(
                "name = p, epochs = 1, stages = [ { name = pretrain, kind = mae-pretrain },"
                    + " { name = probe, kind = linear-probe, from = pretrain } ]")
            .stages()
            .get(0);
    JobSpec probe =
        JobSpecParser.parsePipeline(
                "name = p, epochs = 1, stages = [ { name = pretrain, kind = mae-pretrain },"
                    + " { name = probe, kind = linear-probe, from = pretrain } ]")
            .stages()
            .get(1);
    state = apply(
        state,
        new JobSubmitted("job-1.pretrain", pretrain, T0),
        new JobSubmitted("job-1.probe", probe, T0),
        new JobFailed("job-1.pretrain", "stands for a finished stage"),
        new JobArchived("job-1.pretrain", keep(2, 1)));
    for (int n = 2; n <= 5; n++) {
      String id = "job-" + n;
      state = apply(state, new JobSubmitted(id, spec(), T0), new JobCancelled(id, "by a test"), new JobArchived(id, keep(2, 1)));
    }

    List<String> kept = state.jobs().stream().map(JobRun::jobId).toList();
    assertEquals(
        List.of("job-1.pretrain", "job-1.probe", "job-5"),
        kept,
        "two archived jobs kept: the stage the queued probe reads, and the newest");
    assertEquals(6, state.nextJobNumber(), "numbers of dropped jobs are never given again");

    // Once the probe is over, nothing reads the pretrain stage: it goes at the next archiving.
    state = apply(
        state,
        new JobCancelled("job-1.probe", "by a test"),
        new JobArchived("job-1.probe", keep(2, 1)));
    assertEquals(List.of("job-1.probe", "job-5"), state.jobs().stream().map(JobRun::jobId).toList());
  }

  @Test
  void onlyTheNewestArchivedJobsKeepTheirPlansAndLossCurves() {
    CoordinatorState state = withWorker();
    for (int n = 1; n <= 3; n++) {
      state = trainedAndFailed(state, "job-" + n).apply(new JobArchived("job-" + n, keep(10, 2)));
    }
    assertFalse(state.job("job-1").orElseThrow().hasDetail(), "the oldest of three lost its plans");
    assertTrue(state.job("job-2").orElseThrow().hasDetail());
    assertTrue(state.job("job-3").orElseThrow().hasDetail());
    assertEquals(4, state.job("job-1").orElseThrow().samplesDone(), "its figures stay");
  }

  @Test
  void archivingTrimsTheAuditLogToItsNewestRecords() {
    CoordinatorState state = withWorker();
    for (long n = 1; n <= 5; n++) {
      state = apply(
          state,
          new CoordinatorEvent.OperatorCommandRecorded(
              new io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord(n, T0 + n, "submit", "job-" + n)),
          new JobSubmitted("job-" + n, spec(), T0));
    }
    state = apply(state, new JobCancelled("job-1", "by a test"), new JobArchived("job-1", new CoordinatorEvent.Retention(10, 3, 2)));

    assertEquals(List.of(4L, 5L), state.audit().stream().map(r -> r.sequence()).toList());
    assertEquals(6, state.nextAuditSequence(), "sequences go on from the newest");
  }
}
