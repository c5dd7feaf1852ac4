package io.tessera.ps;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Adapter;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.pattern.StatusReply;
import akka.persistence.Persistence;
import akka.persistence.SnapshotProtocol;
import akka.persistence.typed.EventAdapter;
import akka.persistence.typed.PersistenceId;
import akka.persistence.typed.RecoveryCompleted;
import akka.persistence.typed.SnapshotCompleted;
import akka.persistence.typed.SnapshotFailed;
import akka.persistence.typed.SnapshotSelectionCriteria;
import akka.persistence.typed.javadsl.CommandHandler;
import akka.persistence.typed.javadsl.Effect;
import akka.persistence.typed.javadsl.EventHandler;
import akka.persistence.typed.javadsl.EventSourcedBehavior;
import akka.persistence.typed.javadsl.Recovery;
import akka.persistence.typed.javadsl.RetentionCriteria;
import akka.persistence.typed.javadsl.SignalHandler;
import com.typesafe.config.ConfigFactory;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Command;
import io.tessera.protocol.ps.ShardProtocol.ConfirmEpoch;
import io.tessera.protocol.ps.ShardProtocol.FenceLeases;
import io.tessera.protocol.ps.ShardProtocol.GetStatus;
import io.tessera.protocol.ps.ShardProtocol.Initialize;
import io.tessera.protocol.ps.ShardProtocol.Local;
import io.tessera.protocol.ps.ShardProtocol.Pull;
import io.tessera.protocol.ps.ShardProtocol.Push;
import io.tessera.protocol.ps.ShardProtocol.RewindTo;
import io.tessera.protocol.ps.ShardProtocol.ShardAddress;
import io.tessera.protocol.ps.ShardProtocol.StopShard;
import io.tessera.protocol.ps.ShardProtocol.TakeCheckpoint;
import io.tessera.protocol.ps.ShardProtocol.UpdateRoster;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.ps.ShardEvent.CheckpointTaken;
import io.tessera.ps.ShardEvent.ShardInitialized;
import io.tessera.ps.ShardState.Live;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The event-sourced body of a parameter shard, started by {@link ParameterShard} once the
 * coordinator has said which checkpoint to start from.
 *
 * <p>Pushes update the live arrays in place and are not journaled. The journal holds only the
 * set-up (with the initial values) and one marker per checkpoint, and every event is followed by
 * a snapshot of a frozen copy of the numbers, which the snapshot store serializes on its own
 * threads. Recovery loads the snapshot of the checkpoint the coordinator names, so a shard that
 * moved or restarted rejoins its job exactly at a complete checkpoint. Which snapshots stay is the
 * coordinator's word, not a count (see {@link ShardSnapshotRetention}).
 */
final class PersistentShard extends EventSourcedBehavior<Command, ShardEvent, ShardState> {

  static Behavior<Command> create(
      String entityId,
      ShardRecoveryPlan plan,
      ActorRef<ClusterSharding.ShardCommand> shardRegion,
      ActorRef<CoordinatorProtocol.Command> coordinator,
      ShardSettings settings) {
    return Behaviors.setup(
        context -> new PersistentShard(context, entityId, plan, shardRegion, coordinator, settings));
  }

  private final ActorContext<Command> context;
  private final String entityId;
  private final ShardAddress address;
  private final ShardRecoveryPlan plan;
  /** The coordinator said the job is not training ({@link StopShard}): read-only until it stops. */
  private boolean stopRequested;
  private final ActorRef<ClusterSharding.ShardCommand> shardRegion;
  private final ActorRef<CoordinatorProtocol.Command> coordinator;
  private final ShardSettings settings;
  private final Map<Long, PendingCheckpoint> checkpointsInFlight = new HashMap<>();
  /** SSP mode: pulls of workers too far ahead of the slowest, answered once it catches up. */
  private final List<Pull> heldPulls = new ArrayList<>();
  private final long epoch;
  private boolean recovering = true;
  private final ShardSnapshotRetention retention;
  private String unusable;
  private ShardMetrics metrics;

  /** A shard of a job that is not training has had no message for a while: it stops. */
  private enum IdleTimeout implements Local {
    INSTANCE
  }

  /** The snapshot store's answer to a deletion of snapshots no checkpoint needs. */
  private record SnapshotsDeleted(SnapshotProtocol.Response answer) implements Local {}

  /**
   * A checkpoint whose marker is journaled and whose snapshot is being written; {@code keep} says
   * which older snapshots must stay once it is stored.
   */
  private record PendingCheckpoint(
      long checkpointId,
      long version,
      List<Long> keep,
      ActorRef<StatusReply<ShardProtocol.CheckpointSaved>> replyTo) {}

  /** Where the shard entity {@code entityId} journals and snapshots. */
  static PersistenceId persistenceIdOf(String entityId) {
    return PersistenceId.of("ParameterShard", entityId);
  }

  private PersistentShard(
      ActorContext<Command> context,
      String entityId,
      ShardRecoveryPlan plan,
      ActorRef<ClusterSharding.ShardCommand> shardRegion,
      ActorRef<CoordinatorProtocol.Command> coordinator,
      ShardSettings settings) {
    super(persistenceIdOf(entityId));
    this.context = context;
    this.entityId = entityId;
    this.address = ShardAddress.parse(entityId);
    this.plan = plan;
    this.shardRegion = shardRegion;
    this.coordinator = coordinator;
    this.settings = settings;
    this.epoch = Math.max(0, plan.epoch());
    // Akka Typed has no effect that deletes chosen snapshots, so they are deleted through the
    // snapshot store plugin's own protocol (Persistence.snapshotStoreFor is Akka's internal API).
    akka.actor.ActorRef snapshotStore =
        Persistence.get(Adapter.toClassic(context.getSystem()))
            .snapshotStoreFor(snapshotPluginId(), ConfigFactory.empty());
    ActorRef<SnapshotProtocol.Response> answers =
        context.messageAdapter(SnapshotProtocol.Response.class, SnapshotsDeleted::new);
    this.retention =
        new ShardSnapshotRetention(
            persistenceIdOf(entityId).id(), settings.snapshotsKept(), snapshotStore, Adapter.toClassic(answers));
  }

  @Override
  public ShardState emptyState() {
    return ShardState.empty();
  }

  @Override
  public Recovery recovery() {
    if (plan.isFresh()) {
      return super.recovery();
    }
    return Recovery.withSnapshotSelectionCriteria(
        SnapshotSelectionCriteria.latest().withMaxSequenceNr(plan.sequenceNr()));
  }

  @Override
  public EventAdapter<ShardEvent, ?> eventAdapter() {
    return new ShardReplayFilter(plan);
  }

  /**
   * None of Akka's: counting snapshots cannot tell an abandoned checkpoint from a complete one, and
   * with a count Akka would also skip snapshots while it deletes and snapshot the journal's end after
   * a recovery that replayed events. {@link ShardSnapshotRetention} deletes instead.
   */
  @Override
  public RetentionCriteria retentionCriteria() {
    return RetentionCriteria.disabled();
  }

  /** Every event (the set-up, each checkpoint marker) is followed by a snapshot. */
  @Override
  public boolean shouldSnapshot(ShardState state, ShardEvent event, long sequenceNr) {
    return true;
  }

  // ------------------------------------------------------------------ events

  @Override
  public EventHandler<ShardState, ShardEvent> eventHandler() {
    return newEventHandlerBuilder()
        .forAnyState()
        .onEvent(ShardInitialized.class, (state, e) -> state.initialize(e.setup(), e.values()))
        .onEvent(CheckpointTaken.class, this::onCheckpointTaken)
        .build();
  }

  private ShardState onCheckpointTaken(ShardState state, CheckpointTaken event) {
    // The numbers of a recovered shard are its snapshot's (ShardReplayFilter drops markers).
    if (recovering || !state.initialized()) {
      return state;
    }
    return state.checkpoint(event.checkpointId());
  }

  // ------------------------------------------------------------------ signals

  @Override
  public SignalHandler<ShardState> signalHandler() {
    return newSignalHandlerBuilder()
        .onSignal(RecoveryCompleted.instance(), this::onRecoveryCompleted)
        .onSignal(SnapshotCompleted.class, this::onSnapshotCompleted)
        .onSignal(SnapshotFailed.class, this::onSnapshotFailed)
        .build();
  }

  private void onRecoveryCompleted(ShardState state) {
    recovering = false;
    if (state.isCorrupt()) {
      unusable = "checkpoint " + plan.checkpointId() + " of shard " + entityId + ": " + state.corruption();
    } else if (!plan.isFresh() && state.checkpointId() != plan.checkpointId()) {
      unusable =
          "checkpoint " + plan.checkpointId() + " of shard " + entityId + " is missing from the snapshot store"
              + " (found " + state.checkpointId() + ")";
    }
    if (unusable != null) {
      context.getLog().error("Shard {} cannot restore: {}", entityId, unusable);
      coordinator.tell(
          new CoordinatorProtocol.ReportCorruptCheckpoint(
              address.jobId(), address.member(), address.shard(), plan.checkpointId(), unusable));
      shardRegion.tell(new ClusterSharding.Passivate<>(context.getSelf()));
      return;
    }
    if (state.initialized()) {
      metrics = new ShardMetrics(address.jobId());
      // Every lease issued before the plan's fence is void: this incarnation starts after a rewind,
      // or its job has not leased any of its work yet.
      state.live().applyFence(plan.leaseFence(), List.of());
      context.getLog().info(
          "Shard {} restored checkpoint {} at version {} in epoch {}{}",
          entityId, state.checkpointId(), state.live().version, epoch, plan.finished() ? ", read-only (its job is not training)" : "");
    }
    if (plan.finished()) {
      context.setReceiveTimeout(settings.finishedIdleTimeout(), IdleTimeout.INSTANCE);
    }
  }

  private void onSnapshotCompleted(ShardState state, SnapshotCompleted signal) {
    long sequenceNr = signal.metadata().sequenceNr();
    PendingCheckpoint pending = checkpointsInFlight.remove(sequenceNr);
    if (pending != null) {
      pending
          .replyTo()
          .tell(
              StatusReply.success(
                  new ShardProtocol.CheckpointSaved(address.shard(), pending.checkpointId(), sequenceNr, pending.version())));
      ShardSnapshotRetention.Deletion deletion = retention.afterCheckpoint(sequenceNr, pending.keep());
      if (!deletion.isEmpty()) {
        context.getLog().debug(
            "Shard {} keeps the snapshots at {} and deletes those up to {} and at {}",
            entityId, pending.keep(), deletion.upTo(), deletion.each());
      }
    }
  }

  private void onSnapshotFailed(ShardState state, SnapshotFailed signal) {
    PendingCheckpoint pending = checkpointsInFlight.remove(signal.metadata().sequenceNr());
    context.getLog().warn("Shard {} could not store a snapshot: {}", entityId, signal.getFailure().getMessage());
    if (pending != null) {
      pending
          .replyTo()
          .tell(StatusReply.error("shard " + entityId + " could not store checkpoint " + pending.checkpointId()
              + ": " + signal.getFailure().getMessage()));
    }
  }

  private Effect<ShardEvent, ShardState> onSnapshotsDeleted(ShardState state, SnapshotsDeleted deleted) {
    Throwable failure = retention.onAnswer(deleted.answer());
    if (failure != null) {
      context.getLog().warn(
          "Shard {} could not delete snapshots no checkpoint needs ({}); it tries again with its next checkpoint",
          entityId, failure.getMessage());
    }
    return Effect().none();
  }

  // ------------------------------------------------------------------ commands

  @Override
  public CommandHandler<Command, ShardEvent, ShardState> commandHandler() {
    return newCommandHandlerBuilder()
        .forAnyState()
        .onCommand(Initialize.class, this::onInitialize)
        .onCommand(Pull.class, this::onPull)
        .onCommand(Push.class, this::onPush)
        .onCommand(GetStatus.class, this::onGetStatus)
        .onCommand(TakeCheckpoint.class, this::onTakeCheckpoint)
        .onCommand(RewindTo.class, this::onRewindTo)
        .onCommand(ConfirmEpoch.class, this::onConfirmEpoch)
        .onCommand(UpdateRoster.class, this::onUpdateRoster)
        .onCommand(FenceLeases.class, this::onFenceLeases)
        .onCommand(StopShard.class, this::onStopShard)
        .onCommand(IdleTimeout.class, this::onIdleTimeout)
        .onCommand(SnapshotsDeleted.class, this::onSnapshotsDeleted)
        .build();
  }

  /**
   * The job ended or was paused: from now on the shard takes no push, set-up or checkpoint (held
   * pulls get the reason), still answers reads (its numbers, its status and counters), and stops
   * once idle for {@code finished-idle-timeout}, keeping its checkpoints.
   */
  private Effect<ShardEvent, ShardState> onStopShard(ShardState state, StopShard command) {
    if (!stopRequested) {
      context.getLog().debug(
          "Shard {}: its job ended or was paused; read-only, stopping once idle for {}", entityId,
          settings.finishedIdleTimeout());
      stopRequested = true;
      failHeldPulls("the job of shard " + entityId + " ended or was paused");
      context.setReceiveTimeout(settings.finishedIdleTimeout(), IdleTimeout.INSTANCE);
    }
    return Effect().none();
  }

  private Effect<ShardEvent, ShardState> onIdleTimeout(ShardState state, IdleTimeout timeout) {
    context.getLog().debug("Shard {} of a job not training was idle for {}; stopping", entityId, settings.finishedIdleTimeout());
    shardRegion.tell(new ClusterSharding.Passivate<>(context.getSelf()));
    return Effect().none();
  }

  /** Why a shard of a job that is not training takes no {@code what}, or null while its job is live. */
  private String over(String what) {
    if (!plan.finished() && !stopRequested) {
      return null;
    }
    return plan.finished() && plan.isFresh()
        ? "shard " + entityId + ": the coordinator does not know job " + address.jobId() + " (it ended long ago, or never existed)"
        : "shard " + entityId + ": job " + address.jobId() + " is not training (it ended or is paused); it takes no "
            + what;
  }

  private Effect<ShardEvent, ShardState> onInitialize(ShardState state, Initialize command) {
    String refused = unusable != null ? unusable : over("set-up");
    if (refused != null) {
      command.replyTo().tell(StatusReply.error(refused));
      return Effect().none();
    }
    if (state.initialized()) {
      return Effect().reply(command.replyTo(), StatusReply.success(new ShardProtocol.Initialized(state.live().version, false)));
    }
    String problem = PushRules.checkSetup(entityId, command.setup(), command.values());
    if (problem != null) {
      return Effect().reply(command.replyTo(), StatusReply.error(problem));
    }
    return Effect()
        .persist(new ShardInitialized(command.setup(), command.values()))
        .thenRun(
            s -> {
              metrics = new ShardMetrics(address.jobId());
              s.live().applyFence(plan.leaseFence(), List.of());
              context.getLog().info("Shard {} holds {} parameters", entityId, command.setup().range().size());
            })
        .thenReply(command.replyTo(), s -> StatusReply.success(new ShardProtocol.Initialized(0, true)));
  }

  private Effect<ShardEvent, ShardState> onPull(ShardState state, Pull command) {
    String refusal = refusal(state);
    if (refusal != null) {
      return Effect().reply(command.replyTo(), StatusReply.error(refusal));
    }
    if (tooFarAhead(state, command)) {
      heldPulls.add(command);
      return Effect().none();
    }
    answerPull(state, command);
    return Effect().none();
  }

  /** In {@code ssp} mode: whether the pulling worker is more than the bound ahead of the slowest. */
  private static boolean tooFarAhead(ShardState state, Pull pull) {
    Live live = state.live();
    if (state.setup().mode() != TrainingMode.SSP || pull.workerId().isEmpty() || !live.roster.contains(pull.workerId())) {
      return false;
    }
    long lead = live.clocks.getOrDefault(pull.workerId(), 0L) - live.slowestClock();
    return lead > state.setup().staleness();
  }

  private void answerPull(ShardState state, Pull command) {
    Live live = state.live();
    if (state.setup().mode() == TrainingMode.SSP && live.roster.contains(command.workerId())) {
      live.maxClockLead =
          Math.max(live.maxClockLead, live.clocks.getOrDefault(command.workerId(), 0L) - live.slowestClock());
    }
    // A fresh payload per pull: in one JVM the reply is handed over by reference, not copied.
    TensorPayload values = TensorPayload.encode(live.parameters, command.precision());
    metrics.pullBytes.increment(values.bytes().length);
    command.replyTo().tell(StatusReply.success(new ShardProtocol.Pulled(address.shard(), epoch, live.version, values)));
  }

  /** Fails every held pull: the shard is stopping (to rewind), and its successor starts afresh. */
  private void failHeldPulls(String reason) {
    heldPulls.forEach(pull -> pull.replyTo().tell(StatusReply.error(reason)));
    heldPulls.clear();
  }

  /** Answers the held pulls that are within the bound now. */
  private void releaseHeldPulls(ShardState state) {
    for (Iterator<Pull> held = heldPulls.iterator(); held.hasNext(); ) {
      Pull pull = held.next();
      if (!tooFarAhead(state, pull)) {
        held.remove();
        answerPull(state, pull);
      }
    }
  }

  private Effect<ShardEvent, ShardState> onPush(ShardState state, Push push) {
    String refusal = over("push") != null ? over("push") : refusal(state);
    if (refusal != null) {
      return Effect().reply(push.replyTo(), StatusReply.error(refusal));
    }
    StatusReply<ShardProtocol.PushOutcome> outcome =
        PushRules.apply(entityId, state.setup(), state.live(), push, epoch, settings, metrics, context.getLog());
    if (!heldPulls.isEmpty()) {
      releaseHeldPulls(state);
    }
    return Effect().reply(push.replyTo(), outcome);
  }

  private Effect<ShardEvent, ShardState> onUpdateRoster(ShardState state, UpdateRoster update) {
    if (!plan.finished() && state.initialized() && unusable == null && state.live().applyRoster(update.membershipEpoch(), update.workers())) {
      releaseHeldPulls(state);
    }
    return Effect().none();
  }

  private Effect<ShardEvent, ShardState> onFenceLeases(ShardState state, FenceLeases fence) {
    if (!plan.finished() && state.initialized() && unusable == null) {
      state.live().applyFence(fence.issuedBefore(), fence.live());
    }
    return Effect().none();
  }

  private Effect<ShardEvent, ShardState> onGetStatus(ShardState state, GetStatus command) {
    Live live = state.live();
    return Effect()
        .reply(
            command.replyTo(),
            new ShardProtocol.ShardStatus(
                entityId,
                state.initialized() && unusable == null,
                epoch,
                state.checkpointId(),
                live == null ? 0 : live.version,
                live == null ? 0 : live.accepted,
                live == null ? 0 : live.stale,
                live == null ? 0 : live.duplicates,
                live == null ? 0 : live.rejected,
                live == null ? 0 : live.pendingSamples,
                live == null ? 0 : live.maxClockLead,
                live == null ? 0 : live.fencedMessages,
                live == null ? List.of() : List.copyOf(live.pushers),
                live == null ? 0 : live.revoked,
                live == null ? 0 : live.appliedSplits.cardinality(),
                live == null ? 0 : live.splitApplications));
  }

  private Effect<ShardEvent, ShardState> onTakeCheckpoint(ShardState state, TakeCheckpoint command) {
    String refusal = over("checkpoint") != null ? over("checkpoint") : refusal(state);
    if (refusal == null && command.epoch() != epoch) {
      refusal = "shard " + entityId + " is in epoch " + epoch + ", the checkpoint is for epoch " + command.epoch();
    }
    if (refusal != null) {
      return Effect().reply(command.replyTo(), StatusReply.error(refusal));
    }
    long version = state.live().version;
    // The marker will be the next journal entry; its snapshot is announced under that number.
    long sequenceNr = lastSequenceNumber(context) + 1;
    checkpointsInFlight.put(
        sequenceNr, new PendingCheckpoint(command.checkpointId(), version, command.keep(), command.replyTo()));
    return Effect().persist(new CheckpointTaken(command.checkpointId(), epoch, version));
  }

  private Effect<ShardEvent, ShardState> onRewindTo(ShardState state, RewindTo command) {
    if (command.epoch() > epoch) {
      context.getLog().info("Shard {} rewinds from epoch {} to {}", entityId, epoch, command.epoch());
      failHeldPulls("shard " + entityId + " is rewinding to recovery epoch " + command.epoch());
      shardRegion.tell(new ClusterSharding.Passivate<>(context.getSelf()));
    }
    return Effect().none();
  }

  private Effect<ShardEvent, ShardState> onConfirmEpoch(ShardState state, ConfirmEpoch command) {
    if (command.epoch() > epoch) {
      // Restart first; the question goes back through the region, which holds it for the
      // incarnation that starts from the rewound checkpoint.
      ClusterSharding.get(context.getSystem())
          .entityRefFor(ShardProtocol.ENTITY_TYPE_KEY, entityId)
          .tell(command);
      failHeldPulls("shard " + entityId + " is rewinding to recovery epoch " + command.epoch());
      shardRegion.tell(new ClusterSharding.Passivate<>(context.getSelf()));
      return Effect().none();
    }
    String refusal = refusal(state);
    if (refusal == null && command.epoch() < epoch) {
      refusal = "shard " + entityId + " is already in epoch " + epoch;
    }
    if (refusal != null) {
      return Effect().reply(command.replyTo(), StatusReply.error(refusal));
    }
    return Effect()
        .reply(
            command.replyTo(),
            StatusReply.success(
                new ShardProtocol.EpochConfirmed(address.shard(), epoch, state.checkpointId(), state.live().version)));
  }

  /** Why the shard cannot serve now, or null. */
  private String refusal(ShardState state) {
    if (unusable != null) {
      return unusable;
    }
    if (plan.finished() && plan.isFresh()) {
      return over("pull");
    }
    if (!state.initialized()) {
      return "shard " + entityId + " holds no parameters yet: its job has not been initialised";
    }
    return null;
  }
}
