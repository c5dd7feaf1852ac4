package io.tessera.worker;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.pattern.StatusReply;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Accepted;
import io.tessera.protocol.ps.ShardProtocol.Duplicate;
import io.tessera.protocol.ps.ShardProtocol.GetStatus;
import io.tessera.protocol.ps.ShardProtocol.Initialize;
import io.tessera.protocol.ps.ShardProtocol.Initialized;
import io.tessera.protocol.ps.ShardProtocol.Pull;
import io.tessera.protocol.ps.ShardProtocol.Pulled;
import io.tessera.protocol.ps.ShardProtocol.Push;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.ShardAddress;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import io.tessera.protocol.ps.ShardProtocol.Stale;
import io.tessera.protocol.tensor.TensorPayload;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A parameter shard for the worker's tests: holds its slice as a {@code float[]}, answers
 * Initialize, Pull and Push as {@link ShardProtocol} says (pushes are applied once per {@code
 * (workerId, seq)} as plain SGD; a push from another recovery epoch is stale), and records what it
 * was sent in the {@link Script} of its job. A script can make a shard answer a push Stale, Revoked
 * or Overlap or with an error, drop a push unanswered, hold a pull's answer back until the test releases it, or move
 * the shard to another recovery epoch on a given pull or push, as a rewind would.
 */
final class TestingShard extends AbstractBehavior<ShardProtocol.Command> {

  /** Step size of the plain SGD the shard applies to the mean gradient of an accepted push. */
  static final float LEARNING_RATE = 0.05f;

  /** How the next push to a shard is answered instead of the normal way. */
  enum PushFault {
    STALE,
    ERROR,
    DROP,
    /** The push's lease is no longer current. */
    REVOKED,
    /** Part of the push's window was applied before: see {@link Script#overlapNextPush}. */
    OVERLAP
  }

  record InitializeRecord(int shard, ShardSetup setup, float[] values, boolean fresh) {}

  /** A pull as answered: the shard's epoch and version, and when it arrived ({@link System#nanoTime}). */
  record PullRecord(int shard, long epoch, long version, long arrivedNanos) {}

  /**
   * A push as it arrived, and how it was answered: {@code accepted}, {@code duplicate}, {@code
   * stale}, {@code error}, {@code dropped}, {@code revoked} or {@code overlap}.
   */
  record PushRecord(
      int shard,
      String workerId,
      long seq,
      long epoch,
      long baseVersion,
      int samples,
      float[] gradientSum,
      String outcome,
      ShardProtocol.StepRule rule,
      ShardProtocol.Window window) {}

  /** The shards of all jobs: each job's script, looked up by the job id in the entity id. */
  static final class Scripts {
    private final Map<String, Script> byJob = new ConcurrentHashMap<>();

    Script forJob(String jobId) {
      return byJob.computeIfAbsent(jobId, id -> new Script());
    }
  }

  /** What the shards of one job were sent, and the faults they are to inject. Thread-safe. */
  static final class Script {
    private final List<InitializeRecord> initializes = new ArrayList<>();
    private final List<PullRecord> pulls = new ArrayList<>();
    private final List<PushRecord> pushes = new ArrayList<>();
    private final Map<Integer, Deque<PushFault>> faults = new HashMap<>();
    private final Map<Integer, Deque<Long>> overlaps = new HashMap<>();
    private final Map<Integer, Set<Integer>> pullsToHold = new HashMap<>();
    private final Map<Integer, Integer> pullCounts = new HashMap<>();
    private final Map<Integer, Integer> pushCounts = new HashMap<>();
    private final Map<Integer, Map<Integer, Long>> epochAtPull = new HashMap<>();
    private final Map<Integer, Map<Integer, Long>> epochAtPush = new HashMap<>();
    private final List<Runnable> heldReplies = new ArrayList<>();

    /** The next push to {@code shard} that has no fault queued yet is answered with {@code fault}. */
    synchronized Script failNextPush(int shard, PushFault fault) {
      faults.computeIfAbsent(shard, s -> new ArrayDeque<>()).add(fault);
      return this;
    }

    /**
     * The next push to {@code shard} that has no fault queued yet is answered {@code Overlap}: its
     * splits before {@code uniformUntil} are alike, the next is not.
     */
    synchronized Script overlapNextPush(int shard, long uniformUntil) {
      overlaps.computeIfAbsent(shard, s -> new ArrayDeque<>()).add(uniformUntil);
      return failNextPush(shard, PushFault.OVERLAP);
    }

    private synchronized long nextOverlap(int shard) {
      return overlaps.get(shard).poll();
    }

    /** The answer to the {@code n}-th pull (1-based) of {@code shard} waits for {@link #releaseHeldPulls}. */
    synchronized Script holdPull(int shard, int n) {
      pullsToHold.computeIfAbsent(shard, s -> new HashSet<>()).add(n);
      return this;
    }

    /**
     * {@code shard} moves to recovery epoch {@code epoch} on its {@code n}-th pull (1-based),
     * before answering it, keeping its values and version.
     */
    synchronized Script moveToEpochAtPull(int shard, int n, long epoch) {
      epochAtPull.computeIfAbsent(shard, s -> new HashMap<>()).put(n, epoch);
      return this;
    }

    /**
     * {@code shard} moves to recovery epoch {@code epoch} on its {@code n}-th push (1-based),
     * before handling it, keeping its values and version.
     */
    synchronized Script moveToEpochAtPush(int shard, int n, long epoch) {
      epochAtPush.computeIfAbsent(shard, s -> new HashMap<>()).put(n, epoch);
      return this;
    }

    synchronized int heldPulls() {
      return heldReplies.size();
    }

    /** Sends the answers held back so far. */
    void releaseHeldPulls() {
      List<Runnable> replies;
      synchronized (this) {
        replies = new ArrayList<>(heldReplies);
        heldReplies.clear();
      }
      replies.forEach(Runnable::run);
    }

    synchronized List<InitializeRecord> initializes() {
      return List.copyOf(initializes);
    }

    synchronized List<PullRecord> pulls(int shard) {
      return pulls.stream().filter(p -> p.shard() == shard).toList();
    }

    synchronized List<PushRecord> pushes(int shard) {
      return pushes.stream().filter(p -> p.shard() == shard).toList();
    }

    private synchronized void recordInitialize(InitializeRecord record) {
      initializes.add(record);
    }

    /** Counts a pull arriving at {@code shard}; the epoch it moves to now, or null. */
    private synchronized Long pullArrived(int shard) {
      int n = pullCounts.merge(shard, 1, Integer::sum);
      return epochAtPull.getOrDefault(shard, Map.of()).get(n);
    }

    /** Counts a push arriving at {@code shard}; the epoch it moves to now, or null. */
    private synchronized Long pushArrived(int shard) {
      int n = pushCounts.merge(shard, 1, Integer::sum);
      return epochAtPush.getOrDefault(shard, Map.of()).get(n);
    }

    /** Records the pull; true when its answer is to be held back. */
    private synchronized boolean recordPull(PullRecord record) {
      pulls.add(record);
      int n = pullCounts.get(record.shard());
      return pullsToHold.getOrDefault(record.shard(), Set.of()).contains(n);
    }

    private synchronized void hold(Runnable reply) {
      heldReplies.add(reply);
    }

    private synchronized PushFault nextFault(int shard) {
      Deque<PushFault> queued = faults.get(shard);
      return queued == null ? null : queued.poll();
    }

    private synchronized void recordPush(PushRecord record) {
      pushes.add(record);
    }
  }

  static Behavior<ShardProtocol.Command> create(String entityId, Scripts scripts) {
    ShardAddress address = ShardAddress.parse(entityId);
    return Behaviors.setup(
        context -> new TestingShard(context, entityId, address.shard(), scripts.forJob(address.jobId())));
  }

  private final String entityId;
  private final int shard;
  private final Script script;
  private final Set<String> applied = new HashSet<>();
  private ShardSetup setup;
  private float[] slice;
  private long epoch;
  private long version;
  private long accepted;
  private long stale;
  private long duplicates;
  private long rejected;

  private TestingShard(ActorContext<ShardProtocol.Command> context, String entityId, int shard, Script script) {
    super(context);
    this.entityId = entityId;
    this.shard = shard;
    this.script = script;
  }

  @Override
  public Receive<ShardProtocol.Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Initialize.class, this::onInitialize)
        .onMessage(Pull.class, this::onPull)
        .onMessage(Push.class, this::onPush)
        .onMessage(GetStatus.class, this::onGetStatus)
        .build();
  }

  private Behavior<ShardProtocol.Command> onInitialize(Initialize request) {
    boolean fresh = slice == null;
    if (fresh) {
      setup = request.setup();
      slice = request.values().decode();
    }
    script.recordInitialize(new InitializeRecord(shard, request.setup(), request.values().decode(), fresh));
    request.replyTo().tell(StatusReply.success(new Initialized(version, fresh)));
    return this;
  }

  private Behavior<ShardProtocol.Command> onPull(Pull request) {
    if (slice == null) {
      request.replyTo().tell(StatusReply.error(entityId + " is not initialised"));
      return this;
    }
    long arrived = System.nanoTime();
    Long moveTo = script.pullArrived(shard);
    if (moveTo != null) {
      epoch = moveTo;
    }
    Pulled pulled = new Pulled(shard, epoch, version, TensorPayload.encode(slice, request.precision()));
    ActorRef<StatusReply<Pulled>> replyTo = request.replyTo();
    if (script.recordPull(new PullRecord(shard, epoch, version, arrived))) {
      script.hold(() -> replyTo.tell(StatusReply.success(pulled)));
    } else {
      replyTo.tell(StatusReply.success(pulled));
    }
    return this;
  }

  private Behavior<ShardProtocol.Command> onPush(Push push) {
    float[] gradient = push.gradientSum().decode();
    Long moveTo = script.pushArrived(shard);
    if (moveTo != null) {
      epoch = moveTo;
    }
    PushFault fault = script.nextFault(shard);
    StatusReply<PushOutcome> reply;
    String outcome;
    if (fault == PushFault.DROP) {
      reply = null;
      outcome = "dropped";
    } else if (fault == PushFault.ERROR) {
      rejected++;
      reply = StatusReply.error("testing shard " + shard + " refuses this gradient");
      outcome = "error";
    } else if (fault == PushFault.STALE) {
      stale++;
      reply = StatusReply.success(new Stale(version));
      outcome = "stale";
    } else if (fault == PushFault.REVOKED) {
      reply =
          StatusReply.success(
              new ShardProtocol.Revoked(version, "lease " + push.window().leaseId() + " is no longer current at " + entityId));
      outcome = "revoked";
    } else if (fault == PushFault.OVERLAP) {
      reply = StatusReply.success(new ShardProtocol.Overlap(version, script.nextOverlap(shard)));
      outcome = "overlap";
    } else if (applied.contains(push.workerId() + "#" + push.seq())) {
      duplicates++;
      reply = StatusReply.success(new Duplicate(version));
      outcome = "duplicate";
    } else if (push.epoch() != epoch) {
      // The gradient belongs to parameters of an epoch the shard has left.
      stale++;
      reply = StatusReply.success(new Stale(version));
      outcome = "stale";
    } else {
      applied.add(push.workerId() + "#" + push.seq());
      for (int i = 0; i < slice.length; i++) {
        slice[i] -= LEARNING_RATE * gradient[i] / push.samples();
      }
      version++;
      accepted++;
      reply = StatusReply.success(new Accepted(version));
      outcome = "accepted";
    }
    // Recorded before the answer goes out, so a test that saw the worker react finds it here.
    script.recordPush(
        new PushRecord(
            shard, push.workerId(), push.seq(), push.epoch(), push.baseVersion(), push.samples(), gradient, outcome,
            push.rule(), push.window()));
    if (reply != null) {
      push.replyTo().tell(reply);
    }
    return this;
  }

  private Behavior<ShardProtocol.Command> onGetStatus(GetStatus request) {
    request.replyTo().tell(
        new ShardStatus(
            entityId, slice != null, epoch, slice != null ? 0 : -1, version, accepted, stale, duplicates, rejected, 0,
            0, 0, List.of()));
    return this;
  }
}
