package io.tessera.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Scalar tensors for arithmetic inside a differentiated graph.
 *
 * <p>DJL's {@code NDArray.mul(Number)} and its siblings wrap the number in a scalar tensor whose
 * memory is a Java direct buffer, and close that tensor right after the operation. Autograd keeps
 * the scalar for the backward pass, and once the garbage collector reclaims the buffer the
 * backward pass reads freed memory: gradients come out as garbage, more often the more threads
 * and garbage there are. Tensors made by {@code full} live in PyTorch's own memory, which
 * autograd's reference keeps alive. Model code therefore never passes a Java number to an array
 * operation; it uses {@link #of}.
 */
public final class Scalars {
  private Scalars() {}

  /**
   * {@code x} in fp32, differentiably: DJL's {@code toType} casts without recording autograd, so
   * reduced-precision activations are promoted by multiplying with a one-element fp32 array (a
   * dimensioned operand, so PyTorch's type promotion picks fp32).
   */
  public static NDArray float32(NDArray x) {
    if (x.getDataType() == DataType.FLOAT32) {
      return x;
    }
    return x.mul(x.getManager().ones(new Shape(1), DataType.FLOAT32));
  }

  /** A scalar of {@code like}'s type, on its device, owned by PyTorch. */
  public static NDArray of(NDArray like, float value) {
    return like.getManager().full(new Shape(), value, like.getDataType());
  }
}
