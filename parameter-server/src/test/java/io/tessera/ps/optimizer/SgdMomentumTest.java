package io.tessera.ps.optimizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.tensor.Segment;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Three steps of each SGD variant on p = [1, -2, 4] with lr = 0.1, wd = 0.1, where the last value
 * does not decay; gradients [0.5, 1, -1], then [0.5, -1, 2], then zero.
 */
class SgdMomentumTest {

  private static final float TOLERANCE = 1e-6f;

  private static final List<Segment> WEIGHT_AND_BIAS =
      List.of(new Segment("w", 0, 0, 2, true), new Segment("b", 0, 2, 1, false));

  private static final float[][] GRADIENTS = {
    {0.5f, 1.0f, -1.0f}, {0.5f, -1.0f, 2.0f}, {0f, 0f, 0f},
  };

  private static Optimizer sgd(double momentum, boolean nesterov) {
    OptimizerSpec spec =
        OptimizerSpec.builder()
            .optKind(OptimizerKind.SGD)
            .optLearningRate(0.1)
            .optWeightDecay(0.1)
            .optMomentum(momentum)
            .optNesterov(nesterov)
            .build();
    return Optimizer.create(spec, 3, WEIGHT_AND_BIAS);
  }

  @Test
  void plainSgdMatchesHandArithmetic() {
    Optimizer sgd = sgd(0.0, false);
    float[] params = {1f, -2f, 4f};

    // g' = [0.5 + 0.1*1, 1 + 0.1*-2, -1] = [0.6, 0.8, -1]; p -= 0.1 * g'
    sgd.step(params, GRADIENTS[0], 0.1);
    assertArrayEquals(new float[] {0.94f, -2.08f, 4.1f}, params, TOLERANCE);

    // g' = [0.5 + 0.094, -1 - 0.208, 2] = [0.594, -1.208, 2]
    sgd.step(params, GRADIENTS[1], 0.1);
    assertArrayEquals(new float[] {0.8806f, -1.9592f, 3.9f}, params, TOLERANCE);

    // g' = [0.08806, -0.19592, 0]: only the decay moves the weights, the bias stays
    sgd.step(params, GRADIENTS[2], 0.1);
    assertArrayEquals(new float[] {0.871794f, -1.939608f, 3.9f}, params, TOLERANCE);
    assertEquals(0, sgd.snapshot().first().length, "plain SGD keeps no buffer");
  }

  @Test
  void momentumMatchesHandArithmetic() {
    Optimizer sgd = sgd(0.9, false);
    float[] params = {1f, -2f, 4f};

    // buf = g' = [0.6, 0.8, -1]; p -= 0.1 * buf
    sgd.step(params, GRADIENTS[0], 0.1);
    assertArrayEquals(new float[] {0.94f, -2.08f, 4.1f}, params, TOLERANCE);

    // g' = [0.594, -1.208, 2]; buf = 0.9*[0.6, 0.8, -1] + g' = [1.134, -0.488, 1.1]
    sgd.step(params, GRADIENTS[1], 0.1);
    assertArrayEquals(new float[] {0.8266f, -2.0312f, 3.99f}, params, TOLERANCE);

    // g' = [0.08266, -0.20312, 0]; buf = 0.9*[1.134, -0.488, 1.1] + g' = [1.10326, -0.64232, 0.99]
    sgd.step(params, GRADIENTS[2], 0.1);
    assertArrayEquals(new float[] {0.716274f, -1.966968f, 3.891f}, params, TOLERANCE);
    assertArrayEquals(
        new float[] {1.10326f, -0.64232f, 0.99f}, sgd.snapshot().first(), TOLERANCE);
  }

  @Test
  void nesterovMatchesHandArithmetic() {
    Optimizer sgd = sgd(0.9, true);
    float[] params = {1f, -2f, 4f};

    // buf = g' = [0.6, 0.8, -1]; p -= 0.1 * (g' + 0.9*buf) = 0.1 * 1.9 * g'
    sgd.step(params, GRADIENTS[0], 0.1);
    assertArrayEquals(new float[] {0.886f, -2.152f, 4.19f}, params, TOLERANCE);

    // g' = [0.5 + 0.0886, -1 - 0.2152, 2] = [0.5886, -1.2152, 2]
    // buf = [0.54 + 0.5886, 0.72 - 1.2152, -0.9 + 2] = [1.1286, -0.4952, 1.1]
    // g' + 0.9*buf = [1.60434, -1.66088, 2.99]
    sgd.step(params, GRADIENTS[1], 0.1);
    assertArrayEquals(new float[] {0.725566f, -1.985912f, 3.891f}, params, TOLERANCE);

    // g' = [0.0725566, -0.1985912, 0]; buf = [1.0882966, -0.6442712, 0.99]
    // g' + 0.9*buf = [1.05202354, -0.77843528, 0.891]
    sgd.step(params, GRADIENTS[2], 0.1);
    assertArrayEquals(new float[] {0.620363646f, -1.908068472f, 3.8019f}, params, TOLERANCE);
    assertEquals(3, sgd.steps());
  }
}
