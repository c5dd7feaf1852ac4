package io.tessera.worker.train;

/**
 * Dynamic loss scaling for fp16 training, as PyTorch's {@code GradScaler} does it: the loss is
 * multiplied by a large scale so small gradients do not flush to zero in half precision, and the
 * gradients are divided by it again before the optimiser sees them. A window whose gradients
 * overflowed is skipped and the scale backs off; after a run of clean windows it grows again, so
 * the scale hovers just below the point of overflow.
 *
 * <p>Not thread-safe: it belongs to the one trainer that applies the windows, in order.
 */
public final class LossScaler {
  private final int growthInterval;
  private final float growthFactor;
  private final float backoffFactor;
  private float scale;
  private int cleanInARow;
  private long skipped;

  /**
   * @param initialScale the first scale; positive and finite
   * @param growthInterval clean windows in a row after which the scale grows; positive
   * @param growthFactor what the scale is multiplied by when it grows; above 1
   * @param backoffFactor what the scale is multiplied by on overflow; in (0, 1)
   */
  public LossScaler(float initialScale, int growthInterval, float growthFactor, float backoffFactor) {
    if (!(initialScale > 0) || !Float.isFinite(initialScale)) {
      throw new IllegalArgumentException("initialScale must be positive and finite, was " + initialScale);
    }
    if (growthInterval <= 0) {
      throw new IllegalArgumentException("growthInterval must be positive, was " + growthInterval);
    }
    if (!(growthFactor > 1) || !Float.isFinite(growthFactor)) {
      throw new IllegalArgumentException("growthFactor must be above 1 and finite, was " + growthFactor);
    }
    if (!(backoffFactor > 0 && backoffFactor < 1)) {
      throw new IllegalArgumentException("backoffFactor must be in (0, 1), was " + backoffFactor);
    }
    this.scale = initialScale;
    this.growthInterval = growthInterval;
    this.growthFactor = growthFactor;
    this.backoffFactor = backoffFactor;
  }

  /** PyTorch's defaults: scale 2^16, doubling after 2000 clean windows, halving on overflow. */
  public static LossScaler standard() {
    return new LossScaler(65536f, 2000, 2f, 0.5f);
  }

  /** The scale to multiply the next window's loss by. */
  public float scale() {
    return scale;
  }

  /** Windows skipped for overflow so far. */
  public long skipped() {
    return skipped;
  }

  /** Whether any value is NaN or infinite. */
  public static boolean overflowed(float[] gradients) {
    for (float gradient : gradients) {
      if (!Float.isFinite(gradient)) {
        return true;
      }
    }
    return false;
  }

  /** Divides the gradients, in place, by the current scale. */
  public void unscale(float[] gradients) {
    for (int i = 0; i < gradients.length; i++) {
      gradients[i] /= scale;
    }
  }

  /**
   * Records a window's outcome and adjusts the scale for the next one. On overflow the scale is
   * multiplied by the backoff factor, though never below {@link Float#MIN_NORMAL}; after {@code
   * growthInterval} clean windows in a row it is multiplied by the growth factor, unless that would
   * make it infinite.
   *
   * @return whether the window's gradients may be applied; false means skip the step
   */
  public boolean update(boolean overflow) {
    if (overflow) {
      skipped++;
      cleanInARow = 0;
      scale = Math.max(scale * backoffFactor, Float.MIN_NORMAL);
      return false;
    }
    cleanInARow++;
    if (cleanInARow == growthInterval) {
      cleanInARow = 0;
      float grown = scale * growthFactor;
      if (Float.isFinite(grown)) {
        scale = grown;
      }
    }
    return true;
  }
}
