package io.tessera.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import io.tessera.protocol.spec.ModelSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * The ViT encoder: a linear embedding of flattened patches, a learned cls token, learned
 * positional embeddings, {@code depth} pre-norm transformer blocks and a final LayerNorm.
 * Parameter names start with {@code encoder.} so later stages can carry an encoder over by name.
 */
public final class VitEncoder {
  private final ModelSpec spec;
  private final List<TransformerBlock> blocks = new ArrayList<>();
  private final Shape normShape;

  public VitEncoder(ModelSpec spec, ParameterTable table) {
    this.spec = spec;
    this.normShape = new Shape(spec.dim());
    table.add("encoder.patch_embed.weight", Init.XAVIER_UNIFORM, true, spec.dim(), spec.patchValues());
    table.add("encoder.patch_embed.bias", Init.ZEROS, false, spec.dim());
    table.add("encoder.cls_token", Init.NORMAL, false, 1, 1, spec.dim());
    table.add("encoder.pos_embed", Init.NORMAL, false, 1, spec.patchCount() + 1, spec.dim());
    for (int i = 0; i < spec.depth(); i++) {
      blocks.add(
          new TransformerBlock("encoder.blocks." + i + ".", spec.dim(), spec.heads(), spec.mlpDim(), table));
    }
    table.add("encoder.norm.gamma", Init.ONES, false, spec.dim());
    table.add("encoder.norm.beta", Init.ZEROS, false, spec.dim());
  }

  /**
   * Encodes only the patches a mask keeps visible: {@code patches (batch, patchCount,
   * patchValues)} and {@code keep (batch, kept)} (int64 patch indices) into normalised tokens
   * {@code (batch, 1 + kept, dim)}, each kept patch with its own position's embedding; token 0 is
   * the cls token. What MAE's and FLIP's encoders do: the hidden patches cost nothing.
   */
  public NDArray forwardVisible(ModelParameters p, NDArray patches, NDArray keep) {
    long batch = patches.getShape().get(0);
    long kept = keep.getShape().get(1);
    NDArray visible = patches.gather(keep.expandDims(2).repeat(2, spec.patchValues()), 1);
    NDArray x =
        Linear.linear(visible, p.get("encoder.patch_embed.weight"), p.get("encoder.patch_embed.bias"))
            .singletonOrThrow();
    NDArray pos = p.get("encoder.pos_embed");
    NDArray patchPositions = pos.get(":, 1:, :").broadcast(batch, spec.patchCount(), spec.dim());
    x = x.add(patchPositions.gather(keep.expandDims(2).repeat(2, spec.dim()), 1));
    NDArray cls = p.get("encoder.cls_token").add(pos.get(":, 0:1, :")).broadcast(batch, 1, spec.dim());
    x = cls.concat(x, 1);
    for (TransformerBlock block : blocks) {
      x = block.forward(p, x);
    }
    assert x.getShape().get(1) == kept + 1;
    return LayerNorm.layerNorm(
            x, normShape, p.get("encoder.norm.gamma"), p.get("encoder.norm.beta"), TransformerBlock.NORM_EPSILON)
        .singletonOrThrow();
  }

  /**
   * Encodes patches {@code (batch, patchCount, patchValues)} into normalised tokens {@code (batch,
   * 1 + patchCount, dim)}; token 0 is the cls token.
   */
  public NDArray forward(ModelParameters p, NDArray patches) {
    long batch = patches.getShape().get(0);
    NDArray x =
        Linear.linear(patches, p.get("encoder.patch_embed.weight"), p.get("encoder.patch_embed.bias"))
            .singletonOrThrow();
    NDArray cls = p.get("encoder.cls_token").broadcast(batch, 1, spec.dim());
    x = cls.concat(x, 1).add(p.get("encoder.pos_embed"));
    for (TransformerBlock block : blocks) {
      x = block.forward(p, x);
    }
    return LayerNorm.layerNorm(
            x,
            normShape,
            p.get("encoder.norm.gamma"),
            p.get("encoder.norm.beta"),
            TransformerBlock.NORM_EPSILON)
        .singletonOrThrow();
  }
}
