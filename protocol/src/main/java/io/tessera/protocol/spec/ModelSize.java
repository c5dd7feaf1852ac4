package io.tessera.protocol.spec;

/**
 * How big the model a stage trains is, from its spec alone: the exact number of parameters of
 * each member (the length of the parameter vector its shards hold, as the worker lays it out) and
 * an estimate of the activations one micro-batch keeps for the backward pass. {@link JobSpec}
 * refuses a spec whose model exceeds {@link SpecLimits}, before any node allocates for it.
 *
 * <p>The counts follow the worker's models (a test there checks they match the real layouts): a
 * ViT encoder of pre-norm blocks (attention with a fused qkv projection, a two-layer MLP), and a
 * classifier head, MAE's decoder, or FLIP's text tower and projections on top.
 */
public final class ModelSize {
  /** Token ids of FLIP's captions of the Fashion-MNIST classes, padding included. */
  public static final int FLIP_VOCABULARY = 22;

  /** Length every FLIP caption is padded to. */
  public static final int FLIP_TOKENS = 10;

  private ModelSize() {}

  /**
   * Parameters of one member of a stage: a synthetic model's {@code model.parameters}; for a
   * linear probe its head alone, sized by the stage's own model (the frozen encoder it probes is
   * counted in the stage that trained it).
   */
  public static long parameters(ModelSpec model, StageSpec stage) {
    if (model.kind() == ModelKind.SYNTHETIC) {
      return model.parameters();
    }
    return switch (stage.kind()) {
      case CLASSIFY, FINETUNE, DISTILL -> encoder(model) + head(model);
      case LINEAR_PROBE -> head(model);
      case MAE_PRETRAIN -> encoder(model) + maeDecoder(model, stage.mae());
      case FLIP -> encoder(model) + flipTower(model, stage.flip());
    };
  }

  /**
   * Activation values (floats) a worker keeps while one micro-batch of {@code microBatch} samples
   * goes forward, for the backward pass: per transformer block and token, about 16 values of the
   * token width (norms, q, k, v and their reshapes, the attention output, projections, residuals),
   * 2 of the MLP width and 2 attention weights per head and token attended to. Every patch counts,
   * even those a mask hides (an upper bound for MAE and FLIP); a synthetic model keeps none.
   */
  public static long activations(ModelSpec model, StageSpec stage, int microBatch) {
    if (model.kind() == ModelKind.SYNTHETIC) {
      return 0;
    }
    long tokens = model.patchCount() + 1L;
    long images = (long) microBatch * model.patchCount() * model.patchValues();
    long encoder = blocks(microBatch, tokens, model.depth(), model.dim(), model.mlpDim(), model.heads());
    long rest =
        switch (stage.kind()) {
          case CLASSIFY, FINETUNE, DISTILL, LINEAR_PROBE -> 0L;
          case MAE_PRETRAIN -> {
            MaeSpec mae = stage.mae();
            // The decoder's blocks over every position, then predicted and target pixels.
            yield blocks(
                    microBatch, tokens, mae.decoderDepth(), mae.decoderDim(), mae.decoderMlpDim(), mae.decoderHeads())
                + 2 * images;
          }
          case FLIP -> {
            FlipSpec flip = stage.flip();
            // The text tower over one-hot captions, then the micro-batch's image-text logits both ways.
            long oneHot = (long) microBatch * FLIP_TOKENS * FLIP_VOCABULARY;
            yield oneHot
                + blocks(microBatch, FLIP_TOKENS, flip.textDepth(), flip.textDim(), flip.textMlpDim(), flip.textHeads())
                + 2L * microBatch * microBatch;
          }
        };
    return images + encoder + rest;
  }

  private static long blocks(long batch, long tokens, int depth, int width, int mlpDim, int heads) {
    return depth * batch * tokens * (16L * width + 2L * mlpDim + 2L * heads * tokens);
  }

  /** Patch embedding, cls token, positional embeddings, the blocks and the final norm. */
  private static long encoder(ModelSpec m) {
    long dim = m.dim();
    return dim * m.patchValues() + dim + dim + (m.patchCount() + 1L) * dim + m.depth() * block(dim, m.mlpDim())
        + 2 * dim;
  }

  private static long head(ModelSpec m) {
    return (long) m.classes() * m.dim() + m.classes();
  }

  /** Embedding from the encoder's width, mask token, positions, the blocks, norm and pixel head. */
  private static long maeDecoder(ModelSpec m, MaeSpec mae) {
    long width = mae.decoderDim();
    return width * m.dim() + width + width + (m.patchCount() + 1L) * width
        + mae.decoderDepth() * block(width, mae.decoderMlpDim()) + 2 * width + m.patchValues() * width
        + m.patchValues();
  }

  /** Image projection, token and positional embeddings, the blocks, norm, text projection, scale. */
  private static long flipTower(ModelSpec m, FlipSpec flip) {
    long text = flip.textDim();
    long embed = flip.embedDim();
    return embed * m.dim() + FLIP_VOCABULARY * text + FLIP_TOKENS * text + flip.textDepth() * block(text, flip.textMlpDim())
        + 2 * text + embed * text + 1;
  }

  /** A pre-norm block: two norms, qkv and output projections, a two-layer MLP, all with biases. */
  private static long block(long width, long mlpDim) {
    return 4 * width * width + 2 * width * mlpDim + 9 * width + mlpDim;
  }
}
