package io.tessera.worker.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class PatchMaskingTest {

  private static final int[] POSITIONS = {0, 1, 2, 17, 500};

  private static int[] row(int[] values, int row, int width) {
    return Arrays.copyOfRange(values, row * width, (row + 1) * width);
  }

  private static float[] row(float[] values, int row, int width) {
    return Arrays.copyOfRange(values, row * width, (row + 1) * width);
  }

  @Test
  void keepsTheExpectedNumberOfPatchesPerSample() {
    // 16 * (1 - 0.75) = 4 kept, 12 hidden; 49 * (1 - 0.6) = 19.6, truncated to 19 kept.
    PatchMasking.Mask quarter = PatchMasking.draw(42, 0, POSITIONS, 16, 0.75);
    PatchMasking.Mask sixty = PatchMasking.draw(42, 0, POSITIONS, 49, 0.6);

    assertEquals(4, quarter.keep());
    assertEquals(19, sixty.keep());
    for (PatchMasking.Mask mask : new PatchMasking.Mask[] {quarter, sixty}) {
      assertEquals(POSITIONS.length, mask.batch());
      assertEquals(mask.batch() * mask.keep(), mask.keepIds().length);
      assertEquals(mask.batch() * mask.patches(), mask.restoreIds().length);
      assertEquals(mask.batch() * mask.patches(), mask.masked().length);
      for (int b = 0; b < mask.batch(); b++) {
        float[] masked = row(mask.masked(), b, mask.patches());
        int hidden = 0;
        for (float m : masked) {
          assertTrue(m == 0f || m == 1f, "masked holds only 0 and 1");
          hidden += (int) m;
        }
        assertEquals(mask.patches() - mask.keep(), hidden, "sample " + b);
      }
    }
  }

  @Test
  void keepsAtLeastOnePatchAtHighRatios() {
    // 4 * (1 - 0.9) = 0.4, which would keep nothing.
    PatchMasking.Mask mask = PatchMasking.draw(1, 0, new int[] {3}, 4, 0.9);

    assertEquals(1, mask.keep());
    assertEquals(3.0, IntStream.range(0, 4).mapToDouble(j -> mask.masked()[j]).sum());
  }

  @Test
  void keptIdsAreExactlyTheVisiblePatches() {
    PatchMasking.Mask mask = PatchMasking.draw(7, 3, POSITIONS, 16, 0.75);

    for (int b = 0; b < mask.batch(); b++) {
      Set<Integer> kept = new HashSet<>();
      for (int id : row(mask.keepIds(), b, mask.keep())) {
        assertTrue(kept.add(id), "patch " + id + " kept twice");
      }
      float[] masked = row(mask.masked(), b, mask.patches());
      Set<Integer> visible = new HashSet<>();
      for (int j = 0; j < mask.patches(); j++) {
        if (masked[j] == 0f) {
          visible.add(j);
        }
      }
      assertEquals(visible, kept, "sample " + b);
    }
  }

  @Test
  void restoreIdsInvertTheShuffle() {
    PatchMasking.Mask mask = PatchMasking.draw(7, 3, POSITIONS, 16, 0.75);

    for (int b = 0; b < mask.batch(); b++) {
      int[] keepIds = row(mask.keepIds(), b, mask.keep());
      int[] restore = row(mask.restoreIds(), b, mask.patches());
      float[] masked = row(mask.masked(), b, mask.patches());
      // Rebuild the shuffled order the way a decoder sees it: kept patches first, then the hidden
      // ones in the order restoreIds puts them.
      int[] shuffled = new int[mask.patches()];
      System.arraycopy(keepIds, 0, shuffled, 0, mask.keep());
      for (int j = 0; j < mask.patches(); j++) {
        if (masked[j] == 1f) {
          assertTrue(restore[j] >= mask.keep(), "a hidden patch sits after the kept ones");
          shuffled[restore[j]] = j;
        } else {
          assertTrue(restore[j] < mask.keep(), "a kept patch sits among the kept ones");
        }
      }
      assertArrayEquals(
          IntStream.range(0, mask.patches()).sorted().toArray(),
          Arrays.stream(shuffled).sorted().toArray(),
          "the shuffle is a permutation");
      // Gathering the shuffled sequence at restoreIds gives every patch back in place.
      int[] unshuffled = new int[mask.patches()];
      for (int j = 0; j < mask.patches(); j++) {
        unshuffled[j] = shuffled[restore[j]];
      }
      assertArrayEquals(IntStream.range(0, mask.patches()).toArray(), unshuffled, "sample " + b);
    }
  }

  @Test
  void theSameSampleIsMaskedTheSameWayWhateverBatchItIsIn() {
    PatchMasking.Mask batch = PatchMasking.draw(42, 2, new int[] {10, 11, 12}, 16, 0.75);
    PatchMasking.Mask alone = PatchMasking.draw(42, 2, new int[] {11}, 16, 0.75);
    PatchMasking.Mask again = PatchMasking.draw(42, 2, new int[] {10, 11, 12}, 16, 0.75);

    assertArrayEquals(row(batch.keepIds(), 1, 4), alone.keepIds());
    assertArrayEquals(row(batch.restoreIds(), 1, 16), alone.restoreIds());
    assertArrayEquals(row(batch.masked(), 1, 16), alone.masked());
    assertArrayEquals(batch.keepIds(), again.keepIds());
    assertArrayEquals(batch.restoreIds(), again.restoreIds());
    assertArrayEquals(batch.masked(), again.masked());
  }

  @Test
  void differentPositionsEpochsAndSeedsGetDifferentMasks() {
    int[] positions = IntStream.range(0, 200).toArray();
    PatchMasking.Mask mask = PatchMasking.draw(42, 0, positions, 49, 0.75);
    Set<String> distinct = new HashSet<>();
    for (int b = 0; b < mask.batch(); b++) {
      distinct.add(Arrays.toString(row(mask.restoreIds(), b, 49)));
    }
    // 49! shuffles: two of 200 samples sharing one would mean the seeding is broken.
    assertEquals(200, distinct.size());

    int[] one = {5};
    int[] base = PatchMasking.draw(42, 0, one, 49, 0.75).restoreIds();
    assertFalse(Arrays.equals(base, PatchMasking.draw(42, 1, one, 49, 0.75).restoreIds()));
    assertFalse(Arrays.equals(base, PatchMasking.draw(43, 0, one, 49, 0.75).restoreIds()));
  }

  @Test
  void everyPatchIsHiddenAboutEquallyOften() {
    int[] positions = IntStream.range(0, 4000).toArray();
    PatchMasking.Mask mask = PatchMasking.draw(9, 0, positions, 16, 0.75);
    double[] hiddenShare = new double[16];
    for (int i = 0; i < mask.masked().length; i++) {
      hiddenShare[i % 16] += mask.masked()[i] / positions.length;
    }
    // Each patch is hidden with probability 12/16; 4000 draws put the share within ~0.007 (1 sd).
    for (int j = 0; j < 16; j++) {
      assertEquals(0.75, hiddenShare[j], 0.04, "patch " + j);
    }
  }

  @Test
  void ratioZeroKeepsEveryPatchInOrder() {
    PatchMasking.Mask mask = PatchMasking.draw(42, 0, new int[] {4, 9}, 5, 0.0);

    assertEquals(5, mask.keep());
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 0, 1, 2, 3, 4}, mask.keepIds());
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 0, 1, 2, 3, 4}, mask.restoreIds());
    assertArrayEquals(new float[10], mask.masked());
  }

  @Test
  void refusesRatiosOutsideTheUnitIntervalAndEmptyInput() {
    for (double ratio : new double[] {1.0, -0.1, 1.5, Double.NaN}) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> PatchMasking.draw(1, 0, POSITIONS, 16, ratio));
      assertTrue(e.getMessage().contains(String.valueOf(ratio)), e.getMessage());
    }
    IllegalArgumentException empty =
        assertThrows(IllegalArgumentException.class, () -> PatchMasking.draw(1, 0, new int[0], 16, 0.5));
    assertTrue(empty.getMessage().contains("positions"), empty.getMessage());
    IllegalArgumentException noPatches =
        assertThrows(IllegalArgumentException.class, () -> PatchMasking.draw(1, 0, POSITIONS, 0, 0.5));
    assertTrue(noPatches.getMessage().contains("0"), noPatches.getMessage());
  }
}
