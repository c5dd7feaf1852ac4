package io.tessera.worker.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.spec.ModelSpec;
import io.tessera.worker.data.ImageSet;
import io.tessera.worker.testing.TestFixtures;
import org.junit.jupiter.api.Test;

class BatchAssemblerTest {

  private static final int SIDE = 28;
  private static final int PATCH = 7;
  private static final int PATCH_VALUES = PATCH * PATCH;
  private static final int VALUES_PER_IMAGE = 16 * PATCH_VALUES;

  /** Raw value of pixel (row, col) of image {@code i}: distinct across a row, column and image. */
  private static int pixel(int i, int row, int col) {
    return (row * 5 + col * 3 + i * 101) % 256;
  }

  private static ImageSet images(int count) {
    byte[] pixels = new byte[count * SIDE * SIDE];
    byte[] labels = new byte[count];
    for (int i = 0; i < count; i++) {
      labels[i] = (byte) ((i * 3) % 10);
      for (int r = 0; r < SIDE; r++) {
        for (int c = 0; c < SIDE; c++) {
          pixels[(i * SIDE + r) * SIDE + c] = (byte) pixel(i, r, c);
        }
      }
    }
    return ImageSet.of(SIDE, SIDE, pixels, labels);
  }

  /** Patch {@code p} of image {@code i} written out by hand: rows of the patch, left to right. */
  private static float[] expectedPatch(int i, int p) {
    int top = (p / 4) * PATCH;
    int left = (p % 4) * PATCH;
    float[] patch = new float[PATCH_VALUES];
    for (int r = 0; r < PATCH; r++) {
      for (int c = 0; c < PATCH; c++) {
        patch[r * PATCH + c] = pixel(i, top + r, left + c) / 255f;
      }
    }
    return patch;
  }

  private static float[] patchOf(Batch batch, int slot, int p) {
    float[] patch = new float[PATCH_VALUES];
    System.arraycopy(batch.patches(), slot * VALUES_PER_IMAGE + p * PATCH_VALUES, patch, 0, PATCH_VALUES);
    return patch;
  }

  @Test
  void cutsImagesIntoRowMajorPatchesOfRowMajorPixels() {
    ImageSet images = images(5);
    BatchAssembler assembler = new BatchAssembler(TestFixtures.tinyVit());

    Batch batch = assembler.assemble(images, new int[] {4, 2, 0, 3, 1}, 1, 3);

    assertEquals(2, batch.size());
    assertEquals(2 * VALUES_PER_IMAGE, batch.patches().length);
    assertArrayEquals(new long[] {images.label(2), images.label(0)}, batch.labels());
    // Patch 0 is the top-left corner; patch 6 the second patch row, third column.
    assertArrayEquals(expectedPatch(2, 0), patchOf(batch, 0, 0));
    assertArrayEquals(expectedPatch(2, 6), patchOf(batch, 0, 6));
    assertArrayEquals(expectedPatch(0, 15), patchOf(batch, 1, 15));
    // Spot checks straight from pixel coordinates: patch 6, its row 2, column 5 is pixel (9, 19).
    assertEquals(pixel(2, 9, 19) / 255f, batch.patches()[6 * PATCH_VALUES + 2 * PATCH + 5]);
    assertEquals(pixel(2, 0, 1) / 255f, batch.patches()[1]);
    assertEquals(pixel(2, 1, 0) / 255f, batch.patches()[PATCH]);
    for (float v : batch.patches()) {
      assertTrue(v >= 0f && v <= 1f);
    }
  }

  @Test
  void assembleRangeTakesSamplesInStoredOrder() {
    ImageSet images = images(5);
    BatchAssembler assembler = new BatchAssembler(TestFixtures.tinyVit());

    Batch range = assembler.assembleRange(images, 2, 5);
    Batch ordered = assembler.assemble(images, new int[] {0, 1, 2, 3, 4}, 2, 5);

    assertEquals(ordered, range);
    assertArrayEquals(expectedPatch(4, 9), patchOf(range, 2, 9));
  }

  @Test
  void checkCompatibleNamesTheMismatch() {
    ImageSet images = images(1);
    ModelSpec fits = TestFixtures.tinyVit();
    ModelSpec smaller = ModelSpec.builder().optImageSize(14).optPatchSize(7).build();
    ModelSpec coloured = ModelSpec.builder().optChannels(3).build();
    ImageSet notSquare = ImageSet.of(28, 21, new byte[28 * 21], new byte[] {0});

    assertDoesNotThrow(() -> BatchAssembler.checkCompatible(fits, images));
    IllegalArgumentException size =
        assertThrows(IllegalArgumentException.class, () -> BatchAssembler.checkCompatible(smaller, images));
    assertTrue(size.getMessage().contains("model.image-size is 14"), size.getMessage());
    assertTrue(size.getMessage().contains("28x28"), size.getMessage());
    IllegalArgumentException shape =
        assertThrows(IllegalArgumentException.class, () -> BatchAssembler.checkCompatible(fits, notSquare));
    assertTrue(shape.getMessage().contains("28x21"), shape.getMessage());
    IllegalArgumentException channels =
        assertThrows(IllegalArgumentException.class, () -> BatchAssembler.checkCompatible(coloured, images));
    assertTrue(channels.getMessage().contains("model.channels is 3"), channels.getMessage());
  }
}
