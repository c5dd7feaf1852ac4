package io.tessera.ps;

import static io.tessera.ps.TestingShards.errorText;
import static io.tessera.ps.TestingShards.setup;
import static io.tessera.ps.TestingShards.sgd;
import static io.tessera.ps.TestingShards.success;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Accepted;
import io.tessera.protocol.ps.ShardProtocol.Duplicate;
import io.tessera.protocol.ps.ShardProtocol.Overlap;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.Revoked;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.ps.TestingShards.Shard;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exactly-once training in {@code async} and {@code ssp} mode, as a real shard keeps it: a split
 * is applied once whoever pushes it (the work of a lease given back, expired or taken from a
 * worker that left goes to another lease, which may cut it into other windows), and a push of a
 * lease the coordinator has fenced off is refused.
 *
 * <p>The data here is 8 splits of 2 samples, and the global batch larger than all of them, so
 * every sample applied stays in the shard's pending step and its status counts them.
 */
class LeaseFencingTest {

  private static final float[] INITIAL = {1f, 2f, -3f, 0.5f};
  private static final int SAMPLES_PER_SPLIT = 2;
  private static final int SPLITS = 8;
  private static final int GLOBAL_BATCH = 64;

  @TempDir static Path snapshots;

  private static ActorTestKit testKit;
  private static TestingShards shards;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("LeaseFencingTest", TestingShards.persistenceConfig(snapshots));
    shards = new TestingShards(testKit);
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  /** An async shard that never finds a push too stale. */
  private static Shard asyncShard() {
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), GLOBAL_BATCH, 1000), INITIAL);
    return shard;
  }

  /** The gradient sum of {@code splits} splits: every sample's gradient is 1. */
  private static float[] gradientOf(int splits) {
    float[] sum = new float[INITIAL.length];
    Arrays.fill(sum, (float) splits * SAMPLES_PER_SPLIT);
    return sum;
  }

  /** Pushes splits {@code [first, first + count)} as one window of {@code leaseId}. */
  private static PushOutcome window(Shard shard, String worker, long seq, long leaseId, int first, int count) {
    return shard.pushWindow(
        worker, seq, shard.status().version(), count * SAMPLES_PER_SPLIT, gradientOf(count), leaseId, first, count);
  }

  /** Every sample of the data is in the shard's pending step, once. */
  private static void assertTrainedOnce(Shard shard) {
    ShardStatus status = shard.status();
    assertEquals(0, status.version(), "no step yet: " + status);
    assertEquals(SPLITS * SAMPLES_PER_SPLIT, status.pendingSamples(), "every sample of the data applied once");
  }

  // ---------------------------------------------------------------- each split once

  @Test
  void windowsPushedBeforeALeaseWasGivenBackAreNotAppliedAgainByItsReLease() {
    Shard shard = asyncShard();
    // Lease 1 (k = 2 splits) pushes 2 of its 4 windows, then its worker gives it back.
    assertEquals(new Accepted(0), window(shard, "w1", 1, 1, 0, 2));
    assertEquals(new Accepted(0), window(shard, "w1", 2, 1, 2, 2));

    // Lease 2 covers the whole run again, in windows of 4 splits.
    assertEquals(new Duplicate(0), window(shard, "w2", 1, 2, 0, 4), "splits 0-3 are in already");
    assertEquals(new Accepted(0), window(shard, "w2", 2, 2, 4, 4));

    assertTrainedOnce(shard);
    assertEquals(3, shard.status().pushesAccepted());
  }

  @Test
  void aWindowPartlyAppliedBeforeIsRefusedAsAnOverlapAndItsPartsGoSeparately() {
    Shard shard = asyncShard();
    assertEquals(new Accepted(0), window(shard, "w1", 1, 1, 0, 2));
    assertEquals(new Accepted(0), window(shard, "w1", 2, 1, 2, 2));

    // The re-lease cuts windows of 3 splits: the second straddles what lease 1 pushed.
    assertEquals(new Duplicate(0), window(shard, "w2", 1, 2, 0, 3));
    assertEquals(new Overlap(0, 4), window(shard, "w2", 2, 2, 3, 3), "split 3 is applied, 4 and 5 are not");
    assertEquals(8, shard.status().pendingSamples(), "nothing of it applied");
    assertEquals(new Duplicate(0), window(shard, "w2", 3, 2, 3, 1));
    assertEquals(new Accepted(0), window(shard, "w2", 4, 2, 4, 2));
    assertEquals(new Accepted(0), window(shard, "w2", 5, 2, 6, 2));

    assertTrainedOnce(shard);
  }

  @Test
  void anOverlapNamesWhereTheFirstSplitsStateChanges() {
    Shard shard = asyncShard();
    assertEquals(new Accepted(0), window(shard, "w1", 1, 1, 2, 2));

    assertEquals(new Overlap(0, 2), window(shard, "w2", 1, 2, 0, 4), "0-1 not applied, 2 is");
    assertEquals(new Overlap(0, 4), window(shard, "w2", 2, 2, 2, 4), "2-3 applied, 4 is not");
  }

  @Test
  void aLatePushOfTheFirstHolderAfterTheReLeaseAppliedItsSplitsIsADuplicate() {
    // Without a fence (say it has not arrived yet): the split is still applied once.
    Shard shard = asyncShard();
    assertEquals(new Accepted(0), window(shard, "w2", 1, 2, 0, 2));

    assertEquals(new Duplicate(0), window(shard, "w1", 7, 1, 0, 2));
    assertEquals(4, shard.status().pendingSamples());
  }

  @Test
  void aWindowOutsideTheMembersSplitsIsRefusedAsMalformed() {
    Shard shard = asyncShard();

    String error =
        errorText(shard.tryPushWindow("w1", 1, 0, 2, gradientOf(1), 1, Integer.MAX_VALUE - 1L, 4));

    assertTrue(error.contains("window names splits"), error);
    assertEquals(0, shard.status().version());
  }

  // ---------------------------------------------------------------- the split audit

  @Test
  void acceptedWindowsCountTheirSplitsAndRefusedPushesCountNothing() {
    Shard shard = asyncShard();
    shard.fence(10, 7L);
    assertEquals(new Accepted(0), window(shard, "w1", 1, 7, 0, 2));
    assertEquals(new Accepted(0), window(shard, "w1", 2, 7, 2, 3));
    assertSplits(shard, 5, 5);

    assertEquals(new Duplicate(0), window(shard, "w2", 1, 7, 1, 2), "splits 1-2 are in");
    assertEquals(new Overlap(0, 5), window(shard, "w2", 2, 7, 4, 2), "split 4 is in, 5 is not");
    assertInstanceOf(Revoked.class, window(shard, "w3", 1, 5, 6, 2), "lease 5 is fenced off");
    assertEquals(new Duplicate(0), window(shard, "w1", 2, 7, 6, 2), "sequence number 2 of w1 was applied");
    assertEquals(
        new ShardProtocol.Stale(0),
        success(
            shard.tryPush(
                "w2", 3, shard.status().epoch() + 1, 0, 4, gradientOf(2), StepRule.of(GLOBAL_BATCH),
                new ShardProtocol.Window(7, 6, 2))),
        "another epoch");
    assertEquals(new Accepted(0), shard.push("tool", 1, 0, 4, gradientOf(2)), "a push naming no splits");
    assertSplits(shard, 5, 5);

    assertEquals(new Accepted(0), window(shard, "w2", 4, 7, 5, 3));
    assertSplits(shard, 8, 8);
  }

  /** The shard's distinct splits applied and its split applications. */
  private static void assertSplits(Shard shard, long distinct, long applications) {
    ShardStatus status = shard.status();
    assertEquals(distinct, status.splitsApplied(), "distinct splits: " + status);
    assertEquals(applications, status.splitApplications(), "split applications: " + status);
  }

  // ---------------------------------------------------------------- lease fences

  @Test
  void aPushOfALeaseNoLongerCurrentIsRefusedWithItsReason() {
    Shard shard = asyncShard();
    // Of the leases issued before 10, only 7 is current.
    shard.fence(10, 7L);

    PushOutcome refused = window(shard, "w1", 1, 5, 0, 2);

    Revoked revoked = assertInstanceOf(Revoked.class, refused);
    assertEquals(0, revoked.version());
    assertTrue(revoked.reason().contains("lease 5 is no longer current"), revoked.reason());
    assertTrue(revoked.reason().contains(shard.entityId), revoked.reason());
    assertEquals(new Accepted(0), window(shard, "w2", 1, 7, 0, 2), "a live lease pushes");
    assertEquals(new Accepted(0), window(shard, "w3", 1, 12, 2, 2), "a lease issued after the fence pushes");
    ShardStatus status = shard.status();
    assertEquals(1, status.pushesRevoked());
    assertEquals(2, status.pushesAccepted());
  }

  @Test
  void fencesThatArriveLateOrOutOfOrderNeverBringALeaseBack() {
    Shard shard = asyncShard();
    shard.fence(10, 5L, 7L);
    shard.fence(12, 7L);
    shard.fence(10, 5L, 7L); // older: dropped
    assertInstanceOf(Revoked.class, window(shard, "w1", 1, 5, 0, 2));

    shard.fence(12, 5L, 7L, 11L); // the same point: narrows, 5 stays out and 11 was out already
    assertInstanceOf(Revoked.class, window(shard, "w1", 2, 5, 0, 2));
    assertInstanceOf(Revoked.class, window(shard, "w4", 1, 11, 0, 2));
    assertEquals(new Accepted(0), window(shard, "w2", 1, 7, 0, 2));
    assertEquals(1, shard.status().fencedMessages());
  }

  @Test
  void aPushWithoutALeaseIsNotFenced() {
    Shard shard = asyncShard();
    shard.fence(10);

    assertEquals(new Accepted(0), shard.push("tool", 1, 0, 4, gradientOf(2)));
  }

  @Test
  void aSyncShardJudgesAContributionByItsPartNotByItsLease() {
    // Sync mode has its own fence: each part of a step once, whoever sends it.
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), 4, 0, TrainingMode.SYNC), INITIAL);
    shard.fence(10);
    StepRule part0 = new StepRule(4, 1.0, 0, 0);
    ShardProtocol.Window window = new ShardProtocol.Window(3, 0, 1);

    assertEquals(
        new Accepted(0),
        success(shard.tryPush("w1", 1, 0, 0, 2, gradientOf(1), part0, window)),
        "half the step, counted though lease 3 is fenced");
    assertEquals(
        new Duplicate(0),
        success(shard.tryPush("w2", 1, 0, 0, 2, gradientOf(1), part0, new ShardProtocol.Window(11, 0, 1))),
        "the same part again from its re-lease");
  }

  // ---------------------------------------------------------------- across checkpoints and rewinds

  @Test
  void theSplitsAppliedAreCheckpointedAndARewoundShardFencesEveryLeaseBeforeItsPlan() {
    String entityId = shards.newEntityId();
    Shard original = shards.start(entityId, TestingShards.FRESH);
    original.initialize(setup(sgd(0.5), GLOBAL_BATCH, 1000), INITIAL);
    assertEquals(new Accepted(0), window(original, "w1", 1, 1, 0, 2));
    assertEquals(1, original.checkpoint(1).checkpointId());
    assertEquals(new Accepted(0), window(original, "w1", 2, 1, 2, 2)); // after the checkpoint: rewound away
    original.stop();

    // The job is rewound to checkpoint 1; leases 1-9 were issued before, and are void.
    Shard rewound = shards.start(entityId, new ShardRecoveryPlan(1, 1, 2, false, 10));

    assertInstanceOf(Revoked.class, window(rewound, "w1", 3, 1, 2, 2), "lease 1 was voided by the rewind");
    assertEquals(new Duplicate(0), window(rewound, "w2", 1, 10, 0, 2), "splits 0-1 are in the checkpoint");
    assertSplits(rewound, 2, 2); // the counter came back with the checkpoint, not the pushes after it
    assertEquals(new Accepted(0), window(rewound, "w2", 2, 10, 2, 2), "splits 2-3 are not: trained again");
    assertEquals(8, rewound.status().pendingSamples());
    assertSplits(rewound, 4, 4);
  }
}
