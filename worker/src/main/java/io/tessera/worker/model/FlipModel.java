package io.tessera.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import io.tessera.protocol.spec.FlipSpec;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A FLIP-style image-text model (Li et al., 2022, after CLIP): an image tower (the {@link
 * VitEncoder}, which may see only a masked subset of patches, and a projection of its cls token)
 * and a small text tower (token and position embeddings, pre-norm transformer blocks, mean pooling
 * over the caption's tokens, a projection), both into one joint space of unit vectors. Their
 * similarities, times a learned temperature's inverse, give the symmetric InfoNCE loss over a
 * batch, each image's own caption being its positive and every other caption a negative.
 */
public final class FlipModel {
  /** CLIP's initial temperature, 0.07, as the log of its inverse; the parameter is an offset. */
  static final float INITIAL_LOG_SCALE = (float) Math.log(1 / 0.07);
  /** The inverse temperature is capped at 100, as CLIP does, to keep training stable. */
  static final float MAX_LOG_SCALE = (float) Math.log(100);

  private final ModelSpec spec;
  private final FlipSpec flip;
  private final int vocabulary;
  private final int maxTokens;
  private final ParameterTable table = new ParameterTable();
  private final VitEncoder encoder;
  private final List<TransformerBlock> textBlocks = new ArrayList<>();
  private final Shape textNorm;

  public FlipModel(ModelSpec spec, FlipSpec flip, int vocabulary, int maxTokens) {
    this.spec = spec;
    this.flip = flip;
    this.vocabulary = vocabulary;
    this.maxTokens = maxTokens;
    this.encoder = new VitEncoder(spec, table);
    table.add("image_proj.weight", Init.XAVIER_UNIFORM, true, flip.embedDim(), spec.dim());
    table.add("text.token_embed", Init.NORMAL, false, vocabulary, flip.textDim());
    table.add("text.pos_embed", Init.NORMAL, false, 1, maxTokens, flip.textDim());
    for (int i = 0; i < flip.textDepth(); i++) {
      textBlocks.add(
          new TransformerBlock("text.blocks." + i + ".", flip.textDim(), flip.textHeads(), flip.textMlpDim(), table));
    }
    table.add("text.norm.gamma", Init.ONES, false, flip.textDim());
    table.add("text.norm.beta", Init.ZEROS, false, flip.textDim());
    table.add("text_proj.weight", Init.XAVIER_UNIFORM, true, flip.embedDim(), flip.textDim());
    table.add("logit_scale", Init.ZEROS, false, 1);
    this.textNorm = new Shape(flip.textDim());
  }

  public ModelSpec spec() {
    return spec;
  }

  public FlipSpec flip() {
    return flip;
  }

  public ParameterLayout layout() {
    return table.layout();
  }

  public float[] initialValues(long seed) {
    return table.initialValues(seed);
  }

  /** Unit image embeddings {@code (batch, embed)} of every patch ({@code keep} null) or the kept. */
  public NDArray images(ModelParameters p, NDArray patches, NDArray keep) {
    NDArray tokens = keep == null ? encoder.forward(p, patches) : encoder.forwardVisible(p, patches, keep);
    NDArray cls = tokens.get(":, 0, :");
    return unit(Linear.linear(cls, p.get("image_proj.weight"), null).singletonOrThrow());
  }

  /**
   * Unit text embeddings {@code (batch, embed)} of captions given as one-hot tokens {@code (batch,
   * maxTokens, vocabulary)} and their mask {@code (batch, maxTokens)} (1 for a word, 0 for padding).
   */
  public NDArray texts(ModelParameters p, NDArray oneHot, NDArray present) {
    NDArray x = oneHot.matMul(p.get("text.token_embed")).add(p.get("text.pos_embed"));
    for (TransformerBlock block : textBlocks) {
      x = block.forward(p, x);
    }
    x = LayerNorm.layerNorm(
            x, textNorm, p.get("text.norm.gamma"), p.get("text.norm.beta"), TransformerBlock.NORM_EPSILON)
        .singletonOrThrow();
    NDArray weights = present.expandDims(2);
    NDArray pooled = x.mul(weights).sum(new int[] {1}).div(weights.sum(new int[] {1}));
    return unit(Linear.linear(pooled, p.get("text_proj.weight"), null).singletonOrThrow());
  }

  /** The inverse temperature, {@code exp(min(log 100, log(1/0.07) + logit_scale))}. */
  public NDArray inverseTemperature(ModelParameters p) {
    NDArray log = p.get("logit_scale").add(Scalars.of(p.get("logit_scale"), INITIAL_LOG_SCALE));
    return log.minimum(Scalars.of(log, MAX_LOG_SCALE)).exp();
  }

  /**
   * The symmetric InfoNCE loss of a batch, summed over its samples: for each image, the
   * cross-entropy of picking its own caption among the batch's, and for each caption, of picking
   * its own image; the two averaged.
   *
   * @param identity the {@code (batch, batch)} identity matrix
   */
  public static NDArray summedInfoNce(NDArray images, NDArray texts, NDArray inverseTemperature, NDArray identity) {
    NDArray logits = images.matMul(texts.transpose()).mul(inverseTemperature);
    NDArray imageToText = logits.logSoftmax(1).mul(identity).sum();
    NDArray textToImage = logits.logSoftmax(0).mul(identity).sum();
    return imageToText.add(textToImage).mul(Scalars.of(logits, -0.5f));
  }

  private static NDArray unit(NDArray x) {
    return x.div(x.norm(new int[] {-1}, true));
  }

  public int vocabulary() {
    return vocabulary;
  }

  public int maxTokens() {
    return maxTokens;
  }
}
