package io.tessera.ps.optimizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.tensor.Segment;
import java.util.List;
import org.junit.jupiter.api.Test;

class AdamWTest {

  private static final float TOLERANCE = 1e-6f;

  /** A 3-value weight that decays followed by a 1-value bias that does not. */
  private static final List<Segment> WEIGHT_AND_BIAS =
      List.of(new Segment("w", 0, 0, 3, true), new Segment("b", 0, 3, 1, false));

  private static OptimizerSpec spec(double weightDecay) {
    return OptimizerSpec.builder()
        .optKind(OptimizerKind.ADAMW)
        .optLearningRate(0.1)
        .optBeta1(0.9)
        .optBeta2(0.999)
        .optEpsilon(1e-8)
        .optWeightDecay(weightDecay)
        .build();
  }

  @Test
  void twoStepsMatchHandArithmetic() {
    Optimizer adam = Optimizer.create(spec(0.1), 4, WEIGHT_AND_BIAS);
    float[] params = {1.0f, -2.0f, 0.5f, 3.0f};

    // t = 1: c1 = 0.1, c2 = 0.001, so m̂ = g and v̂ = g², and the Adam term is g / (|g| + eps).
    //   p0 = 1   - 0.1 * ( 1 + 0.1 *  1  ) = 0.89
    //   p1 = -2  - 0.1 * (-1 + 0.1 * -2  ) = -1.88
    //   p2 = 0.5 - 0.1 * ( 0 + 0.1 * 0.5 ) = 0.495   (g = 0: decay only)
    //   p3 = 3   - 0.1 *   1               = 2.9     (bias: no decay)
    adam.step(params, new float[] {0.5f, -1.0f, 0.0f, 2.0f}, 0.1);
    assertArrayEquals(new float[] {0.89f, -1.88f, 0.495f, 2.9f}, params, TOLERANCE);
    assertEquals(1, adam.steps());

    // t = 2: c1 = 1 - 0.81 = 0.19, c2 = 1 - 0.998001 = 0.001999.
    //   v0: m = 0.9*0.05 + 0.1*-0.5 = -0.005, v = 0.999*0.00025 + 0.001*0.25 = 0.00049975
    //       m̂ = -0.005/0.19 = -0.0263157895, v̂ = 0.25, term = -0.0263157895/0.5 = -0.0526315789
    //       p0 = 0.89 - 0.1 * (-0.0526315789 + 0.1*0.89) = 0.8863631579
    //   v1: g is -1 twice, so m̂ = -1, v̂ = 1, term = -1
    //       p1 = -1.88 - 0.1 * (-1 + 0.1*-1.88) = -1.7612
    //   v2: m = 0.01, v = 0.001*0.01 = 0.00001
    //       m̂ = 0.01/0.19 = 0.0526315789, v̂ = 0.00001/0.001999 = 0.0050025013, sqrt = 0.0707283624
    //       term = 0.7441367184; p2 = 0.495 - 0.1 * (0.7441367184 + 0.1*0.495) = 0.4156363282
    //   v3: g is 2 twice, so term = 1; p3 = 2.9 - 0.1 = 2.8
    adam.step(params, new float[] {-0.5f, -1.0f, 0.1f, 2.0f}, 0.1);
    assertArrayEquals(
        new float[] {0.8863631579f, -1.7612f, 0.4156363282f, 2.8f}, params, TOLERANCE);
    assertEquals(2, adam.steps());
  }

  @Test
  void biasCorrectedFirstStepMovesEveryValueByAboutTheLearningRate() {
    // Without correction the first step would be 0.1 / sqrt(0.001) ≈ 3.16 times smaller than lr.
    Optimizer adam = Optimizer.create(spec(0.0), 4, WEIGHT_AND_BIAS);
    float[] params = {0f, 0f, 0f, 0f};

    adam.step(params, new float[] {1e-3f, -5f, 300f, -0.25f}, 0.01);

    assertArrayEquals(new float[] {-0.01f, 0.01f, -0.01f, 0.01f}, params, 1e-7f);
  }

  @Test
  void weightDecayShrinksOnlyTheMaskedValues() {
    Optimizer adam = Optimizer.create(spec(0.5), 4, WEIGHT_AND_BIAS);
    float[] params = {2f, -4f, 8f, 8f};

    // A zero gradient leaves only the decay: p *= 1 - lr * wd = 1 - 0.1 * 0.5 = 0.95.
    adam.step(params, new float[4], 0.1);

    assertArrayEquals(new float[] {1.9f, -3.8f, 7.6f, 8f}, params, TOLERANCE);
    assertEquals(8f, params[3], 0f);
  }

  @Test
  void decayFollowsTheLearningRatePassedToTheStep() {
    Optimizer adam = Optimizer.create(spec(0.5), 4, WEIGHT_AND_BIAS);
    float[] params = {1f, 1f, 1f, 1f};

    // lr = 0.02: p *= 1 - 0.02 * 0.5 = 0.99
    adam.step(params, new float[4], 0.02);

    assertArrayEquals(new float[] {0.99f, 0.99f, 0.99f, 1f}, params, TOLERANCE);
  }
}
