package io.tessera.coordinator;

import akka.persistence.typed.javadsl.ReplyEffect;
import io.tessera.coordinator.CoordinatorEvent.JobFailed;
import io.tessera.coordinator.CoordinatorEvent.MemberEvaluated;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Local;
import io.tessera.protocol.spec.StageKind;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import io.tessera.protocol.worker.WorkerProtocol.ModelInitialized;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The one-off tasks the coordinator has workers do for the active job: set up each member's model
 * and shards, score members on the validation split after each epoch (early stopping), evaluate
 * each member at the end, and measure a classifier stage's members together. A task that fails is
 * asked of a worker again, up to {@link #MAX_ATTEMPTS} times, before the job fails.
 *
 * <p>It owns the asks in flight and the attempts per task (runtime only: after a restart the
 * reconcile asks again). It picks workers from the schedulable ones, skipping those whose leases
 * keep failing ({@link CoordinatorContext#consecutiveFailures}), and asks the coordinator for a
 * reconcile after each answer.
 */
final class WorkerTasks {

  static final int MAX_ATTEMPTS = 3;

  private final CoordinatorContext ctx;
  private final Map<String, String> asksInFlight = new HashMap<>();
  private final Map<String, Integer> attempts = new HashMap<>();

  WorkerTasks(CoordinatorContext ctx) {
    this.ctx = ctx;
  }

  /** A job ended or gave up its turn: answers still in flight for it are dropped on arrival. */
  void forget(String jobId) {
    asksInFlight.keySet().removeIf(key -> key.contains(":" + jobId + ":") || key.endsWith(":" + jobId));
    attempts.keySet().removeIf(key -> key.contains(":" + jobId + ":") || key.endsWith(":" + jobId));
  }

  record InitReplied(
      String jobId, int member, String workerId, ModelInitialized result, String error)
      implements Local {}

  record EvaluationReplied(
      String jobId, int member, String workerId, EvaluationReport report, String error)
      implements Local {}

  /** A validation score, asked for in recovery epoch {@code recoveryEpoch} of the job. */
  record ValidationReplied(
      String jobId, int member, int epoch, long recoveryEpoch, String workerId, EvaluationReport report, String error)
      implements Local {}

  record EnsembleReplied(String jobId, String workerId, WorkerProtocol.EnsembleReport report, String error)
      implements Local {}

  void startInitializations(CoordinatorState state, JobRun job) {
    for (MemberRun member : job.members()) {
      String key = "init:" + job.jobId() + ":" + member.member();
      if (member.initialized() || asksInFlight.containsKey(key)) {
        continue;
      }
      Optional<WorkerEntry> worker = pickWorker(state, member.member());
      if (worker.isEmpty()) {
        return;
      }
      asksInFlight.put(key, worker.get().workerId());
      int memberIndex = member.member();
      String workerId = worker.get().workerId();
      ctx.actor.askWithStatus(
          ModelInitialized.class,
          worker.get().ref(),
          ctx.settings.initializeTimeout(),
          replyTo ->
              new WorkerProtocol.InitializeModel(
                  job.jobId(), memberIndex, job.spec(), Stages.inputs(state, job, memberIndex), replyTo),
          (result, failure) ->
              new InitReplied(job.jobId(), memberIndex, workerId, result, failure == null ? null : failure.getMessage()));
    }
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onInitReplied(
      CoordinatorState state, InitReplied reply) {
    String key = "init:" + reply.jobId() + ":" + reply.member();
    asksInFlight.remove(key);
    Optional<JobRun> job = state.job(reply.jobId()).filter(j -> j.state() == JobState.INITIALIZING);
    if (job.isEmpty()) {
      return ctx.effect().noReply();
    }
    if (reply.error() == null) {
      String mismatch = datasetMismatch(job.get(), reply.result().dataset());
      if (mismatch == null) {
        ctx.log().info(
            "{} member {} initialised by {}: {} parameters, {} training samples",
            reply.jobId(), reply.member(), reply.workerId(), reply.result().parameterCount(),
            reply.result().dataset().trainSize());
        return ctx.effect()
            .persist(
                new MemberInitialized(
                    reply.jobId(),
                    reply.member(),
                    reply.result().dataset(),
                    reply.result().parameterCount(),
                    System.currentTimeMillis()))
            .thenRun(s -> ctx.scheduleReconcile())
            .thenNoReply();
      }
      return retryOrFail(key, reply.jobId(), "initialising member " + reply.member(), reply.workerId(), mismatch);
    }
    return retryOrFail(key, reply.jobId(), "initialising member " + reply.member(), reply.workerId(), reply.error());
  }

  private static String datasetMismatch(JobRun job, WorkerProtocol.DatasetInfo found) {
    if (job.dataset() == null || job.dataset().equals(found)) {
      return null;
    }
    return "workers disagree about the data: one found " + job.dataset() + ", another " + found
        + "; give every worker node the same data directory contents";
  }

  /** Has a worker measure the members of a finished classifier stage together. */
  void startEnsembleEvaluation(CoordinatorState state, JobRun job) {
    String key = "ensemble:" + job.jobId();
    if (asksInFlight.containsKey(key)) {
      return;
    }
    Optional<WorkerEntry> worker = pickWorker(state, 0);
    if (worker.isEmpty()) {
      return;
    }
    String workerId = worker.get().workerId();
    asksInFlight.put(key, workerId);
    ctx.log().info("Evaluating {}'s {} members together on {}", job.jobId(), job.members().size(), workerId);
    ctx.actor.askWithStatus(
        WorkerProtocol.EnsembleReport.class,
        worker.get().ref(),
        ctx.settings.evaluationTimeout(),
        replyTo ->
            new WorkerProtocol.EvaluateEnsemble(
                job.jobId(), job.spec(), Stages.members(job), Stages.inputs(state, job, 0), replyTo),
        (report, failure) -> new EnsembleReplied(job.jobId(), workerId, report, failure == null ? null : failure.getMessage()));
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onEnsembleReplied(
      CoordinatorState state, EnsembleReplied reply) {
    String key = "ensemble:" + reply.jobId();
    asksInFlight.remove(key);
    // Only while evaluating: a report asked for before the job was rewound (or failed) does not
    // complete it; the members are measured again once it is back.
    if (state.job(reply.jobId())
        .filter(j -> j.state() == JobState.EVALUATING && j.needsEnsembleEvaluation())
        .isEmpty()) {
      return ctx.effect().noReply();
    }
    if (reply.error() != null) {
      return retryOrFail(key, reply.jobId(), "evaluating the ensemble", reply.workerId(), reply.error());
    }
    WorkerProtocol.EnsembleReport report = reply.report();
    CoordinatorProtocol.EnsembleResult result =
        new CoordinatorProtocol.EnsembleResult(report.testSamples(), report.averaged(), report.majority(), report.revoted());
    ctx.log().info(
        "{} ensemble: averaged {}, majority {}, re-voted {} (members {})",
        reply.jobId(), String.format("%.4f", result.averaged()), String.format("%.4f", result.majority()),
        String.format("%.4f", result.revoted()), report.memberAccuracy());
    return ctx.effect()
        .persist(new CoordinatorEvent.EnsembleEvaluated(reply.jobId(), result))
        .thenRun(s -> ctx.scheduleReconcile())
        .thenNoReply();
  }

  void startEvaluations(CoordinatorState state, JobRun job) {
    for (MemberRun member : job.members()) {
      String key = "eval:" + job.jobId() + ":" + member.member();
      if (member.result() != null || asksInFlight.containsKey(key)) {
        continue;
      }
      int memberIndex = member.member();
      Optional<String> asked =
          askToEvaluate(
              state, job, memberIndex, key, false,
              (workerId, report, error) -> new EvaluationReplied(job.jobId(), memberIndex, workerId, report, error));
      if (asked.isEmpty()) {
        return;
      }
      ctx.log().info("Evaluating {} member {} on {}", job.jobId(), memberIndex, asked.get());
    }
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onEvaluationReplied(
      CoordinatorState state, EvaluationReplied reply) {
    String key = "eval:" + reply.jobId() + ":" + reply.member();
    asksInFlight.remove(key);
    if (state.job(reply.jobId()).filter(j -> j.state() == JobState.EVALUATING).isEmpty()) {
      return ctx.effect().noReply();
    }
    if (reply.error() != null) {
      return retryOrFail(key, reply.jobId(), "evaluating member " + reply.member(), reply.workerId(), reply.error());
    }
    EvaluationReport report = reply.report();
    // Masked-autoencoder pre-training has a loss to report, not an accuracy.
    boolean lossOnly = state.job(reply.jobId()).orElseThrow().spec().stage().kind() == StageKind.MAE_PRETRAIN;
    ctx.log().info(
        "{} member {}: test {} {} on {} samples",
        reply.jobId(), reply.member(), lossOnly ? "loss" : "accuracy",
        String.format("%.4f", lossOnly ? report.meanLoss() : report.accuracy()), report.samples());
    return ctx.effect()
        .persist(
            new MemberEvaluated(
                reply.jobId(), reply.member(), report.samples(),
                lossOnly ? Double.NaN : report.accuracy(),
                report.meanLoss(), report.validationAccuracy()))
        .thenRun(
            s -> {
              s.job(reply.jobId())
                  .filter(j -> j.state() == JobState.COMPLETED)
                  .ifPresent(j -> ctx.log().info("{} completed", j.jobId()));
              ctx.scheduleReconcile();
            })
        .thenNoReply();
  }

  /**
   * With early stopping: asks a worker to score each training member on the validation split once
   * an epoch (not the last: the final evaluation follows that one) is done.
   */
  void startValidations(CoordinatorState state, JobRun job) {
    if (!job.spec().earlyStopping().enabled()) {
      return;
    }
    for (MemberRun member : job.members()) {
      int epoch = member.wantsWork() ? member.ledger().epochsDone() - 1 : -1;
      String key = "validate:" + job.jobId() + ":" + member.member();
      if (epoch <= member.lastValidatedEpoch() || epoch >= job.spec().epochs() - 1 || asksInFlight.containsKey(key)) {
        continue;
      }
      int memberIndex = member.member();
      long recoveryEpoch = job.recoveryEpoch();
      Optional<String> asked =
          askToEvaluate(
              state, job, memberIndex, key, true,
              (workerId, report, error) ->
                  new ValidationReplied(job.jobId(), memberIndex, epoch, recoveryEpoch, workerId, report, error));
      if (asked.isEmpty()) {
        return;
      }
      ctx.log().debug("Validating {} member {} after epoch {} on {}", job.jobId(), memberIndex, epoch, asked.get());
    }
  }

  /** How the answer to an evaluation comes back to the coordinator: report or error, not both. */
  private interface EvaluationAnswer {
    Command of(String workerId, EvaluationReport report, String error);
  }

  /**
   * Asks a worker picked for {@code member} to evaluate it (on the validation split alone, or on
   * the test set and the validation split), recording the ask under {@code key}. The worker asked,
   * or empty when none is free.
   */
  private Optional<String> askToEvaluate(
      CoordinatorState state, JobRun job, int member, String key, boolean validationOnly, EvaluationAnswer answer) {
    Optional<WorkerEntry> worker = pickWorker(state, member);
    if (worker.isEmpty()) {
      return Optional.empty();
    }
    String workerId = worker.get().workerId();
    asksInFlight.put(key, workerId);
    ctx.actor.askWithStatus(
        EvaluationReport.class,
        worker.get().ref(),
        ctx.settings.evaluationTimeout(),
        replyTo ->
            new WorkerProtocol.Evaluate(
                job.jobId(), member, job.spec(), Stages.inputs(state, job, member), validationOnly, replyTo),
        (report, failure) -> answer.of(workerId, report, failure == null ? null : failure.getMessage()));
    return Optional.of(workerId);
  }

  /** Records a member's validation score; early stopping ends its training when the rule says so. */
  ReplyEffect<CoordinatorEvent, CoordinatorState> onValidationReplied(
      CoordinatorState state, ValidationReplied reply) {
    String key = "validate:" + reply.jobId() + ":" + reply.member();
    asksInFlight.remove(key);
    Optional<JobRun> found = state.job(reply.jobId()).filter(j -> j.state() == JobState.RUNNING);
    if (found.isEmpty()) {
      ctx.scheduleReconcile(); // rewound, failed or done meanwhile: asked again if still wanted
      return ctx.effect().noReply();
    }
    JobRun job = found.get();
    MemberRun member = job.member(reply.member());
    // A score asked for before a rewind (another recovery epoch) may be of parameters the rewind
    // went back before, and the epoch it scores must still be done: otherwise it is dropped, and
    // the reconcile asks for the epoch's score again once it is done.
    if (!member.wantsWork() || reply.recoveryEpoch() != job.recoveryEpoch()
        || reply.epoch() <= member.lastValidatedEpoch() || reply.epoch() >= member.ledger().epochsDone()) {
      ctx.scheduleReconcile();
      return ctx.effect().noReply();
    }
    if (reply.error() != null) {
      return retryOrFail(
          key, reply.jobId(), "validating member " + reply.member() + " after epoch " + reply.epoch(), reply.workerId(),
          reply.error());
    }
    attempts.remove(key); // failures count per epoch: one that went wrong earlier is forgiven
    double accuracy = reply.report().validationAccuracy();
    List<CoordinatorEvent> events = new ArrayList<>();
    events.add(new CoordinatorEvent.MemberValidated(reply.jobId(), reply.member(), reply.epoch(), accuracy));
    List<MemberRun.Validation> scores = new ArrayList<>(member.validations());
    scores.add(new MemberRun.Validation(reply.epoch(), accuracy));
    EarlyStopping.Verdict verdict = EarlyStopping.judge(scores, job.spec().earlyStopping());
    ctx.log().info(
        "{} member {}: validation accuracy {} after epoch {} (best {} after epoch {})",
        reply.jobId(), reply.member(), String.format("%.4f", accuracy), reply.epoch(),
        String.format("%.4f", verdict.bestAccuracy()), verdict.bestEpoch());
    if (verdict.stop()) {
      ctx.log().info(
          "{} member {}: stopping early after epoch {} of {}: no improvement on {} for {} epoch(s)",
          reply.jobId(), reply.member(), reply.epoch(), job.spec().epochs(),
          String.format("%.4f", verdict.bestAccuracy()), reply.epoch() - verdict.bestEpoch());
      events.add(
          new CoordinatorEvent.MemberStoppedEarly(
              reply.jobId(), reply.member(), reply.epoch(), verdict.bestEpoch(), verdict.bestAccuracy()));
    }
    return ctx.effect().persist(events).thenRun(s -> ctx.scheduleReconcile()).thenNoReply();
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> retryOrFail(
      String key, String jobId, String what, String workerId, String error) {
    int tries = attempts.merge(key, 1, Integer::sum);
    ctx.log().warn("{} {} on {} failed (attempt {}): {}", jobId, what, workerId, tries, error);
    if (tries >= MAX_ATTEMPTS) {
      String reason = what + " failed " + tries + " times; last error: " + error;
      return ctx.effect().persist(new JobFailed(jobId, reason)).thenRun(s -> ctx.scheduleReconcile()).thenNoReply();
    }
    ctx.scheduleReconcile();
    return ctx.effect().noReply();
  }

  /** A worker for a one-off task: spread members over workers, skipping ones that keep failing. */
  Optional<WorkerEntry> pickWorker(CoordinatorState state, int member) {
    List<WorkerEntry> healthy =
        state.schedulable().stream()
            .filter(w -> ctx.consecutiveFailures.getOrDefault(w.workerId(), 0) < LeaseDesk.MAX_CONSECUTIVE_WORKER_FAILURES)
            .toList();
    if (healthy.isEmpty()) {
      return Optional.empty();
    }
    int tries = attempts.values().stream().mapToInt(Integer::intValue).sum();
    return Optional.of(healthy.get((member + tries) % healthy.size()));
  }

//-----
}
