package io.tessera.worker.model;

import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;

/**
 * MAE-style random masking of image patches, drawn on the host rather than on the device so that
 * a sample's mask depends only on the job's seed, the epoch and the sample's position in the
 * epoch's order. Whichever worker trains a split, and however often it is retried, the same
 * patches are hidden.
 */
public final class PatchMasking {
  // Keeps this stream of draws apart from others seeded by the same (seed, epoch, position).
  private static final long SALT = 0x6D61736B50415443L;

  private PatchMasking() {}

  /**
   * The masks of one batch, each array row-major with one row per sample.
   *
   * @param keep patches kept (visible) per sample
   * @param keepIds {@code batch x keep}: the indices of the kept patches, in shuffled order (the
   *     first {@code keep} entries of each sample's shuffle, as MAE gathers them)
   * @param restoreIds {@code batch x patches}: the inverse of each sample's shuffle (MAE's {@code
   *     ids_restore}): {@code restoreIds[b][j]} is where patch {@code j} sits in the shuffled order
   * @param masked {@code batch x patches}: 1 where the patch is hidden, 0 where it is visible
   */
  public record Mask(int batch, int patches, int keep, int[] keepIds, int[] restoreIds, float[] masked) {}

  /**
   * Draws one mask per sample. Sample {@code i} shuffles its patches by the ascending argsort of
   * uniform noise from a generator seeded by {@code (seed, epoch, positions[i])} alone, and keeps
   * the first {@code keep = (int) (patches * (1 - ratio))} of them, at least one. When every patch
   * is kept (ratio 0) the shuffle is the identity, so the encoder sees the patches in order.
   *
   * @param positions the samples' positions in the epoch's order
   * @param ratio the fraction of patches to hide, in [0, 1)
   */
  public static Mask draw(long seed, int epoch, int[] positions, int patches, double ratio) {
    if (positions.length == 0) {
      throw new IllegalArgumentException("cannot mask an empty batch: positions is empty");
    }
    if (patches <= 0) {
      throw new IllegalArgumentException("patches must be positive, was " + patches);
    }
    if (!(ratio >= 0 && ratio < 1)) {
      throw new IllegalArgumentException("mask ratio must be in [0, 1), was " + ratio);
    }
    int batch = positions.length;
    int keep = Math.max(1, (int) (patches * (1 - ratio)));
    int[] keepIds = new int[batch * keep];
    int[] restoreIds = new int[batch * patches];
    float[] masked = new float[batch * patches];
    for (int b = 0; b < batch; b++) {
      int[] shuffle = keep == patches ? identity(patches) : shuffle(seed, epoch, positions[b], patches);
      System.arraycopy(shuffle, 0, keepIds, b * keep, keep);
      for (int k = 0; k < patches; k++) {
        restoreIds[b * patches + shuffle[k]] = k;
        masked[b * patches + shuffle[k]] = k < keep ? 0f : 1f;
      }
    }
    return new Mask(batch, patches, keep, keepIds, restoreIds, masked);
  }

  private static int[] identity(int patches) {
    int[] order = new int[patches];
    Arrays.setAll(order, i -> i);
    return order;
  }

  private static int[] shuffle(long seed, int epoch, int position, int patches) {
    SplittableRandom random = new SplittableRandom(sampleSeed(seed, epoch, position));
    double[] noise = new double[patches];
    for (int j = 0; j < patches; j++) {
      noise[j] = random.nextDouble();
    }
    // A stable sort, so that equal noise (vanishingly rare) still orders the same everywhere.
    Integer[] order = new Integer[patches];
    Arrays.setAll(order, i -> i);
    Arrays.sort(order, Comparator.comparingDouble(j -> noise[j]));
    return Arrays.stream(order).mapToInt(Integer::intValue).toArray();
  }

  private static long sampleSeed(long seed, int epoch, int position) {
    return mix(mix(mix(seed ^ SALT) + epoch) + position);
  }

  // SplitMix64's finaliser: nearby inputs (consecutive positions) give unrelated seeds.
  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
