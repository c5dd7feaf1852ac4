package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.pattern.StatusReply;
import io.tessera.coordinator.CheckpointRecord.ShardPosition;
import io.tessera.coordinator.CoordinatorEvent.CheckpointAbandoned;
import io.tessera.coordinator.CoordinatorEvent.CheckpointCompleted;
import io.tessera.coordinator.CoordinatorEvent.CheckpointStarted;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.CheckpointRequested;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLeaseReason;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ReleaseLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ReportCorruptCheckpoint;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.ConfirmEpoch;
import io.tessera.protocol.ps.ShardProtocol.RewindTo;
import io.tessera.protocol.ps.ShardProtocol.TakeCheckpoint;
import io.tessera.protocol.spec.CheckpointSpec;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import io.tessera.protocol.worker.WorkerProtocol.Evaluate;
import io.tessera.protocol.worker.WorkerProtocol.InitializeModel;
import io.tessera.protocol.worker.WorkerProtocol.ModelInitialized;
import io.tessera.protocol.worker.WorkerProtocol.SetAccumulation;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Checkpoints and recovery as the coordinator runs them against {@link TestingShard}s: on a timer,
 * on a push count, on request and when training ends; what happens when a shard fails one, when a
 * shard is lost, when a checkpoint turns out corrupt, and when the coordinator itself restarts.
 */
class CoordinatorCheckpointTest extends CoordinatorFixture {
  private static final String S0 = ShardProtocol.entityId(JOB, 0, 0);
  private static final String S1 = ShardProtocol.entityId(JOB, 0, 1);
  private static final Set<String> BOTH_SHARDS = Set.of(S0, S1);

  // ------------------------------------------------------------------ when checkpoints are taken

  @Test
  void aJobWithAnIntervalIsCheckpointedPeriodically() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1, new CheckpointSpec(1_000, 0)), 16);

    long first = awaitAssert(() -> positive(status(coordinator, JOB).lastCheckpointId()));
    long second = awaitAssert(() -> above(first, status(coordinator, JOB).lastCheckpointId()));
    assertEquals(JobState.RUNNING, status(coordinator, JOB).state());

    CheckpointStarted started1 = awaitEvent(CheckpointStarted.class, e -> e.checkpointId() == 1);
    CheckpointStarted started2 = awaitEvent(CheckpointStarted.class, e -> e.checkpointId() == 2);
    assertTrue(
        started2.atMillis() - started1.atMillis() >= 1_000,
        "checkpoints start an interval apart: " + started1 + ", " + started2);
    CheckpointCompleted completed1 = awaitEvent(CheckpointCompleted.class, e -> e.checkpointId() == 1);
    assertEquals(
        List.of(new ShardPosition(0, 0, 2, 20), new ShardPosition(0, 1, 2, 20)),
        completed1.positions(),
        "each shard's first checkpoint is its journal entry 2, after the initial values");
    assertEquals(SETTINGS.checkpointsKept(), completed1.kept());
    List<Object> events = journal.events();
    assertTrue(events.indexOf(started1) < events.indexOf(completed1));
    assertTrue(events.indexOf(completed1) < events.indexOf(started2), "one checkpoint at a time");
    assertEquals(BOTH_SHARDS, shards.shardsThatSaw(c -> c instanceof TakeCheckpoint t && t.checkpointId() == 1));
  }

  @Test
  void anAsyncCheckpointWaitsForTheLeasesOutAndNoNewLeaseGoesOutUntilItIsSaved() {
    TestProbe<WorkerProtocol.Command> a = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> b = registerWorker("worker-b");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(a, b);
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, sorted.get(0), sorted.get(1));
    submit(coordinator, spec(8, 2, 4, 1));
    expectWorkerMessage(sorted.get(0), InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 100, 4, data(32))));
    expectWorkerMessage(sorted.get(0), SetAccumulation.class);
    expectWorkerMessage(sorted.get(1), SetAccumulation.class);
    Lease leaseOfA = requestLease(coordinator, sorted.get(0));
    Lease leaseOfB = requestLease(coordinator, sorted.get(1));

    assertEquals(1, requestCheckpoint(coordinator));
    // A's ack leaves B's lease out: no checkpoint yet, and A's next lease is held back.
    TestProbe<LeaseReply> answerToA = completeLater(coordinator, sorted.get(0), leaseOfA.leaseId(), 4, 4.0);
    awaitAssert(() -> assertEquals(2, replayedJob().members().get(0).ledger().ackedSplits()));
    answerToA.expectNoMessage(Duration.ofMillis(1_000));
    assertEquals(Set.of(), shardsThatTook(1), "a checkpoint while B's pushes may be in flight");
    assertEquals(List.of(), journal.events(CheckpointStarted.class));

    // B's ack makes the job quiescent: the checkpoint is taken with both leases in its cut, and
    // no lease goes out before it is saved.
    shards.holdCheckpoint(1);
    TestProbe<LeaseReply> answerToB = completeLater(coordinator, sorted.get(1), leaseOfB.leaseId(), 4, 4.0);
    awaitAssert(() -> assertEquals(BOTH_SHARDS, shardsThatTook(1)));
    assertEquals(1, journal.events(CheckpointStarted.class).size());
    assertEquals(4, replayedJob().pendingCheckpoint().cuts().get(0).size(), "the cut holds both leases' splits");
    assertEquals(2, journal.events(SplitLeased.class).size(), "a lease granted while the shards save");
    shards.release();
    assertEquals(4, awaitCheckpoint(coordinator, 1).splitsDone());

    // Saved: both get their next lease, past the cut (an ask held longer than the coordinator
    // holds asks was answered "ask again").
    Lease nextOfA = leaseAfterHold(coordinator, sorted.get(0), answerToA);
    Lease nextOfB = leaseAfterHold(coordinator, sorted.get(1), answerToB);
    assertEquals(Set.of(4, 6), Set.of(nextOfA.split().index(), nextOfB.split().index()));
  }

  @Test
  void aCheckpointWaitingForTheLastLeaseOutIsTakenOnceThatLeaseIsGivenBackAndOnlyOnce() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1), 16);
    Lease lease = requestLease(coordinator, worker);

    assertEquals(1, requestCheckpoint(coordinator));
    assertEquals(List.of(), journal.events(CheckpointStarted.class), "the lease out may still be pushing");
    coordinator.tell(new ReleaseLease(worker.getRef(), lease.leaseId(), "draining", false));
    awaitCheckpoint(coordinator, 1);
    assertEquals(0, replayedJob().lastCheckpoint().orElseThrow().cuts().get(0).size(), "the split given back is in no cut");

    // Leasing goes on with the split given back, and the request is not taken a second time.
    assertEquals(lease.split().index(), requestLease(coordinator, worker).split().index());
    testKit.createTestProbe().expectNoMessage(Duration.ofMillis(1_500));
    assertEquals(1, journal.events(CheckpointStarted.class).size());
  }

  @Test
  void aJobWithAPushCountIsCheckpointedWhenTheReportedPushesReachIt() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1, new CheckpointSpec(0, 4)), 24);

    Lease first = requestLease(coordinator, worker);
    Lease second = grantedLease(complete(coordinator, worker, first.leaseId(), 4, 4.0, 3));
    assertEquals(3, replayedJob().pushesSinceCheckpoint());
    // Three pushes are not four: more than one checkpoint check passes without a checkpoint.
    testKit.createTestProbe().expectNoMessage(Duration.ofMillis(1_500));
    assertEquals(List.of(), journal.events(CheckpointStarted.class));

    Lease third = grantedLease(complete(coordinator, worker, second.leaseId(), 4, 4.0, 1));
    CheckpointStarted started = awaitEvent(CheckpointStarted.class, e -> e.checkpointId() == 1);
    SplitCompleted fourthPush = awaitEvent(SplitCompleted.class, e -> e.leaseId() == second.leaseId());
    assertTrue(journal.events().indexOf(fourthPush) < journal.events().indexOf(started));
    awaitCheckpoint(coordinator, 1);
    JobRun job = replayedJob();
    assertEquals(0, job.pushesSinceCheckpoint(), "the count starts again with each checkpoint");
    assertEquals(4, job.lastCheckpoint().orElseThrow().cuts().get(0).size(), "it covers the two acked leases' splits");

    // Two more pushes, then two more: the second checkpoint follows the fourth push after the first.
    Lease fourth = grantedLease(complete(coordinator, worker, third.leaseId(), 4, 4.0, 2));
    grantedLease(complete(coordinator, worker, fourth.leaseId(), 4, 4.0, 2));
    awaitCheckpoint(coordinator, 2);
    assertEquals(8, replayedJob().lastCheckpoint().orElseThrow().cuts().get(0).size());
  }

  @Test
  void anOperatorCanAskForACheckpointAndEveryAcknowledgedCommandIsAudited() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1), 16);
    assertEquals("job-2", submit(coordinator, spec(4, 2, 4, 1)));

    StatusReply<CheckpointRequested> queued = askCheckpoint(coordinator, "job-2");
    assertTrue(queued.isError());
    assertEquals("cannot checkpoint now: job job-2 is QUEUED", queued.getError().getMessage());
    StatusReply<CheckpointRequested> unknown = askCheckpoint(coordinator, "job-9");
    assertTrue(unknown.isError());
    assertEquals("cannot checkpoint now: no job job-9", unknown.getError().getMessage());

    assertEquals(1, requestCheckpoint(coordinator));
    assertEquals(1, awaitCheckpoint(coordinator, 1).lastCheckpointId());

    // A request while a checkpoint is being taken joins it.
    shards.holdCheckpoint(2);
    assertEquals(2, requestCheckpoint(coordinator));
    awaitAssert(() -> assertEquals(BOTH_SHARDS, shardsThatTook(2)));
    assertEquals(2, requestCheckpoint(coordinator));
    assertEquals(1, status(coordinator, JOB).lastCheckpointId(), "checkpoint 2 is not complete yet");
    shards.release();
    awaitCheckpoint(coordinator, 2);
    assertEquals(2, journal.events(CheckpointStarted.class).size(), "the joined request started nothing");

    List<AuditRecord> audit = auditLog(coordinator);
    assertEquals(
        List.of(
            "submit job-1 (fmnist-tiny)",
            "submit job-2 (fmnist-tiny)",
            "checkpoint job-1 (checkpoint 1)",
            "checkpoint job-1 (checkpoint 2)",
            "checkpoint job-1 (joined checkpoint 2 in progress)"),
        audit.stream().map(r -> r.command() + " " + r.detail()).toList(),
        "refused requests are not acknowledged, so not audited");
    assertEquals(List.of(1L, 2L, 3L, 4L, 5L), audit.stream().map(AuditRecord::sequence).toList());
    for (int i = 1; i < audit.size(); i++) {
      assertTrue(audit.get(i - 1).atMillis() <= audit.get(i).atMillis(), audit::toString);
    }
  }

  @Test
  void trainingEndsWithACheckpointOfEverySplitBeforeAnyEvaluation() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1), 8);
    shards.holdCheckpoint(1);

    Lease first = requestLease(coordinator, worker);
    Lease second = grantedLease(complete(coordinator, worker, first.leaseId(), 4, 4.0));
    NoLease over = assertInstanceOf(NoLease.class, complete(coordinator, worker, second.leaseId(), 4, 4.0));
    assertEquals(JobState.EVALUATING, assertInstanceOf(NoLeaseReason.JobNotLeasing.class, over.reason()).state(), over.describe());
    awaitAssert(() -> assertEquals(BOTH_SHARDS, shardsThatTook(1)));
    worker.expectNoMessage(Duration.ofMillis(500));
    assertEquals(0, status(coordinator, JOB).lastCheckpointId(), "only the initial values are saved yet");

    shards.release();
    Evaluate evaluate = expectWorkerMessage(worker, Evaluate.class);
    CheckpointCompleted last = awaitEvent(CheckpointCompleted.class, e -> e.checkpointId() == 1);
    assertNotNull(last, "the final checkpoint completed before the evaluation was asked for");
    assertTrue(replayedJob().lastCheckpoint().orElseThrow().coversEverything());
    evaluate.replyTo().tell(StatusReply.success(new EvaluationReport(JOB, 0, 4, 3, 0.5, 1, 0, 0)));
    JobStatus done = awaitState(coordinator, JOB, JobState.COMPLETED);
    assertEquals(1, done.lastCheckpointId());

    // A finished job stays finished: an unreadable checkpoint is forgotten, nothing is rewound.
    coordinator.tell(new ReportCorruptCheckpoint(JOB, 0, 1, 1, "bad magic number"));
    JobStatus after = awaitAssert(() -> checkpointOf(status(coordinator, JOB), 0));
    assertEquals(JobState.COMPLETED, after.state());
    assertEquals(0, after.recoveryEpoch());
    assertEquals(List.of(new MemberResult(0, "m0", 4, 0.75, 0.5, Double.NaN)), after.results());
    // Its shards start read-only on the checkpoint left (a later stage may read them).
    assertEquals(new ShardRecoveryPlan(0, 0, 1, true), resolveRecovery(coordinator, JOB, 0, 1));
    assertEquals(JobState.COMPLETED, status(coordinator, JOB).state());
  }

  @Test
  void aSyncJobIsCheckpointedOnlyBetweenTwoSteps() {
    TestProbe<WorkerProtocol.Command> a = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> b = registerWorker("worker-b");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(a, b);
    TestProbe<WorkerProtocol.Command> first = sorted.get(0);
    TestProbe<WorkerProtocol.Command> second = sorted.get(1);
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, first, second);
    submit(coordinator, syncSpec(8, 2, 1));
    expectWorkerMessage(first, InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 100, 4, data(16))));
    expectWorkerMessage(second, SetAccumulation.class);
    Lease ofFirst = requestLease(coordinator, first);
    Lease ofSecond = requestLease(coordinator, second);

    // Asked for in the middle of a step: promised, and taken once the step is done.
    assertEquals(1, requestCheckpoint(coordinator));
    AuditRecord promised = auditLog(coordinator).get(1);
    assertEquals("job-1 (checkpoint 1 at the next step boundary)", promised.detail());
    TestProbe<LeaseReply> firstWaits = completeLater(coordinator, first, ofFirst.leaseId(), 4, 4.0);
    awaitEvent(SplitCompleted.class, e -> e.leaseId() == ofFirst.leaseId());
    assertEquals(List.of(), journal.events(CheckpointStarted.class), "the step is not done yet");
    TestProbe<LeaseReply> secondWaits = completeLater(coordinator, second, ofSecond.leaseId(), 4, 4.0);

    CheckpointStarted started = awaitEvent(CheckpointStarted.class, e -> e.checkpointId() == 1);
    SplitCompleted lastOfStep = awaitEvent(SplitCompleted.class, e -> e.leaseId() == ofSecond.leaseId());
    assertTrue(journal.events().indexOf(lastOfStep) < journal.events().indexOf(started));
    awaitCheckpoint(coordinator, 1);
    assertEquals(4, replayedJob().lastCheckpoint().orElseThrow().cuts().get(0).size(), "exactly the first step");

    // The asks held meanwhile are answered with the next step's leases, granted after the checkpoint.
    Lease nextOfFirst = grantedLease(firstWaits.receiveMessage(TIMEOUT));
    Lease nextOfSecond = grantedLease(secondWaits.receiveMessage(TIMEOUT));
    assertEquals(Set.of(4, 6), Set.of(nextOfFirst.split().index(), nextOfSecond.split().index()));
    CheckpointCompleted completed = awaitEvent(CheckpointCompleted.class, e -> e.checkpointId() == 1);
    List<Object> events = journal.events();
    for (SplitLeased leased : journal.events(SplitLeased.class)) {
      if (leased.split() >= 4) {
        assertTrue(events.indexOf(completed) < events.indexOf(leased), "leased during the checkpoint: " + leased);
      }
    }
    assertEquals(1, journal.events(CheckpointStarted.class).size());
  }

  @Test
  void aSyncJobAtAStepBoundaryIsCheckpointedAtOnce() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, syncSpec(4, 2, 1), 8);

    assertEquals(1, requestCheckpoint(coordinator));
    assertEquals("job-1 (checkpoint 1)", auditLog(coordinator).get(1).detail());
    awaitCheckpoint(coordinator, 1);
    assertEquals(0, replayedJob().lastCheckpoint().orElseThrow().cuts().get(0).size());
    assertEquals(0, requestLease(coordinator, worker).split().index());
  }

  // ------------------------------------------------------------------ failures

  @Test
  void aCheckpointAShardFailsIsAbandonedAndTheNextOneOnScheduleSucceeds() {
    shards.failCheckpoint(S1, 1);
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1, new CheckpointSpec(1_000, 0)), 16);

    CheckpointAbandoned abandoned = awaitEvent(CheckpointAbandoned.class, e -> e.checkpointId() == 1);
    assertTrue(abandoned.reason().contains("disk full on " + S1), abandoned.reason());
    JobRun atAbandon = replayedUpTo(abandoned).job(JOB).orElseThrow();
    assertEquals(0, atAbandon.lastCheckpoint().orElseThrow().checkpointId(), "the initial values stay the newest");
    assertNull(atAbandon.pendingCheckpoint());

    assertEquals(2, awaitCheckpoint(coordinator, 2).lastCheckpointId());
    CheckpointStarted first = awaitEvent(CheckpointStarted.class, e -> e.checkpointId() == 1);
    CheckpointStarted next = awaitEvent(CheckpointStarted.class, e -> e.checkpointId() == 2);
    assertTrue(next.atMillis() - first.atMillis() >= 1_000, "the next one comes on schedule");
    assertTrue(
        journal.events(CheckpointCompleted.class).stream().noneMatch(c -> c.checkpointId() == 1),
        "checkpoint 1 never completed");
    assertEquals(JobState.RUNNING, status(coordinator, JOB).state());
  }

  @Test
  void eachCheckpointTellsEveryShardWhereItsPartsOfTheKeptCompleteCheckpointsAreAbandonedOnesNotIncluded() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1), 16);
    assertEquals(1, requestCheckpoint(coordinator));
    awaitCheckpoint(coordinator, 1);

    // Shard 1 misses checkpoints 2 to 4, which shard 0 saves (journal entries 3 to 5).
    for (long id = 2; id <= 4; id++) {
      shards.failCheckpoint(S1, id);
      assertEquals(id, requestCheckpoint(coordinator));
      long abandoned = id;
      awaitEvent(CheckpointAbandoned.class, e -> e.checkpointId() == abandoned);
    }
    assertEquals(5, requestCheckpoint(coordinator));
    awaitCheckpoint(coordinator, 5);
    assertEquals(6, requestCheckpoint(coordinator));
    awaitCheckpoint(coordinator, 6);
    assertEquals(7, requestCheckpoint(coordinator));
    awaitCheckpoint(coordinator, 7);

    // Each shard keeps its parts of checkpoints 0 and 1 (entries 1 and 2) through the failures.
    for (long id = 1; id <= 5; id++) {
      List<Long> kept = id == 1 ? List.of(1L) : List.of(1L, 2L);
      assertEquals(kept, keepOf(S0, id), "shard 0, checkpoint " + id);
      assertEquals(kept, keepOf(S1, id), "shard 1, checkpoint " + id);
    }
    // Then the newest three complete ones, 0, 1 and 5; then 1, 5 and 6: at each shard's own entries.
    assertEquals(List.of(1L, 2L, 6L), keepOf(S0, 6));
    assertEquals(List.of(1L, 2L, 3L), keepOf(S1, 6));
    assertEquals(List.of(2L, 6L, 7L), keepOf(S0, 7));
    assertEquals(List.of(2L, 3L, 4L), keepOf(S1, 7));
  }

  @Test
  void aFailedFinalCheckpointIsRetriedAfterAPauseAndThenTheJobIsEvaluated() {
    shards.failCheckpoint(S0, 1);
    shards.failCheckpoint(S0, 2);
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1), 4);

    Lease only = requestLease(coordinator, worker);
    assertInstanceOf(NoLease.class, complete(coordinator, worker, only.leaseId(), 4, 4.0));
    expectWorkerMessage(worker, Evaluate.class)
        .replyTo()
        .tell(StatusReply.success(new EvaluationReport(JOB, 0, 4, 2, 0.7, 1, 0, 0)));

    JobStatus done = awaitState(coordinator, JOB, JobState.COMPLETED);
    assertEquals(3, done.lastCheckpointId());
    List<CheckpointStarted> attempts = journal.events(CheckpointStarted.class);
    assertEquals(List.of(1L, 2L, 3L), attempts.stream().map(CheckpointStarted::checkpointId).toList());
    // A shard that fails at once is not asked again at once, over and over.
    for (int i = 1; i < attempts.size(); i++) {
      long pause = attempts.get(i).atMillis() - attempts.get(i - 1).atMillis();
      assertTrue(pause >= 1_000, "attempt " + (i + 1) + " came " + pause + " ms after the one before");
    }
    assertEquals(2, journal.events(CheckpointAbandoned.class).size());
  }

  @Test
  void aLostShardRewindsTheJobToItsLastCheckpoint() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1), 16);
    Lease first = requestLease(coordinator, worker);
    Lease second = grantedLease(complete(coordinator, worker, first.leaseId(), 4, 4.0));
    assertEquals(1, requestCheckpoint(coordinator));
    // Taken when the lease out is acked (the job is quiescent); the next lease waits for it.
    Lease third = grantedLease(complete(coordinator, worker, second.leaseId(), 4, 4.0));
    assertEquals(4, awaitCheckpoint(coordinator, 1).splitsDone());
    Lease fourth = grantedLease(complete(coordinator, worker, third.leaseId(), 4, 4.0));
    assertEquals(6, fourth.split().index());
    assertEquals(12, status(coordinator, JOB).samplesDone());
    shards.holdEpochConfirmations();

    // Shard 1 starts again without having been told to: it lost its numbers. The rewind voids
    // every lease issued so far, the fourth included.
    ShardRecoveryPlan restart = new ShardRecoveryPlan(1, 1, 2, false, fourth.leaseId() + 1);
    assertEquals(restart, resolveRecovery(coordinator, JOB, 0, 1));

    JobStatus recovering = status(coordinator, JOB);
    assertEquals(JobState.RECOVERING, recovering.state());
    assertEquals(1, recovering.recoveryEpoch());
    assertEquals(8, recovering.samplesDone(), "back to the checkpoint's cut");
    assertEquals(4, recovering.splitsDone());
    assertEquals(1, recovering.lastCheckpointId());
    NoLease wait = assertInstanceOf(NoLease.class, askLease(coordinator, worker));
    assertEquals(JobState.RECOVERING, assertInstanceOf(NoLeaseReason.JobNotLeasing.class, wait.reason()).state(), wait.describe());
    StatusReply<CheckpointRequested> refused = askCheckpoint(coordinator, JOB);
    assertEquals("cannot checkpoint now: job job-1 is RECOVERING", refused.getError().getMessage());
    // The other shard, restarting because it was told to, joins the same epoch.
    awaitAssert(() -> assertEquals(BOTH_SHARDS, shards.shardsThatSaw(c -> c.equals(new RewindTo(1)))));
    assertEquals(restart, resolveRecovery(coordinator, JOB, 0, 0));
    assertEquals(1, status(coordinator, JOB).recoveryEpoch(), "a shard of the epoch does not start another");
    // The lease of splits 6 and 7 was voided: its late ack counts for nothing.
    assertInstanceOf(NoLease.class, complete(coordinator, worker, fourth.leaseId(), 4, 4.0));
    assertEquals(4, status(coordinator, JOB).splitsDone());
    awaitAssert(
        () ->
            assertEquals(
                BOTH_SHARDS, shards.shardsThatSaw(c -> c instanceof ConfirmEpoch confirm && confirm.epoch() == 1)));
    assertEquals(JobState.RECOVERING, status(coordinator, JOB).state(), "until every shard confirms");

    shards.release();
    JobStatus running = awaitState(coordinator, JOB, JobState.RUNNING);
    assertEquals(1, running.recoveryEpoch());
    // Leases 1-4 were out before the rewind: void, and their holder is told so at once.
    assertEquals(
        new WorkerProtocol.LeasesVoided(JOB, 5), expectWorkerMessage(worker, WorkerProtocol.LeasesVoided.class));
    assertEquals(new SetAccumulation(JOB, 0, 1, 2), expectWorkerMessage(worker, SetAccumulation.class));

    // Splits 4 and 5, acked after the checkpoint, are trained again, then the rest.
    Lease again = requestLease(coordinator, worker);
    assertEquals(4, again.split().index());
    Lease last = grantedLease(complete(coordinator, worker, again.leaseId(), 4, 4.0));
    assertEquals(6, last.split().index());
    assertInstanceOf(NoLease.class, complete(coordinator, worker, last.leaseId(), 4, 4.0));
    expectWorkerMessage(worker, Evaluate.class)
        .replyTo()
        .tell(StatusReply.success(new EvaluationReport(JOB, 0, 4, 4, 0.2, 1, 0, 0)));
    JobStatus done = awaitState(coordinator, JOB, JobState.COMPLETED);
    assertEquals(16, done.samplesDone());
    assertEquals(1, done.recoveryEpoch());
    assertEquals(2, done.lastCheckpointId());
    assertEquals(
        BOTH_SHARDS,
        shards.shardsThatSaw(c -> c instanceof TakeCheckpoint t && t.checkpointId() == 2 && t.epoch() == 1),
        "the final checkpoint is taken in the new epoch");
  }

  @Test
  void aCorruptCheckpointSendsTheJobBackToTheOneBeforeAndFailsItWhenNoneIsLeft() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1), 16);
    Lease first = requestLease(coordinator, worker);
    assertEquals(1, requestCheckpoint(coordinator));
    Lease second = grantedLease(complete(coordinator, worker, first.leaseId(), 4, 4.0));
    awaitCheckpoint(coordinator, 1);
    assertEquals(2, requestCheckpoint(coordinator));
    grantedLease(complete(coordinator, worker, second.leaseId(), 4, 4.0));
    awaitCheckpoint(coordinator, 2);

    // A report about a checkpoint the job does not have changes nothing.
    coordinator.tell(new ReportCorruptCheckpoint(JOB, 0, 0, 7, "no such snapshot"));
    assertEquals(0, status(coordinator, JOB).recoveryEpoch());

    shards.holdEpochConfirmations();
    coordinator.tell(new ReportCorruptCheckpoint(JOB, 0, 0, 2, "snapshot checksum mismatch"));
    JobStatus back = awaitAssert(() -> checkpointOf(status(coordinator, JOB), 1));
    assertEquals(JobState.RECOVERING, back.state());
    assertEquals(1, back.recoveryEpoch());
    assertEquals(4, back.samplesDone(), "checkpoint 1 covers the first lease only");
    // The shard that found the damage starts again from the checkpoint before, fencing the three
    // leases issued.
    assertEquals(new ShardRecoveryPlan(1, 1, 2, false, 4), resolveRecovery(coordinator, JOB, 0, 0));
    shards.release();
    awaitState(coordinator, JOB, JobState.RUNNING);
    expectWorkerMessage(worker, WorkerProtocol.LeasesVoided.class);
    assertEquals(new SetAccumulation(JOB, 0, 1, 2), expectWorkerMessage(worker, SetAccumulation.class));

    coordinator.tell(new ReportCorruptCheckpoint(JOB, 0, 1, 1, "truncated file"));
    JobStatus initial = awaitAssert(() -> checkpointOf(status(coordinator, JOB), 0));
    assertEquals(2, initial.recoveryEpoch());
    assertEquals(0, initial.samplesDone());
    awaitState(coordinator, JOB, JobState.RUNNING);
    assertEquals(
        BOTH_SHARDS, shards.shardsThatSaw(c -> c.equals(new RewindTo(2))), "every shard is sent back again");

    coordinator.tell(new ReportCorruptCheckpoint(JOB, 0, 0, 0, "initial values unreadable"));
    JobStatus failed = awaitState(coordinator, JOB, JobState.FAILED);
    assertEquals("no usable checkpoint left: initial values unreadable", failed.failure());
    assertEquals(-1, failed.lastCheckpointId());
  }

  @Test
  void aShardOfAJobThatIsNotRunningYetStartsFresh() {
    ActorRef<Command> coordinator = spawnCoordinator();
    // Every job is journaled before its shards are set up: a shard of an unknown one refuses work.
    assertEquals(new ShardRecoveryPlan(0, -1, 0, true), resolveRecovery(coordinator, "job-7", 0, 0));
    submit(coordinator, spec(4, 2, 4, 1));
    // No lease was issued yet: the first will be lease 1.
    assertEquals(new ShardRecoveryPlan(0, -1, 0, false, 1), resolveRecovery(coordinator, JOB, 0, 1));

    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    expectWorkerMessage(worker, InitializeModel.class); // left unanswered: the job stays INITIALIZING
    assertEquals(JobState.INITIALIZING, status(coordinator, JOB).state());
    assertEquals(new ShardRecoveryPlan(0, -1, 0, false, 1), resolveRecovery(coordinator, JOB, 0, 1));
    assertEquals(JobState.INITIALIZING, status(coordinator, JOB).state());
  }

  // ------------------------------------------------------------------ the coordinator restarts

  @Test
  void aRespawnedCoordinatorKeepsItsCheckpointsAndAbandonsTheOneInProgress() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1), 16);
    Lease first = requestLease(coordinator, worker);
    assertEquals(1, requestCheckpoint(coordinator));
    Lease second = grantedLease(complete(coordinator, worker, first.leaseId(), 4, 4.0));
    awaitCheckpoint(coordinator, 1);
    shards.holdCheckpoint(2);
    assertEquals(2, requestCheckpoint(coordinator));
    // The ack of the lease out lets checkpoint 2 start; the answer waits for it to be saved.
    TestProbe<LeaseReply> heldAnswer = completeLater(coordinator, worker, second.leaseId(), 4, 4.0);
    awaitAssert(() -> assertEquals(BOTH_SHARDS, shardsThatTook(2)));
    heldAnswer.expectNoMessage(Duration.ofMillis(300));

    JobStatus before = status(coordinator, JOB);
    List<AuditRecord> auditBefore = auditLog(coordinator);
    var historyBefore = history(coordinator, JOB);
    JobRun jobBefore = replayedJob();
    assertEquals(2, jobBefore.pendingCheckpoint().checkpointId());

    testKit.stop(coordinator, TIMEOUT);
    ActorRef<Command> respawned = spawnCoordinator();
    assertEquals(new SetAccumulation(JOB, 0, 1, 2), expectWorkerMessage(worker, SetAccumulation.class));

    CheckpointAbandoned abandoned = awaitEvent(CheckpointAbandoned.class, e -> e.checkpointId() == 2);
    assertEquals("coordinator restarted", abandoned.reason());
    JobStatus after = status(respawned, JOB);
    assertEquals(JobState.RUNNING, after.state());
    assertEquals(before.samplesDone(), after.samplesDone());
    assertEquals(before.splitsDone(), after.splitsDone());
    assertEquals(before.recoveryEpoch(), after.recoveryEpoch());
    assertEquals(1, after.lastCheckpointId());
    assertEquals(auditBefore, auditLog(respawned));
    assertEquals(historyBefore, history(respawned, JOB));
    JobRun jobAfter = replayedJob();
    assertEquals(jobBefore.checkpoints(), jobAfter.checkpoints());
    assertNull(jobAfter.pendingCheckpoint());

    // The answers held back reach nobody; the next checkpoint gets a new id and completes.
    shards.release();
    assertEquals(3, requestCheckpoint(respawned));
    awaitCheckpoint(respawned, 3);
    assertEquals(
        new ShardPosition(0, 1, 4, 40),
        replayedJob().lastCheckpoint().orElseThrow().position(0, 1).orElseThrow(),
        "the shards saved checkpoint 2 as well, so checkpoint 3 is their journal entry 4");
    // The ack acknowledged before the restart still counts; training goes on after it.
    assertEquals(8, status(respawned, JOB).samplesDone());
    Lease third = requestLease(respawned, worker);
    assertEquals(4, third.split().index());
    Lease fourth = grantedLease(complete(respawned, worker, third.leaseId(), 4, 4.0));
    assertEquals(12, status(respawned, JOB).samplesDone());
    assertInstanceOf(NoLease.class, complete(respawned, worker, fourth.leaseId(), 4, 4.0));
    expectWorkerMessage(worker, Evaluate.class)
        .replyTo()
        .tell(StatusReply.success(new EvaluationReport(JOB, 0, 4, 4, 0.1, 1, 0, 0)));
    assertEquals(4, awaitState(respawned, JOB, JobState.COMPLETED).lastCheckpointId());
  }

  // ------------------------------------------------------------------ helpers

  /** The lease a held ask was answered with, or, if it was answered "ask again", the next one. */
  private Lease leaseAfterHold(ActorRef<Command> coordinator, TestProbe<WorkerProtocol.Command> worker, TestProbe<LeaseReply> held) {
    LeaseReply reply = held.receiveMessage(TIMEOUT);
    return reply instanceof NoLease ? requestLease(coordinator, worker) : grantedLease(reply);
  }

  /** The journal positions the coordinator told shard {@code entityId} to keep with {@code checkpointId}. */
  private List<Long> keepOf(String entityId, long checkpointId) {
    return shards.seen().stream()
        .filter(s -> s.entityId().equals(entityId))
        .map(TestingShard.Seen::command)
        .filter(c -> c instanceof TakeCheckpoint t && t.checkpointId() == checkpointId)
        .map(c -> ((TakeCheckpoint) c).keep())
        .findFirst()
        .orElseThrow(() -> new AssertionError(entityId + " was never asked for checkpoint " + checkpointId));
  }

  private Set<String> shardsThatTook(long checkpointId) {
    return shards.shardsThatSaw(c -> c instanceof TakeCheckpoint t && t.checkpointId() == checkpointId);
  }

  /** The job as the coordinator's journal says it is now. */
  private JobRun replayedJob() {
    return CoordinatorReplay.replay(testKit, false, TIMEOUT).state().job(JOB).orElseThrow();
  }

  /** The coordinator's state right after {@code event}, folded from the journal. */
  private CoordinatorState replayedUpTo(Object event) {
    CoordinatorState state = CoordinatorState.empty();
    for (Object e : journal.events()) {
      state = state.apply((CoordinatorEvent) e);
      if (e.equals(event)) {
        return state;
      }
    }
    throw new AssertionError(event + " is not in the journal");
  }

  private static long positive(long id) {
    assertTrue(id > 0, "no checkpoint after the initial values yet");
    return id;
  }

  private static long above(long previous, long id) {
    assertTrue(id > previous, "no checkpoint after " + previous + " yet");
    return id;
  }

  private static JobStatus checkpointOf(JobStatus status, long checkpointId) {
    assertEquals(checkpointId, status.lastCheckpointId(), status::toString);
    return status;
  }
}
