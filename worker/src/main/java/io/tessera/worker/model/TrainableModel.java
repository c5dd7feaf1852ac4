package io.tessera.worker.model;

import ai.djl.ndarray.NDArray;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.tensor.ParameterLayout;

/**
 * A model as the training loop sees it: a fixed table of named parameters and functions from
 * parameters and a batch to logits and loss. The model holds no arrays itself, so one definition
 * serves any number of {@link ModelParameters}.
 */
public interface TrainableModel {

  /** Builds the model a spec describes. */
  static TrainableModel of(ModelSpec spec) {
    return switch (spec.kind()) {
      case VIT_CLASSIFIER -> new VitClassifier(spec);
      case SYNTHETIC -> throw new IllegalArgumentException("a synthetic model has no network to build");
    };
  }

  ModelSpec spec();

  ParameterLayout layout();

  /** Initial parameter values for {@code seed}, in {@link #layout()} order. */
  float[] initialValues(long seed);

  /** Class scores {@code (batch, classes)} for patches {@code (batch, patchCount, patchValues)}. */
  NDArray logits(ModelParameters parameters, NDArray patches);

  /** Mean cross-entropy of {@code logits} against integer {@code labels (batch)}. */
  NDArray loss(NDArray logits, NDArray labels);
}
