package io.tessera.ps.optimizer;

/**
 * What AdamW and SGD share: the slice's decay mask, the step count, and checking a step's
 * arguments once so that the per-value loops need not.
 */
abstract class SliceOptimizer implements Optimizer {

  final DecayMask mask;

  private long steps;

  SliceOptimizer(DecayMask mask, long steps) {
    this.mask = mask;
    this.steps = steps;
  }

  @Override
  public final void step(float[] params, float[] meanGradient, double learningRate) {
    int size = mask.size();
    if (params.length != size || meanGradient.length != size) {
      throw new IllegalArgumentException(
          "params has "
              + params.length
              + " values and meanGradient "
              + meanGradient.length
              + " but the slice has "
              + size);
    }
    if (!(learningRate >= 0) || Double.isInfinite(learningRate)) {
      throw new IllegalArgumentException(
          "learning rate must be a finite number >= 0, was " + learningRate);
    }
    update(params, meanGradient, learningRate, steps + 1);
    steps++;
  }

  @Override
  public final long steps() {
    return steps;
  }

  /**
   * Applies step number {@code t} (1 for the first) to every run of the mask.
   *
   * <p>The counter moves only after this returns, so a step that throws is not counted.
   */
  abstract void update(float[] params, float[] gradient, double learningRate, long t);

  /**
   * A private copy of a restored buffer, after checking it has the length this slice and spec
   * need: a mismatch means the state belongs to another shard layout or another spec.
   */
  static float[] restoredBuffer(String name, float[] buffer, int expected) {
    if (buffer.length != expected) {
      throw new IllegalArgumentException(
          "optimizer state's "
              + name
              + " has "
              + buffer.length
              + " values but "
              + expected
              + " are expected for this slice and spec");
    }
    return buffer.clone();
  }
}
