package io.tessera.ps.optimizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.tensor.Segment;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class OptimizerRestoreTest {

  private static final int SIZE = 1000;

  private static final List<Segment> SEGMENTS =
      List.of(
          new Segment("embedding", 200, 0, 300, false),
          new Segment("dense.weight", 0, 300, 600, true),
          new Segment("dense.bias", 0, 900, 100, false));

  private static final OptimizerSpec ADAMW =
      OptimizerSpec.builder().optKind(OptimizerKind.ADAMW).optWeightDecay(0.1).build();

  private static Stream<OptimizerSpec> specs() {
    OptimizerSpec.Builder sgd =
        OptimizerSpec.builder().optKind(OptimizerKind.SGD).optLearningRate(0.05).optWeightDecay(1e-4);
    return Stream.of(
        ADAMW,
        sgd.optMomentum(0.0).optNesterov(false).build(),
        sgd.optMomentum(0.9).optNesterov(false).build(),
        sgd.optMomentum(0.9).optNesterov(true).build());
  }

  private static float[] randomValues(Random random) {
    float[] values = new float[SIZE];
    for (int i = 0; i < SIZE; i++) {
      values[i] = (float) random.nextGaussian();
    }
    return values;
  }

  private static void run(Optimizer optimizer, float[] params, Random gradients, int steps) {
    for (int i = 0; i < steps; i++) {
      long step = optimizer.steps();
      optimizer.step(params, randomValues(gradients), 1e-3 * (1 + step));
    }
  }

  @ParameterizedTest
  @MethodSource("specs")
  void restoredOptimizerContinuesBitIdentically(OptimizerSpec spec) {
    Random random = new Random(42);
    float[] params = randomValues(random);
    Optimizer original = Optimizer.create(spec, SIZE, SEGMENTS);
    run(original, params, random, 3);

    OptimizerState state = original.snapshot();
    Optimizer restored = Optimizer.restore(spec, SEGMENTS, state);
    float[] restoredParams = params.clone();
    long seed = random.nextLong();
    run(original, params, new Random(seed), 2);
    run(restored, restoredParams, new Random(seed), 2);

    assertEquals(5, restored.steps());
    assertArrayEquals(params, restoredParams);
    assertEquals(original.snapshot(), restored.snapshot());
  }

  @ParameterizedTest
  @MethodSource("specs")
  void snapshotIsNotChangedByLaterSteps(OptimizerSpec spec) {
    Random random = new Random(7);
    float[] params = randomValues(random);
    Optimizer optimizer = Optimizer.create(spec, SIZE, SEGMENTS);
    run(optimizer, params, random, 2);
    OptimizerState before = optimizer.snapshot();
    OptimizerState copy =
        new OptimizerState(before.kind(), before.steps(), before.first().clone(), before.second().clone());

    run(optimizer, params, random, 1);
    Optimizer.restore(spec, SEGMENTS, before).step(params, randomValues(random), 1e-3);

    assertEquals(copy, before);
  }

  @Test
  void restoreRefusesStateOfAnotherKind() {
    OptimizerState sgdState = new OptimizerState(OptimizerKind.SGD, 3, new float[SIZE], new float[0]);

    IllegalArgumentException error =
        assertThrows(
            IllegalArgumentException.class, () -> Optimizer.restore(ADAMW, SEGMENTS, sgdState));

    assertEquals(
        "optimizer state is for SGD but the spec asks for ADAMW", error.getMessage());
  }

  @Test
  void restoreRefusesMomentsOfAnotherSliceSize() {
    OptimizerState shorter =
        new OptimizerState(OptimizerKind.ADAMW, 3, new float[SIZE - 1], new float[SIZE - 1]);

    IllegalArgumentException error =
        assertThrows(
            IllegalArgumentException.class, () -> Optimizer.restore(ADAMW, SEGMENTS, shorter));

    assertEquals(
        "optimizer state's first moment has 999 values but 1000 are expected for this slice and"
            + " spec",
        error.getMessage());
  }

  @Test
  void restoreRefusesSecondMomentOfAnotherSize() {
    OptimizerState state =
        new OptimizerState(OptimizerKind.ADAMW, 3, new float[SIZE], new float[SIZE + 5]);

    IllegalArgumentException error =
        assertThrows(
            IllegalArgumentException.class, () -> Optimizer.restore(ADAMW, SEGMENTS, state));

    assertTrue(error.getMessage().contains("second moment has 1005 values"), error.getMessage());
  }

  @Test
  void restoreRefusesMomentumBufferWhenTheSpecHasNoMomentum() {
    OptimizerSpec plain =
        OptimizerSpec.builder().optKind(OptimizerKind.SGD).optMomentum(0.0).build();
    OptimizerState withMomentum =
        new OptimizerState(OptimizerKind.SGD, 3, new float[SIZE], new float[0]);

    IllegalArgumentException error =
        assertThrows(
            IllegalArgumentException.class, () -> Optimizer.restore(plain, SEGMENTS, withMomentum));

    assertTrue(
        error.getMessage().contains("momentum buffer has 1000 values but 0 are expected"),
        error.getMessage());
  }

  @Test
  void stepRefusesArraysOfAnotherSize() {
    Optimizer adam = Optimizer.create(ADAMW, SIZE, SEGMENTS);

    IllegalArgumentException error =
        assertThrows(
            IllegalArgumentException.class,
            () -> adam.step(new float[SIZE], new float[SIZE - 1], 1e-3));

    assertEquals(
        "params has 1000 values and meanGradient 999 but the slice has 1000", error.getMessage());
    assertEquals(0, adam.steps(), "a refused step is not counted");
  }

  @Test
  void stepRefusesNegativeOrNonFiniteLearningRates() {
    Optimizer adam = Optimizer.create(ADAMW, SIZE, SEGMENTS);
    float[] params = new float[SIZE];
    float[] gradient = new float[SIZE];

    for (double rate : new double[] {-1e-3, Double.NaN, Double.POSITIVE_INFINITY}) {
      assertThrows(IllegalArgumentException.class, () -> adam.step(params, gradient, rate));
    }
  }

  @Test
  void stateEqualityComparesBufferContents() {
    OptimizerState state =
        new OptimizerState(OptimizerKind.ADAMW, 2, new float[] {1f, 2f}, new float[] {3f, 4f});
    OptimizerState same =
        new OptimizerState(OptimizerKind.ADAMW, 2, new float[] {1f, 2f}, new float[] {3f, 4f});
    OptimizerState other =
        new OptimizerState(OptimizerKind.ADAMW, 2, new float[] {1f, 2f}, new float[] {3f, 5f});

    assertEquals(state, same);
    assertEquals(state.hashCode(), same.hashCode());
    assertNotEquals(state, other);
    assertEquals("OptimizerState[ADAMW, steps=2, first=2 values, second=2 values]", state.toString());
  }
}
