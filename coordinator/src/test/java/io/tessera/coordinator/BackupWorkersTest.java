package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import io.tessera.coordinator.CoordinatorEvent.BackupLeased;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseGranted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.SplitReport;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Backup workers in {@code sync} mode: a worker idle at the barrier duplicates a contribution
 * still out; the first copy acked counts; a step gets at most {@code backup-workers} copies; and a
 * worker that leaves while backed up hands its contribution to its backup.
 */
class BackupWorkersTest {
  private static final String A = "akka://tessera@127.0.0.1:25520/user/worker-a#1";
  private static final String B = "akka://tessera@127.0.0.1:25520/user/worker-b#2";
  private static final String C = "akka://tessera@127.0.0.1:25520/user/worker-c#3";
  private static final String JOB = "job-1";

  private static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("BackupWorkersTest");
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  /** Steps of 4 micro-batches of 2 samples over 3 workers: shares 2, 1, 1. */
  private static CoordinatorState running(int backups) {
    JobSpec spec =
        JobSpec.builder()
            .setName("backups")
            .optGlobalBatch(8)
            .optMicroBatch(2)
            .optSplitSize(2)
            .optMode(TrainingMode.SYNC)
            .optBackupWorkers(backups)
            .build();
    CoordinatorState state = CoordinatorState.empty();
    for (String id : new String[] {A, B, C}) {
      state = state.apply(new WorkerJoined(id, testKit.<WorkerProtocol.Command>createTestProbe().getRef()));
    }
    return state
        .apply(new JobSubmitted(JOB, spec, 0))
        .apply(new JobInitializationStarted(JOB))
        .apply(new MemberInitialized(JOB, 0, new DatasetInfo(16, 4, "f"), 100, 0));
  }

  private static CoordinatorState lease(CoordinatorState state, String worker) {
    return state.apply(assertInstanceOf(SplitLeased.class, LeaseDesk.nextLease(state, worker, 0)));
  }

  private static CoordinatorState ack(CoordinatorState state, long leaseId, String worker, int samples) {
    SplitCompleted done =
        LeaseDesk.completion(state, leaseId, worker, new SplitReport(samples, samples * 0.5, 1, 0, 1_000_000)).orElseThrow();
    return state.apply(done);
  }

  @Test
  void anIdleWorkerDuplicatesAContributionStillOutAndTheFirstAckCounts() {
    CoordinatorState state = lease(lease(lease(running(1), A), B), C);
    long leaseOfA = 1;
    state = ack(ack(state, 2, B, 2), 3, C, 2);

    // C is idle at the barrier: it gets a copy of A's contribution (2 micro-batches).
    BackupLeased backup = assertInstanceOf(BackupLeased.class, LeaseDesk.nextLease(state, C, 0));
    assertEquals(leaseOfA, backup.originalLeaseId());
    state = state.apply(backup);
    LeaseGranted granted = assertInstanceOf(LeaseGranted.class, LeaseDesk.grant(state, backup));
    assertEquals(0, granted.lease().split().from());
    assertEquals(4, granted.lease().split().to());
    assertEquals(0, granted.lease().rule().part(), "the copy is the same part of the step");
    assertEquals(8, granted.lease().rule().stepSamples());
    // One backup per step: B waits.
    assertTrue(LeaseDesk.isAtBarrier(assertInstanceOf(NoLease.class, LeaseDesk.nextLease(state, B, 0))));

    // The copy is acked first and completes the step; A's own ack comes too late.
    state = ack(state, backup.leaseId(), C, 4);
    MemberRun member = state.job(JOB).orElseThrow().member(0);
    assertEquals(1, member.stepLosses().size(), "the step was taken once");
    assertEquals(4, member.round().first(), "the next step is open");
    assertTrue(member.backups().isEmpty());
    assertTrue(LeaseDesk.completion(state, leaseOfA, A, new SplitReport(4, 2, 1, 0, 1)).isEmpty(), "a late copy");
  }

  @Test
  void withoutBackupWorkersAnIdleWorkerWaitsAtTheBarrier() {
    CoordinatorState state = lease(lease(lease(running(0), A), B), C);
    state = ack(state, 3, C, 2);
    assertTrue(LeaseDesk.isAtBarrier(assertInstanceOf(NoLease.class, LeaseDesk.nextLease(state, C, 0))));
  }

  @Test
  void aWorkerThatLeavesWhileBackedUpHandsItsContributionToTheBackup() {
    CoordinatorState state = lease(lease(lease(running(1), A), B), C);
    state = ack(ack(state, 2, B, 2), 3, C, 2);
    BackupLeased backup = assertInstanceOf(BackupLeased.class, LeaseDesk.nextLease(state, C, 0));
    state = state.apply(backup).apply(new WorkerLeft(A, false));

    MemberRun member = state.job(JOB).orElseThrow().member(0);
    assertEquals(C, member.ledger().holderOfLease(backup.leaseId()).orElseThrow(), "C holds the contribution now");
    assertTrue(member.backups().isEmpty());
    state = ack(state, backup.leaseId(), C, 4);
    assertEquals(1, state.job(JOB).orElseThrow().member(0).stepLosses().size());
  }
}
