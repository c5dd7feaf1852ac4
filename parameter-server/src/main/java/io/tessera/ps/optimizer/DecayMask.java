package io.tessera.ps.optimizer;

import io.tessera.protocol.tensor.Segment;
import java.util.Arrays;
import java.util.List;

/**
 * Where weight decay applies in a shard's slice, as a list of maximal runs that either all decay
 * or all do not. Optimizers loop run by run so that the per-value loop carries no mask lookup and
 * stays vectorizable.
 */
final class DecayMask {

  /** Run {@code r} covers {@code [bounds[r], bounds[r + 1])}. */
  private final int[] bounds;

  private final boolean[] decays;

  private DecayMask(int[] bounds, boolean[] decays) {
    this.bounds = bounds;
    this.decays = decays;
  }

  /**
   * The mask of a slice of {@code size} values described by {@code segments}, which must lie end
   * to end in slice order from 0 to {@code size}: a gap or overlap means the caller's layout and
   * slice disagree, and guessing the decay of the uncovered values would hide that.
   */
  static DecayMask of(List<Segment> segments, int size) {
    if (size < 0) {
      throw new IllegalArgumentException("slice size must be >= 0, was " + size);
    }
    long end = extent(segments);
    if (end != size) {
      throw new IllegalArgumentException(
          "segments cover [0, " + end + ") but the slice has " + size + " values");
    }
    return build(segments);
  }

  /** The mask of the slice that {@code segments} cover end to end, starting at 0. */
  static DecayMask of(List<Segment> segments) {
    long end = extent(segments);
    if (end > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("segments cover more than 2^31 - 1 values");
    }
    return build(segments);
  }

  /** Checks that the segments lie end to end from 0 and returns where the last one ends. */
  private static long extent(List<Segment> segments) {
    long end = 0;
    for (Segment segment : segments) {
      if (segment.length() < 0) {
        throw new IllegalArgumentException(
            "segment of tensor " + segment.tensor() + " has negative length " + segment.length());
      }
      if (segment.shardOffset() != end) {
        throw new IllegalArgumentException(
            "segment of tensor "
                + segment.tensor()
                + " starts at "
                + segment.shardOffset()
                + " but the previous segment ends at "
                + end
                + "; segments must lie end to end in slice order");
      }
      end += segment.length();
    }
    return end;
  }

  private static DecayMask build(List<Segment> segments) {
    int[] bounds = new int[segments.size() + 1];
    boolean[] decays = new boolean[segments.size()];
    int runs = 0;
    for (Segment segment : segments) {
      if (segment.length() == 0) {
        continue;
      }
      if (runs > 0 && decays[runs - 1] == segment.decay()) {
        bounds[runs] = segment.shardOffset() + segment.length();
      } else {
        bounds[runs] = segment.shardOffset();
        decays[runs] = segment.decay();
        bounds[runs + 1] = segment.shardOffset() + segment.length();
        runs++;
      }
    }
    return new DecayMask(Arrays.copyOf(bounds, runs + 1), Arrays.copyOf(decays, runs));
  }

  /** Number of values in the slice. */
  int size() {
    return bounds[bounds.length - 1];
  }

  /** Number of runs; adjacent segments with the same decay share one run. */
  int runs() {
    return decays.length;
  }

  /** First index of run {@code run}. */
  int from(int run) {
    return bounds[run];
  }

  /** One past the last index of run {@code run}. */
  int to(int run) {
    return bounds[run + 1];
  }

  /** Whether weight decay applies to every value of run {@code run}. */
  boolean decays(int run) {
    return decays[run];
  }

  /** Whether weight decay applies to the value at {@code index} of the slice. */
  boolean decaysAt(int index) {
    if (index < 0 || index >= size()) {
      throw new IndexOutOfBoundsException("index " + index + " outside a slice of " + size());
    }
    int low = 0;
    int high = runs() - 1;
    while (low < high) {
      int middle = (low + high + 1) >>> 1;
      if (bounds[middle] <= index) {
        low = middle;
      } else {
        high = middle - 1;
      }
    }
    return decays[low];
  }
}
