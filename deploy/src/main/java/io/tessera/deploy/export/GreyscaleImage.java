package io.tessera.deploy.export;

import io.tessera.worker.data.ImageSet;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * A square greyscale image of the size a model reads, one byte ({@code 0..255}) per pixel, row
 * after row: a Fashion-MNIST image as its IDX file holds it, or a picture file brought to that
 * form. The model sees {@code pixel / 255}, as in training.
 */
public record GreyscaleImage(int size, byte[] pixels) {
  private static final double RED = 0.299;
  private static final double GREEN = 0.587;
  private static final double BLUE = 0.114;

  public GreyscaleImage {
    if (size <= 0 || pixels.length != size * size) {
      throw new IllegalArgumentException(size + "x" + size + " pixels expected, got " + pixels.length);
    }
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof GreyscaleImage that && size == that.size && java.util.Arrays.equals(pixels, that.pixels);
  }

  @Override
  public int hashCode() {
    return 31 * size + java.util.Arrays.hashCode(pixels);
  }

  @Override
  public String toString() {
    return "GreyscaleImage[" + size + "x" + size + "]";
  }

  /** Image {@code i} of a data set, pixel for pixel. */
  public static GreyscaleImage of(ImageSet images, int i) {
    if (images.rows() != images.cols()) {
      throw new IllegalArgumentException("images are " + images.rows() + "x" + images.cols() + ", not square");
    }
    int size = images.rows();
    byte[] pixels = new byte[size * size];
    for (int row = 0; row < size; row++) {
      for (int col = 0; col < size; col++) {
        pixels[row * size + col] = (byte) images.pixel(i, row, col);
      }
    }
    return new GreyscaleImage(size, pixels);
  }

  /**
   * Reads a PNG, JPEG (or any format this JVM's ImageIO reads) and brings it to {@code size}.
   *
   * @throws IOException if the file cannot be read or is no image
   */
  public static GreyscaleImage read(Path file, int size, boolean invert) throws IOException {
    BufferedImage image;
    try (var in = Files.newInputStream(file)) {
      image = ImageIO.read(in);
    }
    if (image == null) {
      throw new IOException(file + " is not an image this JVM can read (PNG, JPEG, GIF, BMP)");
    }
    return from(image, size, invert);
  }

  /**
   * An image brought to the form the model was trained on: greyscale (luma {@code 0.299 R + 0.587
   * G + 0.114 B}; transparent parts count as black, Fashion-MNIST's background), optionally
   * inverted (for dark garments on light backgrounds, as most photos are), its longer side scaled
   * to {@code size} by averaging the pixels each output pixel covers, and centred on black. An
   * image already greyscale and {@code size} square comes through unchanged, byte for byte.
   */
  public static GreyscaleImage from(BufferedImage image, int size, boolean invert) {
    int width = image.getWidth();
    int height = image.getHeight();
    double[] luma = luma(image);
    if (invert) {
      for (int i = 0; i < luma.length; i++) {
        luma[i] = 255 - luma[i];
      }
    }
    double scale = (double) size / Math.max(width, height);
    int outWidth = Math.max(1, (int) Math.round(width * scale));
    int outHeight = Math.max(1, (int) Math.round(height * scale));
    double[] scaled =
        outWidth == width && outHeight == height ? luma : areaAverage(luma, width, height, outWidth, outHeight);
    byte[] pixels = new byte[size * size];
    int left = (size - outWidth) / 2;
    int top = (size - outHeight) / 2;
    for (int y = 0; y < outHeight; y++) {
      for (int x = 0; x < outWidth; x++) {
        long value = Math.round(Math.max(0, Math.min(255, scaled[y * outWidth + x])));
        pixels[(top + y) * size + left + x] = (byte) value;
      }
    }
    return new GreyscaleImage(size, pixels);
  }

  /**
   * Each pixel's grey level in {@code [0, 255]}. Grey images are read from their raster: Java's
   * conversion of a grey colour space to RGB would change the levels (it treats grey as linear).
   */
  private static double[] luma(BufferedImage image) {
    int width = image.getWidth();
    int height = image.getHeight();
    double[] luma = new double[width * height];
    Raster raster = image.getRaster();
    boolean grey = image.getColorModel().getColorSpace().getNumComponents() == 1;
    if (grey) {
      int bits = image.getColorModel().getComponentSize(0);
      double max = (1L << bits) - 1;
      boolean alpha = image.getColorModel().hasAlpha();
      double alphaMax = alpha ? (1L << image.getColorModel().getComponentSize(1)) - 1 : 1;
      for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
          double level = raster.getSample(x, y, 0) * 255.0 / max;
          if (alpha) {
            level *= raster.getSample(x, y, 1) / alphaMax;
          }
          luma[y * width + x] = level;
        }
      }
      return luma;
    }
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int argb = image.getRGB(x, y);
        double level = RED * ((argb >> 16) & 0xFF) + GREEN * ((argb >> 8) & 0xFF) + BLUE * (argb & 0xFF);
        luma[y * width + x] = level * ((argb >>> 24) & 0xFF) / 255.0;
      }
    }
    return luma;
  }

  /**
   * Resamples by area: every output pixel is the mean of the input it covers, parts of pixels
   * weighted by the part covered. Shrinking by a whole factor averages whole blocks.
   */
  private static double[] areaAverage(double[] in, int width, int height, int outWidth, int outHeight) {
    double[] out = new double[outWidth * outHeight];
    double stepX = (double) width / outWidth;
    double stepY = (double) height / outHeight;
    for (int oy = 0; oy < outHeight; oy++) {
      double y0 = oy * stepY;
      double y1 = y0 + stepY;
      for (int ox = 0; ox < outWidth; ox++) {
        double x0 = ox * stepX;
        double x1 = x0 + stepX;
        double sum = 0;
        double area = 0;
        for (int y = (int) Math.floor(y0); y < Math.min(height, Math.ceil(y1)); y++) {
          double dy = Math.min(y1, y + 1) - Math.max(y0, y);
          for (int x = (int) Math.floor(x0); x < Math.min(width, Math.ceil(x1)); x++) {
            double weight = dy * (Math.min(x1, x + 1) - Math.max(x0, x));
            sum += weight * in[y * width + x];
            area += weight;
          }
        }
        out[oy * outWidth + ox] = sum / area;
      }
    }
    return out;
  }
}
