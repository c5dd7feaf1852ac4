package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;

import io.tessera.protocol.TesseraSerializable;

/**
 * Knowledge-distillation settings of a {@code distill} stage: the student's loss is {@code alpha *
 * CE(labels) + (1 - alpha) * temperature^2 * KL(teacher || student)} on probabilities softened by
 * {@code temperature}.
 */
public record DistillSpec(double alpha, double temperature) implements TesseraSerializable {
  public DistillSpec {
    require(alpha >= 0 && alpha <= 1, "distill.alpha", "must be in [0, 1], was " + alpha);
    require(
        temperature > 0 && temperature <= 100, "distill.temperature", "must be in (0, 100], was " + temperature);
  }

  public static DistillSpec defaults() {
    return new DistillSpec(0.5, 4.0);
  }
}
