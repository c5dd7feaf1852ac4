package io.tessera.protocol.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * float arrays (optimizer moments, parameter snapshots) as a checked length and one bulk block of
 * little-endian values, never value by value.
 */
final class FloatArraySerializer extends Serializer<float[]> {
  private final int maxLength;

  FloatArraySerializer(int maxLength) {
    super(false, true);
    this.maxLength = maxLength;
  }

  @Override
  public void write(Kryo kryo, Output output, float[] values) {
    BoundedReads.requireWithin("float array", values.length, maxLength);
    ByteBuffer bytes = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    bytes.asFloatBuffer().put(values);
    output.writeVarInt(values.length, true);
    output.writeBytes(bytes.array());
  }

  @Override
  public float[] read(Kryo kryo, Input input, Class<? extends float[]> type) {
    int length = BoundedReads.readCount(input, "float array", maxLength, Float.BYTES);
    float[] values = new float[length];
    ByteBuffer.wrap(input.readBytes(length * Float.BYTES))
        .order(ByteOrder.LITTLE_ENDIAN)
        .asFloatBuffer()
        .get(values);
    return values;
  }
}
