package io.tessera.protocol.spec;

/** The model families a worker can build; spelled {@code vit-classifier} etc. in spec files. */
public enum ModelKind {
  /** A vision transformer with a linear classification head on the cls token. */
  VIT_CLASSIFIER,
  /**
   * No network at all: a flat vector of {@code model.parameters} values with a synthetic
   * quadratic loss, trained by simulated workers (no DJL) that take {@code
   * model.compute-micros-per-sample} per sample. For exercising the coordinator and the shards at
   * scale on one machine.
   */
  SYNTHETIC
}
