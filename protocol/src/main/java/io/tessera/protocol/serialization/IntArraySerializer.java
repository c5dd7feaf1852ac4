package io.tessera.protocol.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

/** Small int arrays (tensor shapes) with a checked length. */
final class IntArraySerializer extends Serializer<int[]> {
  private final int maxLength;

  IntArraySerializer(int maxLength) {
    super(false, true);
    this.maxLength = maxLength;
  }

  @Override
  public void write(Kryo kryo, Output output, int[] values) {
    BoundedReads.requireWithin("int array", values.length, maxLength);
    output.writeVarInt(values.length, true);
    output.writeInts(values, 0, values.length, false);
  }

  @Override
  public int[] read(Kryo kryo, Input input, Class<? extends int[]> type) {
    int length = BoundedReads.readCount(input, "int array", maxLength, 1);
    return input.readInts(length, false);
  }
}
