package io.tessera.worker.train;

import io.tessera.worker.data.ImageSet;
import io.tessera.worker.data.StageData;

/** A trainer whose members classify, and can be measured together as an ensemble. */
public interface Classifies {
  /** Class probabilities of {@code images} under {@code parameters}, {@code (images, classes)} row-major. */
  float[] probabilities(float[] parameters, ImageSet images);

  /** The stage's images: validation split and test set. */
  StageData data();
}
