package io.tessera.protocol.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.nio.charset.StandardCharsets;

/** UTF-8 strings with a checked byte length. Never null: null fields go through Kryo's null flag. */
final class BoundedStringSerializer extends Serializer<String> {
  private final int maxBytes;

  BoundedStringSerializer(int maxBytes) {
    super(false, true);
    this.maxBytes = maxBytes;
  }

  @Override
  public void write(Kryo kryo, Output output, String value) {
    byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
    BoundedReads.requireWithin("string", bytes.length, maxBytes);
    output.writeVarInt(bytes.length, true);
    output.writeBytes(bytes);
  }

  @Override
  public String read(Kryo kryo, Input input, Class<? extends String> type) {
    int length = BoundedReads.readCount(input, "string", maxBytes, 1);
    return new String(input.readBytes(length), StandardCharsets.UTF_8);
  }
}
