package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;
import static io.tessera.protocol.spec.SpecException.requireAtMost;

import io.tessera.protocol.TesseraSerializable;

/**
 * The architecture of a vision transformer: square single- or multi-channel images cut into square
 * patches, a transformer encoder of {@code depth} pre-norm blocks, and a classification head.
 *
 * @param imageSize image height and width in pixels
 * @param channels colour channels (1 for Fashion-MNIST)
 * @param patchSize patch height and width; must divide {@code imageSize}
 * @param dim token width
 * @param depth number of transformer blocks
 * @param heads attention heads; must divide {@code dim}
 * @param mlpDim hidden width of each block's MLP
 * @param classes number of output classes
 * @param parameters size of a {@code synthetic} model's parameter vector (0 for real models)
 * @param computeMicrosPerSample simulated compute time per sample of a {@code synthetic} model
 */
public record ModelSpec(
    ModelKind kind,
    int imageSize,
    int channels,
    int patchSize,
    int dim,
    int depth,
    int heads,
    int mlpDim,
    int classes,
    int parameters,
    int computeMicrosPerSample)
    implements TesseraSerializable {

  public ModelSpec {
    require(kind != null, "model.kind", "is required");
    require(imageSize > 0, "model.image-size", "must be positive, was " + imageSize);
    requireAtMost(imageSize, SpecLimits.MAX_IMAGE_SIZE, "model.image-size");
    require(channels > 0, "model.channels", "must be positive, was " + channels);
    requireAtMost(channels, SpecLimits.MAX_CHANNELS, "model.channels");
    require(patchSize > 0, "model.patch-size", "must be positive, was " + patchSize);
    requireAtMost(patchSize, SpecLimits.MAX_PATCH_SIZE, "model.patch-size");
    require(
        imageSize % patchSize == 0,
        "model.patch-size",
        "(" + patchSize + ") must divide model.image-size (" + imageSize + ")");
    long patches = (long) (imageSize / patchSize) * (imageSize / patchSize);
    require(
        patches <= SpecLimits.MAX_PATCHES,
        "model.patch-size",
        "(" + patchSize + ") cuts an image of " + imageSize + "x" + imageSize + " pixels into " + patches
            + " patches; at most " + SpecLimits.MAX_PATCHES);
    require(dim > 0, "model.dim", "must be positive, was " + dim);
    requireAtMost(dim, SpecLimits.MAX_WIDTH, "model.dim");
    require(depth > 0, "model.depth", "must be positive, was " + depth);
    requireAtMost(depth, SpecLimits.MAX_DEPTH, "model.depth");
    require(heads > 0, "model.heads", "must be positive, was " + heads);
    requireAtMost(heads, SpecLimits.MAX_HEADS, "model.heads");
    require(dim % heads == 0, "model.heads", "(" + heads + ") must divide model.dim (" + dim + ")");
    require(mlpDim > 0, "model.mlp-dim", "must be positive, was " + mlpDim);
    requireAtMost(mlpDim, SpecLimits.MAX_MLP_DIM, "model.mlp-dim");
    require(classes > 1, "model.classes", "must be at least 2, was " + classes);
    requireAtMost(classes, SpecLimits.MAX_CLASSES, "model.classes");
    if (kind == ModelKind.SYNTHETIC) {
      require(parameters > 0, "model.parameters", "must be positive for a synthetic model, was " + parameters);
      requireAtMost(parameters, SpecLimits.MAX_PARAMETERS_PER_MEMBER, "model.parameters");
    } else {
      require(parameters == 0, "model.parameters", "applies to synthetic models only");
    }
    require(
        computeMicrosPerSample >= 0 && computeMicrosPerSample <= 1_000_000,
        "model.compute-micros-per-sample",
        "must be in 0..1000000, was " + computeMicrosPerSample);
  }

  /** Number of patches per image (tokens before the cls token). */
  public int patchCount() {
    int side = imageSize / patchSize;
    return side * side;
  }

  /** Values per flattened patch. */
  public int patchValues() {
    return patchSize * patchSize * channels;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Builds a {@link ModelSpec}; every value has a default suited to Fashion-MNIST. */
  public static final class Builder {
    private ModelKind kind = ModelKind.VIT_CLASSIFIER;
    private int imageSize = 28;
    private int channels = 1;
    private int patchSize = 7;
    private int dim = 64;
    private int depth = 4;
    private int heads = 4;
    private int mlpDim = 128;
    private int classes = 10;
    private int parameters = 0;
    private int computeMicrosPerSample = 0;

    private Builder() {}

    public Builder optKind(ModelKind kind) {
      this.kind = kind;
      return this;
    }

    public Builder optImageSize(int imageSize) {
      this.imageSize = imageSize;
      return this;
    }

    public Builder optChannels(int channels) {
      this.channels = channels;
      return this;
    }

    public Builder optPatchSize(int patchSize) {
      this.patchSize = patchSize;
      return this;
    }

    public Builder optDim(int dim) {
      this.dim = dim;
      return this;
    }

    public Builder optDepth(int depth) {
      this.depth = depth;
      return this;
    }

    public Builder optHeads(int heads) {
      this.heads = heads;
      return this;
    }

    public Builder optMlpDim(int mlpDim) {
      this.mlpDim = mlpDim;
      return this;
    }

    public Builder optClasses(int classes) {
      this.classes = classes;
      return this;
    }

    public Builder optParameters(int parameters) {
      this.parameters = parameters;
      return this;
    }

    public Builder optComputeMicrosPerSample(int computeMicrosPerSample) {
      this.computeMicrosPerSample = computeMicrosPerSample;
      return this;
    }

    public ModelSpec build() {
      return new ModelSpec(
          kind, imageSize, channels, patchSize, dim, depth, heads, mlpDim, classes, parameters,
          computeMicrosPerSample);
    }
  }
}
