package io.tessera.ps;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.Done;
import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.PostStop;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.MemberStatus;
import akka.cluster.sharding.ShardRegion.CurrentShardRegionState;
import akka.cluster.sharding.ShardRegion.ShardState;
import akka.cluster.sharding.typed.GetShardRegionState;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.Entity;
import akka.cluster.sharding.typed.javadsl.EntityRef;
import akka.cluster.sharding.typed.javadsl.EntityTypeKey;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import akka.pattern.StatusReply;
import com.typesafe.config.ConfigFactory;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ResolveShardRecovery;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Accepted;
import io.tessera.protocol.ps.ShardProtocol.CheckpointSaved;
import io.tessera.protocol.ps.ShardProtocol.Command;
import io.tessera.protocol.ps.ShardProtocol.EpochConfirmed;
import io.tessera.protocol.ps.ShardProtocol.Initialized;
import io.tessera.protocol.ps.ShardProtocol.Pulled;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import io.tessera.protocol.ps.ShardProtocol.Stale;
import io.tessera.protocol.spec.LearningRateSchedule;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.testkit.WireRoundTrip;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Parameter shards reached the way workers reach them: through Cluster Sharding on a one-node
 * cluster with role {@code ps}, every message serialized by the Kryo serializer
 * ({@code serialize-messages = on}), with a {@link TestingCoordinator} answering the shards'
 * recovery questions and persistence in memory and in a temporary snapshot directory.
 */
class ParameterShardShardingTest {

  /** Shard allocation and the first entity start take a moment on a cold system. */
  private static final Duration SHARDING_TIMEOUT = Duration.ofSeconds(15);

  /**
   * Idle timeout of the default passivation strategy in this test: short, so that an entity type
   * that kept the default would lose its entities within the test.
   */
  private static final String IDLE_TIMEOUT = "1s";

  private static final EntityTypeKey<String> IDLE_PROBE_KEY =
      EntityTypeKey.create(String.class, "IdleProbe");

  @TempDir static Path snapshots;

  private static ActorTestKit testKit;
  private static ClusterSharding sharding;
  private static ActorRef<CoordinatorProtocol.Command> coordinator;

  @BeforeAll
  static void start() {
    testKit =
        ActorTestKit.create(
            "ParameterShardShardingTest",
            ConfigFactory.parseString(
                    String.join(
                        "\n",
                        "akka.cluster.roles = [ps]",
                        "akka.cluster.jmx.multi-mbeans-in-same-jvm = on",
                        "akka.actor.serialize-messages = on",
                        "akka.cluster.sharding.passivation.default-idle-strategy.idle-entity.timeout = "
                            + IDLE_TIMEOUT))
                .withFallback(TestingShards.persistenceConfig(snapshots))
                .withFallback(WireRoundTrip.clusterTestConfig()));
    Cluster cluster = Cluster.get(testKit.system());
    cluster.manager().tell(Join.create(cluster.selfMember().address()));
    testKit
        .createTestProbe()
        .awaitAssert(
            SHARDING_TIMEOUT,
            () -> {
              assertEquals(MemberStatus.up(), cluster.selfMember().status());
              return null;
            });
    coordinator = testKit.spawn(TestingCoordinator.create(), "coordinator");
    ParameterShard.init(testKit.system(), coordinator);
    sharding = ClusterSharding.get(testKit.system());
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  @Test
  void twoEntitiesAreInitialisedPushedAndPulledThroughSharding() {
    float[][] initial = {{1f, 2f, -3f}, {4f, -0.5f, 0f}};
    float[][] gradientSums = {{2f, -4f, 8f}, {-6f, 2f, 4f}};
    // globalBatch 2, lr 0.5, one push of 2 samples: p -= 0.5 * sum / 2 = sum / 4
    float[][] expected = {{0.5f, 3f, -5f}, {5.5f, -1f, -1f}};

    for (int i = 0; i < 2; i++) {
      EntityRef<Command> shard = entity(i);
      TestProbe<StatusReply<Initialized>> initialized = testKit.createTestProbe();
      shard.tell(
          new ShardProtocol.Initialize(
              setup(i), TensorPayload.encode(initial[i], WirePrecision.FP32), initialized.getRef()));
      assertEquals(
          StatusReply.success(new Initialized(0, true)),
          initialized.receiveMessage(SHARDING_TIMEOUT));
    }
    for (int i = 0; i < 2; i++) {
      TestProbe<StatusReply<PushOutcome>> pushed = testKit.createTestProbe();
      entity(i)
          .tell(
              new ShardProtocol.Push(
                  "worker-a/gpu0",
                  1,
                  0,
                  0,
                  2,
                  TensorPayload.encode(gradientSums[i], WirePrecision.FP32),
                  ShardProtocol.StepRule.of(2),
                  pushed.getRef()));
      assertEquals(StatusReply.success(new Accepted(1)), pushed.receiveMessage());
    }

    for (int i = 0; i < 2; i++) {
      TestProbe<StatusReply<Pulled>> pulled = testKit.createTestProbe();
      entity(i).tell(new ShardProtocol.Pull(WirePrecision.FP32, "", pulled.getRef()));
      Pulled reply = pulled.receiveMessage().getValue();
      assertEquals(i, reply.shard(), "the entity id must reach the entity that holds shard " + i);
      assertEquals(0, reply.epoch());
      assertEquals(1, reply.version());
      assertArrayEquals(expected[i], reply.values().decode());

      TestProbe<ShardStatus> status = testKit.createTestProbe();
      entity(i).tell(new ShardProtocol.GetStatus(status.getRef()));
      ShardStatus counters = status.receiveMessage();
      assertEquals(entityId(i), counters.entityId());
      assertEquals(1, counters.pushesAccepted());
    }

    // OneEntityPerShard: each entity is alone in an Akka shard named after it.
    Map<String, Set<String>> shards = shardRegionState(ShardProtocol.ENTITY_TYPE_KEY);
    assertEquals(Set.of(entityId(0)), shards.get(entityId(0)), () -> "shards: " + shards);
    assertEquals(Set.of(entityId(1)), shards.get(entityId(1)), () -> "shards: " + shards);
  }

  @Test
  void everyMessageInThisSystemIsACopyThatWentThroughKryo() {
    // Guards the premise of the other tests: with serialize-messages on, even a local tell
    // delivers the deserialized copy, not the instance that was sent.
    TestProbe<Pulled> probe = testKit.createTestProbe();
    Pulled sent =
        new Pulled(0, 2, 3, TensorPayload.encode(new float[] {1f, 2f}, WirePrecision.BF16));

    probe.getRef().tell(sent);

    Pulled received = probe.receiveMessage();
    assertEquals(sent, received);
    assertNotSame(sent, received);
  }

  @Test
  void parameterShardsAreNeverPassivatedWhenIdle() {
    TestProbe<CoordinatorProtocol.Command> questions = planFor(2, TestingShards.FRESH);
    EntityRef<Command> shard = entity(2);
    TestProbe<StatusReply<Initialized>> initialized = testKit.createTestProbe();
    shard.tell(
        new ShardProtocol.Initialize(
            setup(2),
            TensorPayload.encode(new float[] {1f, 2f, 3f}, WirePrecision.FP32),
            initialized.getRef()));
    assertEquals(
        StatusReply.success(new Initialized(0, true)), initialized.receiveMessage(SHARDING_TIMEOUT));
    questions.expectMessageClass(ResolveShardRecovery.class);

    // A control entity type keeps the default idle passivation of this test's config. Each time
    // it has been passivated, the parameter shard above has been idle for longer than the idle
    // timeout; twice over covers the idle check's interval (half the timeout) too.
    TestProbe<String> stopped = testKit.createTestProbe();
    sharding.init(Entity.of(IDLE_PROBE_KEY, context -> reportingStop(stopped)));
    for (int round = 0; round < 2; round++) {
      sharding.entityRefFor(IDLE_PROBE_KEY, "control").tell("wake up");
      stopped.expectMessage(SHARDING_TIMEOUT, "passivated");
    }

    assertTrue(
        shardRegionState(ShardProtocol.ENTITY_TYPE_KEY)
            .getOrDefault(entityId(2), Set.of())
            .contains(entityId(2)),
        "the idle parameter shard must still be running");
    TestProbe<StatusReply<Pulled>> pulled = testKit.createTestProbe();
    shard.tell(new ShardProtocol.Pull(WirePrecision.FP32, "", pulled.getRef()));
    StatusReply<Pulled> reply = pulled.receiveMessage();
    assertTrue(reply.isSuccess(), () -> "pull failed: " + reply);
    assertArrayEquals(new float[] {1f, 2f, 3f}, reply.getValue().values().decode());
    // A restarted shard would have restored its snapshot, but asked the coordinator first.
    questions.expectNoMessage(Duration.ZERO);
  }

  @Test
  void aShardPassivatedByRewindComesBackFromTheCheckpointTheNewPlanNames() {
    TestProbe<CoordinatorProtocol.Command> questions = planFor(3, TestingShards.FRESH);
    EntityRef<Command> shard = entity(3);
    float[] initial = {1f, 2f, -3f};
    initialize(shard, 3, initial);
    assertEquals(3, questions.expectMessageClass(ResolveShardRecovery.class).shard());
    // globalBatch 2, lr 0.5: each push of 2 samples steps by sum / 4.
    assertEquals(new Accepted(1), push(shard, 1, 0, 0, new float[] {4f, 4f, 4f}));
    TestProbe<StatusReply<CheckpointSaved>> saved = testKit.createTestProbe();
    shard.tell(new ShardProtocol.TakeCheckpoint(5, 0, List.of(1L), saved.getRef()));
    assertEquals(StatusReply.success(new CheckpointSaved(3, 5, 2, 1)), saved.receiveMessage(SHARDING_TIMEOUT));
    float[] atCheckpoint = {0f, 1f, -4f};
    assertEquals(new Accepted(2), push(shard, 2, 0, 1, new float[] {4f, 4f, 4f}));

    planFor(3, new ShardRecoveryPlan(1, 5, 2), questions);
    shard.tell(new ShardProtocol.RewindTo(1));
    testKit
        .createTestProbe()
        .awaitAssert(
            SHARDING_TIMEOUT,
            () -> {
              assertFalse(
                  shardRegionState(ShardProtocol.ENTITY_TYPE_KEY)
                      .getOrDefault(entityId(3), Set.of())
                      .contains(entityId(3)),
                  "the rewound shard must have stopped");
              return null;
            });

    // The next message starts it again; it asks the coordinator before answering.
    Pulled pulled = pull(shard);
    ResolveShardRecovery asked = (ResolveShardRecovery) questions.receiveMessage(SHARDING_TIMEOUT);
    assertEquals(3, asked.shard());
    assertEquals(1, pulled.epoch());
    assertEquals(1, pulled.version());
    assertArrayEquals(atCheckpoint, pulled.values().decode());
    ShardStatus status = status(shard);
    assertEquals(5, status.checkpointId());
    assertEquals(1, status.epoch());
    // A push computed in the old epoch belongs to parameters that no longer exist.
    assertEquals(new Stale(1), push(shard, 3, 0, 1, new float[] {4f, 4f, 4f}));
    assertEquals(new Accepted(2), push(shard, 3, 1, 1, new float[] {4f, 4f, 4f}));
  }

  @Test
  void confirmingANewerEpochRestartsTheShardFromTheNewPlanAndThenConfirms() {
    TestProbe<CoordinatorProtocol.Command> questions = planFor(4, TestingShards.FRESH);
    EntityRef<Command> shard = entity(4);
    initialize(shard, 4, new float[] {1f, 2f, -3f});
    questions.expectMessageClass(ResolveShardRecovery.class);
    assertEquals(new Accepted(1), push(shard, 1, 0, 0, new float[] {4f, 4f, 4f}));

    planFor(4, new ShardRecoveryPlan(2, 0, 1), questions);
    TestProbe<StatusReply<EpochConfirmed>> confirmed = testKit.createTestProbe();
    shard.tell(new ShardProtocol.ConfirmEpoch(2, confirmed.getRef()));

    // Checkpoint 0 is the initial values, version 0.
    assertEquals(
        StatusReply.success(new EpochConfirmed(4, 2, 0, 0)), confirmed.receiveMessage(SHARDING_TIMEOUT));
    assertEquals(4, ((ResolveShardRecovery) questions.receiveMessage()).shard());
    assertArrayEquals(new float[] {1f, 2f, -3f}, pull(shard).values().decode());
  }

  private static void initialize(EntityRef<Command> shard, int index, float[] values) {
    TestProbe<StatusReply<Initialized>> initialized = testKit.createTestProbe();
    shard.tell(
        new ShardProtocol.Initialize(
            setup(index), TensorPayload.encode(values, WirePrecision.FP32), initialized.getRef()));
    assertEquals(StatusReply.success(new Initialized(0, true)), initialized.receiveMessage(SHARDING_TIMEOUT));
  }

  private static PushOutcome push(
      EntityRef<Command> shard, long seq, long epoch, long baseVersion, float[] gradientSum) {
    TestProbe<StatusReply<PushOutcome>> pushed = testKit.createTestProbe();
    shard.tell(
        new ShardProtocol.Push(
            "worker-a/gpu0",
            seq,
            epoch,
            baseVersion,
            2,
            TensorPayload.encode(gradientSum, WirePrecision.FP32),
            ShardProtocol.StepRule.of(2),
            pushed.getRef()));
    return TestingShards.success(pushed.receiveMessage(SHARDING_TIMEOUT));
  }

  private static Pulled pull(EntityRef<Command> shard) {
    TestProbe<StatusReply<Pulled>> pulled = testKit.createTestProbe();
    shard.tell(new ShardProtocol.Pull(WirePrecision.FP32, "", pulled.getRef()));
    return TestingShards.success(pulled.receiveMessage(SHARDING_TIMEOUT));
  }

  private static ShardStatus status(EntityRef<Command> shard) {
    TestProbe<ShardStatus> status = testKit.createTestProbe();
    shard.tell(new ShardProtocol.GetStatus(status.getRef()));
    return status.receiveMessage(SHARDING_TIMEOUT);
  }

  /** Has the coordinator answer shard {@code index} with {@code plan}; returns who sees its questions. */
  private static TestProbe<CoordinatorProtocol.Command> planFor(int index, ShardRecoveryPlan plan) {
    TestProbe<CoordinatorProtocol.Command> questions = testKit.createTestProbe();
    planFor(index, plan, questions);
    return questions;
  }

  private static void planFor(
      int index, ShardRecoveryPlan plan, TestProbe<CoordinatorProtocol.Command> questions) {
    TestProbe<Done> done = testKit.createTestProbe();
    coordinator.tell(new TestingCoordinator.PlanFor(entityId(index), plan, questions.getRef(), done.getRef()));
    done.expectMessage(Done.getInstance());
  }

  private static Behavior<String> reportingStop(TestProbe<String> stopped) {
    return Behaviors.receive(String.class)
        .onMessage(String.class, message -> Behaviors.same())
        .onSignal(
            PostStop.class,
            signal -> {
              stopped.getRef().tell("passivated");
              return Behaviors.same();
            })
        .build();
  }

  private static String entityId(int shard) {
    return ShardProtocol.entityId("job-1", 0, shard);
  }

  private static EntityRef<Command> entity(int shard) {
    return sharding.entityRefFor(ShardProtocol.ENTITY_TYPE_KEY, entityId(shard));
  }

  private static ShardSetup setup(int shard) {
    OptimizerSpec sgd =
        OptimizerSpec.builder()
            .optKind(OptimizerKind.SGD)
            .optLearningRate(0.5)
            .optMomentum(0)
            .optWeightDecay(0)
            .optSchedule(LearningRateSchedule.CONSTANT)
            .build();
    return new ShardSetup(
        "job-1",
        0,
        new ShardRange(shard, 3 * shard, 3 * shard + 3),
        List.of(new Segment("w", 3 * shard, 0, 3, false)),
        sgd,
        2,
        1,
        100,
        TrainingMode.ASYNC,
        false);
  }

  /** The entities of this node's region of {@code key}, by Akka shard id. */
  private static Map<String, Set<String>> shardRegionState(EntityTypeKey<?> key) {
    TestProbe<CurrentShardRegionState> probe = testKit.createTestProbe();
    sharding.shardState().tell(new GetShardRegionState(key, probe.getRef()));
    return probe.receiveMessage().getShards().stream()
        .collect(Collectors.toMap(ShardState::shardId, ShardState::getEntityIds));
  }
}
