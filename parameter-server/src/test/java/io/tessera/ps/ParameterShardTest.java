package io.tessera.ps;

import static io.tessera.ps.TestingShards.ONE_TENSOR;
import static io.tessera.ps.TestingShards.errorText;
import static io.tessera.ps.TestingShards.setup;
import static io.tessera.ps.TestingShards.sgd;
import static io.tessera.ps.TestingShards.success;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Accepted;
import io.tessera.protocol.ps.ShardProtocol.Duplicate;
import io.tessera.protocol.ps.ShardProtocol.Initialized;
import io.tessera.protocol.ps.ShardProtocol.Pulled;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import io.tessera.protocol.ps.ShardProtocol.Stale;
import io.tessera.protocol.spec.LearningRateSchedule;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.ps.TestingShards.Shard;
import io.tessera.ps.optimizer.Optimizer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The parameter shard's rules, one shard spawned directly per test: initialisation, gradient
 * accumulation up to the global batch, staleness (versions and epochs), de-duplication, refusal of
 * malformed pushes, wire precision of pulls and the optimizer and schedule it applies.
 * Checkpoints and recovery are {@link ParameterShardRecoveryTest}'s.
 *
 * <p>Most tests use plain SGD (no momentum, no decay, constant rate), so a step is {@code p -= lr
 * * sum / samples}, and pick values whose arithmetic is exact in fp32.
 */
class ParameterShardTest {

  private static final float[] INITIAL = {1f, 2f, -3f, 0.5f};

  @TempDir static Path snapshots;

  private static ActorTestKit testKit;
  private static TestingShards shards;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("ParameterShardTest", TestingShards.persistenceConfig(snapshots));
    shards = new TestingShards(testKit);
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  // ---------------------------------------------------------------- before initialisation

  @Test
  void pullBeforeInitialisationIsAnErrorNamingTheShard() {
    Shard shard = shards.startFresh();

    String error = errorText(shard.tryPull(WirePrecision.FP32));

    assertTrue(error.contains(shard.entityId), error);
    assertTrue(error.contains("not been initialised"), error);
  }

  @Test
  void pushBeforeInitialisationIsAnErrorAndCountsNothing() {
    Shard shard = shards.startFresh();

    String error =
        errorText(shard.tryPush("w1", 1, 0, 0, 2, new float[] {1f, 1f, 1f, 1f}, ShardProtocol.StepRule.of(2)));

    assertTrue(error.contains(shard.entityId), error);
    ShardStatus status = shard.status();
    assertFalse(status.initialized());
    assertEquals(-1, status.checkpointId());
    assertEquals(0, status.pushesAccepted());
    assertEquals(0, status.pendingSamples());
  }

  // ---------------------------------------------------------------- initialisation

  @Test
  void initialiseThenPullReturnsTheInitialValuesAtVersionZero() {
    Shard shard = shards.startFresh();

    assertEquals(new Initialized(0, true), shard.initialize(setup(sgd(0.5), 4, 1), INITIAL));

    Pulled pulled = shard.pull(WirePrecision.FP32);
    assertEquals(0, pulled.shard());
    assertEquals(0, pulled.epoch());
    assertEquals(0, pulled.version());
    assertEquals(WirePrecision.FP32, pulled.values().precision());
    assertArrayEquals(INITIAL, pulled.values().decode());
    ShardStatus status = shard.status();
    assertEquals(shard.entityId, status.entityId());
    assertTrue(status.initialized());
    assertEquals(0, status.checkpointId(), "the initial values are checkpoint 0");
  }

  @Test
  void secondInitialiseIsNotFreshAndChangesNothing() {
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    // One step first, so that "unchanged" also covers the version.
    assertEquals(new Accepted(1), shard.push("w1", 1, 0, 1, new float[] {2f, 0f, 0f, 0f}));
    float[] afterStep = {0f, 2f, -3f, 0.5f};

    // Other values, another optimizer and another batch: all must be ignored.
    assertEquals(
        new Initialized(1, false),
        shard.initialize(setup(sgd(4.0), 100, 0), new float[] {9f, 9f, 9f, 9f}));

    Pulled pulled = shard.pull(WirePrecision.FP32);
    assertEquals(1, pulled.version());
    assertArrayEquals(afterStep, pulled.values().decode());
    // The original global batch of 1 and rate of 0.5 still hold: p0 = 0 - 0.5 * 2 = -1.
    assertEquals(new Accepted(2), shard.push("w1", 2, 1, 1, new float[] {2f, 0f, 0f, 0f}));
    assertArrayEquals(new float[] {-1f, 2f, -3f, 0.5f}, shard.values());
  }

  @Test
  void initialiseWithTheWrongNumberOfValuesIsRefusedAndLeavesTheShardFresh() {
    Shard shard = shards.startFresh();

    String error = errorText(shard.tryInitialize(setup(sgd(0.5), 1, 1), new float[] {1f, 2f, 3f}));

    assertTrue(error.contains(shard.entityId) && error.contains("covers 4 values"), error);
    assertFalse(shard.status().initialized());
    assertEquals(new Initialized(0, true), shard.initialize(setup(sgd(0.5), 1, 1), INITIAL));
  }

  // ---------------------------------------------------------------- accumulation

  @Test
  void pushesBelowTheGlobalBatchAccumulateAndTheOneReachingItStepsOnceWithTheMean() {
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), 4, 1), INITIAL);
    float[] g1 = {2f, -4f, 8f, 0f};
    float[] g2 = {6f, 4f, 0f, -2f};

    assertEquals(new Accepted(0), shard.push("w1", 1, 0, 2, g1));

    ShardStatus pending = shard.status();
    assertEquals(0, pending.version());
    assertEquals(2, pending.pendingSamples());
    assertArrayEquals(INITIAL, shard.values());

    assertEquals(new Accepted(1), shard.push("w2", 1, 0, 2, g2));

    // mean = (g1 + g2) / 4 = {8, 0, 8, -2} / 4 = {2, 0, 2, -0.5}
    // p1 = p0 - 0.5 * mean = {1 - 1, 2 - 0, -3 - 1, 0.5 + 0.25}
    Pulled pulled = shard.pull(WirePrecision.FP32);
    assertEquals(1, pulled.version());
    assertArrayEquals(new float[] {0f, 2f, -4f, 0.75f}, pulled.values().decode());
    ShardStatus stepped = shard.status();
    assertEquals(1, stepped.version());
    assertEquals(0, stepped.pendingSamples());
    assertEquals(2, stepped.pushesAccepted());
  }

  @Test
  void overshootingTheGlobalBatchAveragesOverAllAccumulatedSamples() {
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), 4, 1), INITIAL);

    assertEquals(new Accepted(0), shard.push("w1", 1, 0, 3, new float[] {6f, -6f, 0f, 3f}));
    assertEquals(new Accepted(1), shard.push("w2", 1, 0, 3, new float[] {6f, -6f, 12f, 0f}));

    // 6 samples, not 4: mean = {12, -12, 12, 3} / 6 = {2, -2, 2, 0.5}
    // p1 = {1 - 1, 2 + 1, -3 - 1, 0.5 - 0.25}; dividing by 4 would give {-0.5, 3.5, -4.5, 0.125}.
    Pulled pulled = shard.pull(WirePrecision.FP32);
    assertEquals(1, pulled.version());
    // 1/6 is not exact in fp32; the shard scales by the float reciprocal.
    assertArrayEquals(new float[] {0f, 3f, -4f, 0.25f}, pulled.values().decode(), 1e-6f);
    assertEquals(0, shard.status().pendingSamples());
  }

  @Test
  void theNextWindowStartsFromZeroAfterAStep() {
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), 2, 1), INITIAL);

    assertEquals(new Accepted(1), shard.push("w1", 1, 0, 2, new float[] {4f, 4f, 4f, 4f}));
    assertEquals(new Accepted(1), shard.push("w1", 2, 1, 1, new float[] {2f, 2f, 2f, 2f}));
    assertEquals(new Accepted(2), shard.push("w1", 3, 1, 1, new float[] {-2f, 0f, 2f, 4f}));

    // step 1: mean {2, 2, 2, 2}, p = {0, 1, -4, -0.5}
    // step 2: only the second window, mean {0, 1, 2, 3}, p = {0, 0.5, -5, -2}
    assertArrayEquals(new float[] {0f, 0.5f, -5f, -2f}, shard.values());
  }

  // ---------------------------------------------------------------- staleness

  @Test
  void aPushBasedOnAVersionTheShardHasNotReachedIsStale() {
    // After a rewind to a checkpoint, a worker may still hold parameters of a later version.
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    float[] g = {2f, 2f, 2f, 2f};
    assertEquals(new Stale(0), shard.push("w1", 1, 3, 1, g));
    assertEquals(0, shard.status().pendingSamples());
    assertEquals(1, shard.status().pushesStale());
  }

  @Test
  void aPushLaggingMoreThanTheStalenessBoundIsStaleAndNotApplied() {
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    float[] g = {2f, 2f, 2f, 2f};
    assertEquals(new Accepted(1), shard.push("w1", 1, 0, 1, g));
    assertEquals(new Accepted(2), shard.push("w1", 2, 1, 1, g));
    float[] afterTwoSteps = {-1f, 0f, -5f, -1.5f};
    assertArrayEquals(afterTwoSteps, shard.values());

    // version 2 - base 0 = 2 > staleness 1
    assertEquals(new Stale(2), shard.push("w2", 1, 0, 1, new float[] {100f, 100f, 100f, 100f}));

    assertArrayEquals(afterTwoSteps, shard.values());
    ShardStatus status = shard.status();
    assertEquals(2, status.version());
    assertEquals(1, status.pushesStale());
    assertEquals(0, status.pendingSamples());

    // version 2 - base 1 = 1: within the bound. A stale push does not use up its seq, so the
    // worker's recomputed push may carry the same one.
    assertEquals(new Accepted(3), shard.push("w2", 1, 1, 1, g));
    assertArrayEquals(new float[] {-2f, -1f, -6f, -2.5f}, shard.values());
    assertEquals(2 + 1, shard.status().pushesAccepted());
  }

  @Test
  void aPushFromAnotherEpochIsStaleEvenAtTheCurrentVersion() {
    Shard shard = shards.start(shards.newEntityId(), TestingShards.fresh(3));
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    float[] g = {2f, 2f, 2f, 2f};

    // Version 0 exists in every epoch; only the epoch tells these parameters apart.
    assertEquals(new Stale(0), success(shard.tryPush("w1", 1, 2, 0, 1, g)));
    assertEquals(new Stale(0), success(shard.tryPush("w1", 1, 4, 0, 1, g)));

    ShardStatus status = shard.status();
    assertEquals(2, status.pushesStale());
    assertEquals(0, status.pushesAccepted());
    assertEquals(0, status.pendingSamples());
    assertArrayEquals(INITIAL, shard.values());
    // The refusals did not use up the seq: the same push in epoch 3 is applied.
    assertEquals(new Accepted(1), success(shard.tryPush("w1", 1, 3, 0, 1, g)));
  }

  @Test
  void pullsCarryTheEpochOfThePlanTheShardStartedFrom() {
    Shard shard = shards.start(shards.newEntityId(), TestingShards.fresh(5));
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);

    Pulled pulled = shard.pull(WirePrecision.BF16);

    assertEquals(5, pulled.epoch());
    assertEquals(0, pulled.version());
    assertEquals(5, shard.status().epoch());
  }

  // ---------------------------------------------------------------- de-duplication

  @Test
  void aRepeatedOrOlderSeqIsDuplicateAndNotAppliedButOtherWorkersMayUseTheSameSeq() {
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), 8, 1), INITIAL);

    assertEquals(new Accepted(0), shard.push("w1", 5, 0, 2, new float[] {8f, 0f, 0f, 0f}));
    // Same (worker, seq), another gradient: if it were added, the step below would show it.
    assertEquals(new Duplicate(0), shard.push("w1", 5, 0, 2, new float[] {800f, 800f, 800f, 800f}));
    assertEquals(new Duplicate(0), shard.push("w1", 4, 0, 2, new float[] {800f, 800f, 800f, 800f}));

    ShardStatus afterDuplicates = shard.status();
    assertEquals(2, afterDuplicates.pendingSamples());
    assertEquals(1, afterDuplicates.pushesAccepted());
    assertEquals(2, afterDuplicates.pushesDuplicate());
    assertEquals(0, afterDuplicates.version());
    assertArrayEquals(INITIAL, shard.values());

    assertEquals(new Accepted(0), shard.push("w2", 5, 0, 2, new float[] {0f, 8f, 0f, 0f}));
    assertEquals(4, shard.status().pendingSamples());
    assertEquals(new Accepted(1), shard.push("w1", 6, 0, 4, new float[] {0f, 0f, 16f, 8f}));

    // mean = {8, 8, 16, 8} / 8 = {1, 1, 2, 1}; p1 = p0 - 0.5 * mean
    Pulled pulled = shard.pull(WirePrecision.FP32);
    assertEquals(1, pulled.version());
    assertArrayEquals(new float[] {0.5f, 1.5f, -4f, 0f}, pulled.values().decode());
    ShardStatus finalStatus = shard.status();
    assertEquals(3, finalStatus.pushesAccepted());
    assertEquals(2, finalStatus.pushesDuplicate());
    assertEquals(0, finalStatus.pendingSamples());
  }

  // ---------------------------------------------------------------- malformed pushes

  @Test
  void malformedPushesAreRefusedWithTheProblemNamedAndNothingApplied() {
    Shard shard = shards.startFresh();
    // A global batch of 1: any push that slipped through would take a step.
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);

    assertRefused(shard, 1, new float[] {1f, 1f, 1f}, "gradient has 3 values, the shard holds 4");
    assertRefused(shard, 0, new float[] {1f, 1f, 1f, 1f}, "covers 0 samples");
    assertRefused(shard, -2, new float[] {1f, 1f, 1f, 1f}, "covers -2 samples");
    assertRefused(shard, 1, new float[] {1f, Float.NaN, 1f, 1f}, "gradient value 1 is NaN");
    assertRefused(
        shard, 1, new float[] {1f, 1f, Float.NEGATIVE_INFINITY, 1f}, "gradient value 2 is -Infinity");
    // norm {0, 3e4, 4e4, 0} = 5e4, over 2 samples 2.5e4 per sample > 1e4
    assertRefused(
        shard, 2, new float[] {0f, 3e4f, 4e4f, 0f}, "exceeds tessera.ps.max-gradient-norm-per-sample");

    ShardStatus status = shard.status();
    assertEquals(6, status.pushesRejected());
    assertEquals(0, status.pushesAccepted());
    assertEquals(0, status.pendingSamples());
    assertEquals(0, status.version());
    assertArrayEquals(INITIAL, shard.values());

    // A refused push does not use up its seq either: the corrected push is applied.
    assertEquals(new Accepted(1), shard.push("w1", 1, 0, 1, new float[] {2f, 0f, 0f, 0f}));
    assertArrayEquals(new float[] {0f, 2f, -3f, 0.5f}, shard.values());
  }

  @Test
  void theGradientNormLimitIsPerSample() {
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), 100, 1), INITIAL);

    // The same sum of norm 5e4 over 5 samples is exactly the limit of 1e4 per sample: accepted.
    assertEquals(new Accepted(0), shard.push("w1", 1, 0, 5, new float[] {0f, 3e4f, 4e4f, 0f}));
    assertEquals(5, shard.status().pendingSamples());
  }

  @Test
  void anInfinitePushIsRefused() {
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);

    assertRefused(
        shard, 1, new float[] {Float.POSITIVE_INFINITY, 0f, 0f, 0f}, "gradient value 0 is Infinity");
    assertEquals(1, shard.status().pushesRejected());
  }

  // ---------------------------------------------------------------- wire precision

  @Test
  void pullsInHalfPrecisionAreWithinTheFormatsRounding() {
    Shard shard = shards.startFresh();
    float[] values = {1.2345678f, -3.1415927f, 1000.1f, 1.0e-3f};
    shard.initialize(setup(sgd(0.5), 1, 1), values);

    assertArrayEquals(values, shard.values());
    // Round to nearest, half an ulp: bf16 keeps 8 significant bits (relative error <= 2^-8),
    // fp16 11 (<= 2^-11) while the values stay in its normal range.
    assertWithinRelative(values, shard.pull(WirePrecision.BF16), WirePrecision.BF16, 0x1p-8f);
    assertWithinRelative(values, shard.pull(WirePrecision.FP16), WirePrecision.FP16, 0x1p-11f);
  }

  // ---------------------------------------------------------------- optimizer and schedule

  @Test
  void anAdamWShardStepsExactlyLikeTheOptimizerAppliedByHand() {
    OptimizerSpec adamw =
        OptimizerSpec.builder()
            .optKind(OptimizerKind.ADAMW)
            .optLearningRate(0.01)
            .optWeightDecay(0.1)
            .optSchedule(LearningRateSchedule.COSINE)
            .optWarmupSteps(2)
            .build();
    List<Segment> weightAndBias =
        List.of(new Segment("w", 0, 0, 3, true), new Segment("b", 0, 3, 1, false));
    ShardSetup setup =
        new ShardSetup("job-1", 0, new ShardRange(0, 0, 4), weightAndBias, adamw, 2, 1, 10, TrainingMode.ASYNC, false);
    Shard shard = shards.startFresh();
    shard.initialize(setup, INITIAL);
    float[][] sums = {{0.5f, -1.25f, 3f, 0.75f}, {-0.25f, 2f, 1f, -3.5f}};

    Optimizer reference = Optimizer.create(adamw, 4, weightAndBias);
    float[] expected = INITIAL.clone();
    for (int step = 0; step < sums.length; step++) {
      assertEquals(new Accepted(step + 1), shard.push("w1", step + 1, step, 2, sums[step]));
      float[] mean = sums[step].clone();
      for (int i = 0; i < mean.length; i++) {
        mean[i] *= 0.5f; // two samples
      }
      reference.step(expected, mean, adamw.learningRateAt(step, 10));

      Pulled pulled = shard.pull(WirePrecision.FP32);
      assertEquals(step + 1, pulled.version());
      assertArrayEquals(expected, pulled.values().decode(), "after step " + (step + 1));
    }
    assertNotEquals(INITIAL[0], expected[0]);
  }

  @Test
  void theLearningRateScheduleIsAppliedPerStep() {
    OptimizerSpec warmingUp =
        OptimizerSpec.builder()
            .optKind(OptimizerKind.SGD)
            .optLearningRate(1.0)
            .optMomentum(0)
            .optWeightDecay(0)
            .optSchedule(LearningRateSchedule.CONSTANT)
            .optWarmupSteps(4)
            .build();
    Shard shard = shards.startFresh();
    shard.initialize(
        new ShardSetup("job-1", 0, new ShardRange(0, 0, 4), ONE_TENSOR, warmingUp, 1, 1, 100, TrainingMode.ASYNC, false),
        new float[] {10f, 10f, 10f, 10f});
    float[] g = {4f, -8f, 2f, 0f};

    // step 0: lr = 1 * 1/4, p = 10 - 0.25 * g
    assertEquals(new Accepted(1), shard.push("w1", 1, 0, 1, g));
    assertArrayEquals(new float[] {9f, 12f, 9.5f, 10f}, shard.values());
    // step 1: lr = 1 * 2/4, p -= 0.5 * g
    assertEquals(new Accepted(2), shard.push("w1", 2, 1, 1, g));
    assertArrayEquals(new float[] {7f, 16f, 8.5f, 10f}, shard.values());
  }

  // ---------------------------------------------------------------- helpers

  private static void assertRefused(Shard shard, int samples, float[] gradientSum, String problem) {
    String error = errorText(shard.tryPush("w1", 1, 0, 0, samples, gradientSum));
    assertTrue(error.contains(shard.entityId) && error.contains(problem), error);
  }

  private static void assertWithinRelative(
      float[] exact, Pulled pulled, WirePrecision precision, float relative) {
    assertEquals(precision, pulled.values().precision());
    assertEquals(exact.length * 2, pulled.values().bytes().length);
    float[] values = pulled.values().decode();
    boolean rounded = false;
    for (int i = 0; i < exact.length; i++) {
      float error = Math.abs(values[i] - exact[i]);
      assertTrue(
          error <= Math.abs(exact[i]) * relative,
          precision + " value " + i + ": " + values[i] + " vs " + exact[i]);
      rounded |= values[i] != exact[i];
    }
    assertTrue(rounded, precision + " pull returned the fp32 values unchanged");
  }
}
