package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;
import static io.tessera.protocol.spec.SpecException.requireAtMost;

import io.tessera.protocol.TesseraSerializable;

/**
 * Masked-autoencoder settings of an {@code mae-pretrain} stage.
 *
 * @param maskRatio the share of each image's patches hidden from the encoder (0.75 in MAE)
 * @param decoderDim token width of the light decoder (narrower than the encoder)
 * @param decoderDepth transformer blocks of the decoder (fewer than the encoder's)
 * @param decoderHeads attention heads of the decoder
 * @param decoderMlpDim hidden width of the decoder blocks' MLPs
 * @param normPixelLoss whether each target patch is normalised by its own mean and variance
 */
public record MaeSpec(
    double maskRatio, int decoderDim, int decoderDepth, int decoderHeads, int decoderMlpDim, boolean normPixelLoss)
    implements TesseraSerializable {
  public MaeSpec {
    require(maskRatio > 0 && maskRatio < 1, "mae.mask-ratio", "must be in (0, 1), was " + maskRatio);
    require(decoderDim > 0, "mae.decoder-dim", "must be positive, was " + decoderDim);
    requireAtMost(decoderDim, SpecLimits.MAX_WIDTH, "mae.decoder-dim");
    require(decoderDepth > 0, "mae.decoder-depth", "must be positive, was " + decoderDepth);
    requireAtMost(decoderDepth, SpecLimits.MAX_DEPTH, "mae.decoder-depth");
    requireAtMost(decoderHeads, SpecLimits.MAX_HEADS, "mae.decoder-heads");
    require(
        decoderHeads > 0 && decoderDim % decoderHeads == 0,
        "mae.decoder-heads",
        "(" + decoderHeads + ") must be positive and divide mae.decoder-dim (" + decoderDim + ")");
    require(decoderMlpDim > 0, "mae.decoder-mlp-dim", "must be positive, was " + decoderMlpDim);
    requireAtMost(decoderMlpDim, SpecLimits.MAX_MLP_DIM, "mae.decoder-mlp-dim");
  }

  /** MAE's defaults, scaled to a small encoder: 75 % masked, a 1-block decoder of width 32. */
  public static MaeSpec defaults() {
    return new MaeSpec(0.75, 32, 1, 4, 64, true);
  }
}
