package io.tessera.ps.optimizer;

import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;

/**
 * Stochastic gradient descent with L2 weight decay folded into the gradient, {@code g' = g + wd
 * * p} where the mask says so, and optionally (Nesterov) momentum: {@code buf = momentum * buf +
 * g'}, then {@code p -= lr * buf}, or {@code p -= lr * (g' + momentum * buf)} for Nesterov.
 *
 * <p>The buffer starts at zero, so the first step's buffer is {@code g'} as in the usual
 * formulation. Without momentum there is no buffer at all: it would only ever equal {@code g'}.
 */
final class SgdMomentum extends SliceOptimizer {

  private static final float[] NO_BUFFER = new float[0];

  private final float[] buffer;
  private final float momentum;
  private final boolean nesterov;
  private final float weightDecay;

  private SgdMomentum(OptimizerSpec spec, DecayMask mask, long steps, float[] buffer) {
    super(mask, steps);
    this.buffer = buffer;
    this.momentum = (float) spec.momentum();
    this.nesterov = spec.nesterov();
    this.weightDecay = (float) spec.weightDecay();
  }

  static SgdMomentum create(OptimizerSpec spec, DecayMask mask) {
    return new SgdMomentum(spec, mask, 0, new float[bufferSize(spec, mask)]);
  }

  static SgdMomentum restore(OptimizerSpec spec, DecayMask mask, OptimizerState state) {
    float[] buffer =
        restoredBuffer("momentum buffer", state.first(), bufferSize(spec, mask));
    restoredBuffer("second moment", state.second(), 0);
    return new SgdMomentum(spec, mask, state.steps(), buffer);
  }

  private static int bufferSize(OptimizerSpec spec, DecayMask mask) {
    return spec.momentum() == 0 ? 0 : mask.size();
  }

  @Override
  public OptimizerState snapshot() {
    return new OptimizerState(OptimizerKind.SGD, steps(), buffer.clone(), NO_BUFFER);
  }

  @Override
  void update(float[] params, float[] gradient, double learningRate, long t) {
    float lr = (float) learningRate;
    for (int run = 0; run < mask.runs(); run++) {
      float wd = mask.decays(run) ? weightDecay : 0f;
      int from = mask.from(run);
      int to = mask.to(run);
      if (buffer.length == 0) {
        plainRun(params, gradient, from, to, lr, wd);
      } else if (nesterov) {
        nesterovRun(params, gradient, from, to, lr, wd);
      } else {
        momentumRun(params, gradient, from, to, lr, wd);
      }
    }
  }

  private static void plainRun(float[] p, float[] g, int from, int to, float lr, float wd) {
    for (int i = from; i < to; i++) {
      float pi = p[i];
      p[i] = pi - lr * (g[i] + wd * pi);
    }
  }

  private void momentumRun(float[] p, float[] g, int from, int to, float lr, float wd) {
    float[] buf = buffer;
    float mu = momentum;
    for (int i = from; i < to; i++) {
      float pi = p[i];
      float bi = mu * buf[i] + (g[i] + wd * pi);
      buf[i] = bi;
      p[i] = pi - lr * bi;
    }
  }

  private void nesterovRun(float[] p, float[] g, int from, int to, float lr, float wd) {
    float[] buf = buffer;
    float mu = momentum;
    for (int i = from; i < to; i++) {
      float pi = p[i];
      float gi = g[i] + wd * pi;
      float bi = mu * buf[i] + gi;
      buf[i] = bi;
      p[i] = pi - lr * (gi + mu * bi);
    }
  }
}
