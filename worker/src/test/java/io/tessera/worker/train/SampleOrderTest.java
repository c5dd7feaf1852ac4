package io.tessera.worker.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class SampleOrderTest {

  @Test
  void isAPermutationOfAllSamples() {
    for (int size : new int[] {0, 1, 2, 17, 3000}) {
      int[] order = SampleOrder.forEpoch(42, 3, size);

      assertArrayEquals(IntStream.range(0, size).toArray(), Arrays.stream(order).sorted().toArray());
    }
  }

  @Test
  void isTheSameForTheSameSeedAndEpoch() {
    assertArrayEquals(SampleOrder.forEpoch(42, 0, 1000), SampleOrder.forEpoch(42, 0, 1000));
    assertArrayEquals(SampleOrder.forEpoch(7, 5, 1000), SampleOrder.forEpoch(7, 5, 1000));
  }

  @Test
  void differsAcrossEpochsAndSeedsAndActuallyShuffles() {
    int[] epoch0 = SampleOrder.forEpoch(42, 0, 1000);
    int[] epoch1 = SampleOrder.forEpoch(42, 1, 1000);
    int[] otherSeed = SampleOrder.forEpoch(43, 0, 1000);

    assertFalse(Arrays.equals(epoch0, epoch1));
    assertFalse(Arrays.equals(epoch0, otherSeed));
    long inPlace = IntStream.range(0, 1000).filter(i -> epoch0[i] == i).count();
    // A uniform shuffle leaves about one sample in place.
    assertEquals(0, inPlace, 10);
  }
}
