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
import io.tessera.protocol.coordinator.CoordinatorProtocol.PipelineAccepted;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.StageKind;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.EnsembleReport;
import io.tessera.protocol.worker.WorkerProtocol.Evaluate;
import io.tessera.protocol.worker.WorkerProtocol.EvaluateEnsemble;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import io.tessera.protocol.worker.WorkerProtocol.InitializeModel;
import io.tessera.protocol.worker.WorkerProtocol.ModelInitialized;
import io.tessera.protocol.worker.WorkerProtocol.SourceModel;
import io.tessera.protocol.worker.WorkerProtocol.StageInputs;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Pipelines of stages as a worker sees them: a stage waits for the ones it reads, its members are
 * told which earlier members to read, a classifier stage's members are measured together at the
 * end, and a stage whose source failed fails naming it. One probe worker, the {@link
 * CoordinatorFixture}'s one-node cluster.
 */
class PipelineCoordinatorTest extends CoordinatorFixture {
  private static final Duration QUIET = Duration.ofMillis(300);
  /** Every stage: one lease of two micro-batch splits per member over 4 training samples. */
  private static final String TINY =
      String.join(
          "\n",
          "name = tiny-pipeline",
          "global-batch = 4",
          "micro-batch = 2",
          "split-size = 4",
          "epochs = 1",
          "checkpoint { interval = 0, every-pushes = 0 }",
          "");
  private static final PipelineSpec PRETRAIN_THEN_FINETUNE =
      JobSpecParser.parsePipeline(
          TINY
              + String.join(
                  "\n",
                  "stages = [",
                  "  { name = pre, kind = mae-pretrain, ensemble-size = 2 }",
                  "  { name = ft, kind = finetune, from = pre, ensemble-size = 2 }",
                  "]"));

  @Test
  void aFinetuneStageWaitsForItsPretrainingReadsItsMembersAndIsMeasuredAsAnEnsemble() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    PipelineSpec pipeline = PRETRAIN_THEN_FINETUNE;

    assertEquals(
        new PipelineAccepted("job-1", List.of("job-1.pre", "job-1.ft")), submitPipeline(coordinator, pipeline));

    JobStatus queued = status(coordinator, "job-1.ft");
    assertEquals(JobState.QUEUED, queued.state());
    assertEquals("ft", queued.stage());
    assertEquals(StageKind.FINETUNE, queued.kind());
    assertEquals(StageKind.MAE_PRETRAIN, status(coordinator, "job-1.pre").kind());

    // Stage 1: two MAE members, which read nothing.
    for (int m = 0; m < 2; m++) {
      InitializeModel init = expectSkippingPlans(worker, InitializeModel.class);
      assertEquals(List.of("job-1.pre", m), List.of(init.jobId(), init.member()));
      assertEquals(pipeline.stage("pre"), init.spec());
      assertEquals(StageInputs.NONE, init.inputs());
      init.replyTo().tell(StatusReply.success(new ModelInitialized("job-1.pre", m, 100, 4, data(4))));
    }
    awaitState(coordinator, "job-1.pre", JobState.RUNNING);
    assertEquals(JobState.QUEUED, status(coordinator, "job-1.ft").state());
    // One worker trains the members one after the other.
    Lease pre0 = requestLease(coordinator, worker);
    assertEquals(List.of("job-1.pre", 0), List.of(pre0.jobId(), pre0.member()));
    assertEquals(StageInputs.NONE, pre0.inputs());
    Lease pre1 = grantedLease(complete(coordinator, worker, pre0.leaseId(), 4, 0.4));
    assertEquals(List.of("job-1.pre", 1), List.of(pre1.jobId(), pre1.member()));
    assertInstanceOf(NoLease.class, complete(coordinator, worker, pre1.leaseId(), 4, 0.4));

    Evaluate evaluatePre0 = expectSkippingPlans(worker, Evaluate.class);
    Evaluate evaluatePre1 = expectSkippingPlans(worker, Evaluate.class);
    assertEquals(List.of(0, 1), List.of(evaluatePre0.member(), evaluatePre1.member()));
    assertEquals(StageInputs.NONE, evaluatePre0.inputs());
    // An MAE worker reports its masked-patch loss; any "correct" count it sends is no accuracy.
    evaluatePre0.replyTo().tell(StatusReply.success(new EvaluationReport("job-1.pre", 0, 4, 3, 0.031, 2, 0, 0)));
    awaitAssert(() -> assertEquals(1, status(coordinator, "job-1.pre").results().size()));
    worker.expectNoMessage(QUIET); // no InitializeModel of the next stage while this one evaluates
    assertEquals(JobState.QUEUED, status(coordinator, "job-1.ft").state());
    evaluatePre1.replyTo().tell(StatusReply.success(new EvaluationReport("job-1.pre", 1, 4, 0, 0.029, 2, 0, 0)));

    JobStatus pretrained = awaitState(coordinator, "job-1.pre", JobState.COMPLETED);
    assertEquals(
        List.of(
            new MemberResult(0, "m0", 4, Double.NaN, 0.031, Double.NaN),
            new MemberResult(1, "m1", 4, Double.NaN, 0.029, Double.NaN)),
        pretrained.results());
    assertNull(pretrained.ensemble(), "MAE members are not measured as an ensemble");

    // Stage 2: finetune member m starts from pretrained member m.
    for (int m = 0; m < 2; m++) {
      InitializeModel init = expectSkippingPlans(worker, InitializeModel.class);
      assertEquals(List.of("job-1.ft", m), List.of(init.jobId(), init.member()));
      assertEquals(pipeline.stage("ft"), init.spec());
      assertEquals(readsPre(pipeline, m), init.inputs());
      init.replyTo().tell(StatusReply.success(new ModelInitialized("job-1.ft", m, 120, 5, data(4))));
    }
    awaitState(coordinator, "job-1.ft", JobState.RUNNING);
    Lease ft0 = requestLease(coordinator, worker);
    assertEquals(List.of("job-1.ft", 0), List.of(ft0.jobId(), ft0.member()));
    assertEquals(readsPre(pipeline, 0), ft0.inputs());
    Lease ft1 = grantedLease(complete(coordinator, worker, ft0.leaseId(), 4, 8.0));
    assertEquals(List.of("job-1.ft", 1), List.of(ft1.jobId(), ft1.member()));
    assertEquals(readsPre(pipeline, 1), ft1.inputs());
    assertInstanceOf(NoLease.class, complete(coordinator, worker, ft1.leaseId(), 4, 8.0));

    for (int m = 0; m < 2; m++) {
      Evaluate evaluate = expectSkippingPlans(worker, Evaluate.class);
      assertEquals(List.of("job-1.ft", m), List.of(evaluate.jobId(), evaluate.member()));
      assertEquals(readsPre(pipeline, m), evaluate.inputs());
      evaluate.replyTo().tell(StatusReply.success(new EvaluationReport("job-1.ft", m, 4, 3 - m, 0.5, 2, 2, 2 - m)));
    }

    // Once both members have their results, they are measured together; until then it evaluates.
    EvaluateEnsemble ensemble = expectSkippingPlans(worker, EvaluateEnsemble.class);
    assertEquals("job-1.ft", ensemble.jobId());
    assertEquals(pipeline.stage("ft"), ensemble.spec());
    assertEquals(
        List.of(
            new SourceModel("job-1.ft", 0, pipeline.stage("ft")), new SourceModel("job-1.ft", 1, pipeline.stage("ft"))),
        ensemble.members());
    assertEquals(readsPre(pipeline, 0), ensemble.inputs(), "member 0's inputs; the worker pairs the others");
    JobStatus measuring =
        awaitAssert(
            () -> {
              JobStatus s = status(coordinator, "job-1.ft");
              assertEquals(2, s.results().size(), s::toString);
              return s;
            });
    assertEquals(JobState.EVALUATING, measuring.state());
    assertNull(measuring.ensemble());
    ensemble.replyTo().tell(
        StatusReply.success(new EnsembleReport("job-1.ft", 4, List.of(0.75, 0.5), List.of(1.0, 0.5), 0.75, 0.5, 1.0)));

    JobStatus done = awaitState(coordinator, "job-1.ft", JobState.COMPLETED);
    assertEquals(new EnsembleResult(4, 0.75, 0.5, 1.0), done.ensemble());
    assertEquals(
        List.of(new MemberResult(0, "m0", 4, 0.75, 0.5, 1.0), new MemberResult(1, "m1", 4, 0.5, 0.5, 0.5)),
        done.results());
    assertEquals("", done.failure());
    worker.expectNoMessage(QUIET); // the ensemble is measured once
  }

  @Test
  void aStageWhoseSourceFailedFailsNamingItAndSoDoStagesAfterIt() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    PipelineSpec pipeline =
        JobSpecParser.parsePipeline(
            TINY
                + String.join(
                    "\n",
                    "stages = [",
                    "  { name = pre, kind = mae-pretrain }",
                    "  { name = ft, kind = finetune, from = pre }",
                    "  { name = student, kind = distill, teacher = ft }",
                    "]"));
    assertEquals(
        new PipelineAccepted("job-1", List.of("job-1.pre", "job-1.ft", "job-1.student")),
        submitPipeline(coordinator, pipeline));

    // The pretraining stage cannot be set up, three times over.
    for (int attempt = 1; attempt <= 3; attempt++) {
      InitializeModel init = expectSkippingPlans(worker, InitializeModel.class);
      assertEquals("job-1.pre", init.jobId());
      init.replyTo().tell(StatusReply.error("no Fashion-MNIST files in /data/fmnist (" + attempt + ")"));
    }

    String preFailure = "initialising member 0 failed 3 times; last error: no Fashion-MNIST files in /data/fmnist (3)";
    assertEquals(preFailure, awaitState(coordinator, "job-1.pre", JobState.FAILED).failure());
    String ftFailure = "stage 'ft' reads stage 'pre' (job-1.pre), which is FAILED: " + preFailure;
    assertEquals(ftFailure, awaitState(coordinator, "job-1.ft", JobState.FAILED).failure());
    assertEquals(
        "stage 'student' reads stage 'ft' (job-1.ft), which is FAILED: " + ftFailure,
        awaitState(coordinator, "job-1.student", JobState.FAILED).failure());
    worker.expectNoMessage(QUIET); // neither later stage was set up

    // The queue goes on: a job submitted next starts.
    assertEquals("job-2", submit(coordinator, spec(4, 2, 4, 1)));
    assertEquals("job-2", expectSkippingPlans(worker, InitializeModel.class).jobId());
  }

  // ------------------------------------------------------------------ helpers

  private static StageInputs readsPre(PipelineSpec pipeline, int member) {
    return new StageInputs(List.of(new SourceModel("job-1.pre", member, pipeline.stage("pre"))), List.of());
  }
}
