package io.tessera.worker.data;

import static io.tessera.worker.data.SyntheticDataset.COLS;
import static io.tessera.worker.data.SyntheticDataset.ROWS;
import static io.tessera.worker.data.SyntheticDataset.TEST_SIZE;
import static io.tessera.worker.data.SyntheticDataset.TRAIN_SIZE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FashionMnistTest {

  @TempDir Path dir;

  @Test
  void readsSizesLabelsAndPixels() throws IOException {
    FashionMnist data = FashionMnist.load(SyntheticDataset.write(dir));

    assertEquals(TRAIN_SIZE, data.train().size());
    assertEquals(TEST_SIZE, data.test().size());
    assertEquals(ROWS, data.train().rows());
    assertEquals(COLS, data.train().cols());
    for (int i = 0; i < TRAIN_SIZE; i++) {
      assertEquals(SyntheticDataset.labelValue(i), data.train().label(i));
      for (int r = 0; r < ROWS; r++) {
        for (int c = 0; c < COLS; c++) {
          assertEquals(
              SyntheticDataset.pixelValue(i, r * COLS + c), data.train().pixel(i, r, c));
        }
      }
    }
  }

  @Test
  void copyPixelsNormalisesIntoTheSlotAtOffset() throws IOException {
    ImageSet train = FashionMnist.load(SyntheticDataset.write(dir)).train();
    int pixels = train.pixelsPerImage();
    float[] batch = new float[3 * pixels];
    Arrays.fill(batch, Float.NaN);

    train.copyPixels(0, batch, pixels);
    train.copyPixels(7, batch, 2 * pixels);

    for (int k = 0; k < pixels; k++) {
      assertTrue(Float.isNaN(batch[k]), "slot 0 must be left alone");
      assertEquals(SyntheticDataset.pixelValue(0, k) / 255f, batch[pixels + k]);
      assertEquals(SyntheticDataset.pixelValue(7, k) / 255f, batch[2 * pixels + k]);
    }
    assertEquals(0f, batch[pixels]);
    assertEquals(1f, batch[pixels + 1]);
  }

  @Test
  void copyPixelsRefusesASlotPastTheEnd() throws IOException {
    ImageSet train = FashionMnist.load(SyntheticDataset.write(dir)).train();
    float[] batch = new float[train.pixelsPerImage()];

    assertThrows(IndexOutOfBoundsException.class, () -> train.copyPixels(0, batch, 1));
    assertThrows(IndexOutOfBoundsException.class, () -> train.copyPixels(TRAIN_SIZE, batch, 0));
  }

  @Test
  void limitKeepsTheFirstSamples() throws IOException {
    ImageSet train = FashionMnist.load(SyntheticDataset.write(dir)).train();

    ImageSet first = train.limit(5);

    assertEquals(5, first.size());
    assertEquals(train.label(4), first.label(4));
    assertEquals(train.pixel(4, 2, 3), first.pixel(4, 2, 3));
    assertThrows(IndexOutOfBoundsException.class, () -> first.label(5));
    assertArrayEquals(new int[] {1, 1, 1, 1, 1, 0, 0, 0, 0, 0}, first.classCounts());
    assertSame(train, train.limit(0));
    assertSame(train, train.limit(TRAIN_SIZE + 1));
    assertThrows(IllegalArgumentException.class, () -> train.limit(-1));
  }

  @Test
  void classCountsCountEveryLabel() throws IOException {
    FashionMnist data = FashionMnist.load(SyntheticDataset.write(dir));

    assertArrayEquals(new int[] {2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, data.train().classCounts());
    assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, data.test().classCounts());
  }

  @Test
  void fingerprintHashesTrainThenTestLabels() throws Exception {
    FashionMnist data = FashionMnist.load(SyntheticDataset.write(dir));
    MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
    for (int i = 0; i < TRAIN_SIZE; i++) {
      sha256.update((byte) SyntheticDataset.labelValue(i));
    }
    for (int i = 0; i < TEST_SIZE; i++) {
      sha256.update((byte) SyntheticDataset.labelValue(i));
    }

    assertEquals(HexFormat.of().formatHex(sha256.digest()).substring(0, 16), data.fingerprint());
  }

  @Test
  void fingerprintChangesWithTheLabels() throws IOException {
    String before = FashionMnist.load(SyntheticDataset.write(dir)).fingerprint();
    SyntheticDataset.writeLabels(
        dir.resolve(FashionMnist.TEST_LABELS), 9, 1, 2, 3, 4, 5, 6, 7, 8, 9);

    assertNotEquals(before, FashionMnist.load(dir).fingerprint());
  }

  @Test
  void imageSetOfCopiesAndValidates() {
    byte[] pixels = {1, 2, 3, 4};
    byte[] labels = {3, 4};
    ImageSet set = ImageSet.of(1, 2, pixels, labels);
    pixels[0] = 99;
    labels[0] = 9;

    assertEquals(1, set.pixel(0, 0, 0));
    assertEquals(3, set.label(0));
    assertThrows(IllegalArgumentException.class, () -> ImageSet.of(1, 2, new byte[3], labels));
    assertThrows(
        IllegalArgumentException.class, () -> ImageSet.of(1, 1, new byte[1], new byte[] {10}));
  }

  @Test
  void missingFileSaysHowToFetch() throws IOException {
    SyntheticDataset.write(dir);
    Files.delete(dir.resolve(FashionMnist.TEST_LABELS));

    assertFailure("Missing dataset file", FashionMnist.TEST_LABELS);
  }

  @Test
  void emptyDirectorySaysHowToFetch() {
    assertFailure("Missing dataset file", FashionMnist.TRAIN_LABELS);
  }

  @Test
  void badMagicIsNamed() throws IOException {
    SyntheticDataset.write(dir);
    SyntheticDataset.writeGzip(
        dir.resolve(FashionMnist.TRAIN_IMAGES),
        SyntheticDataset.header(IdxFile.LABEL_MAGIC, TRAIN_SIZE, ROWS, COLS),
        new byte[TRAIN_SIZE * ROWS * COLS]);

    assertFailure("bad magic number 0x00000801", FashionMnist.TRAIN_IMAGES);
  }

  @Test
  void payloadShorterThanTheHeaderIsTruncated() throws IOException {
    SyntheticDataset.write(dir);
    SyntheticDataset.writeGzip(
        dir.resolve(FashionMnist.TRAIN_IMAGES),
        SyntheticDataset.header(IdxFile.IMAGE_MAGIC, TRAIN_SIZE, ROWS, COLS),
        new byte[(TRAIN_SIZE - 1) * ROWS * COLS]);

    assertFailure("truncated", FashionMnist.TRAIN_IMAGES);
  }

  @Test
  void cutOffGzipStreamIsTruncated() throws IOException {
    SyntheticDataset.write(dir);
    Path file = dir.resolve(FashionMnist.TEST_IMAGES);
    byte[] whole = Files.readAllBytes(file);
    Files.write(file, Arrays.copyOf(whole, whole.length / 2));

    assertFailure("truncated", FashionMnist.TEST_IMAGES);
  }

  @Test
  void extraBytesAfterThePayloadAreRefused() throws IOException {
    SyntheticDataset.write(dir);
    SyntheticDataset.writeGzip(
        dir.resolve(FashionMnist.TEST_LABELS),
        SyntheticDataset.header(IdxFile.LABEL_MAGIC, TEST_SIZE),
        new byte[TEST_SIZE + 1]);

    assertFailure("unexpected bytes after", FashionMnist.TEST_LABELS);
  }

  @Test
  void imageAndLabelCountsMustAgree() throws IOException {
    SyntheticDataset.write(dir);
    SyntheticDataset.writeLabels(dir.resolve(FashionMnist.TRAIN_LABELS), 1, 2, 3);

    DatasetException e = assertFailure("do not belong together", FashionMnist.TRAIN_LABELS);
    assertTrue(e.getMessage().contains("holds 20 images but"), e.getMessage());
  }

  @Test
  void trainAndTestImageSizesMustAgree() throws IOException {
    SubsetWriter.write(
        SyntheticDataset.images(TRAIN_SIZE),
        ImageSet.of(1, 1, new byte[] {7}, new byte[] {7}),
        dir);

    assertFailure("do not belong together", FashionMnist.TEST_IMAGES);
  }

  @Test
  void notGzipIsNamed() throws IOException {
    SyntheticDataset.write(dir);
    Files.writeString(dir.resolve(FashionMnist.TRAIN_IMAGES), "<html>Not Found</html>");

    assertFailure("not a gzip file", FashionMnist.TRAIN_IMAGES);
  }

  @Test
  void emptyFileIsNamed() throws IOException {
    SyntheticDataset.write(dir);
    Files.write(dir.resolve(FashionMnist.TEST_IMAGES), new byte[0]);

    assertFailure("empty", FashionMnist.TEST_IMAGES);
  }

  @Test
  void labelAboveNineIsRefused() throws IOException {
    SyntheticDataset.write(dir);
    SyntheticDataset.writeLabels(
        dir.resolve(FashionMnist.TEST_LABELS), 0, 1, 2, 10, 4, 5, 6, 7, 8, 9);

    assertFailure("label 3 is 10", FashionMnist.TEST_LABELS);
  }

  @Test
  void hugeHeaderIsRefusedBeforeAllocating() throws IOException {
    SyntheticDataset.write(dir);
    SyntheticDataset.writeGzip(
        dir.resolve(FashionMnist.TRAIN_IMAGES),
        SyntheticDataset.header(IdxFile.IMAGE_MAGIC, 2_000_000_000, 28, 28));

    assertFailure("more than the 100000000 bytes", FashionMnist.TRAIN_IMAGES);
  }

  @Test
  void headerClaimingMoreThanTheFileCanHoldIsRefused() throws IOException {
    SyntheticDataset.write(dir);
    SyntheticDataset.writeGzip(
        dir.resolve(FashionMnist.TRAIN_IMAGES),
        SyntheticDataset.header(IdxFile.IMAGE_MAGIC, 60_000, 28, 28));

    assertFailure("gzip file can hold", FashionMnist.TRAIN_IMAGES);
  }

  @Test
  void nonPositiveDimensionIsRefused() throws IOException {
    SyntheticDataset.write(dir);
    SyntheticDataset.writeGzip(
        dir.resolve(FashionMnist.TRAIN_IMAGES),
        SyntheticDataset.header(IdxFile.IMAGE_MAGIC, TRAIN_SIZE, -3, COLS));

    assertFailure("row count -3", FashionMnist.TRAIN_IMAGES);
  }

  /** Loading fails with a message that names the file, the problem and the remedy. */
  private DatasetException assertFailure(String problem, String fileName) {
    DatasetException e = assertThrows(DatasetException.class, () -> FashionMnist.load(dir));
    String message = e.getMessage();
    assertTrue(message.contains(problem), message);
    assertTrue(message.contains(fileName), message);
    assertTrue(message.contains("bin/tessera data fetch"), message);
    return e;
  }
}
