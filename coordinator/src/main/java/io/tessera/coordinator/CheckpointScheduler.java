package io.tessera.coordinator;

import akka.pattern.StatusReply;
import akka.persistence.typed.javadsl.ReplyEffect;
import io.tessera.coordinator.CoordinatorEvent.CheckpointAbandoned;
import io.tessera.coordinator.CoordinatorEvent.CheckpointCompleted;
import io.tessera.coordinator.CoordinatorEvent.CheckpointStarted;
import io.tessera.protocol.coordinator.AdminProtocol.RequestCheckpoint;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.CheckpointRequested;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Local;
import io.tessera.protocol.spec.TrainingMode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The coordinator's checkpoint scheduling: when the active job is due a checkpoint (by time or by
 * push count, or because an operator asked), holding new work back until the job is quiescent,
 * starting the checkpoint, and recording what the shard fleet reports of it. A final checkpoint
 * that fails is tried again at the next periodic check.
 *
 * <p>It owns the runtime bookkeeping of checkpoints (wanted, in flight, final ones to retry); none
 * of it survives a restart. It asks {@link Recovery} for the job's shard fleet, the {@link
 * Barrier} to let go of stale asks it holds on each check, {@link Membership} to forget the SSP
 * rosters sent when the staleness bound is lifted for a checkpoint, and the coordinator for a
 * reconcile after each change.
 */
final class CheckpointScheduler {

  /** How often the active job is checked for a checkpoint due. */
  static final Duration CHECK_INTERVAL = Duration.ofSeconds(1);

  /** Time to see whether the active job is due a checkpoint. */
  enum CheckpointCheck implements Local {
    INSTANCE
  }

  private final CoordinatorContext ctx;
  private final Map<String, Long> checkpointsInFlight = new HashMap<>();
  // Jobs whose final checkpoint failed: the next attempt waits for the checkpoint check, so that a
  // shard that fails at once is not asked again and again as fast as the journal can write.
  private final Set<String> finalCheckpointRetries = new HashSet<>();
  // Jobs due a checkpoint, and since when (nanoTime): the job is quiesced first, so that every
  // shard saves the same pushes. In sync mode no new step starts until every member's step in
  // progress is done; in async and ssp mode no new lease is granted until the leases out are
  // acked or given back. Then the checkpoint is taken, and leases resume once it is saved.
  private final Map<String, Long> checkpointsWanted = new HashMap<>();

  CheckpointScheduler(CoordinatorContext ctx) {
    this.ctx = ctx;
  }

  /** Whether a checkpoint of {@code jobId} is wanted: new work is held back until it is taken. */
  boolean isWanted(String jobId) {
    return checkpointsWanted.containsKey(jobId);
  }

  /** Whether this coordinator asked the shards for checkpoint {@code checkpointId} of the job. */
  boolean isInFlight(String jobId, long checkpointId) {
    return Long.valueOf(checkpointId).equals(checkpointsInFlight.get(jobId));
  }

  /** Whether the job's final checkpoint failed and waits for the next check to be tried again. */
  boolean finalRetryPending(String jobId) {
    return finalCheckpointRetries.contains(jobId);
  }

  /** A job ended or gave up its turn: answers about its checkpoints are dropped on arrival. */
  void forget(String jobId) {
    checkpointsWanted.remove(jobId);
    checkpointsInFlight.remove(jobId);
    finalCheckpointRetries.remove(jobId);
  }

  /**
   * The job is rewound: its checkpoint in flight will not complete, and one wanted is due again
   * from the restored checkpoint (the rewind voided every lease).
   */
  void rewound(String jobId) {
    checkpointsInFlight.remove(jobId);
    checkpointsWanted.remove(jobId);
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onCheckpointCheck(
      CoordinatorState state, CheckpointCheck check) {
    ctx.barrier.releaseStaleParked(state, Barrier.PARKED_LIMIT);
    // A job that ended, failed or is being rewound takes no checkpoint it wanted while training.
    checkpointsWanted.keySet().removeIf(id -> state.job(id).filter(j -> j.state() == JobState.RUNNING).isEmpty());
    Optional<JobRun> active = state.activeJob().filter(j -> j.pendingCheckpoint() == null);
    if (active.isPresent() && finalCheckpointRetries.contains(active.get().jobId())) {
      return retryFinalCheckpoint(state, active.get());
    }
    if (active.isEmpty() || active.get().state() != JobState.RUNNING) {
      return ctx.effect().noReply();
    }
    JobRun job = active.get();
    if (!checkpointsWanted.containsKey(job.jobId()) && !checkpointDue(job)) {
      return ctx.effect().noReply();
    }
    // Only when quiescent, so every shard saves the same pushes (see checkpointsWanted). Lease
    // decisions waiting for their journal write are not in the state yet: wait for them.
    wantCheckpoint(job);
    if (!ctx.leases.isEmpty()) {
      return ctx.effect().noReply();
    }
    Optional<CheckpointStarted> started = checkpointWhenQuiescent(state);
    if (started.isEmpty()) {
      return ctx.effect().noReply();
    }
    return ctx.effect().persist(started.get()).thenRun(s -> sendCheckpoint(s, started.get())).thenNoReply();
  }

  static boolean checkpointDue(JobRun job) {
    long interval = job.spec().checkpoint().intervalMillis();
    long everyPushes = job.spec().checkpoint().everyPushes();
    boolean timeIsUp = interval > 0 && System.currentTimeMillis() - job.lastCheckpointAtMillis() >= interval;
    boolean pushesAreUp = everyPushes > 0 && job.pushesSinceCheckpoint() >= everyPushes;
    return timeIsUp || pushesAreUp;
  }

  /** Asks for the final checkpoint again, a check interval after the last attempt started. */
  private ReplyEffect<CoordinatorEvent, CoordinatorState> retryFinalCheckpoint(CoordinatorState state, JobRun job) {
    if (job.state() != JobState.EVALUATING) {
      finalCheckpointRetries.remove(job.jobId()); // rewound meanwhile: training is not over
      return ctx.effect().noReply();
    }
    if (System.currentTimeMillis() - job.lastCheckpointAtMillis() < CHECK_INTERVAL.toMillis()) {
      return ctx.effect().noReply();
    }
    finalCheckpointRetries.remove(job.jobId());
    return startCheckpoint(state, job, null);
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onRequestCheckpoint(
      CoordinatorState state, RequestCheckpoint command) {
    Optional<JobRun> job = state.job(command.jobId());
    if (job.isEmpty() || job.get().state() != JobState.RUNNING) {
      String why = job.map(j -> "job " + j.jobId() + " is " + j.state()).orElse("no job " + command.jobId());
      return ctx.effect().reply(command.replyTo(), StatusReply.error("cannot checkpoint now: " + why));
    }
    if (job.get().pendingCheckpoint() != null) {
      long id = job.get().pendingCheckpoint().checkpointId();
      return ctx.effect()
          .persist(CoordinatorContext.audit(state, "checkpoint", command.jobId() + " (joined checkpoint " + id + " in progress)"))
          .thenReply(command.replyTo(), s -> StatusReply.success(new CheckpointRequested(command.jobId(), id)));
    }
    if (!ctx.leases.isEmpty() || !quiescent(job.get())) {
      // Taken once the steps or leases in progress are done; new work waits for it.
      long id = job.get().nextCheckpointId();
      wantCheckpoint(job.get());
      String when = job.get().isSync() ? "at the next step boundary" : "once the leases out are done";
      return ctx.effect()
          .persist(CoordinatorContext.audit(state, "checkpoint", command.jobId() + " (checkpoint " + id + " " + when + ")"))
          .thenReply(command.replyTo(), s -> StatusReply.success(new CheckpointRequested(command.jobId(), id)));
    }
    return startCheckpoint(state, job.get(), command);
  }

  /** Journals the start of a checkpoint, then asks every shard of the job to save it. */
  ReplyEffect<CoordinatorEvent, CoordinatorState> startCheckpoint(
      CoordinatorState state, JobRun job, RequestCheckpoint requested) {
    checkpointTaken(job.jobId());
    long id = job.nextCheckpointId();
    List<CoordinatorEvent> events = new ArrayList<>();
    if (requested != null) {
      events.add(CoordinatorContext.audit(state, "checkpoint", job.jobId() + " (checkpoint " + id + ")"));
    }
    events.add(new CheckpointStarted(job.jobId(), id, System.currentTimeMillis()));
    var effect =
        ctx.effect()
            .persist(events)
            .thenRun(s -> sendCheckpoint(s, new CheckpointStarted(job.jobId(), id, 0)));
    return requested == null
        ? effect.thenNoReply()
        : effect.thenReply(requested.replyTo(), s -> StatusReply.success(new CheckpointRequested(job.jobId(), id)));
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onCheckpointSaved(
      CoordinatorState state, FleetReport.CheckpointSaved report) {
    checkpointsInFlight.remove(report.jobId());
    Optional<JobRun> job = state.job(report.jobId());
    if (job.isEmpty() || job.get().pendingCheckpoint() == null
        || job.get().pendingCheckpoint().checkpointId() != report.checkpointId()) {
      return ctx.effect().noReply();
    }
    long tookMillis = Math.max(0, System.currentTimeMillis() - job.get().pendingCheckpoint().startedAtMillis());
    ctx.metrics.checkpointTime.record(tookMillis * 1_000_000);
    ctx.log().info("{}: checkpoint {} complete in {} ms", report.jobId(), report.checkpointId(), tookMillis);
    return ctx.effect()
        .persist(
            new CheckpointCompleted(report.jobId(), report.checkpointId(), report.positions(), ctx.settings.checkpointsKept()))
        .thenRun(s -> ctx.scheduleReconcile())
        .thenNoReply();
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onCheckpointFailed(
      CoordinatorState state, FleetReport.CheckpointFailed report) {
    checkpointsInFlight.remove(report.jobId());
    Optional<JobRun> job = state.job(report.jobId());
    if (job.isEmpty() || job.get().pendingCheckpoint() == null
        || job.get().pendingCheckpoint().checkpointId() != report.checkpointId()) {
      return ctx.effect().noReply();
    }
    ctx.log().warn("{}: checkpoint {} abandoned: {}", report.jobId(), report.checkpointId(), report.reason());
    if (job.get().state() == JobState.EVALUATING) {
      finalCheckpointRetries.add(report.jobId());
    }
    return ctx.effect()
        .persist(new CheckpointAbandoned(report.jobId(), report.checkpointId(), report.reason()))
        .thenRun(s -> ctx.scheduleReconcile())
        .thenNoReply();
  }

  /**
   * Whether nothing of the job is in flight, so that every shard holds the same pushes and the
   * ledgers' acks say which: in sync mode no member is in the middle of a step (and a member
   * stopped early, which opens no more steps, has no lease out); otherwise no lease is out (a
   * lease is acked only once each of its pushes is answered by every shard).
   */
  static boolean quiescent(JobRun job) {
    if (job.isSync()) {
      return job.members().stream()
          .filter(MemberRun::isTraining)
          .noneMatch(m -> m.stepStarted() || (m.stoppedEarly() && m.hasLeaseOut()));
    }
    return job.members().stream()
        .filter(MemberRun::isTraining)
        .noneMatch(MemberRun::hasLeaseOut);
  }

  /**
   * The start of a wanted checkpoint of the active job, if it is quiescent now (and then no
   * longer wanted: it is being taken).
   */
  Optional<CheckpointStarted> checkpointWhenQuiescent(CoordinatorState state) {
    Optional<JobRun> job = state.activeJob().filter(j -> j.state() == JobState.RUNNING);
    if (job.isEmpty() || !checkpointsWanted.containsKey(job.get().jobId()) || job.get().pendingCheckpoint() != null
        || !quiescent(job.get())) {
      return Optional.empty();
    }
    checkpointTaken(job.get().jobId());
    return Optional.of(new CheckpointStarted(job.get().jobId(), job.get().nextCheckpointId(), System.currentTimeMillis()));
  }

  /** A checkpoint of {@code jobId} starts: no longer wanted; the wait for it is recorded. */
  private void checkpointTaken(String jobId) {
    Long since = checkpointsWanted.remove(jobId);
    if (since != null) {
      long waited = System.nanoTime() - since;
      ctx.metrics.checkpointQuiesce.record(waited);
      ctx.log().debug("{}: quiesced for a checkpoint in {} ms", jobId, waited / 1_000_000);
    }
  }

  /**
   * Wants a checkpoint of {@code job}: leases are held back from now until it is taken. In ssp
   * mode the shards' roster is emptied meanwhile, so that no worker still training waits at the
   * staleness bound for one that is waiting for the checkpoint.
   */
  void wantCheckpoint(JobRun job) {
    if (checkpointsWanted.putIfAbsent(job.jobId(), System.nanoTime()) == null
        && job.spec().mode() == TrainingMode.SSP) {
      for (MemberRun member : job.members()) {
        AccumulationPlan plan = member.currentPlan();
        if (plan != null) {
          ctx.recovery.fleet(job).tell(new ShardFleet.Roster(member.member(), plan.membershipEpoch(), List.of()));
        }
      }
      ctx.membership.forgetRosters(job.jobId());
    }
  }

  /**
   * Asks every shard of the job to save a checkpoint whose start is journaled, keeping the
   * snapshots of the complete checkpoints kept now. Only one checkpoint runs at a time and an
   * abandoned one never completes later, so no other snapshot can still become a rewind target.
   */
  void sendCheckpoint(CoordinatorState state, CheckpointStarted started) {
    checkpointsInFlight.put(started.jobId(), started.checkpointId());
    state.job(started.jobId())
        .ifPresent(
            job -> ctx.recovery.fleet(job).tell(new ShardFleet.Checkpoint(started.checkpointId(), job.recoveryEpoch(), job.checkpoints())));
  }
}
