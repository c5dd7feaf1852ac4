package io.tessera.ps.optimizer;

import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;

/**
 * Adam with decoupled weight decay (Loshchilov and Hutter, "Decoupled Weight Decay
 * Regularization"): {@code p -= lr * (m̂ / (sqrt(v̂) + eps) + wd * p)}, the decay term only where
 * the mask says so.
 *
 * <p>The bias corrections are computed in double once per step and folded into two float
 * constants, so the per-value loop is float-only and the JIT can vectorize it; the buffers stay
 * float to keep the state the same size as the parameters.
 */
final class AdamW extends SliceOptimizer {

  private final float[] first;
  private final float[] second;
  private final double beta1;
  private final double beta2;
  private final float epsilon;
  private final double weightDecay;

  private AdamW(OptimizerSpec spec, DecayMask mask, long steps, float[] first, float[] second) {
    super(mask, steps);
    this.first = first;
    this.second = second;
    this.beta1 = spec.beta1();
    this.beta2 = spec.beta2();
    this.epsilon = (float) spec.epsilon();
    this.weightDecay = spec.weightDecay();
  }

  static AdamW create(OptimizerSpec spec, DecayMask mask) {
    return new AdamW(spec, mask, 0, new float[mask.size()], new float[mask.size()]);
  }

  static AdamW restore(OptimizerSpec spec, DecayMask mask, OptimizerState state) {
    return new AdamW(
        spec,
        mask,
        state.steps(),
        restoredBuffer("first moment", state.first(), mask.size()),
        restoredBuffer("second moment", state.second(), mask.size()));
  }

  @Override
  public OptimizerState snapshot() {
    return new OptimizerState(OptimizerKind.ADAMW, steps(), first.clone(), second.clone());
  }

  @Override
  void update(float[] params, float[] gradient, double learningRate, long t) {
    double correction1 = 1.0 - Math.pow(beta1, t);
    double correction2 = 1.0 - Math.pow(beta2, t);
    // m̂ / (sqrt(v̂) + eps) = (m / c1) / (sqrt(v) / sqrt(c2) + eps): the corrections become a
    // step size and a scale on sqrt(v), instead of two divisions per value.
    float stepSize = (float) (learningRate / correction1);
    float rootScale = (float) (1.0 / Math.sqrt(correction2));
    float decayedKeep = (float) (1.0 - learningRate * weightDecay);
    for (int run = 0; run < mask.runs(); run++) {
      float keep = mask.decays(run) ? decayedKeep : 1f;
      updateRun(params, gradient, mask.from(run), mask.to(run), keep, stepSize, rootScale);
    }
  }

  /**
   * One run of values that all decay or all do not; {@code keep} is {@code 1 - lr * wd} or 1, so
   * {@code keep * p - ...} is the decoupled decay without a branch per value.
   */
  private void updateRun(
      float[] p, float[] g, int from, int to, float keep, float stepSize, float rootScale) {
    float[] m = first;
    float[] v = second;
    float b1 = (float) beta1;
    float oneMinusB1 = (float) (1.0 - beta1);
    float b2 = (float) beta2;
    float oneMinusB2 = (float) (1.0 - beta2);
    float eps = epsilon;
    for (int i = from; i < to; i++) {
      float gi = g[i];
      float mi = b1 * m[i] + oneMinusB1 * gi;
      float vi = b2 * v[i] + oneMinusB2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = keep * p[i] - stepSize * mi / ((float) Math.sqrt(vi) * rootScale + eps);
    }
  }
}
