package io.tessera.worker.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LossScalerTest {

  private static void clean(LossScaler scaler, int windows) {
    for (int i = 0; i < windows; i++) {
      assertTrue(scaler.update(false), "a clean window is applied");
    }
  }

  @Test
  void standardStartsAtTwoToTheSixteenth() {
    LossScaler scaler = LossScaler.standard();

    assertEquals(65536f, scaler.scale());
    assertEquals(0, scaler.skipped());
    clean(scaler, 1999);
    assertEquals(65536f, scaler.scale());
    clean(scaler, 1);
    assertEquals(131072f, scaler.scale());
  }

  @Test
  void anOverflowSkipsTheWindowAndHalvesTheScale() {
    LossScaler scaler = new LossScaler(1024f, 3, 2f, 0.5f);

    assertFalse(scaler.update(true));
    assertEquals(512f, scaler.scale());
    assertEquals(1, scaler.skipped());
    assertFalse(scaler.update(true));
    assertEquals(256f, scaler.scale());
    assertEquals(2, scaler.skipped());
  }

  @Test
  void growsAfterEachIntervalOfCleanWindows() {
    LossScaler scaler = new LossScaler(1024f, 3, 2f, 0.5f);

    clean(scaler, 2);
    assertEquals(1024f, scaler.scale());
    clean(scaler, 1);
    assertEquals(2048f, scaler.scale());
    clean(scaler, 3);
    assertEquals(4096f, scaler.scale(), "the count starts over after growing");
    assertEquals(0, scaler.skipped());
  }

  @Test
  void anOverflowStartsTheCleanCountOver() {
    LossScaler scaler = new LossScaler(1024f, 3, 2f, 0.5f);

    clean(scaler, 2);
    scaler.update(true); // 512
    clean(scaler, 2);
    assertEquals(512f, scaler.scale(), "two clean windows since the overflow are not yet three");
    clean(scaler, 1);
    assertEquals(1024f, scaler.scale());
  }

  @Test
  void unscaleDividesByTheCurrentScale() {
    LossScaler scaler = new LossScaler(8f, 1, 2f, 0.5f);
    float[] gradients = {8f, -4f, 0f, 1f, 80f};

    scaler.unscale(gradients);

    assertArrayEquals(new float[] {1f, -0.5f, 0f, 0.125f, 10f}, gradients);
    scaler.update(false); // grows to 16
    float[] next = {16f, 3.2f};
    scaler.unscale(next);
    assertArrayEquals(new float[] {1f, 0.2f}, next);
  }

  @Test
  void overflowedSpotsNanAndBothInfinities() {
    assertFalse(
        LossScaler.overflowed(new float[] {0f, -1f, Float.MAX_VALUE, -Float.MAX_VALUE, Float.MIN_VALUE}));
    assertFalse(LossScaler.overflowed(new float[0]));
    assertTrue(LossScaler.overflowed(new float[] {1f, Float.NaN, 2f}));
    assertTrue(LossScaler.overflowed(new float[] {1f, 2f, Float.POSITIVE_INFINITY}));
    assertTrue(LossScaler.overflowed(new float[] {Float.NEGATIVE_INFINITY, 1f}));
  }

  @Test
  void theScaleNeitherUnderflowsNorOverflows() {
    LossScaler shrinking = new LossScaler(Float.MIN_NORMAL * 4, 1, 2f, 0.5f);
    for (int i = 0; i < 5; i++) {
      shrinking.update(true);
    }
    assertEquals(Float.MIN_NORMAL, shrinking.scale());
    assertEquals(5, shrinking.skipped());

    LossScaler growing = new LossScaler(Float.MAX_VALUE / 3, 1, 2f, 0.5f);
    growing.update(false); // MAX / 3 * 2 is still finite
    assertEquals(Float.MAX_VALUE / 3 * 2, growing.scale());
    growing.update(false); // MAX / 3 * 4 is not: the scale stays
    assertEquals(Float.MAX_VALUE / 3 * 2, growing.scale());
  }

  @Test
  void refusesSettingsThatCannotWork() {
    assertRefused(() -> new LossScaler(0f, 10, 2f, 0.5f), "initialScale");
    assertRefused(() -> new LossScaler(Float.POSITIVE_INFINITY, 10, 2f, 0.5f), "initialScale");
    assertRefused(() -> new LossScaler(Float.NaN, 10, 2f, 0.5f), "initialScale");
    assertRefused(() -> new LossScaler(1f, 0, 2f, 0.5f), "growthInterval");
    assertRefused(() -> new LossScaler(1f, 10, 1f, 0.5f), "growthFactor");
    assertRefused(() -> new LossScaler(1f, 10, 2f, 1f), "backoffFactor");
    assertRefused(() -> new LossScaler(1f, 10, 2f, 0f), "backoffFactor");
  }

  private static void assertRefused(Runnable construct, String field) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, construct::run);
    assertTrue(e.getMessage().contains(field), e.getMessage());
  }
}
