package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.pattern.StatusReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.EnsembleResult;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.MemberSpec;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.EnsembleReport;
import io.tessera.protocol.worker.WorkerProtocol.Evaluate;
import io.tessera.protocol.worker.WorkerProtocol.EvaluateEnsemble;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import io.tessera.protocol.worker.WorkerProtocol.InitializeModel;
import io.tessera.protocol.worker.WorkerProtocol.ModelInitialized;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The joint measurement of a classifier stage's members, the last step of such a stage: asked
 * again when it fails, the stage failing on the third error, and a report that comes back after
 * the stage was sent back to a checkpoint not taken for the stage's result.
 */
class EnsembleEvaluationTest extends CoordinatorFixture {
  private static final Duration QUIET = Duration.ofMillis(300);
  private static final List<MemberResult> RESULTS =
      List.of(new MemberResult(0, "m0", 4, 0.75, 0.5, Double.NaN), new MemberResult(1, "m1", 4, 0.5, 0.5, Double.NaN));
  private static final EnsembleReport REPORT =
      new EnsembleReport(JOB, 4, List.of(0.75, 0.5), List.of(Double.NaN, Double.NaN), 0.75, 0.5, 0.75);

  @Test
  void aFailedEnsembleEvaluationIsAskedAgainAndItsReportCompletesTheStage() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    EvaluateEnsemble first = trainAndEvaluateTheMembers(coordinator, worker);

    first.replyTo().tell(StatusReply.error("CUDA out of memory"));

    EvaluateEnsemble second = expectSkippingPlans(worker, EvaluateEnsemble.class);
    assertEquals(first.members(), second.members());
    JobStatus between = status(coordinator, JOB);
    assertEquals(JobState.EVALUATING, between.state());
    assertEquals("", between.failure());
    assertNull(between.ensemble());
    second.replyTo().tell(StatusReply.success(REPORT));

    JobStatus done = awaitState(coordinator, JOB, JobState.COMPLETED);
    assertEquals(new EnsembleResult(4, 0.75, 0.5, 0.75), done.ensemble());
    assertEquals(RESULTS, done.results());
    worker.expectNoMessage(QUIET);
  }

  @Test
  void anEnsembleEvaluationThatFailsThreeTimesFailsTheStageWithTheLastError() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    EvaluateEnsemble ask = trainAndEvaluateTheMembers(coordinator, worker);

    for (int attempt = 1; attempt <= 3; attempt++) {
      if (attempt > 1) {
        ask = expectSkippingPlans(worker, EvaluateEnsemble.class);
      }
      ask.replyTo().tell(StatusReply.error("could not read the final parameters of job-1 member 1 (" + attempt + ")"));
    }

    JobStatus failed = awaitState(coordinator, JOB, JobState.FAILED);
    assertEquals(
        "evaluating the ensemble failed 3 times; last error: could not read the final parameters of job-1 member 1 (3)",
        failed.failure());
    assertEquals(RESULTS, failed.results(), "the members' own results are kept");
    assertNull(failed.ensemble());
    worker.expectNoMessage(QUIET); // no fourth try
  }

  @Test
  void anEnsembleReportThatComesBackWhileTheStageIsRewoundDoesNotCompleteIt() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    EvaluateEnsemble asked = trainAndEvaluateTheMembers(coordinator, worker);
    shards.holdEpochConfirmations();

    // A shard of member 0 restarts without its numbers while the members are being measured.
    resolveRecovery(coordinator, JOB, 0, 1);
    assertEquals(JobState.RECOVERING, status(coordinator, JOB).state());
    asked.replyTo().tell(StatusReply.success(REPORT));

    worker.expectNoMessage(QUIET);
    JobStatus recovering = status(coordinator, JOB);
    assertEquals(JobState.RECOVERING, recovering.state(), "the shards are still being rewound");
    assertNull(recovering.ensemble());

    // Once every shard is back, the members are measured again, from the recovered shards.
    shards.release();
    EvaluateEnsemble again = expectSkippingPlans(worker, EvaluateEnsemble.class);
    assertEquals(JobState.EVALUATING, status(coordinator, JOB).state());
    again.replyTo().tell(StatusReply.success(REPORT));
    JobStatus done = awaitState(coordinator, JOB, JobState.COMPLETED);
    assertEquals(new EnsembleResult(4, 0.75, 0.5, 0.75), done.ensemble());
    assertEquals(1, done.recoveryEpoch());
  }

  /**
   * Submits a two-member classifier job, trains and evaluates both members, and returns the ask
   * to measure them together, unanswered.
   */
  private EvaluateEnsemble trainAndEvaluateTheMembers(
      ActorRef<Command> coordinator, TestProbe<WorkerProtocol.Command> worker) {
    JobSpec spec =
        JobSpec.builder()
            .setName("fmnist-pair")
            .optGlobalBatch(4)
            .optMicroBatch(2)
            .optSplitSize(4)
            .optEpochs(1)
            .optCheckpoint(NO_PERIODIC_CHECKPOINTS)
            .optMembers(List.of(new MemberSpec("m0", 1), new MemberSpec("m1", 2)))
            .build();
    assertEquals(JOB, submit(coordinator, spec));
    for (int m = 0; m < 2; m++) {
      InitializeModel init = expectSkippingPlans(worker, InitializeModel.class);
      init.replyTo().tell(StatusReply.success(new ModelInitialized(JOB, init.member(), 100, 4, data(4))));
    }
    awaitState(coordinator, JOB, JobState.RUNNING);
    Lease first = requestLease(coordinator, worker);
    Lease second = grantedLease(complete(coordinator, worker, first.leaseId(), 4, 4.0));
    assertInstanceOf(NoLease.class, complete(coordinator, worker, second.leaseId(), 4, 4.0));
    for (int m = 0; m < 2; m++) {
      Evaluate evaluate = expectSkippingPlans(worker, Evaluate.class);
      evaluate.replyTo().tell(
          StatusReply.success(new EvaluationReport(JOB, evaluate.member(), 4, 3 - evaluate.member(), 0.5, 2, 0, 0)));
    }
    EvaluateEnsemble ensemble = expectSkippingPlans(worker, EvaluateEnsemble.class);
    assertEquals(
        List.of(new WorkerProtocol.SourceModel(JOB, 0, spec), new WorkerProtocol.SourceModel(JOB, 1, spec)),
        ensemble.members());
    assertEquals(WorkerProtocol.StageInputs.NONE, ensemble.inputs());
    JobStatus measuring = status(coordinator, JOB);
    assertEquals(JobState.EVALUATING, measuring.state());
    assertEquals(RESULTS, measuring.results());
    return ensemble;
  }
}
