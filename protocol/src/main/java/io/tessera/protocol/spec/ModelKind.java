package io.tessera.protocol.spec;

/** The model families a worker can build; spelled {@code vit-classifier} etc. in spec files. */
public enum ModelKind {
  /** A vision transformer with a linear classification head on the cls token. */
  VIT_CLASSIFIER
}
