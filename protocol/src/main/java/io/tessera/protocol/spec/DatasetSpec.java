package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;

import io.tessera.protocol.TesseraSerializable;

/**
 * Which data a job trains and is tested on. Every worker reads it from its own data directory; the
 * coordinator checks that they all see the same sizes.
 *
 * @param name dataset name; {@code fashion-mnist} is the one Tessera knows
 * @param trainLimit use only the first this-many training samples (0: all)
 * @param testLimit use only the first this-many test samples (0: all)
 */
public record DatasetSpec(String name, int trainLimit, int testLimit) implements TesseraSerializable {

  public static final String FASHION_MNIST = "fashion-mnist";

  public DatasetSpec {
    require(FASHION_MNIST.equals(name), "dataset.name", "must be '" + FASHION_MNIST + "', was '" + name + "'");
    require(trainLimit >= 0, "dataset.train-limit", "must be >= 0 (0 means all), was " + trainLimit);
    require(testLimit >= 0, "dataset.test-limit", "must be >= 0 (0 means all), was " + testLimit);
  }

  /** All of Fashion-MNIST. */
  public static DatasetSpec fashionMnist() {
    return new DatasetSpec(FASHION_MNIST, 0, 0);
  }
}
