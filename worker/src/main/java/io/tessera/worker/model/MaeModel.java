package io.tessera.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import io.tessera.protocol.spec.MaeSpec;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A masked autoencoder (He et al., 2021): the {@link VitEncoder} sees only the patches a mask
 * keeps; a light decoder (its own width and depth) appends a learned mask token for every hidden
 * patch, puts the tokens back in image order ({@code ids_restore}), adds its own positional
 * embeddings and predicts every patch's pixels. The loss is the mean squared error over the hidden
 * patches only, against pixels normalised per patch when {@code norm-pixel-loss} is on. The
 * encoder's parameters are named as a classifier's ({@code encoder.*}), so a later stage can start
 * from them.
 */
public final class MaeModel {
  private static final float PIXEL_EPSILON = 1e-6f;

  private final ModelSpec spec;
  private final MaeSpec mae;
  private final ParameterTable table = new ParameterTable();
  private final VitEncoder encoder;
  private final List<TransformerBlock> decoderBlocks = new ArrayList<>();
  private final Shape decoderNorm;

  public MaeModel(ModelSpec spec, MaeSpec mae) {
    this.spec = spec;
    this.mae = mae;
    this.encoder = new VitEncoder(spec, table);
    int width = mae.decoderDim();
    table.add("decoder.embed.weight", Init.XAVIER_UNIFORM, true, width, spec.dim());
    table.add("decoder.embed.bias", Init.ZEROS, false, width);
    table.add("decoder.mask_token", Init.NORMAL, false, 1, 1, width);
    table.add("decoder.pos_embed", Init.NORMAL, false, 1, spec.patchCount() + 1, width);
    for (int i = 0; i < mae.decoderDepth(); i++) {
      decoderBlocks.add(
          new TransformerBlock("decoder.blocks." + i + ".", width, mae.decoderHeads(), mae.decoderMlpDim(), table));
    }
    table.add("decoder.norm.gamma", Init.ONES, false, width);
    table.add("decoder.norm.beta", Init.ZEROS, false, width);
    table.add("decoder.pred.weight", Init.XAVIER_UNIFORM, true, spec.patchValues(), width);
    table.add("decoder.pred.bias", Init.ZEROS, false, spec.patchValues());
    this.decoderNorm = new Shape(width);
  }

  public ModelSpec spec() {
    return spec;
  }

  public MaeSpec mae() {
    return mae;
  }

  public ParameterLayout layout() {
    return table.layout();
  }

  public float[] initialValues(long seed) {
    return table.initialValues(seed);
  }

  /**
   * Predicted pixels of every patch, {@code (batch, patchCount, patchValues)}, in image order (in
   * the normalised space of the target when {@code norm-pixel-loss} is on).
   *
   * @param keep {@code (batch, kept)} int64: the visible patches, in the mask's shuffled order
   * @param restore {@code (batch, patchCount)} int64: each patch's place in that order
   */
  public NDArray predict(ModelParameters p, NDArray patches, NDArray keep, NDArray restore) {
    long batch = patches.getShape().get(0);
    long kept = keep.getShape().get(1);
    int width = mae.decoderDim();
    NDArray encoded = encoder.forwardVisible(p, patches, keep);
    NDArray tokens =
        Linear.linear(encoded, p.get("decoder.embed.weight"), p.get("decoder.embed.bias")).singletonOrThrow();
    NDArray hidden = p.get("decoder.mask_token").broadcast(batch, spec.patchCount() - kept, width);
    NDArray shuffled = tokens.get(":, 1:, :").concat(hidden, 1);
    NDArray inOrder = shuffled.gather(restore.expandDims(2).repeat(2, width), 1);
    NDArray x = tokens.get(":, 0:1, :").concat(inOrder, 1).add(p.get("decoder.pos_embed"));
    for (TransformerBlock block : decoderBlocks) {
      x = block.forward(p, x);
    }
    x = LayerNorm.layerNorm(
            x, decoderNorm, p.get("decoder.norm.gamma"), p.get("decoder.norm.beta"), TransformerBlock.NORM_EPSILON)
        .singletonOrThrow();
    NDArray pixels =
        Linear.linear(x, p.get("decoder.pred.weight"), p.get("decoder.pred.bias")).singletonOrThrow();
    return pixels.get(":, 1:, :");
  }

  /** The reconstruction target: the patches, normalised per patch if so configured. */
  public NDArray target(NDArray patches) {
    if (!mae.normPixelLoss()) {
      return patches;
    }
    NDArray mean = patches.mean(new int[] {-1}, true);
    NDArray centred = patches.sub(mean);
    NDArray variance = centred.square().mean(new int[] {-1}, true);
    return centred.div(variance.add(Scalars.of(variance, PIXEL_EPSILON)).sqrt());
  }

  /**
   * The batch's loss summed over samples: each sample's mean squared error over its hidden
   * patches (every sample hides as many), added up, so that gradients accumulate per sample as the
   * shards expect.
   *
   * @param hidden {@code (batch, patchCount)}: 1 where a patch is hidden, 0 where visible
   */
  public NDArray summedLoss(NDArray predicted, NDArray target, NDArray hidden, int hiddenPerSample) {
    NDArray perPatch = predicted.sub(target).square().mean(new int[] {-1});
    NDArray masked = perPatch.mul(hidden).sum();
    return masked.div(Scalars.of(masked, hiddenPerSample));
  }

  /** Index arrays for a mask, on {@code manager}'s device: keep {@code (batch, kept)}, restore. */
  public static NDArray[] indices(NDManager manager, PatchMasking.Mask mask) {
    long[] keep = new long[mask.keepIds().length];
    for (int i = 0; i < keep.length; i++) {
      keep[i] = mask.keepIds()[i];
    }
    long[] restore = new long[mask.restoreIds().length];
    for (int i = 0; i < restore.length; i++) {
      restore[i] = mask.restoreIds()[i];
    }
    return new NDArray[] {
      manager.create(keep, new Shape(mask.batch(), mask.keep())),
      manager.create(restore, new Shape(mask.batch(), mask.patches())),
      manager.create(mask.masked(), new Shape(mask.batch(), mask.patches()))
    };
  }
}
