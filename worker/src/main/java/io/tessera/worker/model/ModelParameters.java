package io.tessera.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.TensorSpec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's parameters as DJL arrays with gradients attached, filled from and read back into the
 * flat vector that parameter shards hold. Belongs to one worker thread.
 */
public final class ModelParameters implements AutoCloseable {
  private final ParameterLayout layout;
  private final NDManager manager;
  private final List<NDArray> arrays = new ArrayList<>();
  private final Map<String, NDArray> byName = new HashMap<>();
  private final List<ByteBuffer> hostBuffers = new ArrayList<>();
  private final int totalSize;
  /** The type forward passes compute in; the arrays themselves (and their gradients) stay fp32. */
  private DataType computeType = DataType.FLOAT32;
  private final Map<String, NDArray> castForPass = new HashMap<>();
  /**
   * In reduced precision, the fp32 sums of the gradients of every pass's casts since the last
   * drain. DJL's casts do not record autograd, so each pass's casts are leaves of their own whose
   * gradients are added up here: fp32 master weights, reduced-precision arithmetic.
   */
  private final Map<String, NDArray> reducedGradients = new HashMap<>();

  public ModelParameters(ParameterLayout layout, NDManager parent) {
    this.layout = layout;
    this.manager = parent.newSubManager();
    this.totalSize = layout.totalSize();
    for (TensorSpec tensor : layout.tensors()) {
      long[] dims = new long[tensor.shape().length];
      for (int i = 0; i < dims.length; i++) {
        dims[i] = tensor.shape()[i];
      }
      NDArray array = manager.zeros(new Shape(dims));
      array.setRequiresGradient(true);
      arrays.add(array);
      hostBuffers.add(
          ByteBuffer.allocateDirect(tensor.size() * Float.BYTES).order(ByteOrder.nativeOrder()));
      byName.put(tensor.name(), array);
    }
  }

  public ParameterLayout layout() {
    return layout;
  }

  public int totalSize() {
    return totalSize;
  }

  /**
   * The array of tensor {@code name}, in the compute type: the fp32 array itself, or (for reduced
   * precision) its cast for the current pass, whose gradient {@link #endPass} adds to the fp32 sum.
   */
  public NDArray get(String name) {
    NDArray array = byName.get(name);
    if (array == null) {
      throw new IllegalArgumentException("model has no parameter " + name);
    }
    if (computeType == DataType.FLOAT32) {
      return array;
    }
    return castForPass.computeIfAbsent(
        name,
        n -> {
          NDArray cast = array.toType(computeType, false);
          cast.setRequiresGradient(true);
          return cast;
        });
  }

  /**
   * Forward passes compute in {@code type} (fp32 by default; bf16 or fp16 for mixed precision).
   * Call it before any pass, outside any {@code NDScope}.
   */
  public void computeIn(DataType type) {
    this.computeType = type;
    castForPass.clear();
    reducedGradients.values().forEach(NDArray::close);
    reducedGradients.clear();
    if (type != DataType.FLOAT32) {
      for (Map.Entry<String, NDArray> entry : byName.entrySet()) {
        reducedGradients.put(entry.getKey(), manager.zeros(entry.getValue().getShape()));
      }
    }
  }

  public DataType computeType() {
    return computeType;
  }

  /**
   * Starts a forward pass: casts made for the previous one (closed with its scope) are forgotten.
   * Called at the start of every pass when computing in reduced precision.
   */
  public void beginPass() {
    castForPass.clear();
  }

  /**
   * Ends a backward pass in reduced precision: adds the gradients of this pass's casts, in fp32,
   * to the sums {@link #drainGradientsInto} hands over. Nothing to do in fp32, where gradients
   * accumulate on the arrays themselves.
   */
  public void endPass() {
    for (Map.Entry<String, NDArray> entry : castForPass.entrySet()) {
      NDArray gradient = entry.getValue().getGradient();
      reducedGradients.get(entry.getKey()).addi(gradient.toType(DataType.FLOAT32, false));
    }
    castForPass.clear();
  }

  /** Overwrites every tensor with its part of {@code flat} (the layout's order). */
  public void load(float[] flat) {
    if (flat.length != totalSize) {
      throw new IllegalArgumentException(
          "expected " + totalSize + " parameter values, got " + flat.length);
    }
    int offset = 0;
    for (int i = 0; i < arrays.size(); i++) {
      NDArray array = arrays.get(i);
      ByteBuffer buffer = hostBuffers.get(i);
      int size = Math.toIntExact(array.size());
      buffer.clear();
      buffer.asFloatBuffer().put(flat, offset, size);
      // PyTorch may keep using this memory as the tensor's storage (DJL wraps direct buffers
      // without copying on CPU), so every tensor has a buffer of its own that lives as long as it.
      array.set(buffer);
      offset += size;
    }
  }

  /**
   * Adds the gradients accumulated since the last call to {@code target} (same order as {@link
   * #load}) and resets them to zero.
   */
  public void drainGradientsInto(float[] target) {
    if (target.length != totalSize) {
      throw new IllegalArgumentException("expected a gradient vector of " + totalSize);
    }
    if (computeType != DataType.FLOAT32) {
      drainReducedInto(target);
      return;
    }
    int offset = 0;
    for (NDArray array : arrays) {
      int size = Math.toIntExact(array.size());
      try (NDArray gradient = array.getGradient()) {
        FloatBuffer values = gradient.toByteBuffer().asFloatBuffer();
        for (int i = 0; i < size; i++) {
          target[offset + i] += values.get(i);
        }
      }
      JniUtils.zeroGrad((PtNDArray) array);
      offset += size;
    }
  }

  private void drainReducedInto(float[] target) {
    int offset = 0;
    for (TensorSpec tensor : layout.tensors()) {
      NDArray sum = reducedGradients.get(tensor.name());
      FloatBuffer values = sum.toByteBuffer().asFloatBuffer();
      for (int i = 0; i < tensor.size(); i++) {
        target[offset + i] += values.get(i);
      }
      sum.set(new NDIndex("..."), 0f);
      offset += tensor.size();
    }
  }

  /** Copies the current values into a flat vector. */
  public float[] toFlat() {
    float[] flat = new float[totalSize];
    int offset = 0;
    for (NDArray array : arrays) {
      int size = Math.toIntExact(array.size());
      array.toByteBuffer().asFloatBuffer().get(flat, offset, size);
      offset += size;
    }
    return flat;
  }

  @Override
  public void close() {
    manager.close();
  }
}
