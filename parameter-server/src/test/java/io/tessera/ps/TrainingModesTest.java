package io.tessera.ps;

import static io.tessera.ps.TestingShards.setup;
import static io.tessera.ps.TestingShards.sgd;
import static io.tessera.ps.TestingShards.success;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.pattern.StatusReply;
import io.tessera.protocol.ps.ShardProtocol.Accepted;
import io.tessera.protocol.ps.ShardProtocol.Duplicate;
import io.tessera.protocol.ps.ShardProtocol.Pulled;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import io.tessera.protocol.ps.ShardProtocol.Stale;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.ps.TestingShards.Shard;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How a shard combines pushes in each mode: the {@code sync} barrier (exact steps from parts,
 * each part once, pushes only on the current version), {@code ssp} (no worker more than the bound
 * ahead of the slowest of the roster; rosters fenced by membership epoch) and {@code async} with
 * staleness damping, plus the step rule a push carries (the step's samples and learning-rate
 * factor). Plain SGD at a constant rate, so a step is {@code p -= lr * scale * sum / samples}.
 */
class TrainingModesTest {
  private static final float[] INITIAL = {1f, 2f, -3f, 0.5f};
  private static final Duration HELD = Duration.ofMillis(300);

  @TempDir static Path snapshots;

  private static ActorTestKit testKit;
  private static TestingShards shards;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("TrainingModesTest", TestingShards.persistenceConfig(snapshots));
    shards = new TestingShards(testKit);
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static Shard started(ShardSetup setup) {
    Shard shard = shards.startFresh();
    shard.initialize(setup, INITIAL);
    return shard;
  }

  private static PushOutcome push(Shard shard, String worker, long seq, long base, int samples, float[] sum, StepRule rule) {
    return success(shard.tryPush(worker, seq, shard.status().epoch(), base, samples, sum, rule));
  }

  // ---------------------------------------------------------------- sync

  @Test
  void aSyncStepIsAppliedOnceEveryPartIsInAndEachPartCountsOnce() {
    Shard shard = started(setup(sgd(0.5), 4, 0, TrainingMode.SYNC));
    float[] a = {2f, 4f, -2f, 0f};
    float[] b = {2f, 0f, 6f, 4f};

    assertEquals(new Accepted(0), push(shard, "w1", 1, 0, 2, a, new StepRule(4, 1.0, 0, 0)));
    assertEquals(2, shard.status().pendingSamples(), "half the step is in");
    // The same part again, from another worker (a backup, or the part re-leased): dropped.
    assertEquals(new Duplicate(0), push(shard, "w3", 1, 0, 2, a, new StepRule(4, 1.0, 0, 0)));
    assertEquals(2, shard.status().pendingSamples());
    assertEquals(new Accepted(1), push(shard, "w2", 1, 0, 2, b, new StepRule(4, 1.0, 2, 0)));

    // mean = (a + b) / 4 = {1, 1, 1, 1}; p -= 0.5 * mean
    assertArrayEquals(new float[] {0.5f, 1.5f, -3.5f, 0f}, shard.values());
    ShardStatus status = shard.status();
    assertEquals(1, status.version());
    assertEquals(0, status.pendingSamples());
    assertEquals(1, status.pushesDuplicate());
    assertEquals(List.of("w1", "w2"), status.pushers(), "the duplicate's sender did not contribute");
  }

  @Test
  void aSyncPushOnAnotherVersionIsStaleEvenWithinTheStalenessBound() {
    Shard shard = started(setup(sgd(0.5), 2, 4, TrainingMode.SYNC));
    assertEquals(new Accepted(1), push(shard, "w1", 1, 0, 2, new float[] {2f, 2f, 2f, 2f}, new StepRule(2, 1.0, 0, 0)));

    // A contribution to step 2 computed on version 0, which step 0 has moved past: its gradient
    // belongs to parameters that are gone.
    assertEquals(new Stale(1), push(shard, "w2", 1, 0, 2, new float[] {2f, 2f, 2f, 2f}, new StepRule(2, 1.0, 2, 2)));
    assertEquals(1, shard.status().pushesStale());
  }

  @Test
  void aLateCopyOfATakenStepIsADuplicateWhateverVersionItWasComputedOn() {
    Shard shard = started(setup(sgd(0.5), 4, 0, TrainingMode.SYNC));
    float[] g = {2f, 2f, 2f, 2f};
    push(shard, "w1", 1, 0, 2, g, new StepRule(4, 1.0, 0, 0));
    assertEquals(new Accepted(1), push(shard, "w2", 1, 0, 2, g, new StepRule(4, 1.0, 2, 0)));
    float[] afterStep = shard.values();

    // The holder of part 0 whose copy lost the race to a backup's, on version 0, and a re-leased
    // copy of part 0 computed on version 1: step 0 was taken with part 0 in it, so both are
    // counted already (Stale would have the coordinator lease part 0 again, and again).
    assertEquals(new Duplicate(1), push(shard, "w3", 1, 0, 2, g, new StepRule(4, 1.0, 0, 0)));
    assertEquals(new Duplicate(1), push(shard, "w4", 1, 1, 2, g, new StepRule(4, 1.0, 0, 0)));
    assertEquals(0, shard.status().pendingSamples(), "nothing leaks into step 1");
    assertArrayEquals(afterStep, shard.values(), 0f);
    // Step 1 (its first split is 4) is collected as usual.
    assertEquals(new Accepted(1), push(shard, "w1", 2, 1, 2, g, new StepRule(4, 1.0, 4, 4)));
    assertEquals(2, shard.status().pendingSamples());
  }

  @Test
  void aCopyFromAnotherRecoveryEpochIsStaleEvenForATakenStep() {
    Shard shard = started(setup(sgd(0.5), 2, 0, TrainingMode.SYNC));
    float[] g = {2f, 2f, 2f, 2f};
    assertEquals(new Accepted(1), push(shard, "w1", 1, 0, 2, g, new StepRule(2, 1.0, 0, 0)));
    long otherEpoch = shard.status().epoch() + 1;
    assertEquals(new Stale(1), success(shard.tryPush("w2", 1, otherEpoch, 0, 2, g, new StepRule(2, 1.0, 0, 0))));
  }

  @Test
  void aShortSyncStepAtTheEndOfAnEpochIsTakenWithItsOwnSamples() {
    Shard shard = started(setup(sgd(1.0), 64, 0, TrainingMode.SYNC));

    // The step rule says this step has 3 samples, not the global batch of 64.
    assertEquals(new Accepted(1), push(shard, "w1", 1, 0, 3, new float[] {3f, 6f, 0f, -3f}, new StepRule(3, 1.0, 40, 40)));
    assertArrayEquals(new float[] {0f, 0f, -3f, 1.5f}, shard.values());
  }

  // ---------------------------------------------------------------- step rule

  @Test
  void theStepRuleScalesTheLearningRateAndSetsTheStepSize() {
    Shard shard = started(setup(sgd(1.0), 2, 4));
    float[] g = {4f, 8f, -4f, 0f};

    // An operator halved the global batch (2 -> 1) with linear scaling: lr x 0.5, step per sample.
    assertEquals(new Accepted(1), push(shard, "w1", 1, 0, 1, g, new StepRule(1, 0.5, -1, -1)));
    assertArrayEquals(new float[] {-1f, -2f, -1f, 0.5f}, shard.values());
  }

  // ---------------------------------------------------------------- async damping

  @Test
  void stalenessDampingWeighsAPushByOneOverOnePlusItsLag() {
    ShardSetup setup = setup(sgd(1.0), 2, 4);
    ShardSetup damped =
        new ShardSetup(
            setup.jobId(), setup.member(), setup.range(), setup.segments(), setup.optimizer(), setup.globalBatch(),
            setup.staleness(), setup.totalSteps(), TrainingMode.ASYNC, true);
    Shard shard = started(damped);
    assertEquals(new Accepted(1), push(shard, "w1", 1, 0, 2, new float[] {0f, 0f, 0f, 0f}, StepRule.of(2)));

    // Lag 1: weight 1/2. mean = 0.5 * g / 2.
    assertEquals(
        new Accepted(2), push(shard, "w2", 1, 0, 2, new float[] {4f, -8f, 0f, 2f}, StepRule.of(2)));
    assertArrayEquals(new float[] {0f, 4f, -3f, 0f}, shard.values());
  }

  // ---------------------------------------------------------------- ssp

  @Test
  void anSspWorkerMoreThanTheBoundAheadOfTheSlowestWaitsForIt() {
    Shard shard = started(setup(sgd(0.1), 1, 1, TrainingMode.SSP));
    shard.updateRoster(3, "fast", "slow");
    float[] g = {1f, 1f, 1f, 1f};

    // fast: clock 0 -> 1 -> 2; slow stays at 0.
    success(shard.pullAs("fast").receiveMessage());
    assertEquals(new Accepted(1), push(shard, "fast", 1, 0, 1, g, StepRule.of(1)));
    success(shard.pullAs("fast").receiveMessage());
    assertEquals(new Accepted(2), push(shard, "fast", 2, 1, 1, g, StepRule.of(1)));

    // Two windows ahead with a bound of one: held until the slowest catches up.
    TestProbe<StatusReply<Pulled>> held = shard.pullAs("fast");
    held.expectNoMessage(HELD);
    success(shard.pullAs("slow").receiveMessage());
    assertEquals(new Accepted(3), push(shard, "slow", 1, 0, 1, g, StepRule.of(1)));
    Pulled released = success(held.receiveMessage());
    assertEquals(3, released.version());
    assertEquals(1, shard.status().maxClockLead(), "never more than the bound ahead when served");
  }

  @Test
  void aWorkerLeavingTheRosterNoLongerHoldsTheOthersBackAndOldRostersAreFenced() {
    Shard shard = started(setup(sgd(0.1), 1, 0, TrainingMode.SSP));
    shard.updateRoster(5, "a", "b");
    assertEquals(new Accepted(1), push(shard, "a", 1, 0, 1, new float[] {1f, 1f, 1f, 1f}, StepRule.of(1)));
    TestProbe<StatusReply<Pulled>> held = shard.pullAs("a");
    held.expectNoMessage(HELD);

    // A late roster from an older membership epoch changes nothing and is counted.
    shard.updateRoster(4, "a");
    held.expectNoMessage(HELD);
    assertEquals(1, shard.status().fencedMessages());

    // b left: nothing holds a back. A worker that joins starts level with the slowest.
    shard.updateRoster(6, "a", "c");
    success(held.receiveMessage());
    success(shard.pullAs("c").receiveMessage());
  }

  @Test
  void aPullThatOnlyReadsIsNeverHeld() {
    Shard shard = started(setup(sgd(0.1), 1, 0, TrainingMode.SSP));
    shard.updateRoster(1, "a", "b");
    push(shard, "a", 1, 0, 1, new float[] {1f, 1f, 1f, 1f}, StepRule.of(1));
    push(shard, "a", 2, 1, 1, new float[] {1f, 1f, 1f, 1f}, StepRule.of(1));

    assertEquals(2, success(shard.tryPull(io.tessera.protocol.tensor.WirePrecision.FP32)).version());
    assertEquals(0, shard.status().maxClockLead(), "evaluation pulls do not count as a worker's");
  }
}
