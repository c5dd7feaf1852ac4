package io.tessera.worker.train;

import java.util.SplittableRandom;

/**
 * The order in which an epoch visits the training samples: a Fisher-Yates shuffle seeded by the
 * job's seed and the epoch number. Every worker, and the reference trainer, computes the same
 * order, so a split (a range of positions in it) means the same samples everywhere.
 */
public final class SampleOrder {
  private SampleOrder() {}

  public static int[] forEpoch(long seed, int epoch, int size) {
    int[] order = new int[size];
    for (int i = 0; i < size; i++) {
      order[i] = i;
    }
    SplittableRandom random = new SplittableRandom(seed * 1_000_003L + epoch);
    for (int i = size - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int swap = order[i];
      order[i] = order[j];
      order[j] = swap;
    }
    return order;
  }
}
