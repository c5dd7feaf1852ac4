package io.tessera.protocol.tensor;

import io.tessera.protocol.TesseraSerializable;
import java.util.Arrays;

/**
 * One named parameter tensor of a model.
 *
 * @param name unique within the model, dotted like {@code blocks.0.attn.qkv.weight}
 * @param shape dimensions, outermost first
 * @param decay whether weight decay applies (it does not to biases, norms and embeddings)
 */
public record TensorSpec(String name, int[] shape, boolean decay) implements TesseraSerializable {

  public TensorSpec {
    if (name == null || name.isEmpty()) {
      throw new IllegalArgumentException("tensor needs a name");
    }
    shape = shape.clone();
    long size = 1;
    for (int dim : shape) {
      if (dim <= 0) {
        throw new IllegalArgumentException("tensor " + name + " has a non-positive dimension");
      }
      size *= dim;
    }
    if (size > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("tensor " + name + " is too large");
    }
  }

  /** Number of values. */
  public int size() {
    int size = 1;
    for (int dim : shape) {
      size *= dim;
    }
    return size;
  }

  @Override
  public int[] shape() {
    return shape.clone();
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof TensorSpec that
        && name.equals(that.name)
        && decay == that.decay
        && Arrays.equals(shape, that.shape);
  }

  @Override
  public int hashCode() {
    return 31 * name.hashCode() + Arrays.hashCode(shape);
  }

  @Override
  public String toString() {
    return name + Arrays.toString(shape);
  }
}
