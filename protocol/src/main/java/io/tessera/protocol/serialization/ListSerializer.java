package io.tessera.protocol.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.util.ArrayList;
import java.util.List;

/**
 * Any {@link List} goes as a count and its elements (each with its registered class), and comes
 * back as an unmodifiable list, the kind records hold.
 */
final class ListSerializer extends Serializer<List<?>> {
  private final int maxSize;

  ListSerializer(int maxSize) {
    super(false, true);
    this.maxSize = maxSize;
  }

  @Override
  public void write(Kryo kryo, Output output, List<?> list) {
    BoundedReads.requireWithin("list", list.size(), maxSize);
    output.writeVarInt(list.size(), true);
    for (Object element : list) {
      // The reader builds an unmodifiable list, which cannot hold null.
      if (element == null) {
        throw new KryoException("list holds a null element, which cannot be read back");
      }
      kryo.writeClassAndObject(output, element);
    }
  }

  @Override
  public List<?> read(Kryo kryo, Input input, Class<? extends List<?>> type) {
    int size = BoundedReads.readCount(input, "list", maxSize, 1);
    List<Object> elements = new ArrayList<>(size);
    for (int i = 0; i < size; i++) {
      elements.add(kryo.readClassAndObject(input));
    }
    return List.copyOf(elements);
  }
}
