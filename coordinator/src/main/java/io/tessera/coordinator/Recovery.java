package io.tessera.coordinator;

import akka.actor.typed.ActorRef;
import akka.persistence.typed.javadsl.ReplyEffect;
import io.tessera.coordinator.CoordinatorEvent.CheckpointDiscarded;
import io.tessera.coordinator.CoordinatorEvent.JobFailed;
import io.tessera.coordinator.CoordinatorEvent.JobRecovered;
import io.tessera.coordinator.CoordinatorEvent.JobRewound;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Local;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ReportCorruptCheckpoint;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ResolveShardRecovery;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.worker.WorkerProtocol;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The coordinator's side of shard recovery: it owns the shard fleet of each job (started on first
 * use, stopped when the job ends), tells a starting shard where to start from, rewinds the whole
 * job to its last complete checkpoint when a shard lost its numbers or a checkpoint turned out
 * unusable, and lets training go on once every shard reached the new recovery epoch.
 *
 * <p>It keeps the fleets and the rewinds asked for (runtime only). It asks the checkpoint
 * scheduler to drop the checkpoint a rewind voids, the coordinator to forget what it sent to the
 * workers and shards (accumulation shares, SSP rosters) once a rewind is done and what is in
 * flight for a job whose shards stop, and for a reconcile after each change.
 */
final class Recovery {

  /** A cluster member left or was downed; if it hosted parameter shards, some may be lost. */
  record NodeRemoved(boolean hostedShards) implements Local {}

  private final CoordinatorContext ctx;
  private final Map<String, ActorRef<ShardFleet.Command>> fleets = new HashMap<>();
  private final Map<String, Long> rewindsInFlight = new HashMap<>();

  Recovery(CoordinatorContext ctx) {
    this.ctx = ctx;
  }

  /** A job ended or gave up its turn: an answer to a rewind asked for is dropped on arrival. */
  void forget(String jobId) {
    rewindsInFlight.remove(jobId);
  }

  /**
   * A shard is starting and asks where from. A shard of a job that is training or evaluating was
   * not told to restart, so it has lost its numbers (its node died, or the cluster restarted): the
   * whole job goes back to its last complete checkpoint, in a new recovery epoch.
   */
  ReplyEffect<CoordinatorEvent, CoordinatorState> onResolveShardRecovery(
      CoordinatorState state, ResolveShardRecovery command) {
    Optional<JobRun> found = state.job(command.jobId());
    if (found.isEmpty()) {
      // Every job is journaled before its shards are set up: this one ended long ago, or never was.
      return ctx.effect().reply(command.replyTo(), new ShardRecoveryPlan(0, -1, 0, true));
    }
    JobRun job = found.get();
    if (job.state().isFinished() || job.state() == JobState.PAUSED) {
      // Woken by a message that was on its way when the job stopped training: read-only until it
      // resumes (a rewind then gives it a live plan) or stops again once idle.
      return ctx.effect().reply(command.replyTo(), finishedPlan(job, command));
    }
    if (job.lastCheckpoint().isEmpty()) {
      return ctx.effect()
          .reply(command.replyTo(), new ShardRecoveryPlan(job.recoveryEpoch(), -1, 0, false, state.nextLeaseId()));
    }
    if (job.state() == JobState.RUNNING || job.state() == JobState.EVALUATING) {
      CheckpointRecord target = job.lastCheckpoint().get();
      String reason = "shard m" + command.member() + "/s" + command.shard() + " restarted without its numbers";
      ctx.log().warn(
          "{}: {}; rewinding every shard to checkpoint {}", job.jobId(), reason, target.checkpointId());
      return ctx.effect()
          .persist(new JobRewound(job.jobId(), job.recoveryEpoch() + 1, target.checkpointId(), reason))
          .thenRun(s -> ctx.scheduleReconcile())
          .thenReply(command.replyTo(), s -> recoveryPlan(s, s.job(command.jobId()).get(), command));
    }
    return ctx.effect().reply(command.replyTo(), recoveryPlan(state, job, command));
  }

  /** A shard of a job not training starts read-only on the job's newest checkpoint, if it has one. */
  private static ShardRecoveryPlan finishedPlan(JobRun job, ResolveShardRecovery command) {
    return job.lastCheckpoint()
        .map(last -> {
          long sequenceNr = last.sequenceNr(command.member(), command.shard());
          return new ShardRecoveryPlan(job.recoveryEpoch(), last.checkpointId(), sequenceNr, true);
        })
        .orElse(new ShardRecoveryPlan(job.recoveryEpoch(), -1, 0, true));
  }

  /**
   * Where a shard of a job that is not running (it is being set up, rewound or resumed) starts: no
   * lease of the job issued so far is out (a rewind voided them all), so it fences every one.
   */
  private static ShardRecoveryPlan recoveryPlan(CoordinatorState state, JobRun job, ResolveShardRecovery command) {
    CheckpointRecord target = job.lastCheckpoint().orElseThrow();
    long sequenceNr = target.sequenceNr(command.member(), command.shard());
    return new ShardRecoveryPlan(job.recoveryEpoch(), target.checkpointId(), sequenceNr, false, state.nextLeaseId());
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onReportCorruptCheckpoint(
      CoordinatorState state, ReportCorruptCheckpoint report) {
    Optional<JobRun> found = state.job(report.jobId());
    if (found.isEmpty() || found.get().checkpoint(report.checkpointId()).isEmpty()) {
      return ctx.effect().noReply(); // already discarded on another shard's word
    }
    JobRun job = found.get();
    ctx.log().error(
        "{}: checkpoint {} is unusable ({}); falling back to the one before",
        job.jobId(), report.checkpointId(), report.reason());
    List<CoordinatorEvent> events = new ArrayList<>();
    events.add(new CheckpointDiscarded(job.jobId(), report.checkpointId(), report.reason()));
    if (job.state().isFinished()) {
      // Nothing trains from it any more: forget it, but do not bring the job back to life.
      return ctx.effect().persist(events).thenNoReply();
    }
    Optional<CheckpointRecord> previous =
        job.checkpoints().stream()
            .filter(c -> c.checkpointId() != report.checkpointId())
            .reduce((first, second) -> second);
    if (previous.isPresent()) {
      events.add(
          new JobRewound(
              job.jobId(),
              job.recoveryEpoch() + 1,
              previous.get().checkpointId(),
              "checkpoint " + report.checkpointId() + " unusable: " + report.reason()));
    } else {
      events.add(new JobFailed(job.jobId(), "no usable checkpoint left: " + report.reason()));
    }
    return ctx.effect().persist(events).thenRun(s -> ctx.scheduleReconcile()).thenNoReply();
  }

  /** Asks the job's shards to go back to its last checkpoint, once per recovery epoch. */
  void startRewind(JobRun job) {
    if (!Long.valueOf(job.recoveryEpoch()).equals(rewindsInFlight.get(job.jobId()))) {
      rewindsInFlight.put(job.jobId(), job.recoveryEpoch());
      ctx.checkpoints.rewound(job.jobId()); // the rewind voided every lease; due again from the restored one
      ctx.log().info(
          "{}: rewinding to checkpoint {} in epoch {}",
          job.jobId(), job.lastCheckpoint().map(CheckpointRecord::checkpointId).orElse(-1L), job.recoveryEpoch());
      fleet(job).tell(new ShardFleet.Rewind(job.recoveryEpoch()));
    }
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onEpochReached(
      CoordinatorState state, FleetReport.EpochReached report) {
    Optional<JobRun> job =
        state.job(report.jobId()).filter(j -> j.state() == JobState.RECOVERING && j.recoveryEpoch() == report.epoch());
    if (job.isEmpty()) {
      return ctx.effect().noReply();
    }
    rewindsInFlight.remove(report.jobId());
    ctx.log().info("{}: every shard runs in epoch {}; training goes on", report.jobId(), report.epoch());
    ctx.membership.forgetAccumulations(); // leases were voided: tell every worker its share again
    ctx.membership.forgetRosters(report.jobId()); // restarted shards know none
    return ctx.effect()
        .persist(new JobRecovered(report.jobId(), report.epoch()))
        .thenRun(s -> {
          // Leases out before the rewind are void; their holders may be waiting on a lost shard.
          WorkerProtocol.LeasesVoided voided = new WorkerProtocol.LeasesVoided(report.jobId(), s.nextLeaseId());
          s.workers().forEach(w -> w.ref().tell(voided));
          ctx.scheduleReconcile();
        })
        .thenNoReply();
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onNodeRemoved(CoordinatorState state, NodeRemoved removed) {
    if (removed.hostedShards()) {
      wakeShards(state);
    }
    return ctx.effect().noReply();
  }

  /**
   * Has the active job's fleet (if it trains or evaluates) check on its shards: one that was lost
   * is found, and the job rewound, now rather than when a worker next pulls.
   */
  void wakeShards(CoordinatorState state) {
    state.activeJob()
        .filter(j -> j.state() == JobState.RUNNING || j.state() == JobState.EVALUATING)
        .ifPresent(job -> fleet(job).tell(ShardFleet.Wake.INSTANCE));
  }

  /**
   * A job ended and was archived: its shards stop (a later stage that reads them starts them again,
   * read-only), and so does its fleet.
   */
  void stopShards(JobRun job) {
    ctx.forgetJob(job.jobId());
    fleet(job).tell(ShardFleet.Stop.INSTANCE);
    fleets.remove(job.jobId());
  }

  /** The fleet of a job's shards, started on first use. */
  ActorRef<ShardFleet.Command> fleet(JobRun job) {
    return fleets.computeIfAbsent(
        job.jobId(),
        id ->
            ctx.actor.spawn(
                ShardFleet.create(
                    id,
                    job.members().size(),
                    job.spec().shards(),
                    ctx.actor.getSelf().narrow(),
                    ctx.settings.checkpointTimeout()),
                "fleet-" + id));
  }
}
