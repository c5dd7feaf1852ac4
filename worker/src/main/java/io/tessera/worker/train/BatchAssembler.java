package io.tessera.worker.train;

import io.tessera.protocol.spec.ModelSpec;
import io.tessera.worker.data.ImageSet;

/**
 * Builds micro-batches from an image set: pixels scaled to [0, 1] and cut into flattened patches
 * in row-major patch order, the layout the ViT's patch embedding expects.
 */
public final class BatchAssembler {
  private final int imageSize;
  private final int patchSize;
  private final int patchesPerSide;
  private final int patchValues;
  private final int valuesPerImage;
  private final float[] image;

  public BatchAssembler(ModelSpec spec) {
    this.imageSize = spec.imageSize();
    this.patchSize = spec.patchSize();
    this.patchesPerSide = spec.imageSize() / spec.patchSize();
    this.patchValues = spec.patchValues();
    this.valuesPerImage = spec.patchCount() * spec.patchValues();
    this.image = new float[imageSize * imageSize];
  }

  /**
   * Checks that the model can read these images: square, of the model's size, one channel.
   *
   * @throws IllegalArgumentException naming the mismatch
   */
  public static void checkCompatible(ModelSpec spec, ImageSet images) {
    if (images.rows() != spec.imageSize() || images.cols() != spec.imageSize()) {
      throw new IllegalArgumentException(
          "model.image-size is " + spec.imageSize() + " but the data has " + images.rows() + "x"
              + images.cols() + " images");
    }
    if (spec.channels() != 1) {
      throw new IllegalArgumentException(
          "model.channels is " + spec.channels() + " but Fashion-MNIST images have 1 channel");
    }
  }

  /** The samples at positions {@code [from, to)} of {@code order}. */
  public Batch assemble(ImageSet images, int[] order, int from, int to) {
    int size = to - from;
    float[] patches = new float[size * valuesPerImage];
    long[] labels = new long[size];
    for (int i = 0; i < size; i++) {
      int sample = order[from + i];
      writePatches(images, sample, patches, i * valuesPerImage);
      labels[i] = images.label(sample);
    }
    return new Batch(patches, labels, size);
  }

  /** Samples {@code [from, to)} in their stored order (for evaluation). */
  public Batch assembleRange(ImageSet images, int from, int to) {
    int size = to - from;
    float[] patches = new float[size * valuesPerImage];
    long[] labels = new long[size];
    for (int i = 0; i < size; i++) {
      writePatches(images, from + i, patches, i * valuesPerImage);
      labels[i] = images.label(from + i);
    }
    return new Batch(patches, labels, size);
  }

  private void writePatches(ImageSet images, int sample, float[] target, int offset) {
    images.copyPixels(sample, image, 0);
    int out = offset;
    for (int pr = 0; pr < patchesPerSide; pr++) {
      for (int pc = 0; pc < patchesPerSide; pc++) {
        for (int r = 0; r < patchSize; r++) {
          System.arraycopy(image, (pr * patchSize + r) * imageSize + pc * patchSize, target, out, patchSize);
          out += patchSize;
        }
      }
    }
    assert out - offset == patchesPerSide * patchesPerSide * patchValues;
  }
}
