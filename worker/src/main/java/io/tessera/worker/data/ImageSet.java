package io.tessera.worker.data;

import java.io.IOException;
import java.io.OutputStream;
import java.util.Objects;

/**
 * An immutable set of labelled greyscale images, stored as one {@code byte[]} of pixels (image
 * after image, row after row) and one {@code byte[]} of labels.
 *
 * <p>Bytes rather than floats keep the full Fashion-MNIST training set at 47 MB instead of 188 MB;
 * the training loop converts one micro-batch at a time with {@link #copyPixels}, which is cheap
 * enough to do for every batch. Instances are safe to share between threads.
 */
public final class ImageSet {

  /** Number of classes; labels are {@code 0..CLASSES-1}. */
  public static final int CLASSES = 10;

  /**
   * {@code k / 255f} for every byte value, so normalising a pixel is one table load and gives
   * exactly the value of the division.
   */
  private static final float[] UNIT_SCALE = new float[256];

  static {
    for (int k = 0; k < UNIT_SCALE.length; k++) {
      UNIT_SCALE[k] = k / 255f;
    }
  }

  private final byte[] pixels;
  private final byte[] labels;
  private final int size;
  private final int rows;
  private final int cols;

  /** Takes ownership of the arrays; callers in this package have already validated them. */
  ImageSet(byte[] pixels, byte[] labels, int size, int rows, int cols) {
    this.pixels = pixels;
    this.labels = labels;
    this.size = size;
    this.rows = rows;
    this.cols = cols;
  }

  /**
   * An image set built from arrays in memory, for tests and tools. The arrays are copied.
   *
   * @param pixels {@code labels.length * rows * cols} bytes, image after image, row after row
   * @param labels one label in {@code 0..9} per image
   */
  public static ImageSet of(int rows, int cols, byte[] pixels, byte[] labels) {
    if (rows <= 0 || cols <= 0) {
      throw new IllegalArgumentException("rows and cols must be > 0, were " + rows + "x" + cols);
    }
    long expected = (long) labels.length * rows * cols;
    if (pixels.length != expected) {
      throw new IllegalArgumentException(
          labels.length + " images of " + rows + "x" + cols + " need " + expected
              + " pixel bytes, got " + pixels.length);
    }
    for (int i = 0; i < labels.length; i++) {
      if (labels[i] < 0 || labels[i] >= CLASSES) {
        throw new IllegalArgumentException("label " + i + " is " + labels[i] + ", must be 0..9");
      }
    }
    return new ImageSet(pixels.clone(), labels.clone(), labels.length, rows, cols);
  }

  /** Number of images. */
  public int size() {
    return size;
  }

  public int rows() {
    return rows;
  }

  public int cols() {
    return cols;
  }

  /** {@code rows() * cols()}: how many floats {@link #copyPixels} writes. */
  public int pixelsPerImage() {
    return rows * cols;
  }

  /** The class of image {@code i}, in {@code 0..9}. */
  public int label(int i) {
    Objects.checkIndex(i, size);
    return labels[i];
  }

  /** Every label, in order. */
  public int[] labels() {
    int[] labels = new int[size()];
    for (int i = 0; i < labels.length; i++) {
      labels[i] = label(i);
    }
    return labels;
  }

  /** The raw value {@code 0..255} of one pixel of image {@code i}. */
  public int pixel(int i, int row, int col) {
    Objects.checkIndex(i, size);
    Objects.checkIndex(row, rows);
    Objects.checkIndex(col, cols);
    return pixels[i * pixelsPerImage() + row * cols + col] & 0xFF;
  }

  /**
   * Writes the pixels of image {@code i}, normalised to {@code [0, 1]} ({@code value / 255f}), to
   * {@code dst[offset .. offset + pixelsPerImage())}, row after row. A micro-batch is built by
   * calling this once per sample with {@code offset = slot * pixelsPerImage()}.
   */
  public void copyPixels(int i, float[] dst, int offset) {
    Objects.checkIndex(i, size);
    int count = pixelsPerImage();
    Objects.checkFromIndexSize(offset, count, dst.length);
    int base = i * count;
    for (int k = 0; k < count; k++) {
      dst[offset + k] = UNIT_SCALE[pixels[base + k] & 0xFF];
    }
  }

  /**
   * The first {@code n} images, sharing this set's storage; how a job's train or test limit is
   * applied. {@code n = 0}, or an {@code n} at least {@link #size()}, means all of them.
   */
  public ImageSet limit(int n) {
    if (n < 0) {
      throw new IllegalArgumentException("limit must be >= 0 (0 means all), was " + n);
    }
    if (n == 0 || n >= size) {
      return this;
    }
    return new ImageSet(pixels, labels, n, rows, cols);
  }

  /** Images {@code [from, to)}, copied: how a validation split is carved from the training set. */
  public ImageSet range(int from, int to) {
    Objects.checkFromToIndex(from, to, size);
    int per = pixelsPerImage();
    byte[] pixelCopy = java.util.Arrays.copyOfRange(pixels, from * per, to * per);
    byte[] labelCopy = java.util.Arrays.copyOfRange(labels, from, to);
    return new ImageSet(pixelCopy, labelCopy, to - from, rows, cols);
  }

  /** How many images of each class this set holds, indexed by label. */
  public int[] classCounts() {
    int[] counts = new int[CLASSES];
    for (int i = 0; i < size; i++) {
      counts[labels[i]]++;
    }
    return counts;
  }

  /** Writes the pixel bytes of the images in this set, as an IDX file stores them. */
  void writePixels(OutputStream out) throws IOException {
    out.write(pixels, 0, size * pixelsPerImage());
  }

  /** Writes the label bytes of the images in this set, as an IDX file stores them. */
  void writeLabels(OutputStream out) throws IOException {
    out.write(labels, 0, size);
  }

  @Override
  public String toString() {
    return "ImageSet[" + size + " images of " + rows + "x" + cols + "]";
  }
}
