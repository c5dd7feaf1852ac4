package io.tessera.protocol.spec;

/**
 * How the learning rate follows an operator's change of a running job's global batch from {@code
 * B} to {@code B'}: unchanged, times {@code B'/B}, or times {@code sqrt(B'/B)}.
 */
public enum LearningRateScaling {
  NONE,
  LINEAR,
  SQUARE_ROOT;

  /** The factor on the job's learning rate when its global batch is {@code current}. */
  public double factor(int originalGlobalBatch, int current) {
    double ratio = (double) current / originalGlobalBatch;
    return switch (this) {
      case NONE -> 1.0;
      case LINEAR -> ratio;
      case SQUARE_ROOT -> Math.sqrt(ratio);
    };
  }
}
