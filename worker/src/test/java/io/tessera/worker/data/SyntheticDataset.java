package io.tessera.worker.data;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/**
 * Small made-up datasets for the tests of this package: a valid one written the way {@link
 * SubsetWriter} writes real data, and raw IDX bytes for files broken on purpose.
 */
final class SyntheticDataset {

  static final int ROWS = 3;
  static final int COLS = 4;
  static final int TRAIN_SIZE = 20;
  static final int TEST_SIZE = 10;

  private SyntheticDataset() {}

  /** The value of pixel {@code k} of image {@code i}; image 0 spans the extremes 0 and 255. */
  static int pixelValue(int i, int k) {
    if (i == 0) {
      return k % 2 == 0 ? 0 : 255;
    }
    return (i * 7 + k * 13) % 256;
  }

  /** Label of image {@code i}: every class appears in both sets. */
  static int labelValue(int i) {
    return i % ImageSet.CLASSES;
  }

  static ImageSet images(int count) {
    int pixelsPerImage = ROWS * COLS;
    byte[] pixels = new byte[count * pixelsPerImage];
    byte[] labels = new byte[count];
    for (int i = 0; i < count; i++) {
      labels[i] = (byte) labelValue(i);
      for (int k = 0; k < pixelsPerImage; k++) {
        pixels[i * pixelsPerImage + k] = (byte) pixelValue(i, k);
      }
    }
    return ImageSet.of(ROWS, COLS, pixels, labels);
  }

  /** Writes a valid dataset of {@link #TRAIN_SIZE} training and {@link #TEST_SIZE} test images. */
  static Path write(Path dir) throws IOException {
    SubsetWriter.write(images(TRAIN_SIZE), images(TEST_SIZE), dir);
    return dir;
  }

  /** Checksums of the decompressed content of the files in {@code dir}, as the fetcher takes. */
  static Map<String, String> checksums(Path dir) throws IOException {
    Map<String, String> sums = new HashMap<>();
    for (String name : FashionMnist.FILE_NAMES) {
      sums.put(name, GzipContent.sha256(dir.resolve(name)));
    }
    return sums;
  }

  /** An IDX header: magic, then one big-endian int per dimension. */
  static byte[] header(int magic, int... dimensions) {
    ByteBuffer header = ByteBuffer.allocate(4 + 4 * dimensions.length);
    header.putInt(magic);
    for (int dimension : dimensions) {
      header.putInt(dimension);
    }
    return header.array();
  }

  /** Writes the concatenation of {@code parts}, gzip-compressed, to {@code file}. */
  static void writeGzip(Path file, byte[]... parts) throws IOException {
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file))) {
      for (byte[] part : parts) {
        out.write(part);
      }
    }
  }

  /** A valid gzip label file with the given labels. */
  static void writeLabels(Path file, int... labels) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      for (int label : labels) {
        out.writeByte(label);
      }
    }
    writeGzip(file, header(IdxFile.LABEL_MAGIC, labels.length), bytes.toByteArray());
  }
}
