package io.tessera.worker.testing;

import io.tessera.protocol.spec.ModelSpec;
import java.nio.file.Path;

/** What the worker's tests share: the shipped Fashion-MNIST subset and a model small enough to be fast. */
public final class TestFixtures {
  /** The 3000/1000-sample subset shipped with the integration tests. */
  public static final Path SUBSET =
      Path.of(
          System.getProperty(
              "tessera.test.data-dir", "../tests/src/test/resources/fashion-mnist-subset"));

  public static final int SUBSET_TRAIN_SIZE = 3000;
  public static final int SUBSET_TEST_SIZE = 1000;

  private TestFixtures() {}

  /** A ViT on 28x28 images with 16 patches of 7x7, width 16, one block of two heads. */
  public static ModelSpec tinyVit() {
    return ModelSpec.builder()
        .optImageSize(28)
        .optPatchSize(7)
        .optDim(16)
        .optDepth(1)
        .optHeads(2)
        .optMlpDim(32)
        .optClasses(10)
        .build();
  }

  /** How far apart two vectors are, relative to the larger of their norms. */
  public static double relativeDistance(float[] a, float[] b) {
    if (a.length != b.length) {
      throw new IllegalArgumentException("lengths differ: " + a.length + " vs " + b.length);
    }
    double diff = 0;
    double normA = 0;
    double normB = 0;
    for (int i = 0; i < a.length; i++) {
      double d = (double) a[i] - b[i];
      diff += d * d;
      normA += (double) a[i] * a[i];
      normB += (double) b[i] * b[i];
    }
    double scale = Math.sqrt(Math.max(normA, normB));
    return scale == 0 ? Math.sqrt(diff) : Math.sqrt(diff) / scale;
  }
}
