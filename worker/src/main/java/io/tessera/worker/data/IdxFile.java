package io.tessera.worker.data;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reads gzip-compressed IDX files, the format Fashion-MNIST (like MNIST) is published in: a
 * big-endian magic number ({@code 0x00000803} for a 3-dimensional unsigned-byte array, {@code
 * 0x00000801} for a 1-dimensional one), one big-endian int per dimension, then the bytes.
 *
 * <p>The dimensions come from the file, so each is checked before anything is allocated: the
 * total must stay under {@link #MAX_PAYLOAD_BYTES} and must be something a gzip file of this size
 * can hold, so a damaged header cannot make a worker allocate gigabytes.
 */
final class IdxFile {

  static final int IMAGE_MAGIC = 0x00000803;
  static final int LABEL_MAGIC = 0x00000801;

  /** The full training images are 47 MB; twice that leaves room without risking a worker's heap. */
  static final long MAX_PAYLOAD_BYTES = 100_000_000L;

  /**
   * Deflate cannot expand data by more than about 1032:1, so a header claiming more than this
   * many bytes per compressed byte is certainly lying.
   */
  private static final long MAX_DEFLATE_RATIO = 1032;

  private static final int BUFFER_BYTES = 1 << 16;

  /** The content of an image file. */
  record Images(int count, int rows, int cols, byte[] pixels) {}

  private IdxFile() {}

  /** Reads an IDX image file: magic {@code 0x00000803}, count, rows, cols, then the pixels. */
  static Images readImages(Path file) {
    try (DataInputStream in = open(file)) {
      readMagic(in, file, IMAGE_MAGIC, "image");
      int count = readDimension(in, file, "image count");
      int rows = readDimension(in, file, "row count");
      int cols = readDimension(in, file, "column count");
      long bytes = (long) count * rows * cols;
      checkPayload(file, bytes, count + " images of " + rows + "x" + cols);
      byte[] pixels = readPayload(in, file, (int) bytes, count + " images of " + rows + "x" + cols);
      return new Images(count, rows, cols, pixels);
    } catch (IOException e) {
      throw readFailure(file, e);
    }
  }

  /** Reads an IDX label file: magic {@code 0x00000801}, count, then one byte per label. */
  static byte[] readLabels(Path file) {
    try (DataInputStream in = open(file)) {
      readMagic(in, file, LABEL_MAGIC, "label");
      int count = readDimension(in, file, "label count");
      checkPayload(file, count, count + " labels");
      byte[] labels = readPayload(in, file, count, count + " labels");
      for (int i = 0; i < labels.length; i++) {
        if (labels[i] < 0 || labels[i] >= ImageSet.CLASSES) {
          throw damaged(
              file, "label " + i + " is " + (labels[i] & 0xFF) + ", but labels must be 0..9");
        }
      }
      return labels;
    } catch (IOException e) {
      throw readFailure(file, e);
    }
  }

  private static DataInputStream open(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw missing(file);
    }
    if (Files.size(file) == 0) {
      throw damaged(file, "empty (0 bytes)");
    }
    InputStream raw = Files.newInputStream(file);
    try {
      return new DataInputStream(new GZIPInputStream(raw, BUFFER_BYTES));
    } catch (IOException e) {
      raw.close();
      throw e;
    }
  }

  private static void readMagic(DataInputStream in, Path file, int expected, String kind)
      throws IOException {
    int magic = in.readInt();
    if (magic != expected) {
      throw damaged(
          file,
          String.format(
              "bad magic number 0x%08X, an IDX %s file starts with 0x%08X", magic, kind, expected));
    }
  }

  private static int readDimension(DataInputStream in, Path file, String what) throws IOException {
    int value = in.readInt();
    if (value <= 0) {
      throw damaged(file, "header gives " + what + " " + value + ", must be > 0");
    }
    return value;
  }

  private static void checkPayload(Path file, long bytes, String what) throws IOException {
    if (bytes > MAX_PAYLOAD_BYTES) {
      throw damaged(
          file,
          "header announces " + what + " (" + bytes + " bytes), more than the "
              + MAX_PAYLOAD_BYTES + " bytes this reader accepts");
    }
    long compressed = Files.size(file);
    if (bytes > compressed * MAX_DEFLATE_RATIO) {
      throw damaged(
          file,
          "header announces " + what + " (" + bytes + " bytes), more than a " + compressed
              + "-byte gzip file can hold");
    }
  }

  private static byte[] readPayload(InputStream in, Path file, int length, String what)
      throws IOException {
    byte[] payload = new byte[length];
    int filled = 0;
    while (filled < length) {
      int n = in.read(payload, filled, length - filled);
      if (n < 0) {
        throw damaged(
            file,
            "truncated: header announces " + what + " (" + length + " bytes) but only " + filled
                + " follow");
      }
      filled += n;
    }
    if (in.read() >= 0) {
      throw damaged(file, "unexpected bytes after the " + what + " its header announces");
    }
    return payload;
  }

  private static DatasetException readFailure(Path file, IOException e) {
    if (e instanceof NoSuchFileException) {
      return missing(file);
    }
    if (e instanceof EOFException) {
      return damaged(file, "truncated (the file ends before its data does)", e);
    }
    if (e instanceof ZipException && "Not in GZIP format".equals(e.getMessage())) {
      return damaged(file, "not a gzip file", e);
    }
    if (e instanceof ZipException) {
      return damaged(file, "damaged gzip data (" + e.getMessage() + ")", e);
    }
    return new DatasetException("Could not read " + file + ": " + e, e);
  }

  private static DatasetException missing(Path file) {
    return new DatasetException(
        "Missing dataset file " + file + ". To get Fashion-MNIST, " + DatasetException.FETCH_HINT
            + ".");
  }

  private static DatasetException damaged(Path file, String problem) {
    return damaged(file, problem, null);
  }

  private static DatasetException damaged(Path file, String problem, Throwable cause) {
    return new DatasetException(
        "Dataset file " + file + " is unusable: " + problem + ". Delete it and "
            + DatasetException.FETCH_HINT + ".",
        cause);
  }
}
