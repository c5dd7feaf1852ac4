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
import io.tessera.coordinator.CoordinatorEvent.GlobalBatchChanged;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobRecovered;
import io.tessera.coordinator.CoordinatorEvent.JobRewound;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.LeaseReleased;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.OperatorCommandRecorded;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.WorkerDraining;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.coordinator.ledger.SplitLedger;
import io.tessera.coordinator.ledger.SplitLedger.Run;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.SplitReport;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.MemberSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.testkit.WireRoundTrip;
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
import java.util.Optional;
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
            new SplitLeased(JOB, 0, 0, 2, 1, idA),
            new SplitLeased(JOB, 1, 0, 2, 2, idB),
            new SplitCompleted(JOB, 0, 0, 2, 1, idA, 4, 6.0, 2, 3_000_000),
            new SplitLeased(JOB, 0, 2, 2, 3, idA),
            new SplitLeased(JOB, 1, 2, 2, 4, idB),
            new LeaseReleased(JOB, 1, 2, 4, "CUDA out of memory"),
            new OperatorCommandRecorded(new AuditRecord(2, T0 + 3, "checkpoint", "job-1 (checkpoint 1)")),
            new CheckpointStarted(JOB, 1, T0 + 3),
            new CheckpointCompleted(JOB, 1, positions(2), 3),
            new SplitCompleted(JOB, 1, 0, 2, 2, idB, 4, 7.0, 3, 2_000_000),
            new CheckpointStarted(JOB, 2, T0 + 4));
    JobRun job = state.job(JOB).orElseThrow();
    assertEquals(JobState.RUNNING, job.state());
    assertEquals(2, job.pendingCheckpoint().checkpointId(), "a snapshot may be taken mid-checkpoint");

    CoordinatorState copy = WireRoundTrip.roundTrip(testKit.system(), state);

    assertEquals(state, copy);
    assertNotSame(state, copy);
    JobRun copied = copy.job(JOB).orElseThrow();
    assertEquals(Optional.of(new Run(2, 2)), copied.member(0).ledger().runOfLease(3), "live leases come back");
    assertEquals(1, copied.member(0).ledger().leasesHeldBy(idA));
    assertEquals(OptionalInt.of(2), copied.member(1).ledger().nextPending(), "a released run is pending");
    assertEquals(
        Optional.of(new Run(2, 2)), copied.member(1).ledger().nextRun(1, 0, 10), "and goes out again as it was");
    assertEquals(state.worker(idB).orElseThrow().samplesPerSecond(), copy.worker(idB).orElseThrow().samplesPerSecond());
    assertEquals(8, copied.samplesDone());
    assertEquals(job.checkpoints(), copied.checkpoints());
    assertEquals(state.audit(), copy.audit());
    assertEquals(3, copy.nextAuditSequence());
    copy.worker(idA).orElseThrow().ref().tell(WorkerProtocol.WorkAvailable.INSTANCE);
    a.expectMessage(WorkerProtocol.WorkAvailable.INSTANCE);

    // Restored or not, the state takes every further event the same way.
    List<CoordinatorEvent> further =
        List.of(
            new SplitCompleted(JOB, 0, 2, 2, 3, idA, 4, 5.0, 2, 3_000_000),
            new CheckpointCompleted(JOB, 2, positions(3), 3),
            new SplitLeased(JOB, 1, 2, 2, 5, idB),
            new JobRewound(JOB, 1, 2, "shard m1/s2 restarted without its numbers"),
            new JobRecovered(JOB, 1),
            new WorkerLeft(idB, false),
            new SplitLeased(JOB, 0, 2, 2, 6, idA),
            new OperatorCommandRecorded(new AuditRecord(3, T0 + 9, "checkpoint", "job-1 (checkpoint 3)")),
            new CheckpointStarted(JOB, 3, T0 + 9));
    for (CoordinatorEvent event : further) {
      state = state.apply(event);
      copy = copy.apply(event);
      assertEquals(state, copy, () -> "after " + event);
    }
    assertEquals(1, copy.job(JOB).orElseThrow().recoveryEpoch());
    assertEquals(Optional.of(new Run(2, 2)), copy.job(JOB).orElseThrow().member(0).ledger().runOfLease(6));
    assertEquals(state, WireRoundTrip.roundTrip(testKit.system(), state), "and survives the serializer again");
  }

  @Test
  void aSyncJobsStateWithAStepInProgressSurvivesTheSerializerAndGoesOnAlike() {
    TestProbe<WorkerProtocol.Command> a = testKit.createTestProbe("worker-a");
    TestProbe<WorkerProtocol.Command> b = testKit.createTestProbe("worker-b");
    TestProbe<WorkerProtocol.Command> c = testKit.createTestProbe("worker-c");
    List<TestProbe<WorkerProtocol.Command>> workers = sortedById(a, b, c);
    List<String> ids = workers.stream().map(this::id).toList();
    JobSpec spec =
        JobSpec.builder()
            .setName("fmnist-sync")
            .optGlobalBatch(8)
            .optMicroBatch(2)
            .optSplitSize(4)
            .optEpochs(2)
            .optMode(TrainingMode.SYNC)
            .build();
    CoordinatorState state = CoordinatorState.empty();
    for (TestProbe<WorkerProtocol.Command> worker : workers) {
      state = state.apply(new WorkerJoined(id(worker), worker.getRef()));
    }
    state = apply(
        state,
        new JobSubmitted(JOB, spec, T0),
        new JobInitializationStarted(JOB),
        new MemberInitialized(JOB, 0, new DatasetInfo(16, 4, "c0ffee12"), 1_234, T0 + 1));
    // Step 0: every share leased and acked, each worker at its own speed (100, 200, 300 samples/s).
    long[] nanos = {40_000_000L, 10_000_000L, 6_666_667L};
    List<SplitLeased> leases = new ArrayList<>();
    for (String worker : ids) {
      SplitLeased leased = (SplitLeased) LeaseDesk.nextLease(state, worker, 0);
      leases.add(leased);
      state = state.apply(leased);
    }
    for (int i = 0; i < leases.size(); i++) {
      SplitLeased leased = leases.get(i);
      int samples = 2 * leased.count();
      state = state.apply(
          LeaseDesk.completion(state, leased.leaseId(), leased.workerId(), new SplitReport(samples, 3.0 * samples, 1, 0, nanos[i]))
              .orElseThrow());
    }
    // The operator doubles the batch; two workers are asked to leave, one of them is gone.
    state = apply(
        state,
        new OperatorCommandRecorded(new AuditRecord(1, T0 + 2, "set-global-batch", "job-1 8 -> 16")),
        new GlobalBatchChanged(JOB, 16, 2.0),
        new WorkerDraining(ids.get(2)),
        new WorkerDraining(ids.get(1)),
        new WorkerLeft(ids.get(2), true));
    // Step 1 (still of the old batch) is half done: the one worker left pushed one split of four.
    SplitLeased half = (SplitLeased) LeaseDesk.nextLease(state, ids.get(0), 0);
    assertEquals(4, half.count());
    state = state.apply(half);
    state = state.apply(
        LeaseDesk.completion(state, half.leaseId(), ids.get(0), new SplitReport(2, 1.0, 1, 0, 10_000_000L)).orElseThrow());
    MemberRun member = state.job(JOB).orElseThrow().member(0);
    assertEquals(new SplitLedger.Run(4, 4), member.round());
    assertEquals(2, member.roundSamples());
    assertEquals(List.of(new MemberRun.StepLoss(0, 3.0)), member.stepLosses());

    CoordinatorState copy = WireRoundTrip.roundTrip(testKit.system(), state);

    assertEquals(state, copy);
    assertNotSame(state, copy);
    MemberRun copied = copy.job(JOB).orElseThrow().member(0);
    assertEquals(member.round(), copied.round());
    assertEquals(member.roundLossSum(), copied.roundLossSum());
    assertEquals(member.stepLosses(), copied.stepLosses());
    assertEquals(16, copy.job(JOB).orElseThrow().globalBatch());
    assertEquals(2.0, copy.job(JOB).orElseThrow().learningRateScale());
    assertEquals(List.of(ids.get(2)), copy.retired());
    assertTrue(copy.worker(ids.get(1)).orElseThrow().draining());
    assertEquals(0.7 * 100.0 + 0.3 * 200.0, copy.worker(ids.get(0)).orElseThrow().samplesPerSecond(), 1e-9);
    assertEquals(
        Optional.of(new SplitLedger.Run(5, 3)), copied.ledger().nextRun(1, 4, 8), "the rest of the lease is remembered");

    // Restored or not, the state takes every further decision and event the same way.
    while (state.job(JOB).orElseThrow().member(0).stepLosses().size() < 3) {
      SplitLeased next = (SplitLeased) LeaseDesk.nextLease(state, ids.get(0), 0);
      assertEquals(next, LeaseDesk.nextLease(copy, ids.get(0), 0));
      assertEquals(LeaseDesk.grant(state.apply(next), next), LeaseDesk.grant(copy.apply(next), next));
      state = state.apply(next);
      copy = copy.apply(next);
      SplitReport report = new SplitReport(2 * next.count(), 2.0 * next.count(), 1, 0, 10_000_000L);
      SplitCompleted done = LeaseDesk.completion(state, next.leaseId(), ids.get(0), report).orElseThrow();
      state = state.apply(done);
      copy = copy.apply(done);
      assertEquals(state, copy, () -> "after " + done);
    }
    assertEquals(
        List.of(0, 4, 8),
        copy.job(JOB).orElseThrow().member(0).stepLosses().stream().map(MemberRun.StepLoss::firstSplit).toList(),
        "a step of the old batch, its second half, then one of the new batch: all of epoch 1");
    assertEquals(JobState.EVALUATING, copy.job(JOB).orElseThrow().state());
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
      if (done == 100) {
        // Taken at the ack of the lease out; the answer to it waits until it is saved.
        assertEquals(1, requestCheckpoint(coordinator));
      }
      lease = grantedLease(complete(coordinator, worker, lease.leaseId(), 2, 1.0));
      if (done == 100) {
        assertEquals(100, awaitCheckpoint(coordinator, 1).splitsDone());
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
        .tell(StatusReply.success(new EvaluationReport(JOB, 0, 4, 4, 0.1, 1, 0, 0)));
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
