package io.tessera.protocol.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

/** long arrays (bit sets of acknowledged splits, lease ids) with a checked length. */
final class LongArraySerializer extends Serializer<long[]> {
  private final int maxLength;

  LongArraySerializer(int maxLength) {
    super(false, true);
    this.maxLength = maxLength;
  }

  @Override
  public void write(Kryo kryo, Output output, long[] values) {
    BoundedReads.requireWithin("long array", values.length, maxLength);
    output.writeVarInt(values.length, true);
    output.writeLongs(values, 0, values.length, false);
  }

  @Override
  public long[] read(Kryo kryo, Input input, Class<? extends long[]> type) {
    int length = BoundedReads.readCount(input, "long array", maxLength, 1);
    return input.readLongs(length, false);
  }
}
