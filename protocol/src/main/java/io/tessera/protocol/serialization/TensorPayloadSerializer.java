package io.tessera.protocol.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.WirePrecision;

/** Writes a tensor as precision, value count and one bulk copy of its encoded bytes. */
final class TensorPayloadSerializer extends Serializer<TensorPayload> {
  private static final WirePrecision[] PRECISIONS = WirePrecision.values();
  private final int maxValues;

  TensorPayloadSerializer(int maxValues) {
    super(false, true);
    this.maxValues = maxValues;
  }

  @Override
  public void write(Kryo kryo, Output output, TensorPayload tensor) {
    BoundedReads.requireWithin("tensor", tensor.length(), maxValues);
    output.writeVarInt(tensor.precision().ordinal(), true);
    output.writeVarInt(tensor.length(), true);
    output.writeBytes(tensor.bytes());
  }

  @Override
  public TensorPayload read(Kryo kryo, Input input, Class<? extends TensorPayload> type) {
    int ordinal = input.readVarInt(true);
    if (ordinal < 0 || ordinal >= PRECISIONS.length) {
      throw new KryoException("unknown wire precision " + ordinal);
    }
    WirePrecision precision = PRECISIONS[ordinal];
    int length = BoundedReads.readCount(input, "tensor", maxValues, precision.bytesPerValue());
    byte[] bytes = input.readBytes(length * precision.bytesPerValue());
    return new TensorPayload(precision, length, bytes);
  }
}
