package io.tessera.worker.train;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Gradient recording for the PyTorch engine, per thread.
 *
 * <p>DJL's {@code GradientCollector} allows only one collector per JVM at a time (a static flag),
 * which would serialise the workers that share a JVM in {@code bin/tessera demo}. PyTorch's grad
 * mode is thread-local and each worker trains on its own thread, so the workers switch it on for
 * themselves and call backward directly.
 */
final class Autograd {
  private Autograd() {}

  /** Switches gradient recording on or off for the calling thread. */
  static void record(boolean enabled) {
    JniUtils.setGradMode(enabled);
  }

  /**
   * Back-propagates a scalar; gradients add to what the parameters already hold, which is what
   * delayed updates need across micro-batches.
   */
  static void backward(NDArray scalar) {
    try (NDArray seed = scalar.onesLike()) {
      JniUtils.backward((PtNDArray) scalar, (PtNDArray) seed, false, false);
    }
  }
}
