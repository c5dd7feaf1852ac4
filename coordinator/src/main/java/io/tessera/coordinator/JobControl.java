package io.tessera.coordinator;

import io.tessera.coordinator.CoordinatorEvent.CheckpointDiscarded;
import io.tessera.coordinator.CoordinatorEvent.JobRewound;
import io.tessera.coordinator.CoordinatorEvent.OperatorCommandRecorded;
import io.tessera.coordinator.ledger.SplitLedger.Cut;
import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.AdminProtocol.CheckpointInfo;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * The operators' job commands (cancel, pause, resume, restore) as pure functions of the
 * coordinator's state: the events that carry one out, or why it is refused. The coordinator
 * journals the events and does the rest (telling workers, stopping shards).
 */
final class JobControl {
  private JobControl() {}

  /**
   * What a command comes to: the events to journal and the jobs they change, or a refusal.
   *
   * @param unknownJob refused because no job has the id (the coordinator says whether it was pruned)
   */
  record Decision(List<CoordinatorEvent> events, List<JobRun> targets, String refusal, boolean unknownJob) {
    static Decision refused(String why) {
      return new Decision(List.of(), List.of(), why, false);
    }

    static Decision unknown(String jobId) {
      return new Decision(List.of(), List.of(), "no job " + jobId, true);
    }

    static Decision of(List<CoordinatorEvent> events, List<JobRun> targets) {
      return new Decision(events, targets, null, false);
    }

    boolean isRefused() {
      return refusal != null;
    }

    List<String> targetIds() {
      return targets.stream().map(JobRun::jobId).toList();
    }
  }

  static final Set<JobState> CANCELLABLE =
      EnumSet.of(JobState.QUEUED, JobState.INITIALIZING, JobState.RUNNING, JobState.RECOVERING, JobState.EVALUATING,
          JobState.PAUSED);
  // Initialising and evaluating are short and end in a state a rewind cannot reach: not paused.
  static final Set<JobState> PAUSABLE = EnumSet.of(JobState.QUEUED, JobState.RUNNING, JobState.RECOVERING);
  static final Set<JobState> RESUMABLE = EnumSet.of(JobState.PAUSED);

  /** Cancels {@code jobId}, or every unfinished stage of the pipeline it names. */
  static Decision cancel(CoordinatorState state, String jobId, long atMillis) {
    return each(state, jobId, "cancel", CANCELLABLE, "only queued or running jobs can be", atMillis,
        job -> new CoordinatorEvent.JobCancelled(job.jobId(), "cancelled by an operator while " + job.state()));
  }

  static Decision pause(CoordinatorState state, String jobId, long atMillis) {
    return each(state, jobId, "pause", PAUSABLE, "only queued, running or recovering jobs can be", atMillis,
        job -> new CoordinatorEvent.JobPaused(job.jobId()));
  }

  static Decision resume(CoordinatorState state, String jobId, long atMillis) {
    return each(state, jobId, "resume", RESUMABLE, "only paused jobs can be", atMillis,
        job -> new CoordinatorEvent.JobResumed(job.jobId()));
  }

  /**
   * Takes a running, recovering or paused job back to checkpoint {@code checkpointId}: the newer
   * ones are discarded, and a job that is training rewinds to it now (a paused one when resumed).
   */
  static Decision restore(CoordinatorState state, String jobId, long checkpointId, long atMillis) {
    Optional<JobRun> found = state.job(jobId);
    if (found.isEmpty()) {
      return Decision.unknown(jobId);
    }
    JobRun job = found.get();
    boolean training = job.state() == JobState.RUNNING || job.state() == JobState.RECOVERING;
    boolean waiting = job.state() == JobState.PAUSED || job.needsRewindToStart();
    if (!training && !waiting) {
      return Decision.refused(
          "cannot restore " + jobId + " while it is " + job.state()
              + "; only a running, recovering or paused job can go back to a checkpoint");
    }
    if (job.checkpoint(checkpointId).isEmpty()) {
      List<Long> ids = job.checkpoints().stream().map(CheckpointRecord::checkpointId).toList();
      return Decision.refused(jobId + " has no checkpoint " + checkpointId + "; it has " + ids);
    }
    List<CoordinatorEvent> events = new ArrayList<>();
    events.add(audit(state, "restore", jobId + " to checkpoint " + checkpointId, atMillis));
    for (CheckpointRecord newer : job.checkpoints()) {
      if (newer.checkpointId() > checkpointId) {
        events.add(
            new CheckpointDiscarded(jobId, newer.checkpointId(), "an operator restored checkpoint " + checkpointId));
      }
    }
    if (training) {
      events.add(
          new JobRewound(jobId, job.recoveryEpoch() + 1, checkpointId, "an operator restored checkpoint " + checkpointId));
    }
    return Decision.of(events, List.of(job));
  }

  /**
   * Sets member {@code member}'s learning rate, as a factor on the rate its spec gives it.
   */
  static Decision setLearningRate(CoordinatorState state, String jobId, int member, double learningRate, long atMillis) {
    Optional<JobRun> found = state.job(jobId);
    if (found.isEmpty()) {
      return Decision.unknown(jobId);
    }
    JobRun job = found.get();
    if (job.state().isFinished()) {
      return Decision.refused(jobId + " is " + job.state() + "; a learning rate can be set until a job ends");
    }
    if (member < 0 || member >= job.members().size()) {
      return Decision.refused(jobId + " has no member " + member + "; its members are 0.." + (job.members().size() - 1));
    }
    double specified = job.spec().optimizerOf(member).learningRate();
    double factor = learningRate / specified;
    double most = AdminProtocol.MAX_LEARNING_RATE_FACTOR;
    if (!(learningRate > 0) || Double.isInfinite(learningRate) || factor > most || factor < 1 / most) {
      return Decision.refused(
          "learning rate must be a positive number within " + (int) most + " times the spec's " + specified
              + " either way, was " + learningRate);
    }
    List<CoordinatorEvent> events =
        List.of(
            audit(state, "learning-rate", jobId + " member " + member + ": " + learningRate, atMillis),
            new CoordinatorEvent.MemberLearningRateSet(jobId, member, factor));
    return Decision.of(events, List.of(job));
  }

  /** The checkpoints after {@code checkpointId} that restoring it gives up. */
  static List<Long> newerThan(JobRun job, long checkpointId) {
    return job.checkpoints().stream().map(CheckpointRecord::checkpointId).filter(id -> id > checkpointId).toList();
  }

  /** A job's complete checkpoints, oldest first, as operators see them. */
  static List<CheckpointInfo> checkpoints(JobRun job) {
    List<CheckpointInfo> infos = new ArrayList<>();
    for (CheckpointRecord c : job.checkpoints()) {
      boolean hasCuts = !c.cuts().isEmpty(); // an archived job's checkpoints keep only positions
      long done = hasCuts ? c.cuts().stream().mapToLong(Cut::size).sum() : -1;
      long total = hasCuts ? c.cuts().stream().mapToLong(Cut::splits).sum() : -1;
      infos.add(new CheckpointInfo(c.checkpointId(), c.startedAtMillis(), done, total, c.positions().size()));
    }
    return infos;
  }

  static OperatorCommandRecorded audit(CoordinatorState state, String command, String detail, long atMillis) {
    return new OperatorCommandRecorded(new AuditRecord(state.nextAuditSequence(), atMillis, command, detail));
  }

  /**
   * A command applied to the job {@code jobId} names, or to every stage of the pipeline it names,
   * in a state that allows it.
   */
  private static Decision each(
      CoordinatorState state,
      String jobId,
      String command,
      Set<JobState> allowed,
      String rule,
      long atMillis,
      Function<JobRun, CoordinatorEvent> change) {
    List<JobRun> named =
        state.jobs().stream().filter(j -> j.jobId().equals(jobId) || j.pipelineId().equals(jobId)).toList();
    if (named.isEmpty()) {
      return Decision.unknown(jobId);
    }
    List<JobRun> targets = named.stream().filter(j -> allowed.contains(j.state())).toList();
    if (targets.isEmpty()) {
      List<String> states = named.stream().map(j -> j.jobId() + " is " + j.state()).toList();
      return Decision.refused("nothing to " + command + ": " + String.join(", ", states) + "; " + rule);
    }
    List<CoordinatorEvent> events = new ArrayList<>();
    events.add(audit(state, command, String.join(", ", targets.stream().map(JobRun::jobId).toList()), atMillis));
    targets.forEach(job -> events.add(change.apply(job)));
    return Decision.of(events, targets);
  }
}
