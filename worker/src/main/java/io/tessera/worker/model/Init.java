package io.tessera.worker.model;

import java.util.SplittableRandom;

/** How a parameter tensor starts out. */
public enum Init {
  ZEROS,
  ONES,
  /** Normal with standard deviation 0.02, the usual choice for ViT tokens and embeddings. */
  NORMAL,
  /** Glorot/Xavier uniform over the last two dimensions (fan-out, fan-in) of a weight matrix. */
  XAVIER_UNIFORM;

  void fill(float[] target, int offset, int[] shape, SplittableRandom random) {
    int size = 1;
    for (int dim : shape) {
      size *= dim;
    }
    switch (this) {
      case ZEROS -> java.util.Arrays.fill(target, offset, offset + size, 0f);
      case ONES -> java.util.Arrays.fill(target, offset, offset + size, 1f);
      case NORMAL -> {
        for (int i = 0; i < size; i++) {
          target[offset + i] = (float) (0.02 * gaussian(random));
        }
      }
      case XAVIER_UNIFORM -> {
        int fanOut = shape[0];
        int fanIn = size / fanOut;
        double bound = Math.sqrt(6.0 / (fanIn + fanOut));
        for (int i = 0; i < size; i++) {
          target[offset + i] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
      }
    }
  }

  // Box-Muller; SplittableRandom has no nextGaussian on Java 17.
  private static double gaussian(SplittableRandom random) {
    double u1 = 1.0 - random.nextDouble();
    double u2 = random.nextDouble();
    return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}
