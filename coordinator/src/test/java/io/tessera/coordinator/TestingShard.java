package io.tessera.coordinator;

import akka.actor.NoSerializationVerificationNeeded;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.pattern.StatusReply;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.CheckpointSaved;
import io.tessera.protocol.ps.ShardProtocol.ConfirmEpoch;
import io.tessera.protocol.ps.ShardProtocol.EpochConfirmed;
import io.tessera.protocol.ps.ShardProtocol.GetStatus;
import io.tessera.protocol.ps.ShardProtocol.RewindTo;
import io.tessera.protocol.ps.ShardProtocol.ShardAddress;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import io.tessera.protocol.ps.ShardProtocol.TakeCheckpoint;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/**
 * A parameter shard as the coordinator's {@link ShardFleet} sees one, for the coordinator's tests.
 * It keeps no parameters: it answers {@link TakeCheckpoint} with {@link CheckpointSaved} (its
 * journal position starts at 1, the initial values, and grows by one per saved checkpoint; which
 * older snapshots the coordinator said to keep is in the recorded message), moves
 * to the epoch of a {@link RewindTo}, answers {@link ConfirmEpoch} with {@link EpochConfirmed} and
 * {@link GetStatus} with its epoch, checkpoint and version, and records lease fences. Like a real shard it refuses a
 * checkpoint of another recovery epoch. Everything it is sent is recorded in the {@link Script}
 * shared by the test's shards, which can also make a shard fail a checkpoint, or hold answers back
 * until the test releases them.
 */
final class TestingShard extends AbstractBehavior<ShardProtocol.Command> {

  /** A message a shard received. */
  record Seen(String entityId, ShardProtocol.Command command) implements NoSerializationVerificationNeeded {}

  /** What the shards of one test saw, and how they should misbehave. Thread-safe. */
  static final class Script {
    private final List<Seen> seen = new CopyOnWriteArrayList<>();
    private final Set<String> failing = ConcurrentHashMap.newKeySet();
    private final Set<Long> holding = ConcurrentHashMap.newKeySet();
    private final Queue<Runnable> held = new ConcurrentLinkedQueue<>();
    private boolean holdingConfirmations;

    /** Shard {@code entityId} answers checkpoint {@code checkpointId} with an error. */
    void failCheckpoint(String entityId, long checkpointId) {
      failing.add(entityId + "#" + checkpointId);
    }

    /** Every shard saves checkpoint {@code checkpointId} but keeps its answer until {@link #release}. */
    void holdCheckpoint(long checkpointId) {
      holding.add(checkpointId);
    }

    /** Every shard keeps its answers to {@link ConfirmEpoch} until {@link #release}. */
    synchronized void holdEpochConfirmations() {
      holdingConfirmations = true;
    }

    /** Sends every answer held back, and holds no more. */
    synchronized void release() {
      holding.clear();
      holdingConfirmations = false;
      for (Runnable answer = held.poll(); answer != null; answer = held.poll()) {
        answer.run();
      }
    }

    /** Sends {@code answer} now, or keeps it for {@link #release} if answers of its kind are held. */
    private synchronized void answer(Runnable answer, boolean isConfirmation, long checkpointId) {
      if (isConfirmation ? holdingConfirmations : holding.contains(checkpointId)) {
        held.add(answer);
      } else {
        answer.run();
      }
    }

    /** Everything the shards were sent, in the order they received it. */
    List<Seen> seen() {
      return List.copyOf(seen);
    }

    /** The entity ids that received a message matching {@code which}. */
    Set<String> shardsThatSaw(Predicate<ShardProtocol.Command> which) {
      Set<String> shards = new TreeSet<>();
      for (Seen s : seen) {
        if (which.test(s.command())) {
          shards.add(s.entityId());
        }
      }
      return shards;
    }

    private boolean fails(String entityId, long checkpointId) {
      return failing.contains(entityId + "#" + checkpointId);
    }
  }

  static Behavior<ShardProtocol.Command> create(String entityId, Script script) {
    return Behaviors.setup(context -> new TestingShard(context, entityId, script));
  }

  private final String entityId;
  private final int shard;
  private final Script script;
  private long sequenceNr = 1;
  private long epoch;
  private long checkpointId = 0;

  private TestingShard(ActorContext<ShardProtocol.Command> context, String entityId, Script script) {
    super(context);
    this.entityId = entityId;
    this.shard = ShardAddress.parse(entityId).shard();
    this.script = script;
  }

  @Override
  public Receive<ShardProtocol.Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(TakeCheckpoint.class, this::onTakeCheckpoint)
        .onMessage(RewindTo.class, this::onRewindTo)
        .onMessage(ConfirmEpoch.class, this::onConfirmEpoch)
        .onMessage(GetStatus.class, this::onGetStatus)
        .onMessage(ShardProtocol.StopShard.class, this::onStopShard)
        .onMessage(ShardProtocol.FenceLeases.class, this::onFenceLeases)
        .build();
  }

  /** Records a lease fence; the fakes push nothing, so there is nothing to refuse. */
  private Behavior<ShardProtocol.Command> onFenceLeases(ShardProtocol.FenceLeases command) {
    script.seen.add(new Seen(entityId, command));
    return this;
  }

  /** Stops as a real shard does; the next message starts a fresh incarnation. */
  private Behavior<ShardProtocol.Command> onStopShard(ShardProtocol.StopShard command) {
    script.seen.add(new Seen(entityId, command));
    return Behaviors.stopped();
  }

  private Behavior<ShardProtocol.Command> onTakeCheckpoint(TakeCheckpoint command) {
    script.seen.add(new Seen(entityId, command));
    if (script.fails(entityId, command.checkpointId())) {
      command.replyTo().tell(StatusReply.error("disk full on " + entityId));
      return this;
    }
    if (command.epoch() != epoch) {
      command.replyTo().tell(
          StatusReply.error(entityId + " runs in epoch " + epoch + ", not " + command.epoch()));
      return this;
    }
    sequenceNr++;
    checkpointId = command.checkpointId();
    // The version stands in for optimizer steps: a number that differs per checkpoint.
    CheckpointSaved answer = new CheckpointSaved(shard, checkpointId, sequenceNr, 10 * sequenceNr);
    script.answer(() -> command.replyTo().tell(StatusReply.success(answer)), false, checkpointId);
    return this;
  }

  private Behavior<ShardProtocol.Command> onRewindTo(RewindTo command) {
    script.seen.add(new Seen(entityId, command));
    epoch = Math.max(epoch, command.epoch());
    return this;
  }

  private Behavior<ShardProtocol.Command> onGetStatus(GetStatus command) {
    script.seen.add(new Seen(entityId, command));
    command.replyTo().tell(
        new ShardStatus(entityId, true, epoch, checkpointId, 10 * sequenceNr, 0, 0, 0, 0, 0, 0, 0, List.of()));
    return this;
  }

  private Behavior<ShardProtocol.Command> onConfirmEpoch(ConfirmEpoch command) {
    script.seen.add(new Seen(entityId, command));
    epoch = Math.max(epoch, command.epoch());
    EpochConfirmed answer = new EpochConfirmed(shard, epoch, checkpointId, 10 * sequenceNr);
    script.answer(() -> command.replyTo().tell(StatusReply.success(answer)), true, -1);
    return this;
  }
}
