package io.tessera.protocol.spec;

/** What a stage of a job trains; spelled {@code mae-pretrain} etc. in spec files. */
public enum StageKind {
  /** A ViT classifier from scratch (or from {@code from}), cross-entropy on the labels. */
  CLASSIFY,
  /**
   * Masked-autoencoder pre-training: the encoder sees a random {@code 1 - mask-ratio} of each
   * image's patches, a light decoder predicts the pixels of the others, and the loss is the mean
   * squared error over the masked patches only.
   */
  MAE_PRETRAIN,
  /** A classifier whose encoder starts from the stage named by {@code from}; all weights train. */
  FINETUNE,
  /** A linear head on the frozen encoder of the stage named by {@code from}; only the head trains. */
  LINEAR_PROBE,
  /**
   * FLIP-style image-text contrastive training: the image encoder sees a masked subset of patches,
   * a small text transformer encodes captions made from the class names, and the loss is the
   * symmetric InfoNCE over the micro-batch with a learned temperature; evaluated zero-shot.
   */
  FLIP,
  /**
   * A student classifier trained on {@code alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher ||
   * student)} at temperature {@code T}, the teacher being the members of the stage named by {@code
   * teacher} (their averaged softened probabilities).
   */
  DISTILL;

  /** Whether the stage trains a classifier whose test accuracy it reports. */
  public boolean classifies() {
    return this == CLASSIFY || this == FINETUNE || this == LINEAR_PROBE || this == DISTILL;
  }
}
