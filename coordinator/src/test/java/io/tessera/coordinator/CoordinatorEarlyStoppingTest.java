package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.pattern.StatusReply;
import io.tessera.coordinator.CoordinatorEvent.MemberStoppedEarly;
import io.tessera.coordinator.CoordinatorEvent.MemberValidated;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLeaseReason;
import io.tessera.protocol.spec.DatasetSpec;
import io.tessera.protocol.spec.EarlyStoppingSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.Evaluate;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Early stopping as the coordinator runs it: a validation-only evaluation after each epoch but the
 * last, the rule applied to the scores, and a member that stops skipping the rest of its splits.
 * Each epoch here is 8 samples, two leases of two 2-sample splits.
 */
class CoordinatorEarlyStoppingTest extends CoordinatorFixture {
  private static final int VALIDATION = 100;

  private static JobSpec earlyStopping(int epochs, int patience) {
    return JobSpec.builder()
        .setName("fmnist-early")
        .optDataset(new DatasetSpec(DatasetSpec.FASHION_MNIST, 0, 0, VALIDATION))
        .optGlobalBatch(4)
        .optMicroBatch(2)
        .optSplitSize(4)
        .optEpochs(epochs)
        .optCheckpoint(NO_PERIODIC_CHECKPOINTS)
        .optEarlyStopping(new EarlyStoppingSpec(patience, 0.0))
        .build();
  }

  /** Acks {@code lease} and the one the ack is answered with: a whole epoch. The next lease. */
  private Lease trainEpoch(ActorRef<Command> coordinator, TestProbe<WorkerProtocol.Command> worker, Lease lease) {
    Lease second = grantedLease(complete(coordinator, worker, lease.leaseId(), 4, 4.0));
    return grantedLease(complete(coordinator, worker, second.leaseId(), 4, 4.0));
  }

  /** The validation request the worker gets next, answered with {@code correct} of {@link #VALIDATION}. */
  private static Evaluate answerValidation(TestProbe<WorkerProtocol.Command> worker, int correct) {
    Evaluate validation = expectSkippingPlans(worker, Evaluate.class);
    assertTrue(validation.validationOnly(), "while training, only the validation split is read");
    validation.replyTo().tell(
        StatusReply.success(new EvaluationReport(JOB, 0, 0, 0, Double.NaN, 7, VALIDATION, correct)));
    return validation;
  }

  @Test
  void aMemberWhoseValidationAccuracyStopsRisingStopsEarlyAndIsThenEvaluated() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, earlyStopping(4, 1), 8);

    Lease epoch1 = trainEpoch(coordinator, worker, requestLease(coordinator, worker));
    answerValidation(worker, 80);
    assertEquals(0.80, awaitEvent(MemberValidated.class, e -> e.epoch() == 0).accuracy());

    Lease epoch2 = trainEpoch(coordinator, worker, epoch1);
    answerValidation(worker, 79); // worse than after epoch 0: patience 1 is used up
    MemberStoppedEarly stopped = awaitEvent(MemberStoppedEarly.class, e -> true);
    assertEquals(new MemberStoppedEarly(JOB, 0, 1, 0, 0.80), stopped);

    // The lease out when it stopped is still to be acked: its pushes are on their way to the
    // shards, so the final checkpoint and evaluation wait for it. Nothing more is leased.
    int leased = journal.events(SplitLeased.class).size();
    assertEquals(JobState.RUNNING, status(coordinator, JOB).state());
    assertEquals(20, status(coordinator, JOB).samplesTotal(), "two epochs and the lease out");
    NoLease over = assertInstanceOf(NoLease.class, complete(coordinator, worker, epoch2.leaseId(), 4, 4.0));
    assertEquals(JobState.EVALUATING, assertInstanceOf(NoLeaseReason.JobNotLeasing.class, over.reason()).state(), over.describe());
    Evaluate last = expectSkippingPlans(worker, Evaluate.class);
    assertFalse(last.validationOnly(), "the final evaluation reads the test set");
    last.replyTo().tell(StatusReply.success(new EvaluationReport(JOB, 0, 1_000, 850, 0.4, 9, VALIDATION, 79)));
    JobStatus done = awaitState(coordinator, JOB, JobState.COMPLETED);

    assertEquals(leased, journal.events(SplitLeased.class).size());
    assertEquals(20, done.samplesDone(), "two of four epochs trained, and the lease out when it stopped");
    assertEquals(done.samplesTotal(), done.samplesDone());
    assertEquals(done.splitsTotal(), done.splitsDone(), "the skipped splits count as done");
    assertEquals(0.85, done.results().get(0).testAccuracy());
    assertEquals(List.of(1), done.stoppedAfterEpoch(), "the status says where it stopped");
    MemberRun member = CoordinatorReplay.replay(testKit, false, TIMEOUT).state().job(JOB).orElseThrow().member(0);
    assertEquals(1, member.stoppedAfterEpoch());
    assertEquals(List.of(new MemberRun.Validation(0, 0.80), new MemberRun.Validation(1, 0.79)), member.validations());
  }

  @Test
  void aScoreAskedForBeforeARewindIsDroppedAndTheEpochIsScoredAgain() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, earlyStopping(4, 1), 8);
    Lease second = grantedLease(complete(coordinator, worker, requestLease(coordinator, worker).leaseId(), 4, 4.0));
    // A checkpoint is wanted before epoch 0 ends, and is taken once its last lease is acked.
    assertEquals(1, requestCheckpoint(coordinator));
    completeLater(coordinator, worker, second.leaseId(), 4, 4.0);
    assertEquals(8, awaitCheckpoint(coordinator, 1).samplesDone(), "checkpoint 1 holds epoch 0");
    Evaluate early = expectSkippingPlans(worker, Evaluate.class);
    assertTrue(early.validationOnly());

    // A shard restarts without its numbers: the job goes back to checkpoint 1, in recovery epoch
    // 1. Epoch 0 is still done, but its score was asked of the parameters before the rewind.
    shards.holdEpochConfirmations();
    resolveRecovery(coordinator, JOB, 0, 1);
    shards.release();
    assertEquals(1, awaitState(coordinator, JOB, JobState.RUNNING).recoveryEpoch());
    early.replyTo().tell(StatusReply.success(new EvaluationReport(JOB, 0, 0, 0, Double.NaN, 7, VALIDATION, 90)));

    // The old score is dropped and epoch 0 is scored again.
    answerValidation(worker, 60);
    MemberValidated scored = awaitEvent(MemberValidated.class, e -> true);
    assertEquals(new MemberValidated(JOB, 0, 0, 0.60), scored);
    assertEquals(List.of(scored), journal.events(MemberValidated.class), "the score of 0.90 is not on record");
  }

  @Test
  void aMemberThatKeepsImprovingTrainsEveryEpochAndTheLastIsNotValidatedSeparately() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, earlyStopping(3, 1), 8);

    Lease epoch1 = trainEpoch(coordinator, worker, requestLease(coordinator, worker));
    answerValidation(worker, 70);
    awaitEvent(MemberValidated.class, e -> e.epoch() == 0);
    Lease epoch2 = trainEpoch(coordinator, worker, epoch1);
    answerValidation(worker, 75);
    // (A score that arrives once training is over is dropped: wait for it to be on record.)
    assertEquals(0.75, awaitEvent(MemberValidated.class, e -> e.epoch() == 1).accuracy());
    Lease second = grantedLease(complete(coordinator, worker, epoch2.leaseId(), 4, 4.0));
    assertInstanceOf(NoLease.class, complete(coordinator, worker, second.leaseId(), 4, 4.0));

    Evaluate last = expectSkippingPlans(worker, Evaluate.class);
    assertFalse(last.validationOnly(), "after the last epoch comes the final evaluation, not another validation");
    last.replyTo().tell(StatusReply.success(new EvaluationReport(JOB, 0, 1_000, 800, 0.5, 12, VALIDATION, 77)));
    JobStatus done = awaitState(coordinator, JOB, JobState.COMPLETED);

    assertEquals(24, done.samplesDone());
    assertEquals(List.of(-1), done.stoppedAfterEpoch());
    assertEquals(List.of(), journal.events(MemberStoppedEarly.class));
    assertEquals(2, journal.events(MemberValidated.class).size());
  }

  @Test
  void aFailedValidationIsAskedAgain() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, earlyStopping(3, 1), 8);

    trainEpoch(coordinator, worker, requestLease(coordinator, worker));
    Evaluate refused = expectSkippingPlans(worker, Evaluate.class);
    refused.replyTo().tell(StatusReply.error("worker busy"));
    answerValidation(worker, 70);
    assertEquals(0.70, awaitEvent(MemberValidated.class, e -> e.epoch() == 0).accuracy());
    assertEquals(JobState.RUNNING, status(coordinator, JOB).state());
  }
}
