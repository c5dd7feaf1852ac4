package io.tessera.coordinator;

import akka.actor.NoSerializationVerificationNeeded;
import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.actor.typed.javadsl.TimerScheduler;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.EntityRef;
import io.tessera.coordinator.CheckpointRecord.ShardPosition;
import io.tessera.protocol.ps.ShardProtocol;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The coordinator's voice to one job's parameter shards: has them all take a checkpoint, or has
 * them all rewind to one, and reports back when every shard is done. It decides nothing and
 * persists nothing; the coordinator journals what it reports.
 */
public final class ShardFleet extends AbstractBehavior<ShardFleet.Command> {

  /**
   * What a fleet is asked to do. Only its coordinator, on the same node, talks to it, so nothing
   * here is registered with the serializer (and Akka's serialize-messages check skips it).
   */
  public sealed interface Command extends NoSerializationVerificationNeeded {}

  /**
   * Has every shard save checkpoint {@code checkpointId} of {@code epoch}, keeping its snapshots
   * of the complete checkpoints {@code kept} (and deleting its other older ones).
   */
  public record Checkpoint(long checkpointId, long epoch, List<CheckpointRecord> kept) implements Command {
    public Checkpoint {
      kept = List.copyOf(kept);
    }
  }

  /** Tells every shard of {@code member} which workers train it (see {@link ShardProtocol.UpdateRoster}). */
  public record Roster(int member, long membershipEpoch, List<String> workers) implements Command {}

  /**
   * Tells every shard of {@code member} which of the leases issued before {@code issuedBefore} are
   * still out (see {@link ShardProtocol.FenceLeases}).
   */
  public record Fence(int member, long issuedBefore, List<Long> live) implements Command {}

  /** Has every shard restart in {@code epoch} from the checkpoint the coordinator names. */
  public record Rewind(long epoch) implements Command {}

  /**
   * The job is over: every shard stops (see {@link ShardProtocol.StopShard}), then the fleet. A
   * shard started again later (a later stage reading it) serves its last checkpoint read-only.
   */
  public enum Stop implements Command {
    INSTANCE
  }

  /**
   * Asks every shard for its status until each has answered, so that Cluster Sharding starts any
   * that lived on a node that is gone; a shard that starts asks the coordinator where from, which
   * is how a lost shard is noticed even when no worker is pulling. A question sent while sharding
   * still routes to the dead node is lost, so unanswered shards are asked again every second.
   */
  public enum Wake implements Command {
    INSTANCE
  }

  private record Woken(long round, int member, int shard, boolean answered) implements Command {}

  private record WakeAgain(long round) implements Command {}

  private record Saved(long checkpointId, int member, ShardProtocol.CheckpointSaved saved, String error)
      implements Command {}

  private record Confirmed(long epoch, int member, int shard, String error) implements Command {}

  private record RetryRewind(long epoch) implements Command {}

  private static final Duration WAKE_TIMEOUT = Duration.ofSeconds(3);
  private static final int MAX_WAKE_ATTEMPTS = 120;
  private static final Object WAKE_TIMER = "wake";

  static Behavior<Command> create(
      String jobId, int members, int shards, ActorRef<FleetReport> coordinator, Duration askTimeout) {
    return Behaviors.setup(
        context ->
            Behaviors.withTimers(
                timers -> new ShardFleet(context, timers, jobId, members, shards, coordinator, askTimeout)));
  }

  private final TimerScheduler<Command> timers;
  private final String jobId;
  private final int members;
  private final int shards;
  private final ActorRef<FleetReport> coordinator;
  private final Duration askTimeout;
  private final ClusterSharding sharding;

  private long checkpointId = -1;
  private final Map<String, ShardPosition> saved = new HashMap<>();
  private long rewindEpoch = -1;
  private final Set<String> confirmed = new HashSet<>();
  private long wakeRound;
  private int wakeAttempts;
  private final Set<String> awake = new HashSet<>();

  private ShardFleet(
      ActorContext<Command> context,
      TimerScheduler<Command> timers,
      String jobId,
      int members,
      int shards,
      ActorRef<FleetReport> coordinator,
      Duration askTimeout) {
    super(context);
    this.timers = timers;
    this.jobId = jobId;
    this.members = members;
    this.shards = shards;
    this.coordinator = coordinator;
    this.askTimeout = askTimeout;
    this.sharding = ClusterSharding.get(context.getSystem());
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Checkpoint.class, this::onCheckpoint)
        .onMessage(Saved.class, this::onSaved)
        .onMessage(Rewind.class, this::onRewind)
        .onMessage(RetryRewind.class, this::onRetryRewind)
        .onMessage(Confirmed.class, this::onConfirmed)
        .onMessage(Wake.class, this::onWake)
        .onMessage(Woken.class, this::onWoken)
        .onMessage(WakeAgain.class, this::onWakeAgain)
        .onMessage(Roster.class, this::onRoster)
        .onMessage(Fence.class, this::onFence)
        .onMessage(Stop.class, this::onStop)
        .build();
  }

  private EntityRef<ShardProtocol.Command> shard(int member, int shard) {
    return sharding.entityRefFor(ShardProtocol.ENTITY_TYPE_KEY, ShardProtocol.entityId(jobId, member, shard));
  }

  private Behavior<Command> onCheckpoint(Checkpoint command) {
    checkpointId = command.checkpointId();
    saved.clear();
    for (int member = 0; member < members; member++) {
      for (int shard = 0; shard < shards; shard++) {
        int m = member;
        List<Long> keep = keep(command.kept(), member, shard);
        getContext().askWithStatus(
            ShardProtocol.CheckpointSaved.class,
            shard(member, shard),
            askTimeout,
            replyTo -> new ShardProtocol.TakeCheckpoint(command.checkpointId(), command.epoch(), keep, replyTo),
            (ok, failure) -> new Saved(command.checkpointId(), m, ok, failure == null ? null : failure.getMessage()));
      }
    }
    return this;
  }

  /** Where one shard's snapshots of the checkpoints {@code kept} sit in its journal, ascending. */
  static List<Long> keep(List<CheckpointRecord> kept, int member, int shard) {
    return kept.stream().map(c -> c.sequenceNr(member, shard)).distinct().sorted().toList();
  }

  private Behavior<Command> onSaved(Saved reply) {
    if (reply.checkpointId() != checkpointId) {
      return this; // an answer about a checkpoint already decided
    }
    if (reply.error() != null) {
      coordinator.tell(new FleetReport.CheckpointFailed(jobId, checkpointId, reply.error()));
      checkpointId = -1;
      return this;
    }
    ShardProtocol.CheckpointSaved s = reply.saved();
    saved.put(reply.member() + ":" + s.shard(), new ShardPosition(reply.member(), s.shard(), s.sequenceNr(), s.version()));
    if (saved.size() == members * shards) {
      List<ShardPosition> positions = new ArrayList<>(saved.values());
      positions.sort((a, b) -> a.member() != b.member() ? Integer.compare(a.member(), b.member()) : Integer.compare(a.shard(), b.shard()));
      coordinator.tell(new FleetReport.CheckpointSaved(jobId, checkpointId, positions));
      checkpointId = -1;
    }
    return this;
  }

  private Behavior<Command> onStop(Stop stop) {
    for (int member = 0; member < members; member++) {
      for (int shard = 0; shard < shards; shard++) {
        shard(member, shard).tell(ShardProtocol.StopShard.INSTANCE);
      }
    }
    return Behaviors.stopped();
  }

  private Behavior<Command> onRoster(Roster roster) {
    for (int shard = 0; shard < shards; shard++) {
      shard(roster.member(), shard).tell(new ShardProtocol.UpdateRoster(roster.membershipEpoch(), roster.workers()));
    }
    return this;
  }

  private Behavior<Command> onFence(Fence fence) {
    for (int shard = 0; shard < shards; shard++) {
      shard(fence.member(), shard).tell(new ShardProtocol.FenceLeases(fence.issuedBefore(), fence.live()));
    }
    return this;
  }

  private Behavior<Command> onWake(Wake wake) {
    wakeRound++;
    wakeAttempts = 0;
    awake.clear();
    askUnwoken();
    return this;
  }

  private void askUnwoken() {
    long round = wakeRound;
    for (int member = 0; member < members; member++) {
      for (int shard = 0; shard < shards; shard++) {
        if (awake.contains(member + ":" + shard)) {
          continue;
        }
        int m = member;
        int s = shard;
        getContext().ask(
            ShardProtocol.ShardStatus.class,
            shard(member, shard),
            WAKE_TIMEOUT,
            ShardProtocol.GetStatus::new,
            (status, failure) -> new Woken(round, m, s, failure == null));
      }
    }
  }

  private Behavior<Command> onWoken(Woken woken) {
    if (woken.round() != wakeRound) {
      return this;
    }
    if (woken.answered()) {
      awake.add(woken.member() + ":" + woken.shard());
    } else if (!timers.isTimerActive(WAKE_TIMER)) {
      timers.startSingleTimer(WAKE_TIMER, new WakeAgain(wakeRound), Duration.ofSeconds(1));
    }
    return this;
  }

  private Behavior<Command> onWakeAgain(WakeAgain again) {
    if (again.round() == wakeRound && awake.size() < members * shards && ++wakeAttempts < MAX_WAKE_ATTEMPTS) {
      askUnwoken();
    }
    return this;
  }

  private Behavior<Command> onRewind(Rewind command) {
    if (command.epoch() != rewindEpoch) {
      rewindEpoch = command.epoch();
      confirmed.clear();
      checkpointId = -1; // a checkpoint in flight is void in the new epoch
      for (int member = 0; member < members; member++) {
        for (int shard = 0; shard < shards; shard++) {
          shard(member, shard).tell(new ShardProtocol.RewindTo(command.epoch()));
        }
      }
    }
    askForConfirmations();
    return this;
  }

  private Behavior<Command> onRetryRewind(RetryRewind retry) {
    if (retry.epoch() == rewindEpoch) {
      askForConfirmations();
    }
    return this;
  }

  private void askForConfirmations() {
    long epoch = rewindEpoch;
    for (int member = 0; member < members; member++) {
      for (int shard = 0; shard < shards; shard++) {
        if (confirmed.contains(member + ":" + shard)) {
          continue;
        }
        int m = member;
        int s = shard;
        getContext().askWithStatus(
            ShardProtocol.EpochConfirmed.class,
            shard(member, shard),
            askTimeout,
            replyTo -> new ShardProtocol.ConfirmEpoch(epoch, replyTo),
            (ok, failure) -> new Confirmed(epoch, m, s, failure == null ? null : failure.getMessage()));
      }
    }
  }

  private Behavior<Command> onConfirmed(Confirmed reply) {
    if (reply.epoch() != rewindEpoch) {
      return this;
    }
    if (reply.error() != null) {
      getContext().getLog().info(
          "{} shard m{}/s{} has not confirmed epoch {} yet: {}", jobId, reply.member(), reply.shard(), reply.epoch(),
          reply.error());
      timers.startSingleTimer(new RetryRewind(reply.epoch()), Duration.ofSeconds(1));
      return this;
    }
    confirmed.add(reply.member() + ":" + reply.shard());
    if (confirmed.size() == members * shards) {
      coordinator.tell(new FleetReport.EpochReached(jobId, rewindEpoch));
    }
    return this;
  }
}
