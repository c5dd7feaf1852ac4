package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.pattern.StatusReply;
import io.tessera.coordinator.CheckpointRecord.ShardPosition;
import io.tessera.coordinator.CoordinatorEvent.CheckpointCompleted;
import io.tessera.coordinator.CoordinatorEvent.CheckpointStarted;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobRecovered;
import io.tessera.coordinator.CoordinatorEvent.JobRewound;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.LeaseReleased;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.OperatorCommandRecorded;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.MemberSpec;
import io.tessera.protocol.testing.WireRoundTrip;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import io.tessera.protocol.worker.WorkerProtocol.Evaluate;
import io.tessera.protocol.worker.WorkerProtocol.SetAccumulation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The coordinator's snapshots: the state of a running job survives the real serializer (split
 * ledgers go through {@code LedgerSerializer}) and goes on exactly as the original would, and a
 * respawned coordinator recovers from the snapshot it wrote.
 */
class CoordinatorSnapshotTest extends CoordinatorFixture {
  private static final long T0 = 1_726_000_000_000L;

  @Test
  void aRunningJobsStateSurvivesTheSerializerAndGoesOnAlike() {
    TestProbe<WorkerProtocol.Command> a = testKit.createTestProbe("worker-a");
    TestProbe<WorkerProtocol.Command> b = testKit.createTestProbe("worker-b");
    String idA = id(a);
    String idB = id(b);
    JobSpec spec =
        JobSpec.builder()
            .setName("fmnist-ensemble")
            .optGlobalBatch(8)
            .optMicroBatch(2)
            .optSplitSize(4)
            .optEpochs(2)
            .optShards(3)
            .optMembers(List.of(new MemberSpec("m0", 1), new MemberSpec("m1", 2)))
            .build();
    DatasetInfo data = new DatasetInfo(10, 5, "c0ffee12");
    CoordinatorState state =
        apply(
            CoordinatorState.empty(),
            new WorkerJoined(idA, a.getRef()),
            new WorkerJoined(idB, b.getRef()),
            new OperatorCommandRecorded(new AuditRecord(1, T0, "submit", "job-1 (fmnist-ensemble)")),
            new JobSubmitted(JOB, spec, T0),
            new JobInitializationStarted(JOB),
            new MemberInitialized(JOB, 0, data, 1_234, T0 + 1),
            new MemberInitialized(JOB, 1, data, 1_234, T0 + 2),
            new SplitLeased(JOB, 0, 0, 1, idA),
            new SplitLeased(JOB, 1, 0, 2, idB),
            new SplitCompleted(JOB, 0, 0, 1, 4, 6.0, 2),
            new SplitLeased(JOB, 0, 1, 3, idA),
            new SplitLeased(JOB, 1, 1, 4, idB),
            new LeaseReleased(JOB, 1, 1, 4, "CUDA out of memory"),
            new OperatorCommandRecorded(new AuditRecord(2, T0 + 3, "checkpoint", "job-1 (checkpoint 1)")),
            new CheckpointStarted(JOB, 1, T0 + 3),
            new CheckpointCompleted(JOB, 1, positions(2), 3),
            new SplitCompleted(JOB, 1, 0, 2, 4, 7.0, 3),
            new CheckpointStarted(JOB, 2, T0 + 4));
    JobRun job = state.job(JOB).orElseThrow();
    assertEquals(JobState.RUNNING, job.state());
    assertEquals(2, job.pendingCheckpoint().checkpointId(), "a snapshot may be taken mid-checkpoint");

    CoordinatorState copy = WireRoundTrip.roundTrip(testKit.system(), state);

    assertEquals(state, copy);
    assertNotSame(state, copy);
    JobRun copied = copy.job(JOB).orElseThrow();
    assertEquals(OptionalInt.of(1), copied.member(0).ledger().splitOfLease(3), "live leases come back");
    assertEquals(1, copied.member(0).ledger().leasesHeldBy(idA));
    assertEquals(OptionalInt.of(1), copied.member(1).ledger().nextPending(), "a released split is pending");
    assertEquals(8, copied.samplesDone());
    assertEquals(job.checkpoints(), copied.checkpoints());
    assertEquals(state.audit(), copy.audit());
    assertEquals(3, copy.nextAuditSequence());
    copy.worker(idA).orElseThrow().ref().tell(WorkerProtocol.WorkAvailable.INSTANCE);
    a.expectMessage(WorkerProtocol.WorkAvailable.INSTANCE);

    // Restored or not, the state takes every further event the same way.
    List<CoordinatorEvent> further =
        List.of(
            new SplitCompleted(JOB, 0, 1, 3, 4, 5.0, 2),
            new CheckpointCompleted(JOB, 2, positions(3), 3),
            new SplitLeased(JOB, 1, 1, 5, idB),
            new JobRewound(JOB, 1, 2, "shard m1/s2 restarted without its numbers"),
            new JobRecovered(JOB, 1),
            new WorkerLeft(idB),
            new SplitLeased(JOB, 0, 2, 6, idA),
            new OperatorCommandRecorded(new AuditRecord(3, T0 + 9, "checkpoint", "job-1 (checkpoint 3)")),
            new CheckpointStarted(JOB, 3, T0 + 9));
    for (CoordinatorEvent event : further) {
      state = state.apply(event);
      copy = copy.apply(event);
      assertEquals(state, copy, () -> "after " + event);
    }
    assertEquals(1, copy.job(JOB).orElseThrow().recoveryEpoch());
    assertEquals(OptionalInt.of(2), copy.job(JOB).orElseThrow().member(0).ledger().splitOfLease(6));
    assertEquals(state, WireRoundTrip.roundTrip(testKit.system(), state), "and survives the serializer again");
  }

  @Test
  void aRespawnedCoordinatorRecoversFromItsSnapshot() {
    int splits = 300;
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(2, 2, 2, 1), 2 * splits);

    // Two events per acked split (the ack and the next lease): past the 500 of a snapshot.
    Lease lease = requestLease(coordinator, worker);
    for (int done = 1; done <= 250; done++) {
      lease = grantedLease(complete(coordinator, worker, lease.leaseId(), 2, 1.0));
      if (done == 100) {
        assertEquals(1, requestCheckpoint(coordinator));
        awaitCheckpoint(coordinator, 1);
      }
    }
    assertTrue(journal.events().size() > 500, "only " + journal.events().size() + " events");
    awaitAssert(() -> assertFalse(snapshotFiles().isEmpty(), "no snapshot written"));

    CoordinatorReplay.Replayed fromSnapshot = CoordinatorReplay.replay(testKit, true, TIMEOUT);
    CoordinatorReplay.Replayed fromEvents = CoordinatorReplay.replay(testKit, false, TIMEOUT);
    assertTrue(fromSnapshot.fromSnapshot());
    assertTrue(fromSnapshot.eventsReplayed() < 20, fromSnapshot.eventsReplayed() + " events after the snapshot");
    assertFalse(fromEvents.fromSnapshot());
    assertEquals(journal.events().size(), fromEvents.eventsReplayed());
    assertEquals(fromEvents.state(), fromSnapshot.state());

    JobStatus before = status(coordinator, JOB);
    List<AuditRecord> auditBefore = auditLog(coordinator);
    AccumulationHistory historyBefore = history(coordinator, JOB);
    assertEquals(500, before.samplesDone());
    testKit.stop(coordinator, TIMEOUT);
    ActorRef<Command> respawned = spawnCoordinator();

    JobStatus after = status(respawned, JOB);
    assertEquals(before.state(), after.state());
    assertEquals(before.samplesDone(), after.samplesDone());
    assertEquals(before.splitsDone(), after.splitsDone());
    assertEquals(before.lastCheckpointId(), after.lastCheckpointId());
    assertEquals(before.recentLoss(), after.recentLoss(), 1e-12);
    assertEquals(auditBefore, auditLog(respawned));
    assertEquals(historyBefore, history(respawned, JOB));
    assertEquals(new SetAccumulation(JOB, 0, 1, 1), expectWorkerMessage(worker, SetAccumulation.class));

    // It goes on from there: the lease granted before the stop, then the rest.
    for (int done = 251; done < splits; done++) {
      lease = grantedLease(complete(respawned, worker, lease.leaseId(), 2, 1.0));
    }
    assertInstanceOf(NoLease.class, complete(respawned, worker, lease.leaseId(), 2, 1.0));
    expectWorkerMessage(worker, Evaluate.class)
        .replyTo()
        .tell(StatusReply.success(new EvaluationReport(JOB, 0, 4, 4, 0.1, 1)));
    JobStatus done = awaitState(respawned, JOB, JobState.COMPLETED);
    assertEquals(2 * splits, done.samplesDone());
    assertEquals(2, done.lastCheckpointId());
  }

  // ------------------------------------------------------------------ helpers

  private static CoordinatorState apply(CoordinatorState state, CoordinatorEvent... events) {
    CoordinatorState next = state;
    for (CoordinatorEvent event : events) {
      next = next.apply(event);
    }
    return next;
  }

  /** Every shard of both members of the ensemble, saved at journal position {@code sequenceNr}. */
  private static List<ShardPosition> positions(long sequenceNr) {
    List<ShardPosition> positions = new ArrayList<>();
    for (int member = 0; member < 2; member++) {
      for (int shard = 0; shard < 3; shard++) {
        positions.add(new ShardPosition(member, shard, sequenceNr, 100 * sequenceNr + shard));
      }
    }
    return positions;
  }

  private List<Path> snapshotFiles() {
    try (Stream<Path> files = Files.list(snapshots)) {
      return files.filter(f -> f.getFileName().toString().startsWith("snapshot-")).toList();
    } catch (IOException e) {
      throw new AssertionError("cannot list " + snapshots, e);
    }
  }
}
