package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.typed.ActorRef;
import io.tessera.coordinator.CheckpointRecord.Pending;
import io.tessera.coordinator.CheckpointRecord.ShardPosition;
import io.tessera.coordinator.CoordinatorEvent.CheckpointAbandoned;
import io.tessera.coordinator.CoordinatorEvent.CheckpointCompleted;
import io.tessera.coordinator.CoordinatorEvent.CheckpointDiscarded;
import io.tessera.coordinator.CoordinatorEvent.CheckpointStarted;
import io.tessera.coordinator.CoordinatorEvent.GlobalBatchChanged;
import io.tessera.coordinator.CoordinatorEvent.JobFailed;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobRecovered;
import io.tessera.coordinator.CoordinatorEvent.JobRewound;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.LeaseReleased;
import io.tessera.coordinator.CoordinatorEvent.MemberEvaluated;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.OperatorCommandRecorded;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.WorkerDraining;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.coordinator.CoordinatorState.Assignment;
import io.tessera.coordinator.ledger.SplitLedger.Cut;
import io.tessera.coordinator.ledger.SplitLedger.Run;
import io.tessera.coordinator.ledger.SplitLedger;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.testkit.WireRoundTrip;
import io.tessera.protocol.spec.MemberSpec;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.protocol.worker.WorkerProtocol;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The coordinator's state, driven event by event the way a replay drives it. */
class CoordinatorStateTest {
  // Ids sort a < b < c, the order the planner deals workers in.
  private static final String A = "akka://tessera@127.0.0.1:25520/user/worker-a#101";
  private static final String B = "akka://tessera@127.0.0.1:25520/user/worker-b#102";
  private static final String C = "akka://tessera@127.0.0.1:25520/user/worker-c#103";
  private static final String JOB = "job-1";
  private static final DatasetInfo DATA = new DatasetInfo(10, 5, "c0ffee12");
  /** When the job starts running in these tests. */
  private static final long T0 = 1_700_000_100_000L;

  private static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("CoordinatorStateTest");
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static WorkerJoined joined(String workerId) {
    ActorRef<WorkerProtocol.Command> ref = testKit.<WorkerProtocol.Command>createTestProbe().getRef();
    return new WorkerJoined(workerId, ref);
  }

  /**
   * 8 samples per step in micro-batches of 2 (k's sum to 4), leases of 4 samples (runs of two
   * micro-batch splits), two epochs.
   */
  private static JobSpec spec(String... members) {
    List<MemberSpec> specs = new ArrayList<>();
    for (int i = 0; i < members.length; i++) {
      specs.add(new MemberSpec(members[i], 100L + i));
    }
    return JobSpec.builder()
        .setName("fmnist-tiny")
        .optGlobalBatch(8)
        .optMicroBatch(2)
        .optSplitSize(4)
        .optEpochs(2)
        .optMembers(specs)
        .build();
  }

  private static CoordinatorState apply(CoordinatorState state, CoordinatorEvent... events) {
    CoordinatorState next = state;
    for (CoordinatorEvent event : events) {
      next = next.apply(event);
    }
    return next;
  }

  private static JobRun job(CoordinatorState state) {
    return state.job(JOB).orElseThrow();
  }

  private static List<WorkerShare> shares(Object... workerAndK) {
    List<WorkerShare> shares = new ArrayList<>();
    for (int i = 0; i < workerAndK.length; i += 2) {
      shares.add(new WorkerShare((String) workerAndK[i], (Integer) workerAndK[i + 1]));
    }
    return shares;
  }

  /** One worker, one member: state after the member was initialised. */
  private static CoordinatorState runningWithWorkerA() {
    return apply(
        CoordinatorState.empty(),
        joined(A),
        new JobSubmitted(JOB, spec("m0"), 1_700_000_000_000L),
        new JobInitializationStarted(JOB),
        new MemberInitialized(JOB, 0, DATA, 52_000, T0));
  }

  @Test
  void aJobGoesFromSubmittedToCompleted() {
    CoordinatorState state = CoordinatorState.empty();
    assertEquals(1, state.nextJobNumber());
    assertEquals(1, state.nextLeaseId());
    assertEquals(0, state.membershipEpoch());

    state = state.apply(joined(A));
    assertEquals(1, state.membershipEpoch());
    assertEquals(List.of(A), state.workerIds());

    state = state.apply(new JobSubmitted(JOB, spec("m0"), 1_700_000_000_000L));
    assertEquals(2, state.nextJobNumber());
    assertEquals(JobState.QUEUED, job(state).state());
    assertEquals(Optional.of(job(state)), state.firstQueued());
    assertTrue(state.activeJob().isEmpty(), "a queued job is not active");
    assertEquals(0, job(state).samplesTotal(), "unknown before a worker looked at the data");

    state = state.apply(new JobInitializationStarted(JOB));
    assertEquals(JobState.INITIALIZING, job(state).state());
    assertEquals(Optional.of(job(state)), state.activeJob());
    assertTrue(state.firstQueued().isEmpty());
    assertTrue(state.assignment(A).isEmpty(), "no leases while initialising");
    assertNull(job(state).member(0).ledger());

    state = state.apply(new MemberInitialized(JOB, 0, DATA, 52_000, T0));
    JobRun running = job(state);
    assertEquals(JobState.RUNNING, running.state());
    assertEquals(DATA, running.dataset());
    assertEquals(52_000, running.parameterCount());
    assertTrue(running.member(0).initialized());
    assertNotNull(running.member(0).ledger());
    assertEquals(10, running.member(0).ledger().totalSplits(), "5 micro-batches of 10 samples, 2 epochs");
    assertEquals(10, running.splitsTotal());
    assertEquals(20, running.samplesTotal());
    assertEquals(
        List.of(new AccumulationPlan(1, 0, 8, shares(A, 4))),
        running.member(0).plans(),
        "the lone worker runs all 4 micro-batches of a step");
    assertEquals(Optional.of(new Assignment(running, 0, 4)), state.assignment(A));
    assertTrue(state.assignment(B).isEmpty(), "an unknown worker has no assignment");

    // Lease and ack every split, in runs of up to two that never cross an epoch's end.
    long leaseId = state.nextLeaseId();
    List<Run> runs = new ArrayList<>();
    while (job(state).state() == JobState.RUNNING) {
      SplitLedger ledger = job(state).member(0).ledger();
      Run run = ledger.nextRun(2, 0, ledger.totalSplits()).orElseThrow();
      assertEquals(OptionalInt.of(run.first()), ledger.nextPending());
      runs.add(run);
      int done = job(state).splitsDone();
      state = state.apply(new SplitLeased(JOB, 0, run.first(), run.count(), leaseId, A));
      assertEquals(leaseId + 1, state.nextLeaseId(), "lease ids are never reused");
      assertEquals(Optional.of(run), job(state).member(0).ledger().runOfLease(leaseId));
      Split split = job(state).member(0).ledger().positions(run);
      state = state.apply(
          new SplitCompleted(JOB, 0, run.first(), run.count(), leaseId, A, split.size(), 1.5 * split.size(), 2, 1_000));
      assertEquals(done + run.count(), job(state).splitsDone());
      leaseId++;
    }
    assertEquals(
        List.of(new Run(0, 2), new Run(2, 2), new Run(4, 1), new Run(5, 2), new Run(7, 2), new Run(9, 1)), runs);

    JobRun evaluating = job(state);
    assertEquals(JobState.EVALUATING, evaluating.state());
    assertEquals(20, evaluating.samplesDone());
    assertEquals(1.5, evaluating.recentLoss(), 1e-12, "every split had mean loss 1.5");
    assertTrue(state.assignment(A).isEmpty(), "nothing to lease while evaluating");
    assertTrue(state.activeJob().isPresent());

    state = state.apply(new MemberEvaluated(JOB, 0, 5, 0.8, Double.NaN, Double.NaN));
    JobRun completed = job(state);
    assertEquals(JobState.COMPLETED, completed.state());
    assertEquals(new MemberResult(0, "m0", 5, 0.8), completed.member(0).result());
    assertTrue(state.activeJob().isEmpty(), "a completed job is not active");
    assertNull(completed.failure());
  }

  @Test
  void recentLossIsAMovingAverageOfSplitMeans() {
    CoordinatorState state = runningWithWorkerA();
    assertTrue(Double.isNaN(job(state).recentLoss()), "NaN before the first split");

    state = apply(state, new SplitLeased(JOB, 0, 0, 2, 1, A), new SplitCompleted(JOB, 0, 0, 2, 1, A, 4, 8.0, 2, 1_000));
    assertEquals(2.0, job(state).recentLoss(), 1e-12);

    state = apply(state, new SplitLeased(JOB, 0, 2, 2, 2, A), new SplitCompleted(JOB, 0, 2, 2, 2, A, 4, 4.0, 2, 1_000));
    assertEquals(0.7 * 2.0 + 0.3 * 1.0, job(state).recentLoss(), 1e-12);
  }

  @Test
  void joiningAndLeavingBumpTheEpochAndReplan() {
    CoordinatorState state = runningWithWorkerA();
    assertEquals(1, state.membershipEpoch());

    state = state.apply(joined(B));
    assertEquals(2, state.membershipEpoch());
    assertEquals(List.of(A, B), state.workerIds());
    AccumulationPlan two = job(state).member(0).currentPlan();
    assertEquals(new AccumulationPlan(2, 0, 8, shares(A, 2, B, 2)), two);
    assertEquals(4, two.totalMicroBatches());
    assertEquals(2, state.assignment(A).orElseThrow().accumulationSteps());
    assertEquals(2, state.assignment(B).orElseThrow().accumulationSteps());

    state = state.apply(joined(C));
    assertEquals(3, state.membershipEpoch());
    assertEquals(new AccumulationPlan(3, 0, 8, shares(A, 2, B, 1, C, 1)), job(state).member(0).currentPlan());

    state = state.apply(new WorkerLeft(A, false));
    assertEquals(4, state.membershipEpoch());
    assertEquals(List.of(B, C), state.workerIds());
    assertEquals(new AccumulationPlan(4, 0, 8, shares(B, 2, C, 2)), job(state).member(0).currentPlan());
    assertEquals(List.of(), state.retired(), "a worker that just left is not retired");
    assertTrue(state.assignment(A).isEmpty(), "a departed worker has no assignment");

    List<AccumulationPlan> plans = job(state).member(0).plans();
    assertEquals(List.of(1L, 2L, 3L, 4L), plans.stream().map(AccumulationPlan::membershipEpoch).toList());
    assertTrue(plans.stream().allMatch(p -> p.totalMicroBatches() == 4), plans::toString);
  }

  @Test
  void membershipChangesBeforeTheJobRunsRecordNoPlans() {
    CoordinatorState state =
        apply(
            CoordinatorState.empty(),
            joined(A),
            new JobSubmitted(JOB, spec("m0"), 1L),
            joined(B),
            new JobInitializationStarted(JOB),
            joined(C),
            new WorkerLeft(C, false));
    assertEquals(4, state.membershipEpoch());
    assertEquals(List.of(), job(state).member(0).plans());

    state = state.apply(new MemberInitialized(JOB, 0, DATA, 1, T0));
    assertEquals(
        List.of(new AccumulationPlan(4, 0, 8, shares(A, 2, B, 2))),
        job(state).member(0).plans(),
        "the first plan is made when the job starts running");
  }

  @Test
  void aDepartedWorkersSplitsArePendingAgain() {
    CoordinatorState state =
        apply(
            runningWithWorkerA(),
            joined(B),
            new SplitLeased(JOB, 0, 0, 2, 1, A),
            new SplitLeased(JOB, 0, 2, 2, 2, B),
            new SplitLeased(JOB, 0, 4, 1, 3, B),
            new SplitCompleted(JOB, 0, 2, 2, 2, B, 4, 3.0, 2, 1_000));
    assertEquals(OptionalInt.of(5), job(state).member(0).ledger().nextPending());

    state = state.apply(new WorkerLeft(B, false));

    var ledger = job(state).member(0).ledger();
    assertEquals(OptionalInt.of(4), ledger.nextPending(), "B's unfinished split 4 goes out first");
    assertEquals(Optional.empty(), ledger.runOfLease(3));
    assertEquals(0, ledger.leasesHeldBy(B));
    assertEquals(Optional.of(new Run(0, 2)), ledger.runOfLease(1), "A keeps its lease");
    assertEquals(2, ledger.ackedSplits(), "B's finished splits stay done");
    assertEquals(4, state.nextLeaseId(), "a leave does not recycle lease ids");
  }

  @Test
  void aReleasedLeaseIsPendingAgain() {
    CoordinatorState state =
        apply(runningWithWorkerA(), new SplitLeased(JOB, 0, 0, 2, 1, A), new SplitLeased(JOB, 0, 2, 2, 2, A));

    state = state.apply(new LeaseReleased(JOB, 0, 0, 1, "CUDA out of memory"));

    assertEquals(OptionalInt.of(0), job(state).member(0).ledger().nextPending());
    assertEquals(Optional.of(new Run(0, 2)), job(state).member(0).ledger().nextRun(2, 0, 10), "it goes out as it was");
    assertEquals(1, job(state).member(0).ledger().leasesHeldBy(A));
    assertEquals(JobState.RUNNING, job(state).state());
  }

  @Test
  void anEnsembleRunsOnceEveryMemberIsInitialisedAndSharesTheWorkers() {
    CoordinatorState state =
        apply(
            CoordinatorState.empty(),
            joined(A),
            joined(B),
            joined(C),
            new JobSubmitted(JOB, spec("m0", "m1"), 1L),
            new JobInitializationStarted(JOB),
            new MemberInitialized(JOB, 1, DATA, 7, T0));
    assertEquals(JobState.INITIALIZING, job(state).state(), "member 0 is not set up yet");
    assertNull(job(state).member(1).ledger());
    assertTrue(state.assignment(A).isEmpty());

    state = state.apply(new MemberInitialized(JOB, 0, DATA, 7, T0));
    JobRun running = job(state);
    assertEquals(JobState.RUNNING, running.state());
    assertEquals(20, running.splitsTotal(), "10 splits per member");
    assertEquals(40, running.samplesTotal());
    assertEquals(new AccumulationPlan(3, 0, 8, shares(A, 2, C, 2)), running.member(0).currentPlan());
    assertEquals(new AccumulationPlan(3, 1, 8, shares(B, 4)), running.member(1).currentPlan());
    assertEquals(new Assignment(running, 0, 2), state.assignment(C).orElseThrow());
    assertEquals(new Assignment(running, 1, 4), state.assignment(B).orElseThrow());

    // Member 0 finishes first: its workers move to member 1, under the same membership.
    long lease = 1;
    for (int g = 0; g < 10; g++) {
      state = apply(
          state, new SplitLeased(JOB, 0, g, 1, lease, A), new SplitCompleted(JOB, 0, g, 1, lease, A, 2, 2.0, 2, 1_000));
      lease++;
    }
    JobRun afterMember0 = job(state);
    assertEquals(JobState.RUNNING, afterMember0.state(), "member 1 is still training");
    assertFalse(afterMember0.member(0).isTraining());
    assertEquals(new AccumulationPlan(3, 1, 8, shares(A, 2, B, 1, C, 1)), afterMember0.member(1).currentPlan());
    assertEquals(new Assignment(afterMember0, 1, 2), state.assignment(A).orElseThrow());
    assertEquals(new Assignment(afterMember0, 1, 1), state.assignment(C).orElseThrow());

    for (int g = 0; g < 10; g++) {
      state = apply(
          state, new SplitLeased(JOB, 1, g, 1, lease, B), new SplitCompleted(JOB, 1, g, 1, lease, B, 2, 2.0, 2, 1_000));
      lease++;
    }
    assertEquals(JobState.EVALUATING, job(state).state());

    state = state.apply(new MemberEvaluated(JOB, 1, 5, 0.6, Double.NaN, Double.NaN));
    assertEquals(JobState.EVALUATING, job(state).state(), "member 0 is not evaluated yet");
    state = state.apply(new MemberEvaluated(JOB, 0, 5, 0.4, Double.NaN, Double.NaN));
    assertEquals(JobState.EVALUATING, job(state).state(), "a classifier ensemble is measured together last");
    assertTrue(job(state).needsEnsembleEvaluation());
    CoordinatorProtocol.EnsembleResult together = new CoordinatorProtocol.EnsembleResult(5, 0.6, 0.6, 0.8);
    state = state.apply(new CoordinatorEvent.EnsembleEvaluated(JOB, together));
    assertEquals(JobState.COMPLETED, job(state).state());
    assertEquals(together, job(state).ensemble());
    assertEquals(new MemberResult(0, "m0", 5, 0.4), job(state).member(0).result());
    assertEquals(new MemberResult(1, "m1", 5, 0.6), job(state).member(1).result());
  }

  @Test
  void aFailedJobRecordsWhyAndTheNextOneCanStart() {
    CoordinatorState state =
        apply(
            runningWithWorkerA(),
            new JobSubmitted("job-2", spec("m0"), 2L),
            new JobFailed(JOB, "initialising member 0 failed 3 times"));

    assertEquals(JobState.FAILED, job(state).state());
    assertEquals("initialising member 0 failed 3 times", job(state).failure());
    assertTrue(state.activeJob().isEmpty());
    assertTrue(state.assignment(A).isEmpty());
    assertEquals("job-2", state.firstQueued().orElseThrow().jobId());
    assertEquals(3, state.nextJobNumber());
  }

  @Test
  void eventsForAnUnknownJobAreRefused() {
    CoordinatorState state = runningWithWorkerA();

    assertThrows(IllegalStateException.class, () -> state.apply(new JobInitializationStarted("job-9")));
    assertThrows(IllegalStateException.class, () -> state.apply(new JobFailed("job-9", "x")));
  }

  @Test
  void aWorkerThatJoinsTwiceIsListedOnce() {
    CoordinatorState state = apply(CoordinatorState.empty(), joined(B), joined(A), joined(B));

    assertEquals(List.of(A, B), state.workerIds(), "sorted by id, no duplicates");
    assertEquals(3, state.membershipEpoch());
  }

  @Test
  void replayingTheSameEventsGivesTheSameState() {
    List<CoordinatorEvent> events =
        List.of(
            joined(A),
            joined(B),
            new JobSubmitted(JOB, spec("m0", "m1"), 5L),
            new JobInitializationStarted(JOB),
            new MemberInitialized(JOB, 0, DATA, 9, T0),
            new MemberInitialized(JOB, 1, DATA, 9, T0),
            new SplitLeased(JOB, 0, 0, 2, 1, A),
            new SplitLeased(JOB, 1, 0, 2, 2, B),
            new SplitCompleted(JOB, 0, 0, 2, 1, A, 4, 9.2, 2, 3_000_000),
            new LeaseReleased(JOB, 1, 0, 2, "worker stopping"),
            new WorkerLeft(B, false));

    CoordinatorState first = apply(CoordinatorState.empty(), events.toArray(CoordinatorEvent[]::new));
    CoordinatorState second = apply(CoordinatorState.empty(), events.toArray(CoordinatorEvent[]::new));

    assertEquals(first, second);
    assertEquals(3, first.membershipEpoch());
    assertEquals(new AccumulationPlan(3, 0, 8, shares(A, 4)), job(first).member(0).currentPlan());
    // One worker for two members: member 1 waits, which its plan for epoch 3 records as no shares.
    assertEquals(new AccumulationPlan(3, 1, 8, List.of()), job(first).member(1).currentPlan());
    assertTrue(first.assignment(B).isEmpty());
  }

  // ---------------------------------------------------------------- draining

  @Test
  void aDrainingWorkerLeavesThePlansButKeepsWhatItHolds() {
    CoordinatorState state = apply(runningWithWorkerA(), joined(B), joined(C), new SplitLeased(JOB, 0, 0, 2, 1, B));
    assertEquals(new AccumulationPlan(3, 0, 8, shares(A, 2, B, 1, C, 1)), job(state).member(0).currentPlan());

    state = state.apply(new WorkerDraining(B));

    assertEquals(4, state.membershipEpoch(), "a drain changes the membership");
    assertEquals(List.of(A, B, C), state.workerIds(), "still live: it finishes what it holds");
    assertTrue(state.worker(B).orElseThrow().draining());
    assertFalse(state.worker(A).orElseThrow().draining());
    assertEquals(List.of(A, C), state.schedulable().stream().map(WorkerEntry::workerId).toList());
    AccumulationPlan plan = job(state).member(0).currentPlan();
    assertEquals(new AccumulationPlan(4, 0, 8, shares(A, 2, C, 2)), plan);
    assertEquals(job(state).globalBatch() / job(state).spec().microBatch(), plan.totalMicroBatches());
    assertTrue(state.assignment(B).isEmpty(), "no share for a draining worker");
    assertEquals(Optional.of(new Run(0, 2)), job(state).member(0).ledger().runOfLease(1), "its lease stays live");
    assertEquals(List.of(), state.retired());
  }

  @Test
  void aDrainedWorkerIsRetiredAndItsUnfinishedWorkGoesBack() {
    CoordinatorState state =
        apply(
            runningWithWorkerA(),
            joined(B),
            new SplitLeased(JOB, 0, 0, 2, 1, B),
            new WorkerDraining(B),
            new SplitCompleted(JOB, 0, 0, 1, 1, B, 2, 1.0, 1, 1_000));
    assertEquals(1, job(state).member(0).ledger().ackedSplits(), "it acked the part it pushed");

    state = state.apply(new WorkerLeft(B, true));

    assertEquals(List.of(A), state.workerIds());
    assertEquals(List.of(B), state.retired());
    assertEquals(new AccumulationPlan(4, 0, 8, shares(A, 4)), job(state).member(0).currentPlan());
    assertEquals(Optional.of(new Run(1, 1)), job(state).member(0).ledger().nextRun(2, 0, 10));

    state = apply(state, joined(C), new WorkerLeft(C, false));
    assertEquals(List.of(B), state.retired(), "only a drained worker is retired");
  }

  @Test
  void onlyTheNewestRetiredWorkersAreRemembered() {
    CoordinatorState state = CoordinatorState.empty();
    for (int i = 0; i <= CoordinatorState.RETIRED_KEPT; i++) {
      state = state.apply(new WorkerLeft("w-" + i, true));
    }

    assertEquals(CoordinatorState.RETIRED_KEPT, state.retired().size());
    assertEquals("w-1", state.retired().get(0), "the oldest went first");
    assertEquals("w-" + CoordinatorState.RETIRED_KEPT, state.retired().get(CoordinatorState.RETIRED_KEPT - 1));
  }

  // ---------------------------------------------------------------- speeds and the global batch

  @Test
  void aWorkersSpeedIsAMovingAverageOfItsAckedLeases() {
    CoordinatorState state = runningWithWorkerA();
    assertEquals(0.0, state.worker(A).orElseThrow().samplesPerSecond(), "unknown before the first ack");

    state = apply(state, new SplitLeased(JOB, 0, 0, 2, 1, A), new SplitCompleted(JOB, 0, 0, 2, 1, A, 4, 4.0, 1, 40_000_000));
    assertEquals(100.0, state.worker(A).orElseThrow().samplesPerSecond(), 1e-9);

    state = apply(state, new SplitLeased(JOB, 0, 2, 2, 2, A), new SplitCompleted(JOB, 0, 2, 2, 2, A, 4, 4.0, 1, 10_000_000));
    assertEquals(0.7 * 100.0 + 0.3 * 400.0, state.worker(A).orElseThrow().samplesPerSecond(), 1e-9);

    state = apply(state, new SplitLeased(JOB, 0, 4, 1, 3, A), new SplitCompleted(JOB, 0, 4, 1, 3, A, 2, 2.0, 1, 0));
    assertEquals(190.0, state.worker(A).orElseThrow().samplesPerSecond(), 1e-9, "no compute time, no measurement");
    assertEquals(1, job(state).member(0).plans().size(), "a speed alone does not re-plan");
  }

  @Test
  void aChangedGlobalBatchIsPlannedForUnderTheSameMembership() {
    CoordinatorState state = apply(runningWithWorkerA(), joined(B));
    assertEquals(8, job(state).globalBatch());
    assertEquals(1.0, job(state).learningRateScale());

    state = state.apply(new GlobalBatchChanged(JOB, 16, 2.0));

    JobRun changed = job(state);
    assertEquals(16, changed.globalBatch());
    assertEquals(2.0, changed.learningRateScale());
    assertEquals(8, changed.splitsPerStep());
    assertEquals(8, changed.spec().globalBatch(), "the spec keeps what was submitted");
    AccumulationPlan plan = changed.member(0).currentPlan();
    assertEquals(new AccumulationPlan(2, 0, 16, shares(A, 4, B, 4)), plan);
    assertEquals(16 / 2, plan.totalMicroBatches());
    assertEquals(4, state.assignment(B).orElseThrow().accumulationSteps());
    assertEquals(
        List.of(8, 8, 16), changed.member(0).plans().stream().map(AccumulationPlan::globalBatch).toList(),
        "the history keeps the plans for the old batch");

    state = state.apply(new GlobalBatchChanged(JOB, 6, 0.75));
    assertEquals(new AccumulationPlan(2, 0, 6, shares(A, 2, B, 1)), job(state).member(0).currentPlan());
  }

  // ---------------------------------------------------------------- checkpoints and recovery

  private static List<ShardPosition> positions(long sequenceNr) {
    return List.of(
        new ShardPosition(0, 0, sequenceNr, 10 * sequenceNr), new ShardPosition(0, 1, sequenceNr, 10 * sequenceNr));
  }

  /** Leases split {@code g} to A under lease {@code g + 1} and acks it with {@code pushes} pushes. */
  private static CoordinatorState acked(CoordinatorState state, int g, int pushes) {
    return apply(
        state,
        new SplitLeased(JOB, 0, g, 1, g + 1, A),
        new SplitCompleted(JOB, 0, g, 1, g + 1, A, 2, 2.0, pushes, 1_000));
  }

  @Test
  void aRunningJobStartsWithItsInitialValuesAsCheckpointZero() {
    JobRun running = job(runningWithWorkerA());

    assertEquals(
        List.of(
            new CheckpointRecord(
                0, List.of(Cut.none(10)), List.of(new ShardPosition(0, 0, 1, 0), new ShardPosition(0, 1, 1, 0)), T0)),
        running.checkpoints(),
        "every shard's journal starts with its initial values");
    assertEquals(0, running.lastCheckpoint().orElseThrow().checkpointId());
    assertEquals(1, running.nextCheckpointId());
    assertNull(running.pendingCheckpoint());
    assertEquals(0, running.recoveryEpoch());
    assertEquals(T0, running.lastCheckpointAtMillis(), "the interval counts from the start of training");
    assertEquals(0, running.pushesSinceCheckpoint());
  }

  @Test
  void aCheckpointCoversTheSplitsAckedWhenItStarted() {
    CoordinatorState state = acked(runningWithWorkerA(), 0, 3);
    assertEquals(3, job(state).pushesSinceCheckpoint());

    state = state.apply(new CheckpointStarted(JOB, 1, T0 + 5_000));
    JobRun started = job(state);
    assertEquals(new Pending(1, List.of(cutOf(10, 0)), T0 + 5_000), started.pendingCheckpoint());
    assertEquals(2, started.nextCheckpointId(), "ids are never reused");
    assertEquals(0, started.pushesSinceCheckpoint());
    assertEquals(T0 + 5_000, started.lastCheckpointAtMillis());

    // Split 1 is acked while the shards save: their numbers may or may not include it, so the
    // checkpoint does not count it.
    state = acked(state, 1, 2);
    state = state.apply(new CheckpointCompleted(JOB, 7, positions(2), 3));
    assertEquals(started.checkpoints(), job(state).checkpoints(), "a completion of another checkpoint is ignored");

    state = state.apply(new CheckpointCompleted(JOB, 1, positions(2), 3));
    JobRun completed = job(state);
    assertNull(completed.pendingCheckpoint());
    assertEquals(new CheckpointRecord(1, List.of(cutOf(10, 0)), positions(2), T0 + 5_000), completed.lastCheckpoint().orElseThrow());
    assertEquals(List.of(0L, 1L), completed.checkpoints().stream().map(CheckpointRecord::checkpointId).toList());
    assertEquals(2, completed.pushesSinceCheckpoint(), "pushes after the start count towards the next one");
    assertEquals(Optional.of(new ShardPosition(0, 1, 2, 20)), completed.lastCheckpoint().orElseThrow().position(0, 1));
    assertEquals(Optional.empty(), completed.lastCheckpoint().orElseThrow().position(1, 0));
  }

  @Test
  void onlyTheNewestCheckpointsAreKept() {
    CoordinatorState state = runningWithWorkerA();
    for (long id = 1; id <= 4; id++) {
      state =
          apply(state, new CheckpointStarted(JOB, id, T0 + id), new CheckpointCompleted(JOB, id, positions(id + 1), 3));
    }

    assertEquals(List.of(2L, 3L, 4L), job(state).checkpoints().stream().map(CheckpointRecord::checkpointId).toList());
    assertEquals(Optional.empty(), job(state).checkpoint(0), "the initial values went with the oldest");
  }

  @Test
  void anAbandonedCheckpointLeavesTheNewestAsItWas() {
    CoordinatorState state = apply(runningWithWorkerA(), new CheckpointStarted(JOB, 1, T0 + 1));

    CoordinatorState ignored = state.apply(new CheckpointAbandoned(JOB, 2, "not this one"));
    assertEquals(1, job(ignored).pendingCheckpoint().checkpointId());

    state = state.apply(new CheckpointAbandoned(JOB, 1, "Ask timed out"));
    assertNull(job(state).pendingCheckpoint());
    assertEquals(0, job(state).lastCheckpoint().orElseThrow().checkpointId());
    assertEquals(2, job(state).nextCheckpointId(), "the abandoned id is not used again");
    assertEquals(T0 + 1, job(state).lastCheckpointAtMillis(), "the next one is due an interval after this one");
  }

  @Test
  void aRewindReturnsTheLedgersToTheCheckpointsCutAndVoidsEveryLease() {
    CoordinatorState state = acked(acked(runningWithWorkerA(), 0, 2), 1, 2);
    state = apply(
        state,
        new CheckpointStarted(JOB, 1, T0 + 1),
        new CheckpointCompleted(JOB, 1, positions(2), 3));
    state = acked(state, 2, 2);
    state = apply(state, new SplitLeased(JOB, 0, 3, 2, 40, A), new CheckpointStarted(JOB, 2, T0 + 2));
    List<AccumulationPlan> plans = job(state).member(0).plans();

    state = state.apply(new JobRewound(JOB, 1, 1, "shard m0/s1 restarted without its numbers"));
    JobRun rewound = job(state);
    assertEquals(JobState.RECOVERING, rewound.state());
    assertEquals(1, rewound.recoveryEpoch());
    assertEquals(2, rewound.splitsDone(), "splits 0 and 1 are in checkpoint 1; split 2 is not");
    assertEquals(4, rewound.samplesDone());
    assertEquals(OptionalInt.of(2), rewound.member(0).ledger().nextPending());
    assertEquals(Optional.empty(), rewound.member(0).ledger().runOfLease(40), "the lease of splits 3 and 4 is void");
    assertEquals(0, rewound.member(0).ledger().leasesHeldBy(A));
    assertNull(rewound.pendingCheckpoint(), "a checkpoint of the old epoch cannot complete");
    assertTrue(state.assignment(A).isEmpty(), "nothing is leased while recovering");
    assertEquals(Optional.of(rewound), state.activeJob());

    state = state.apply(new JobRecovered(JOB, 1));
    JobRun recovered = job(state);
    assertEquals(JobState.RUNNING, recovered.state());
    assertEquals(plans, recovered.member(0).plans(), "the membership did not change, so neither did the plan");
    assertEquals(4, state.assignment(A).orElseThrow().accumulationSteps());
  }

  @Test
  void aMemberStoppedEarlyFinishesItsLeaseOutAndARewindToBeforeTheStopTrainsItAgain() {
    CoordinatorState state = runningWithWorkerA();
    for (int g = 0; g < 5; g++) {
      state = acked(state, g, 1); // epoch 0
    }
    state = apply(state, new CheckpointStarted(JOB, 1, T0 + 1), new CheckpointCompleted(JOB, 1, positions(2), 3));
    state = apply(state, new CoordinatorEvent.MemberValidated(JOB, 0, 0, 0.81), new SplitLeased(JOB, 0, 5, 1, 60, A));
    long membership = state.membershipEpoch();
    state = state.apply(new CoordinatorEvent.MemberStoppedEarly(JOB, 0, 0, 0, 0.81));

    JobRun stopping = job(state);
    assertEquals(JobState.RUNNING, stopping.state(), "the lease out is still to be acked");
    assertEquals(0, stopping.member(0).stoppedAfterEpoch());
    assertEquals(4, stopping.member(0).ledger().skippedSplits(), "splits 6 to 9; split 5 is leased");
    assertEquals(Optional.of(new Run(5, 1)), stopping.member(0).ledger().runOfLease(60));
    assertTrue(stopping.member(0).isTraining());
    assertFalse(stopping.member(0).wantsWork());
    assertTrue(state.assignment(A).isEmpty(), "a stopped member gets no new lease");
    assertEquals(membership + 1, state.membershipEpoch(), "its workers are re-divided");
    assertEquals(12, stopping.samplesTotal(), "epoch 0 and the split out");
    CoordinatorState snapshot = WireRoundTrip.roundTrip(testKit.system(), state);
    assertEquals(state, snapshot, "scores, the stop and the skipped splits survive a snapshot");
    assertEquals(4, job(snapshot).member(0).ledger().skippedSplits());

    // The lease out is acked: the member is done, with what that lease pushed.
    JobRun acked = job(state.apply(new SplitCompleted(JOB, 0, 5, 1, 60, A, 2, 2.0, 1, 1_000)));
    assertEquals(JobState.EVALUATING, acked.state(), "its only member is done");
    assertEquals(12, acked.samplesDone());
    assertEquals(acked.samplesTotal(), acked.samplesDone(), "progress reaches 100 %");

    // Or it is given back: that split is skipped too, not trained by another worker.
    JobRun givenBack = job(state.apply(new LeaseReleased(JOB, 0, 5, 60, "worker stopping")));
    assertEquals(JobState.EVALUATING, givenBack.state());
    assertEquals(5, givenBack.member(0).ledger().skippedSplits());
    assertEquals(10, givenBack.samplesDone(), "epoch 1 was not trained");
    assertEquals(10, givenBack.samplesTotal());

    // A checkpoint taken while the lease was out (sync mode allows that) holds the stop but not
    // split 5: a rewind to it keeps the member stopped, and skips split 5.
    state = apply(state, new CheckpointStarted(JOB, 2, T0 + 2), new CheckpointCompleted(JOB, 2, positions(3), 3));
    JobRun toAfterStop =
        job(apply(state, new JobRewound(JOB, 1, 2, "shard m0/s0 restarted"), new JobRecovered(JOB, 1)));
    assertEquals(JobState.EVALUATING, toAfterStop.state());
    assertEquals(0, toAfterStop.member(0).stoppedAfterEpoch());
    assertEquals(5, toAfterStop.member(0).ledger().skippedSplits());
    assertEquals(List.of(new MemberRun.Validation(0, 0.81)), toAfterStop.member(0).validations());

    // Checkpoint 1 holds epoch 0 but not the stop: epoch 1 is trained after all, epoch 0's score stays.
    state = apply(state, new JobRewound(JOB, 1, 1, "shard m0/s0 restarted without its numbers"), new JobRecovered(JOB, 1));
    JobRun again = job(state);
    assertEquals(JobState.RUNNING, again.state());
    assertEquals(-1, again.member(0).stoppedAfterEpoch());
    assertTrue(again.member(0).wantsWork());
    assertEquals(List.of(new MemberRun.Validation(0, 0.81)), again.member(0).validations());
    assertEquals(OptionalInt.of(5), again.member(0).ledger().nextPending());
    assertEquals(20, again.samplesTotal());

    // Checkpoint 0 is from before epoch 0 was done: its score goes too.
    state = apply(state, new JobRewound(JOB, 2, 0, "checkpoint 1 unusable"), new JobRecovered(JOB, 2));
    assertEquals(List.of(), job(state).member(0).validations());
  }

  @Test
  void theWorkersOfAMemberStoppedEarlyGoToTheOthers() {
    CoordinatorState state =
        apply(
            CoordinatorState.empty(),
            joined(A),
            joined(B),
            new JobSubmitted(JOB, spec("m0", "m1"), 1L),
            new JobInitializationStarted(JOB),
            new MemberInitialized(JOB, 0, DATA, 7, T0),
            new MemberInitialized(JOB, 1, DATA, 7, T0));
    assertEquals(0, state.assignment(A).orElseThrow().member());
    assertEquals(1, state.assignment(B).orElseThrow().member());
    state = apply(state, new SplitLeased(JOB, 0, 0, 1, 70, A), new CoordinatorEvent.MemberStoppedEarly(JOB, 0, 0, 0, 0.5));

    AccumulationPlan plan = job(state).member(1).currentPlan();
    assertEquals(state.membershipEpoch(), plan.membershipEpoch(), "a new plan, so ssp shards get the new roster");
    assertEquals(List.of(A, B), plan.shares().stream().map(WorkerShare::workerId).toList());
    assertEquals(1, state.assignment(A).orElseThrow().member(), "A trains member 1 now");
    assertEquals(Optional.of(A), job(state).member(0).ledger().holderOfLease(70), "and still acks its lease of member 0");
    JobRun done = job(state.apply(new SplitCompleted(JOB, 0, 0, 1, 70, A, 2, 2.0, 1, 1_000)));
    assertFalse(done.member(0).isTraining());
    assertEquals(2, done.member(0).ledger().ackedSamples());
  }

  @Test
  void aRewindAfterTrainingWasOverEvaluatesAgainOnceRecovered() {
    CoordinatorState state = runningWithWorkerA();
    for (int g = 0; g < 10; g++) {
      state = acked(state, g, 1);
    }
    assertEquals(JobState.EVALUATING, job(state).state());
    state = apply(state, new CheckpointStarted(JOB, 1, T0 + 1), new CheckpointCompleted(JOB, 1, positions(2), 3));
    assertTrue(job(state).lastCheckpoint().orElseThrow().coversEverything());

    state = state.apply(new JobRewound(JOB, 1, 1, "shard m0/s0 restarted without its numbers"));
    assertEquals(JobState.RECOVERING, job(state).state());
    assertEquals(20, job(state).samplesDone());
    state = state.apply(new JobRecovered(JOB, 1));
    assertEquals(JobState.EVALUATING, job(state).state());
  }

  @Test
  void aDiscardedCheckpointIsForgottenAndCannotBeRewoundTo() {
    CoordinatorState state = apply(
        acked(runningWithWorkerA(), 0, 1),
        new CheckpointStarted(JOB, 1, T0 + 1),
        new CheckpointCompleted(JOB, 1, positions(2), 3),
        new CheckpointDiscarded(JOB, 1, "checksum mismatch"));

    assertEquals(List.of(0L), job(state).checkpoints().stream().map(CheckpointRecord::checkpointId).toList());
    CoordinatorState discarded = state;
    assertThrows(IllegalStateException.class, () -> discarded.apply(new JobRewound(JOB, 1, 1, "x")));

    state = state.apply(new JobRewound(JOB, 1, 0, "checkpoint 1 unusable"));
    assertEquals(0, job(state).samplesDone());
    assertEquals(1, job(state).recoveryEpoch());
  }

  @Test
  void theAuditLogKeepsTheNewestRecords() {
    CoordinatorState state = CoordinatorState.empty();
    assertEquals(1, state.nextAuditSequence());
    for (long sequence = 1; sequence <= CoordinatorState.AUDIT_KEPT + 1; sequence++) {
      assertEquals(sequence, state.nextAuditSequence());
      AuditRecord record = new AuditRecord(sequence, T0 + sequence, "submit", "job-" + sequence);
      state = state.apply(new OperatorCommandRecorded(record));
    }

    assertEquals(CoordinatorState.AUDIT_KEPT, state.audit().size());
    assertEquals(2, state.audit().get(0).sequence(), "the oldest went first");
    assertEquals(CoordinatorState.AUDIT_KEPT + 2, state.nextAuditSequence(), "sequences go on from the newest");
  }

  private static Cut cutOf(int splits, int... acked) {
    SplitLedger ledger = SplitLedger.create(splits, 1, 1);
    for (int g : acked) {
      ledger = ledger.lease(g, 1, g + 1, A).ack(g + 1, 1);
    }
    return ledger.cut();
  }
}
