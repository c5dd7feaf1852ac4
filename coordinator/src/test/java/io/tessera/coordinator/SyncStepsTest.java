package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import io.tessera.coordinator.CheckpointRecord.ShardPosition;
import io.tessera.coordinator.CoordinatorEvent.CheckpointCompleted;
import io.tessera.coordinator.CoordinatorEvent.CheckpointStarted;
import io.tessera.coordinator.CoordinatorEvent.GlobalBatchChanged;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobRecovered;
import io.tessera.coordinator.CoordinatorEvent.JobRewound;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.WorkerDraining;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.coordinator.MemberRun.StepLoss;
import io.tessera.coordinator.ledger.SplitLedger.Run;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseGranted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLeaseReason;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import io.tessera.protocol.coordinator.CoordinatorProtocol.SplitReport;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code sync} mode, driven event by event through {@link CoordinatorState} and {@link LeaseDesk}:
 * every optimizer step is one round of consecutive micro-batch splits, leased in the workers'
 * shares; the next round goes out only once every split of this one is acked, a departed worker's
 * share goes to another unchanged, and each step's mean loss is recorded.
 */
class SyncStepsTest {
  // Ids sort a < b < c, the order the planner deals workers in.
  private static final String A = "akka://tessera@127.0.0.1:25520/user/worker-a#101";
  private static final String B = "akka://tessera@127.0.0.1:25520/user/worker-b#102";
  private static final String C = "akka://tessera@127.0.0.1:25520/user/worker-c#103";
  private static final String JOB = "job-1";
  private static final long T0 = 1_700_000_100_000L;

  private static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("SyncStepsTest");
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static WorkerJoined joined(String workerId) {
    return new WorkerJoined(workerId, testKit.<WorkerProtocol.Command>createTestProbe().getRef());
  }

  /** Steps of 8 samples in micro-batches of 2: four splits a step. */
  private static JobSpec spec(TrainingMode mode) {
    return JobSpec.builder()
        .setName("fmnist-sync")
        .optGlobalBatch(8)
        .optMicroBatch(2)
        .optSplitSize(4)
        .optEpochs(2)
        .optMode(mode)
        .build();
  }

  /**
   * The job running over {@code trainSize} samples with {@code workers}; with 10 samples an epoch
   * is five splits: a step of four and a short step of one.
   */
  private static CoordinatorState running(TrainingMode mode, int trainSize, String... workers) {
    CoordinatorState state = CoordinatorState.empty();
    for (String worker : workers) {
      state = state.apply(joined(worker));
    }
    return apply(
        state,
        new JobSubmitted(JOB, spec(mode), 1L),
        new JobInitializationStarted(JOB),
        new MemberInitialized(JOB, 0, new DatasetInfo(trainSize, 4, "c0ffee12"), 100, T0));
  }

  private static CoordinatorState running(String... workers) {
    return running(TrainingMode.SYNC, 10, workers);
  }

  private static CoordinatorState apply(CoordinatorState state, CoordinatorEvent... events) {
    CoordinatorState next = state;
    for (CoordinatorEvent event : events) {
      next = next.apply(event);
    }
    return next;
  }

  private static SplitLeased leased(CoordinatorState state, String workerId) {
    Object decision = LeaseDesk.nextLease(state, workerId, 0);
    return assertInstanceOf(SplitLeased.class, decision, () -> "expected a lease, got " + decision);
  }

  private static NoLease noLease(CoordinatorState state, String workerId) {
    Object decision = LeaseDesk.nextLease(state, workerId, 0);
    return assertInstanceOf(NoLease.class, decision, () -> "expected no lease, got " + decision);
  }

  private static Lease granted(CoordinatorState applied, SplitLeased leased) {
    return assertInstanceOf(LeaseGranted.class, LeaseDesk.grant(applied, leased)).lease();
  }

  /** The ack of {@code leased}, reporting {@code samples} trained at {@code lossSum}. */
  private static SplitCompleted completed(
      CoordinatorState state, SplitLeased leased, int samples, double lossSum, long computeNanos) {
    return LeaseDesk.completion(
            state, leased.leaseId(), leased.workerId(), new SplitReport(samples, lossSum, 1, 0, computeNanos))
        .orElseThrow();
  }

  private static SplitCompleted completed(CoordinatorState state, SplitLeased leased, int samples, double lossSum) {
    return completed(state, leased, samples, lossSum, 1_000_000L);
  }

  private static MemberRun member(CoordinatorState state) {
    return state.job(JOB).orElseThrow().member(0);
  }

  private static Run run(SplitLeased leased) {
    return new Run(leased.split(), leased.count());
  }

  private static List<ShardPosition> positions(long sequenceNr) {
    return List.of(new ShardPosition(0, 0, sequenceNr, sequenceNr), new ShardPosition(0, 1, sequenceNr, sequenceNr));
  }

  @Test
  void theFirstStepIsOpenedWhenTheJobRunsAndLeasedInTheWorkersShares() {
    CoordinatorState state = running(A, B);
    MemberRun opened = member(state);
    assertEquals(new Run(0, 4), opened.round());
    assertFalse(opened.stepStarted());
    assertEquals(List.of(), opened.stepLosses());
    assertEquals(List.of(new WorkerShare(A, 2), new WorkerShare(B, 2)), opened.currentPlan().shares());

    SplitLeased ofA = leased(state, A);
    state = state.apply(ofA);
    assertTrue(member(state).stepStarted());
    SplitLeased ofB = leased(state, B);
    state = state.apply(ofB);

    assertEquals(new Run(0, 2), run(ofA));
    assertEquals(new Run(2, 2), run(ofB));
    Lease leaseOfA = granted(state, ofA);
    Lease leaseOfB = granted(state, ofB);
    assertEquals(new Split(0, 0, 0, 4), leaseOfA.split());
    assertEquals(new Split(0, 2, 4, 8), leaseOfB.split());
    assertEquals(2, leaseOfA.accumulationSteps(), "a contribution is pushed at once");
    assertEquals(new StepRule(8, 1.0, 0, 0), leaseOfA.rule());
    assertEquals(new StepRule(8, 1.0, 2, 0), leaseOfB.rule(), "each part of the step is named by its first split");

    NoLease wait = noLease(state, A);
    assertTrue(LeaseDesk.isAtBarrier(wait), wait.describe());
    assertEquals(LeaseDesk.BARRIER_RETRY_MILLIS, wait.retryAfterMillis());
  }

  @Test
  void theNextStepGoesOutOnlyOnceEveryContributionIsAcked() {
    CoordinatorState state = running(A, B);
    SplitLeased ofA = leased(state, A);
    state = state.apply(ofA);
    SplitLeased ofB = leased(state, B);
    state = state.apply(ofB);

    state = state.apply(completed(state, ofA, 4, 4.0));
    assertEquals(new Run(0, 4), member(state).round(), "B's contribution is still out");
    assertEquals(4, member(state).roundSamples());
    assertEquals(4.0, member(state).roundLossSum());
    assertEquals(new NoLeaseReason.AwaitingContributions(), noLease(state, A).reason());

    state = state.apply(completed(state, ofB, 4, 12.0));
    assertEquals(new Run(4, 1), member(state).round(), "the last step of the epoch is one split");
    assertEquals(List.of(new StepLoss(0, 2.0)), member(state).stepLosses(), "16.0 over the step's 8 samples");
    assertEquals(0, member(state).roundSamples());
    assertFalse(member(state).stepStarted());

    SplitLeased shortStep = leased(state, B);
    state = state.apply(shortStep);
    assertEquals(new Run(4, 1), run(shortStep), "B's share is two, but the step has one split");
    Lease lease = granted(state, shortStep);
    assertEquals(new Split(0, 4, 8, 10), lease.split());
    assertEquals(new StepRule(2, 1.0, 4, 4), lease.rule(), "the short step has 2 samples, not the global batch");
    assertEquals(new NoLeaseReason.AwaitingContributions(), noLease(state, A).reason());

    state = state.apply(completed(state, shortStep, 2, 3.0));
    assertEquals(new Run(5, 4), member(state).round(), "epoch 1 starts with a full step");
    assertEquals(List.of(new StepLoss(0, 2.0), new StepLoss(4, 1.5)), member(state).stepLosses());
  }

  @Test
  void everyStepIsTakenOnceAndTheJobEvaluatesAfterTheLast() {
    CoordinatorState state = running(A);
    assertEquals(List.of(new WorkerShare(A, 4)), member(state).currentPlan().shares());
    int steps = 0;
    while (state.job(JOB).orElseThrow().state() == JobState.RUNNING) {
      Run round = member(state).round();
      SplitLeased lease = leased(state, A);
      assertEquals(round, run(lease), "a lone worker's share is the whole step");
      state = state.apply(lease);
      int samples = granted(state, lease).split().size();
      state = state.apply(completed(state, lease, samples, samples * (steps + 1.0)));
      steps++;
    }

    assertEquals(JobState.EVALUATING, state.job(JOB).orElseThrow().state());
    assertNull(member(state).round(), "no step is left");
    assertEquals(
        List.of(new StepLoss(0, 1.0), new StepLoss(4, 2.0), new StepLoss(5, 3.0), new StepLoss(9, 4.0)),
        member(state).stepLosses());
    assertEquals(4, steps);
  }

  @Test
  void aDepartedWorkersShareGoesUnchangedToAnotherAndTheStepGetsExactlyItsSamples() {
    CoordinatorState state = running(A, B, C);
    assertEquals(
        List.of(new WorkerShare(A, 2), new WorkerShare(B, 1), new WorkerShare(C, 1)),
        member(state).currentPlan().shares());
    SplitLeased ofA = leased(state, A);
    state = state.apply(ofA);
    SplitLeased ofB = leased(state, B);
    state = state.apply(ofB);
    assertEquals(new Run(2, 1), run(ofB));
    Lease leaseOfB = granted(state, ofB);

    state = state.apply(new WorkerLeft(B, false));

    assertEquals(new Run(0, 4), member(state).round(), "the step stays as it was");
    assertEquals(List.of(new WorkerShare(A, 2), new WorkerShare(C, 2)), member(state).currentPlan().shares());
    SplitLeased taken = leased(state, C);
    assertEquals(new Run(2, 1), run(taken), "B's part, unchanged though C's share is two");
    state = state.apply(taken);
    Lease leaseOfC = granted(state, taken);
    assertEquals(leaseOfB.split(), leaseOfC.split());
    assertEquals(leaseOfB.rule(), leaseOfC.rule(), "the shards see the same part of the same step");

    state = state.apply(completed(state, ofA, 4, 4.0));
    SplitLeased rest = leased(state, A);
    assertEquals(new Run(3, 1), run(rest));
    state = state.apply(rest);
    state = state.apply(completed(state, taken, 2, 3.0));
    assertEquals(6, member(state).roundSamples());
    state = state.apply(completed(state, rest, 2, 5.0));

    assertEquals(List.of(new StepLoss(0, 12.0 / 8)), member(state).stepLosses(), "the step had exactly 8 samples");
    assertEquals(new Run(4, 1), member(state).round());
    assertEquals(8, state.job(JOB).orElseThrow().samplesDone());
  }

  @Test
  void aDrainingWorkerAcksWhatItPushedAndTheRestOfItsShareGoesToAnother() {
    CoordinatorState state = running(A, B);
    SplitLeased ofA = leased(state, A);
    state = state.apply(ofA);
    SplitLeased ofB = leased(state, B);
    state = state.apply(ofB);

    state = state.apply(new WorkerDraining(B));
    assertEquals(new NoLeaseReason.Draining(), noLease(state, B).reason());
    assertFalse(LeaseDesk.isAtBarrier(noLease(state, B)), "a draining worker is answered at once");
    assertEquals(List.of(new WorkerShare(A, 4)), member(state).currentPlan().shares());
    // B pushed one micro-batch of its two, acks it and leaves.
    SplitCompleted partial = completed(state, ofB, 2, 1.0);
    assertEquals(1, partial.count());
    state = apply(state, partial, new WorkerLeft(B, true));
    assertEquals(List.of(B), state.retired());

    state = state.apply(completed(state, ofA, 4, 4.0));
    SplitLeased rest = leased(state, A);
    assertEquals(new Run(3, 1), run(rest), "only B's untrained split, though A's share is four");
    state = state.apply(rest);
    assertEquals(new StepRule(8, 1.0, 3, 0), granted(state, rest).rule());
    state = state.apply(completed(state, rest, 2, 3.0));

    assertEquals(List.of(new StepLoss(0, 1.0)), member(state).stepLosses());
  }

  @Test
  void aRewindDropsTheLossesOfTheStepsItUndid() {
    CoordinatorState state = running(A);
    SplitLeased first = leased(state, A);
    state = state.apply(first);
    state = state.apply(completed(state, first, 8, 8.0));
    state = apply(state, new CheckpointStarted(JOB, 1, T0 + 1), new CheckpointCompleted(JOB, 1, positions(2), 3));
    SplitLeased second = leased(state, A);
    state = state.apply(second);
    state = state.apply(completed(state, second, 2, 4.0));
    SplitLeased third = leased(state, A);
    state = apply(state, third, completed(state.apply(third), third, 4, 1.0));
    assertEquals(List.of(new StepLoss(0, 1.0), new StepLoss(4, 2.0)), member(state).stepLosses());
    assertEquals(4, member(state).roundSamples(), "the third step is half done");

    state = state.apply(new JobRewound(JOB, 1, 1, "shard m0/s1 restarted without its numbers"));

    MemberRun rewound = member(state);
    assertEquals(List.of(new StepLoss(0, 1.0)), rewound.stepLosses(), "the step after the checkpoint is undone");
    assertEquals(new Run(4, 1), rewound.round(), "training resumes with the first step not in the checkpoint");
    assertEquals(0, rewound.roundSamples());
    assertEquals(0.0, rewound.roundLossSum());
    state = state.apply(new JobRecovered(JOB, 1));
    SplitLeased again = leased(state, A);
    assertEquals(new Run(4, 1), run(again));
    state = state.apply(again);
    state = state.apply(completed(state, again, 2, 1.0));
    assertEquals(List.of(new StepLoss(0, 1.0), new StepLoss(4, 0.5)), member(state).stepLosses());
  }

  @Test
  void aCheckpointWaitsForTheLeaseOutOfAMemberStoppedInTheMiddleOfAStep() {
    CoordinatorState state = running(A, B);
    assertTrue(Coordinator.quiescent(state.job(JOB).orElseThrow()), "between two steps");
    SplitLeased ofA = leased(state, A);
    state = state.apply(ofA);
    assertFalse(Coordinator.quiescent(state.job(JOB).orElseThrow()), "in the middle of a step");

    state = state.apply(new CoordinatorEvent.MemberStoppedEarly(JOB, 0, 0, 0, 0.5));
    assertNull(member(state).round(), "no step opens any more");
    assertFalse(
        Coordinator.quiescent(state.job(JOB).orElseThrow()),
        "A's part may be in some shards' pending step and not others'");

    state = state.apply(completed(state, ofA, 4, 4.0));
    assertTrue(Coordinator.quiescent(state.job(JOB).orElseThrow()));
    assertEquals(JobState.EVALUATING, state.job(JOB).orElseThrow().state());
  }

  @Test
  void aPendingCheckpointHoldsBackAStepThatHasNotStarted() {
    CoordinatorState state = running(A, B).apply(new CheckpointStarted(JOB, 1, T0 + 1));

    NoLease held = noLease(state, A);
    assertEquals(new NoLeaseReason.CheckpointTakingBetweenSteps(), held.reason(), held.describe());
    assertTrue(LeaseDesk.isAtBarrier(held), "the ask may be held until the step opens");
    assertEquals(LeaseDesk.BARRIER_RETRY_MILLIS, held.retryAfterMillis());

    state = state.apply(new CheckpointCompleted(JOB, 1, positions(2), 3));
    assertEquals(new Run(0, 2), run(leased(state, A)));
  }

  @Test
  void aPendingCheckpointDoesNotHoldBackAStepInProgress() {
    CoordinatorState state = running(A, B);
    SplitLeased ofA = leased(state, A);
    state = apply(state, ofA, new CheckpointStarted(JOB, 1, T0 + 1));

    assertEquals(new Run(2, 2), run(leased(state, B)), "the step in progress may finish");
  }

  @Test
  void inSyncModeNewSharesFollowTheMeasuredSpeeds() {
    CoordinatorState state = running(A, B);
    SplitLeased ofA = leased(state, A);
    state = state.apply(ofA);
    SplitLeased ofB = leased(state, B);
    state = state.apply(ofB);
    // A trains 100 samples a second, B 300.
    state = state.apply(completed(state, ofA, 4, 4.0, 40_000_000L));
    state = state.apply(completed(state, ofB, 4, 4.0, 13_333_333L));
    int plans = member(state).plans().size();
    assertEquals(List.of(new WorkerShare(A, 2), new WorkerShare(B, 2)), member(state).currentPlan().shares(),
        "measured speeds alone do not re-plan");

    state = state.apply(joined(C));

    assertEquals(plans + 1, member(state).plans().size());
    assertEquals(
        List.of(new WorkerShare(A, 1), new WorkerShare(B, 2), new WorkerShare(C, 1)),
        member(state).currentPlan().shares(),
        "the newcomer counts as the mean speed; the even split would be 2, 1, 1");
    assertEquals(4, member(state).currentPlan().totalMicroBatches());
  }

  @Test
  void inAsyncModeSharesStayEvenWhateverTheSpeeds() {
    CoordinatorState state = running(TrainingMode.ASYNC, 10, A, B);
    SplitLeased ofA = leased(state, A);
    state = state.apply(ofA);
    SplitLeased ofB = leased(state, B);
    state = state.apply(ofB);
    state = state.apply(completed(state, ofA, 4, 4.0, 40_000_000L));
    state = state.apply(completed(state, ofB, 4, 4.0, 13_333_333L));

    state = state.apply(joined(C));

    assertNull(member(state).round(), "async mode has no steps to track");
    assertEquals(
        List.of(new WorkerShare(A, 2), new WorkerShare(B, 1), new WorkerShare(C, 1)),
        member(state).currentPlan().shares());
  }

  @Test
  void aChangedGlobalBatchTakesEffectWithTheNextStep() {
    CoordinatorState state = running(TrainingMode.SYNC, 40, A); // 20 splits an epoch
    SplitLeased first = leased(state, A);
    state = state.apply(first);
    assertEquals(new Run(0, 4), run(first));

    state = state.apply(new GlobalBatchChanged(JOB, 16, 2.0));

    assertEquals(
        new AccumulationPlan(1, 0, 16, List.of(new WorkerShare(A, 8))), member(state).currentPlan());
    assertEquals(new Run(0, 4), member(state).round(), "the step in progress keeps its samples");
    state = state.apply(completed(state, first, 8, 8.0));
    assertEquals(new Run(4, 8), member(state).round(), "the next step is the new global batch");
    SplitLeased next = leased(state, A);
    state = state.apply(next);
    assertEquals(new StepRule(16, 2.0, 4, 4), granted(state, next).rule());
    assertEquals(8, granted(state, next).accumulationSteps());
  }

  @Test
  void aBatchChangeBetweenStepsResizesTheOpenStepAndItsLearningRateTogether() {
    CoordinatorState state = running(TrainingMode.SYNC, 40, A);
    SplitLeased first = leased(state, A);
    state = state.apply(first);
    state = state.apply(completed(state, first, 8, 8.0));
    assertEquals(new Run(4, 4), member(state).round(), "the next step is open, nothing of it leased");

    state = state.apply(new GlobalBatchChanged(JOB, 16, 2.0));

    assertEquals(new Run(4, 8), member(state).round(), "not started yet: opened again at the new size");
    SplitLeased next = leased(state, A);
    state = state.apply(next);
    assertEquals(new StepRule(16, 2.0, 4, 4), granted(state, next).rule(), "16 samples at the rate meant for 16");
  }

  @Test
  void aStepInProgressKeepsItsLearningRateWhenTheBatchChanges() {
    CoordinatorState state = running(TrainingMode.SYNC, 40, A, B);
    SplitLeased ofA = leased(state, A);
    state = state.apply(ofA);
    state = state.apply(new GlobalBatchChanged(JOB, 16, 2.0));
    SplitLeased ofB = leased(state, B);
    state = state.apply(ofB);

    assertEquals(granted(state, ofA).rule().learningRateScale(), granted(state, ofB).rule().learningRateScale());
    assertEquals(1.0, granted(state, ofB).rule().learningRateScale(), "the step began at the old rate");
  }
}
