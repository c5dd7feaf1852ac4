package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;
import static io.tessera.protocol.spec.SpecException.requireAtMost;

import io.tessera.protocol.TesseraSerializable;

/**
 * Image-text settings of a {@code flip} stage.
 *
 * @param maskRatio the share of each image's patches the image encoder does not see while training
 * @param textDim token width of the text transformer
 * @param textDepth its transformer blocks
 * @param textHeads its attention heads
 * @param textMlpDim hidden width of its blocks' MLPs
 * @param embedDim width of the joint image-text space
 * @param unmaskedEpochs the last epochs of the stage train without masking (FLIP's tuning phase)
 */
public record FlipSpec(
    double maskRatio, int textDim, int textDepth, int textHeads, int textMlpDim, int embedDim, int unmaskedEpochs)
    implements TesseraSerializable {
  public FlipSpec {
    require(maskRatio >= 0 && maskRatio < 1, "flip.mask-ratio", "must be in [0, 1), was " + maskRatio);
    require(textDim > 0, "flip.text-dim", "must be positive, was " + textDim);
    requireAtMost(textDim, SpecLimits.MAX_WIDTH, "flip.text-dim");
    require(textDepth > 0, "flip.text-depth", "must be positive, was " + textDepth);
    requireAtMost(textDepth, SpecLimits.MAX_DEPTH, "flip.text-depth");
    requireAtMost(textHeads, SpecLimits.MAX_HEADS, "flip.text-heads");
    require(
        textHeads > 0 && textDim % textHeads == 0,
        "flip.text-heads",
        "(" + textHeads + ") must be positive and divide flip.text-dim (" + textDim + ")");
    require(textMlpDim > 0, "flip.text-mlp-dim", "must be positive, was " + textMlpDim);
    requireAtMost(textMlpDim, SpecLimits.MAX_MLP_DIM, "flip.text-mlp-dim");
    require(embedDim > 0, "flip.embed-dim", "must be positive, was " + embedDim);
    requireAtMost(embedDim, SpecLimits.MAX_WIDTH, "flip.embed-dim");
    require(unmaskedEpochs >= 0, "flip.unmasked-epochs", "must be >= 0, was " + unmaskedEpochs);
    requireAtMost(unmaskedEpochs, SpecLimits.MAX_EPOCHS, "flip.unmasked-epochs");
  }

  /** Half of the patches masked, a 2-block text tower of width 64, a 64-wide joint space. */
  public static FlipSpec defaults() {
    return new FlipSpec(0.5, 64, 2, 4, 128, 64, 0);
  }
}
