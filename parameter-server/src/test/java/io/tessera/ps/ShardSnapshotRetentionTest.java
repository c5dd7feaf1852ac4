package io.tessera.ps;

import static io.tessera.ps.TestingShards.setup;
import static io.tessera.ps.TestingShards.sgd;
import static io.tessera.ps.TestingShards.success;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol.Accepted;
import io.tessera.protocol.ps.ShardProtocol.CheckpointSaved;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import io.tessera.ps.TestingShards.Shard;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which snapshots a shard keeps (issue 14): every one that a complete checkpoint the coordinator
 * still keeps may be rewound to, however many abandoned checkpoints came after it, and none that
 * no such checkpoint needs. Each test plays a coordinator that keeps two complete checkpoints and
 * hands each {@code TakeCheckpoint} the journal positions of this shard's parts of them.
 */
class ShardSnapshotRetentionTest {
  private static final float[] INITIAL = {1f, 2f, -3f, 0.5f};
  private static final float[] GRADIENT = {2f, -2f, 1f, 4f};

  @TempDir static Path snapshots;

  private static ActorTestKit testKit;
  private static TestingShards shards;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("ShardSnapshotRetentionTest", TestingShards.persistenceConfig(snapshots));
    shards = new TestingShards(testKit);
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  /** Settings that keep, besides what the coordinator names, only the newest {@code newest} snapshots. */
  private static ShardSettings keepingNewest(int newest) {
    return new ShardSettings(1e4, newest, TestingShards.SETTINGS.resolveTimeout(), 1000);
  }

  @Test
  void aRunOfAbandonedCheckpointsLeavesTheLastCompleteOneRestorable() {
    String entityId = shards.newEntityId();
    ShardSettings small = keepingNewest(2);
    Shard original = shards.start(entityId, TestingShards.FRESH, small);
    original.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    assertEquals(new Accepted(1), original.push("w1", 1, 0, 1, GRADIENT));
    float[] atCheckpoint1 = original.values();
    // Checkpoint 1 completes: the coordinator keeps it and the initial values (entries 2 and 1).
    assertEquals(new CheckpointSaved(0, 1, 2, 1), checkpoint(original, 1, 1L));

    // Five checkpoints in a row are abandoned (another shard missed each): the coordinator still
    // keeps checkpoints 0 and 1, and says so with each.
    for (long id = 2; id <= 6; id++) {
      assertEquals(new Accepted(id), original.push("w1", id, id - 1, 1, GRADIENT));
      assertEquals(id + 1, checkpoint(original, id, 1L, 2L).sequenceNr());
    }
    original.stop();

    // A shard is lost: the coordinator rewinds the job to checkpoint 1, its newest complete one.
    Shard rewound = shards.start(entityId, new ShardRecoveryPlan(1, 1, 2), small);

    ShardStatus status = rewound.status();
    assertEquals(1, status.checkpointId(), "checkpoint 1 is restored, not reported missing");
    assertEquals(1, status.version());
    assertArrayEquals(atCheckpoint1, rewound.values());
    rewound.coordinator.expectNoMessage(Duration.ZERO);
  }

  @Test
  void snapshotsThatNoKeptCheckpointNeedsAreDeleted() {
    String entityId = shards.newEntityId();
    Shard shard = shards.start(entityId, TestingShards.FRESH, keepingNewest(1));
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    assertEquals(2, checkpoint(shard, 1, 1L).sequenceNr());
    awaitSnapshots(entityId, 1, 2);

    // Abandoned checkpoints 2 to 5: each one's snapshot goes once the next is stored, while the
    // complete ones the coordinator keeps (entries 1 and 2) stay.
    for (long id = 2; id <= 5; id++) {
      assertEquals(id + 1, checkpoint(shard, id, 1L, 2L).sequenceNr());
      awaitSnapshots(entityId, 1, 2, id + 1);
    }

    // Checkpoint 6 completes; with two kept, the coordinator drops checkpoint 0 (entry 1).
    assertEquals(7, checkpoint(shard, 6, 1L, 2L).sequenceNr());
    awaitSnapshots(entityId, 1, 2, 7);
    assertEquals(8, checkpoint(shard, 7, 2L, 7L).sequenceNr());
    awaitSnapshots(entityId, 2, 7, 8);
    // Checkpoint 7 completes too: checkpoint 1 (entry 2), the oldest, goes as well.
    assertEquals(9, checkpoint(shard, 8, 7L, 8L).sequenceNr());
    awaitSnapshots(entityId, 7, 8, 9);
  }

  @Test
  void theNewestSnapshotsKeptSettingKeepsThatManyWhateverTheCheckpoints() {
    String entityId = shards.newEntityId();
    Shard shard = shards.start(entityId, TestingShards.FRESH, keepingNewest(3));
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);

    for (long id = 1; id <= 5; id++) {
      assertEquals(id + 1, checkpoint(shard, id, 1L).sequenceNr());
    }

    awaitSnapshots(entityId, 1, 4, 5, 6);
  }

  @Test
  void aShardRewoundPastAbandonedCheckpointsDeletesTheirSnapshotsWithItsNextOne() {
    String entityId = shards.newEntityId();
    ShardSettings newestOnly = keepingNewest(1);
    Shard original = shards.start(entityId, TestingShards.FRESH, newestOnly);
    original.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    assertEquals(2, checkpoint(original, 1, 1L).sequenceNr());
    for (long id = 2; id <= 4; id++) {
      assertEquals(id + 1, checkpoint(original, id, 1L, 2L).sequenceNr());
    }
    original.stop();

    Shard rewound = shards.start(entityId, new ShardRecoveryPlan(1, 1, 2), newestOnly);
    assertEquals(1, rewound.status().checkpointId());
    // The journal goes on after the abandoned markers; their snapshots are no rewind target.
    assertEquals(6, checkpoint(rewound, 5, 1L, 2L).sequenceNr());
    awaitSnapshots(entityId, 1, 2, 6);
  }

  // ---------------------------------------------------------------- helpers

  /** Takes checkpoint {@code checkpointId} while the coordinator keeps the snapshots at {@code keep}. */
  private static CheckpointSaved checkpoint(Shard shard, long checkpointId, Long... keep) {
    return success(shard.tryCheckpoint(checkpointId, shard.status().epoch(), List.of(keep)));
  }

  private static void awaitSnapshots(String entityId, long... sequenceNrs) {
    TestingShards.awaitSnapshots(testKit, snapshots, entityId, sequenceNrs);
  }
}
