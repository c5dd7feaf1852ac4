package io.tessera.protocol.spec;

/** How the learning rate moves over a job's optimizer steps, after the linear warm-up. */
public enum LearningRateSchedule {
  /** Stay at the base learning rate. */
  CONSTANT,
  /**
   * Half a cosine from the base rate, right after warm-up, down to {@code min-learning-rate} at
   * step {@code totalSteps}, one past the last step, so that the last step still moves.
   */
  COSINE;

  /**
   * The learning rate at a step.
   *
   * @param step optimizer steps applied so far (0 for the first step)
   * @param totalSteps the job's planned optimizer steps
   */
  public double rateAt(OptimizerSpec spec, long step, long totalSteps) {
    double base = spec.learningRate();
    if (step < spec.warmupSteps()) {
      return base * (step + 1) / spec.warmupSteps();
    }
    if (this == CONSTANT || totalSteps <= spec.warmupSteps()) {
      return base;
    }
    double progress =
        Math.min(1.0, (double) (step - spec.warmupSteps()) / (totalSteps - spec.warmupSteps()));
    double min = spec.minLearningRate();
    return min + 0.5 * (base - min) * (1.0 + Math.cos(Math.PI * progress));
  }
}
