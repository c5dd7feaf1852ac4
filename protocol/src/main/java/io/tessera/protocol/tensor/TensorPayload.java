package io.tessera.protocol.tensor;

import io.tessera.protocol.TesseraSerializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A flat run of tensor values as they travel: encoded once in the sender's chosen {@link
 * WirePrecision}, little-endian, and copied as one block by the serializer.
 *
 * @param precision how the values are encoded
 * @param length number of values
 * @param bytes {@code length * precision.bytesPerValue()} bytes
 */
public record TensorPayload(WirePrecision precision, int length, byte[] bytes)
    implements TesseraSerializable {

  public TensorPayload {
    if (precision == null) {
      throw new IllegalArgumentException("tensor payload needs a precision");
    }
    if (length < 0 || bytes == null || (long) length * precision.bytesPerValue() != bytes.length) {
      throw new IllegalArgumentException(
          "tensor payload of "
              + length
              + " "
              + precision
              + " values cannot hold "
              + (bytes == null ? "no" : bytes.length)
              + " bytes");
    }
  }

  /** Encodes {@code values[from, from + count)}. */
  public static TensorPayload encode(float[] values, int from, int count, WirePrecision precision) {
    ByteBuffer buffer =
        ByteBuffer.allocate(count * precision.bytesPerValue()).order(ByteOrder.LITTLE_ENDIAN);
    switch (precision) {
      case FP32 -> buffer.asFloatBuffer().put(values, from, count);
      case BF16 -> {
        short[] halves = new short[count];
        for (int i = 0; i < count; i++) {
          halves[i] = HalfFloats.toBfloat16(values[from + i]);
        }
        buffer.asShortBuffer().put(halves);
      }
      case FP16 -> {
        short[] halves = new short[count];
        for (int i = 0; i < count; i++) {
          halves[i] = HalfFloats.toFloat16(values[from + i]);
        }
        buffer.asShortBuffer().put(halves);
      }
    }
    return new TensorPayload(precision, count, buffer.array());
  }

  public static TensorPayload encode(float[] values, WirePrecision precision) {
    return encode(values, 0, values.length, precision);
  }

  /** Decodes all values into {@code target[offset, offset + length)}. */
  public void decodeInto(float[] target, int offset) {
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    switch (precision) {
      case FP32 -> buffer.asFloatBuffer().get(target, offset, length);
      case BF16 -> {
        short[] halves = new short[length];
        buffer.asShortBuffer().get(halves);
        for (int i = 0; i < length; i++) {
          target[offset + i] = HalfFloats.fromBfloat16(halves[i]);
        }
      }
      case FP16 -> {
        short[] halves = new short[length];
        buffer.asShortBuffer().get(halves);
        for (int i = 0; i < length; i++) {
          target[offset + i] = HalfFloats.fromFloat16(halves[i]);
        }
      }
    }
  }

  public float[] decode() {
    float[] values = new float[length];
    decodeInto(values, 0);
    return values;
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof TensorPayload that
        && precision == that.precision
        && length == that.length
        && Arrays.equals(bytes, that.bytes);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * precision.hashCode() + length) + Arrays.hashCode(bytes);
  }

  @Override
  public String toString() {
    return "TensorPayload[" + length + " x " + precision + "]";
  }
}
