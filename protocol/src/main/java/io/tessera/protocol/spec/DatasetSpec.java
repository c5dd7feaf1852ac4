package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;
import static io.tessera.protocol.spec.SpecException.requireAtMost;

import io.tessera.protocol.TesseraSerializable;

/**
 * Which data a job trains and is tested on. Every worker reads it from its own data directory; the
 * coordinator checks that they all see the same sizes.
 *
 * @param name {@code fashion-mnist}, or {@code synthetic} for synthetic models (no data files;
 *     {@code train-limit} samples)
 * @param trainLimit use only the first this-many training samples (0: all)
 * @param testLimit use only the first this-many test samples (0: all)
 * @param validation the last this-many training samples (of those the limit keeps) are held out
 *     for validation: not trained on, used to weigh ensemble members and for reports (the test set
 *     is touched only for final reports)
 */
public record DatasetSpec(String name, int trainLimit, int testLimit, int validation) implements TesseraSerializable {

  public static final String FASHION_MNIST = "fashion-mnist";
  public static final String SYNTHETIC = "synthetic";

  public DatasetSpec {
    require(
        FASHION_MNIST.equals(name) || SYNTHETIC.equals(name),
        "dataset.name",
        "must be '" + FASHION_MNIST + "' or '" + SYNTHETIC + "', was '" + name + "'");
    require(
        !SYNTHETIC.equals(name) || trainLimit > 0,
        "dataset.train-limit",
        "sets the size of a synthetic dataset and must be positive, was " + trainLimit);
    require(trainLimit >= 0, "dataset.train-limit", "must be >= 0 (0 means all), was " + trainLimit);
    requireAtMost(trainLimit, SpecLimits.MAX_DATASET_SAMPLES, "dataset.train-limit");
    require(testLimit >= 0, "dataset.test-limit", "must be >= 0 (0 means all), was " + testLimit);
    requireAtMost(testLimit, SpecLimits.MAX_DATASET_SAMPLES, "dataset.test-limit");
    require(validation >= 0, "dataset.validation", "must be >= 0, was " + validation);
    requireAtMost(validation, SpecLimits.MAX_DATASET_SAMPLES, "dataset.validation");
    require(
        trainLimit == 0 || validation < trainLimit,
        "dataset.validation",
        "(" + validation + ") must leave training samples of the " + trainLimit + " the train-limit keeps");
  }

  /** No validation split. */
  public DatasetSpec(String name, int trainLimit, int testLimit) {
    this(name, trainLimit, testLimit, 0);
  }

  public boolean isSynthetic() {
    return SYNTHETIC.equals(name);
  }

  /** All of Fashion-MNIST. */
  public static DatasetSpec fashionMnist() {
    return new DatasetSpec(FASHION_MNIST, 0, 0, 0);
  }
}
