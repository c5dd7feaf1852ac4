package io.tessera.worker.train;

import java.util.Arrays;

/**
 * One micro-batch on the host, ready to be copied to the device: patches laid out as {@code
 * (size, patchCount, patchValues)} and integer class labels.
 */
public record Batch(float[] patches, long[] labels, int size) {
  public Batch {
    if (labels.length != size) {
      throw new IllegalArgumentException("batch of " + size + " has " + labels.length + " labels");
    }
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof Batch that
        && size == that.size
        && Arrays.equals(patches, that.patches)
        && Arrays.equals(labels, that.labels);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(patches) + Arrays.hashCode(labels);
  }

  @Override
  public String toString() {
    return "Batch[" + size + " samples]";
  }
}
