package io.tessera.deploy.export;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.TensorSpec;
import io.tessera.worker.model.ModelParameters;
import io.tessera.worker.model.TrainableModel;
import java.util.ArrayList;
import java.util.List;

/**
 * The workers' ViT classifier as a DJL {@link ai.djl.nn.Block}, so that DJL's {@code Model.save}
 * and {@code Model.load} and its predictors work on it. Its parameters are the worker model's
 * tensors under the same names ({@code encoder.blocks.0.attn.qkv.weight}, ...), in the layout's
 * order, and its forward pass is the worker model's own ({@link TrainableModel#logits}), so an
 * exported model answers exactly what the job's members were measured with.
 *
 * <p>Input: images {@code (batch, channels, imageSize, imageSize)}, pixels divided by {@link
 * ModelCard#PIXEL_SCALE}. Output: class scores (logits) {@code (batch, classes)}. For inference:
 * the worker model reads its tensors through {@link ModelParameters}, so every pass copies this
 * block's current parameter values into one (a copy of the weights per batch, small next to the
 * pass itself); gradients do not flow back to the block's parameters.
 */
public final class VitClassifierBlock extends AbstractBlock {
  private static final byte VERSION = 1;

  private final ModelSpec spec;
  private final TrainableModel model;
  private final ParameterLayout layout;
  private final List<Parameter> tensors = new ArrayList<>();

  /**
   * A block of {@code spec}'s shape. Its parameters start out unset: {@code Model.load} fills
   * them, or {@link #initialize} (zeros) followed by {@link #setValues}.
   */
  public VitClassifierBlock(ModelSpec spec) {
    super(VERSION);
    if (spec.channels() != 1) {
      throw new IllegalArgumentException("model.channels is " + spec.channels() + "; the ViT reads greyscale images");
    }
    this.spec = spec;
    this.model = TrainableModel.of(spec);
    this.layout = model.layout();
    for (TensorSpec tensor : layout.tensors()) {
      long[] dims = new long[tensor.shape().length];
      for (int i = 0; i < dims.length; i++) {
        dims[i] = tensor.shape()[i];
      }
      tensors.add(
          addParameter(
              Parameter.builder()
                  .setName(tensor.name())
                  .setType(typeOf(tensor.name()))
                  .optShape(new Shape(dims))
                  .optInitializer(Initializer.ZEROS)
                  .build()));
    }
  }

  private static Parameter.Type typeOf(String name) {
    if (name.endsWith(".weight")) {
      return Parameter.Type.WEIGHT;
    } else if (name.endsWith(".bias")) {
      return Parameter.Type.BIAS;
    } else if (name.endsWith(".gamma")) {
      return Parameter.Type.GAMMA;
    } else if (name.endsWith(".beta")) {
      return Parameter.Type.BETA;
    }
    return Parameter.Type.OTHER; // cls token, positional embeddings
  }

  public ModelSpec spec() {
    return spec;
  }

  /** The shape of a batch of one image: what {@link #initialize} wants. */
  public Shape inputShape(long batch) {
    return new Shape(batch, spec.channels(), spec.imageSize(), spec.imageSize());
  }

  /**
   * Overwrites every parameter with its part of {@code flat}, a vector in the worker model's
   * layout (what parameter shards hold). The block must be initialized.
   */
  public void setValues(float[] flat) {
    if (flat.length != layout.totalSize()) {
      throw new IllegalArgumentException(
          "the model has " + layout.totalSize() + " parameters, got " + flat.length + " values");
    }
    int offset = 0;
    for (int i = 0; i < tensors.size(); i++) {
      int size = layout.tensors().get(i).size();
      float[] part = new float[size];
      System.arraycopy(flat, offset, part, 0, size);
      tensors.get(i).getArray().set(part);
      offset += size;
    }
  }

  /** The parameters' current values, flat, in the worker model's layout. */
  private float[] values(ParameterStore store, Device device) {
    float[] flat = new float[layout.totalSize()];
    int offset = 0;
    for (Parameter tensor : tensors) {
      float[] part = store.getValue(tensor, device, false).toFloatArray();
      System.arraycopy(part, 0, flat, offset, part.length);
      offset += part.length;
    }
    return flat;
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore parameterStore, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray images = inputs.singletonOrThrow();
    Shape shape = images.getShape();
    if (shape.dimension() != 4
        || shape.get(1) != spec.channels()
        || shape.get(2) != spec.imageSize()
        || shape.get(3) != spec.imageSize()) {
      throw new IllegalArgumentException("expected images (batch, " + spec.channels() + ", " + spec.imageSize()
          + ", " + spec.imageSize() + "), got " + shape);
    }
    NDManager manager = images.getManager();
    try (ModelParameters staged = new ModelParameters(layout, manager)) {
      staged.load(values(parameterStore, images.getDevice()));
      NDArray logits = model.logits(staged, patches(images));
      // Outlives the staged copy, whose arrays the pass may have put it with.
      logits.attach(manager);
      return new NDList(logits);
    }
  }

  /**
   * Images {@code (batch, 1, size, size)} as flattened patches {@code (batch, patchCount,
   * patchValues)}, patches in row-major order and each patch's pixels row after row: the layout
   * the workers' batches have.
   */
  private NDArray patches(NDArray images) {
    long batch = images.getShape().get(0);
    int side = spec.imageSize() / spec.patchSize();
    int patch = spec.patchSize();
    return images
        .reshape(batch, side, patch, side, patch)
        .transpose(0, 1, 3, 2, 4)
        .reshape(batch, spec.patchCount(), spec.patchValues());
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return new Shape[] {new Shape(inputShapes[0].get(0), spec.classes())};
  }
}
