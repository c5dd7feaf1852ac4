package io.tessera.ps;

import static io.tessera.ps.TestingShards.TIMEOUT;
import static io.tessera.ps.TestingShards.errorText;
import static io.tessera.ps.TestingShards.setup;
import static io.tessera.ps.TestingShards.sgd;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Accepted;
import io.tessera.protocol.ps.ShardProtocol.CheckpointSaved;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.ps.TestingShards.Shard;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Shards of a job that is over: told to stop they stop; started again (a later stage reads them)
 * they serve their last checkpoint and take no push, set-up or checkpoint, and stop once idle; a
 * shard of a job the coordinator no longer knows refuses everything.
 */
class FinishedJobShardTest {
  private static final float[] INITIAL = {1f, 2f, -3f, 0.5f};

  @TempDir static Path snapshots;

  private static ActorTestKit testKit;
  private static TestingShards shards;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("FinishedJobShardTest", TestingShards.persistenceConfig(snapshots));
    shards = new TestingShards(testKit);
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static void expectPassivation(Shard shard, Duration within) {
    ClusterSharding.ShardCommand command = shard.region.expectMessageClass(ClusterSharding.Passivate.class, within);
    assertEquals(shard.ref, ((ClusterSharding.Passivate<?>) command).entity());
  }

  @Test
  void aLiveShardToldToStopTurnsReadOnlyAndPassivatesOnceIdle() {
    ShardSettings quick = new ShardSettings(1e4, 5, TestingShards.SETTINGS.resolveTimeout(), 1000, Duration.ofSeconds(1));
    Shard shard = shards.start(shards.newEntityId(), TestingShards.FRESH, quick);
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);

    shard.ref.tell(ShardProtocol.StopShard.INSTANCE);

    // Its numbers and counters can still be read (by an operator, a later stage, a test)...
    assertArrayEquals(INITIAL, shard.values());
    assertEquals(0, shard.status().version());
    // ...but it trains no more, and it stops once nobody asks it anything for a while.
    String push = errorText(shard.tryPush("w1", 1, 0, 0, 1, new float[] {1f, 1f, 1f, 1f}));
    assertTrue(push.contains("is not training") && push.contains("push"), push);
    assertArrayEquals(INITIAL, shard.values(), "a refused push changes nothing");
    expectPassivation(shard, TIMEOUT);
  }

  @Test
  void aShardThatWasNotRunningStopsWithoutAskingWhereToStart() {
    Shard shard = shards.spawn(shards.newEntityId(), TestingShards.SETTINGS);
    shard.ref.tell(ShardProtocol.StopShard.INSTANCE);
    expectPassivation(shard, TIMEOUT);
    // It asked once while starting (before the stop arrived); the answer is not waited for.
    shard.coordinator.expectMessageClass(
        io.tessera.protocol.coordinator.CoordinatorProtocol.ResolveShardRecovery.class, TIMEOUT);
    shard.coordinator.expectNoMessage(TestingShards.SETTINGS.resolveTimeout().plusMillis(500));
  }

  @Test
  void aShardOfAFinishedJobServesItsLastCheckpointReadOnlyAndStopsWhenIdle() {
    String entityId = shards.newEntityId();
    Shard live = shards.start(entityId, TestingShards.FRESH);
    live.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    assertEquals(new Accepted(1), live.push("w1", 1, 0, 1, new float[] {1f, 1f, 1f, 1f}));
    float[] trained = live.values();
    assertEquals(new CheckpointSaved(0, 3, 2, 1), live.checkpoint(3));
    live.stop();

    ShardSettings quick = new ShardSettings(1e4, 5, TestingShards.SETTINGS.resolveTimeout(), 1000, Duration.ofSeconds(1));
    Shard reader = shards.start(entityId, new ShardRecoveryPlan(0, 3, 2, true), quick);

    assertArrayEquals(trained, reader.pull(WirePrecision.FP32).values().decode(), "the final parameters are read");
    String push = errorText(reader.tryPush("w1", 2, 0, 1, 1, new float[] {9f, 9f, 9f, 9f}));
    assertTrue(push.contains("is not training") && push.contains("push"), push);
    assertArrayEquals(trained, reader.values(), "a refused push changes nothing");
    String checkpoint = errorText(reader.tryCheckpoint(4, 0));
    assertTrue(checkpoint.contains("is not training"), checkpoint);
    String setUp = errorText(reader.tryInitialize(setup(sgd(0.5), 1, 1), new float[] {0f, 0f, 0f, 0f}));
    assertTrue(setUp.contains("is not training"), setUp);

    expectPassivation(reader, Duration.ofSeconds(5));
  }

  @Test
  void aShardOfAJobTheCoordinatorNoLongerKnowsRefusesEverything() {
    Shard shard = shards.start(shards.newEntityId(), new ShardRecoveryPlan(0, -1, 0, true));

    String pull = errorText(shard.tryPull(WirePrecision.FP32));
    assertTrue(pull.contains("does not know job"), pull);
    String setUp = errorText(shard.tryInitialize(setup(sgd(0.5), 1, 1), INITIAL));
    assertTrue(setUp.contains("does not know job"), setUp);
    assertFalse(shard.status().initialized());
  }
}
