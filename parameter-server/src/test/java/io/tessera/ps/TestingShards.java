package io.tessera.ps;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.pattern.StatusReply;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ResolveShardRecovery;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.CheckpointSaved;
import io.tessera.protocol.ps.ShardProtocol.Command;
import io.tessera.protocol.ps.ShardProtocol.EpochConfirmed;
import io.tessera.protocol.ps.ShardProtocol.Initialized;
import io.tessera.protocol.ps.ShardProtocol.Pulled;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.ShardAddress;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.spec.LearningRateSchedule;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.WirePrecision;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * Parameter shards spawned directly, without Cluster Sharding, for the shard's unit tests: probes
 * play the coordinator (which a starting shard asks for its recovery plan) and the shard region
 * (which a shard asks to passivate it), and the system journals in memory, serializing every
 * event, and keeps snapshots as files in a temporary directory.
 */
final class TestingShards {

  /** Generous: the first recovery of a cold system loads the snapshot store and Kryo. */
  static final Duration TIMEOUT = Duration.ofSeconds(10);

  /** The settings of reference.conf, except a resolve timeout that a test can wait out. */
  static final ShardSettings SETTINGS = new ShardSettings(1e4, 5, Duration.ofSeconds(3), 1000);

  /** The plan of a shard that never took a checkpoint: it waits for its initial values. */
  static final ShardRecoveryPlan FRESH = fresh(0);

  private final ActorTestKit testKit;
  private final AtomicInteger jobs = new AtomicInteger();
  /** The global batch each entity was set up with: what a plain push's step rule names. */
  private final Map<String, Integer> globalBatches = new ConcurrentHashMap<>();
  /**
   * Each entity's saved checkpoints' journal positions, the initial values' included: what a plain
   * checkpoint keeps, as if the coordinator kept every complete checkpoint.
   */
  private final Map<String, List<Long>> savedPositions = new ConcurrentHashMap<>();

  TestingShards(ActorTestKit testKit) {
    this.testKit = testKit;
  }

  /** In-memory journal that serializes events, local snapshot store under {@code snapshotDir}. */
  static Config persistenceConfig(Path snapshotDir) {
    return ConfigFactory.parseString(
            String.join(
                "\n",
                "akka.persistence.journal.plugin = \"akka.persistence.journal.inmem\"",
                "akka.persistence.journal.inmem.test-serialization = on",
                "akka.persistence.snapshot-store.plugin = \"akka.persistence.snapshot-store.local\""))
        .withValue(
            "akka.persistence.snapshot-store.local.dir",
            ConfigValueFactory.fromAnyRef(snapshotDir.toAbsolutePath().toString()));
  }

  static ShardRecoveryPlan fresh(long epoch) {
    return new ShardRecoveryPlan(epoch, -1, 0);
  }

  /** An entity id no test of this system used before: persistence ids outlive their actors. */
  String newEntityId() {
    return ShardProtocol.entityId("job-" + jobs.incrementAndGet(), 0, 0);
  }

  /** A new shard started from {@link #FRESH}. */
  Shard startFresh() {
    return start(newEntityId(), FRESH, SETTINGS);
  }

  Shard start(String entityId, ShardRecoveryPlan plan) {
    return start(entityId, plan, SETTINGS);
  }

  /** Spawns a shard and answers its question to the coordinator with {@code plan}. */
  Shard start(String entityId, ShardRecoveryPlan plan, ShardSettings settings) {
    Shard shard = spawn(entityId, settings);
    answerPlan(shard.coordinator, entityId, plan);
    return shard;
  }

  /** Spawns a shard and leaves its question to the coordinator unanswered. */
  Shard spawn(String entityId, ShardSettings settings) {
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    TestProbe<ClusterSharding.ShardCommand> region = testKit.createTestProbe();
    ActorRef<Command> ref =
        testKit.spawn(ParameterShard.create(entityId, region.getRef(), coordinator.getRef(), settings));
    return new Shard(entityId, ref, coordinator, region);
  }

  /**
   * Expects the question a starting shard asks the coordinator, checks that it names the shard,
   * and answers {@code plan}.
   */
  static void answerPlan(
      TestProbe<CoordinatorProtocol.Command> coordinator, String entityId, ShardRecoveryPlan plan) {
    ResolveShardRecovery question = coordinator.expectMessageClass(ResolveShardRecovery.class, TIMEOUT);
    assertEquals(
        ShardAddress.parse(entityId),
        new ShardAddress(question.jobId(), question.member(), question.shard()),
        "the shard must ask about itself");
    question.replyTo().tell(plan);
  }

  /** A started shard and the probes standing in for its coordinator and shard region. */
  final class Shard {
    final String entityId;
    final ActorRef<Command> ref;
    final TestProbe<CoordinatorProtocol.Command> coordinator;
    final TestProbe<ClusterSharding.ShardCommand> region;

    private Shard(
        String entityId,
        ActorRef<Command> ref,
        TestProbe<CoordinatorProtocol.Command> coordinator,
        TestProbe<ClusterSharding.ShardCommand> region) {
      this.entityId = entityId;
      this.ref = ref;
      this.coordinator = coordinator;
      this.region = region;
    }

    StatusReply<Initialized> tryInitialize(ShardSetup setup, float[] values) {
      globalBatches.putIfAbsent(entityId, setup.globalBatch());
      TestProbe<StatusReply<Initialized>> probe = testKit.createTestProbe();
      ref.tell(
          new ShardProtocol.Initialize(
              setup, TensorPayload.encode(values, WirePrecision.FP32), probe.getRef()));
      return probe.receiveMessage(TIMEOUT);
    }

    Initialized initialize(ShardSetup setup, float[] values) {
      return success(tryInitialize(setup, values));
    }

    StatusReply<Pulled> tryPull(WirePrecision precision) {
      TestProbe<StatusReply<Pulled>> probe = testKit.createTestProbe();
      ref.tell(new ShardProtocol.Pull(precision, "", probe.getRef()));
      return probe.receiveMessage(TIMEOUT);
    }

    /** A training worker's pull, which an ssp shard may hold back; the probe gets the answer. */
    TestProbe<StatusReply<Pulled>> pullAs(String workerId) {
      TestProbe<StatusReply<Pulled>> probe = testKit.createTestProbe();
      ref.tell(new ShardProtocol.Pull(WirePrecision.FP32, workerId, probe.getRef()));
      return probe;
    }

    void updateRoster(long membershipEpoch, String... workers) {
      ref.tell(new ShardProtocol.UpdateRoster(membershipEpoch, List.of(workers)));
    }

    Pulled pull(WirePrecision precision) {
      return success(tryPull(precision));
    }

    /** The parameters, pulled in full precision. */
    float[] values() {
      return pull(WirePrecision.FP32).values().decode();
    }

    StatusReply<PushOutcome> tryPush(
        String workerId, long seq, long epoch, long baseVersion, int samples, float[] gradientSum) {
      Integer globalBatch = globalBatches.get(entityId);
      if (globalBatch == null) {
        throw new IllegalStateException("shard " + entityId + " was never initialised in this test");
      }
      return tryPush(workerId, seq, epoch, baseVersion, samples, gradientSum, StepRule.of(globalBatch));
    }

    StatusReply<PushOutcome> tryPush(
        String workerId, long seq, long epoch, long baseVersion, int samples, float[] gradientSum, StepRule rule) {
      return tryPush(workerId, seq, epoch, baseVersion, samples, gradientSum, rule, ShardProtocol.Window.NONE);
    }

    StatusReply<PushOutcome> tryPush(
        String workerId,
        long seq,
        long epoch,
        long baseVersion,
        int samples,
        float[] gradientSum,
        StepRule rule,
        ShardProtocol.Window window) {
      TestProbe<StatusReply<PushOutcome>> probe = testKit.createTestProbe();
      ref.tell(
          new ShardProtocol.Push(
              workerId,
              seq,
              epoch,
              baseVersion,
              samples,
              TensorPayload.encode(gradientSum, WirePrecision.FP32),
              rule,
              window,
              probe.getRef()));
      return probe.receiveMessage(TIMEOUT);
    }

    /**
     * A worker's push of a window of lease {@code leaseId} covering splits {@code [firstSplit,
     * firstSplit + splits)}, in the shard's epoch as of its last status, towards steps of the
     * global batch the shard was set up with.
     */
    StatusReply<PushOutcome> tryPushWindow(
        String workerId, long seq, long baseVersion, int samples, float[] gradientSum, long leaseId, long firstSplit,
        int splits) {
      return tryPush(
          workerId, seq, status().epoch(), baseVersion, samples, gradientSum, StepRule.of(globalBatches.get(entityId)),
          new ShardProtocol.Window(leaseId, firstSplit, splits));
    }

    /** {@link #tryPushWindow}, which must succeed. */
    PushOutcome pushWindow(
        String workerId, long seq, long baseVersion, int samples, float[] gradientSum, long leaseId, long firstSplit,
        int splits) {
      return success(tryPushWindow(workerId, seq, baseVersion, samples, gradientSum, leaseId, firstSplit, splits));
    }

    /** The coordinator's lease fence: of the leases issued before {@code issuedBefore}, only {@code live}. */
    void fence(long issuedBefore, Long... live) {
      ref.tell(new ShardProtocol.FenceLeases(issuedBefore, List.of(live)));
    }

    /** A push in the shard's epoch as of its last status. */
    PushOutcome push(String workerId, long seq, long baseVersion, int samples, float[] gradientSum) {
      return success(tryPush(workerId, seq, status().epoch(), baseVersion, samples, gradientSum));
    }

    ShardStatus status() {
      TestProbe<ShardStatus> probe = testKit.createTestProbe();
      ref.tell(new ShardProtocol.GetStatus(probe.getRef()));
      return probe.receiveMessage(TIMEOUT);
    }

    /** Asks for checkpoint {@code checkpointId}, keeping every snapshot a checkpoint saved before. */
    StatusReply<CheckpointSaved> tryCheckpoint(long checkpointId, long epoch) {
      List<Long> saved = savedPositions.getOrDefault(entityId, List.of(1L));
      StatusReply<CheckpointSaved> reply = tryCheckpoint(checkpointId, epoch, saved);
      if (reply.isSuccess()) {
        List<Long> next = new ArrayList<>(saved);
        next.add(reply.getValue().sequenceNr());
        savedPositions.put(entityId, List.copyOf(next));
      }
      return reply;
    }

    /** Asks for checkpoint {@code checkpointId}, keeping the older snapshots at {@code keep}. */
    StatusReply<CheckpointSaved> tryCheckpoint(long checkpointId, long epoch, List<Long> keep) {
      TestProbe<StatusReply<CheckpointSaved>> probe = testKit.createTestProbe();
      ref.tell(new ShardProtocol.TakeCheckpoint(checkpointId, epoch, keep, probe.getRef()));
      return probe.receiveMessage(TIMEOUT);
    }

    /** Takes checkpoint {@code checkpointId} in the shard's epoch, keeping every older one. */
    CheckpointSaved checkpoint(long checkpointId) {
      return success(tryCheckpoint(checkpointId, status().epoch()));
    }

    StatusReply<EpochConfirmed> confirmEpoch(long epoch) {
      TestProbe<StatusReply<EpochConfirmed>> probe = testKit.createTestProbe();
      ref.tell(new ShardProtocol.ConfirmEpoch(epoch, probe.getRef()));
      return probe.receiveMessage(TIMEOUT);
    }

    /** Stops the actor and waits until it has stopped. */
    void stop() {
      testKit.stop(ref, TIMEOUT);
    }
  }

  // ---------------------------------------------------------------- set-ups

  static final List<Segment> ONE_TENSOR = List.of(new Segment("w", 0, 0, 4, false));

  /** Plain SGD: no momentum, no decay, a constant rate, so a step is {@code p -= lr * mean}. */
  static OptimizerSpec sgd(double learningRate) {
    return OptimizerSpec.builder()
        .optKind(OptimizerKind.SGD)
        .optLearningRate(learningRate)
        .optMomentum(0)
        .optWeightDecay(0)
        .optSchedule(LearningRateSchedule.CONSTANT)
        .build();
  }

  /** A four-value shard of one tensor. */
  static ShardSetup setup(OptimizerSpec optimizer, int globalBatch, int staleness) {
    return setup(optimizer, globalBatch, staleness, TrainingMode.ASYNC);
  }

  /** A four-value shard of one tensor in {@code mode}. */
  static ShardSetup setup(OptimizerSpec optimizer, int globalBatch, int staleness, TrainingMode mode) {
    return new ShardSetup(
        "job-1", 0, new ShardRange(0, 0, 4), ONE_TENSOR, optimizer, globalBatch, staleness, 100, mode, false);
  }

  // ---------------------------------------------------------------- the snapshot store

  /**
   * The journal positions of the snapshots of shard entity {@code entityId} in the local snapshot
   * store under {@code snapshotDir} (see {@link #persistenceConfig}).
   */
  static Set<Long> snapshotSequenceNrs(Path snapshotDir, String entityId) {
    String prefix =
        "snapshot-" + URLEncoder.encode(ShardCheckpoints.persistenceId(entityId), StandardCharsets.UTF_8) + "-";
    try (Stream<Path> files = Files.list(snapshotDir)) {
      Set<Long> found = new TreeSet<>();
      for (Path file : files.toList()) {
        String name = file.getFileName().toString();
        if (name.startsWith(prefix)) {
          found.add(Long.parseLong(name.substring(prefix.length(), name.indexOf('-', prefix.length()))));
        }
      }
      return found;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Waits until the snapshots of {@code entityId} are exactly those at {@code sequenceNrs}: the
   * store deletes on its own threads.
   */
  static void awaitSnapshots(ActorTestKit testKit, Path snapshotDir, String entityId, long... sequenceNrs) {
    Set<Long> expected = new TreeSet<>();
    for (long sequenceNr : sequenceNrs) {
      expected.add(sequenceNr);
    }
    testKit
        .createTestProbe()
        .awaitAssert(
            TIMEOUT,
            () -> {
              assertEquals(expected, snapshotSequenceNrs(snapshotDir, entityId), "snapshots of " + entityId);
              return null;
            });
  }

  // ---------------------------------------------------------------- replies

  static <T> T success(StatusReply<T> reply) {
    assertTrue(reply.isSuccess(), () -> "expected success, got " + reply);
    return reply.getValue();
  }

  static String errorText(StatusReply<?> reply) {
    assertTrue(reply.isError(), () -> "expected an error, got " + reply);
    return reply.getError().getMessage();
  }
}
