package io.tessera.protocol.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Registration;
import com.esotericsoftware.kryo.Serializer;
import java.util.HashMap;
import java.util.Map;

/**
 * The view of a Kryo instance that registrars see: explicit ids only, and a second class under an
 * id already taken is an error rather than a silent overwrite.
 */
public final class WireRegistry {
  /** Ids below this are Kryo's own (primitives, String) and the shared types of this package. */
  public static final int FIRST_MODULE_ID = 100;

  private final Kryo kryo;
  private final WireLimits limits;
  private final Map<Integer, Class<?>> taken = new HashMap<>();

  WireRegistry(Kryo kryo, WireLimits limits) {
    this.kryo = kryo;
    this.limits = limits;
  }

  public WireLimits limits() {
    return limits;
  }

  /** Registers {@code type} under {@code id} with Kryo's default serializer for it. */
  public void add(int id, Class<?> type) {
    claim(id, type);
    kryo.register(type, id);
  }

  /** Registers {@code type} under {@code id} with {@code serializer}. */
  public void add(int id, Class<?> type, Serializer<?> serializer) {
    claim(id, type);
    kryo.register(type, serializer, id);
  }

  /** Registers the shared types (collections, actor refs, arrays) below {@link #FIRST_MODULE_ID}. */
  void addBuiltIn(int id, Class<?> type, Serializer<?> serializer) {
    Class<?> previous = taken.putIfAbsent(id, type);
    if (previous != null) {
      throw new IllegalStateException("wire id " + id + " is taken by " + previous.getName());
    }
    kryo.register(new Registration(type, serializer, id));
  }

  private void claim(int id, Class<?> type) {
    if (id < FIRST_MODULE_ID) {
      throw new IllegalArgumentException(
          "wire id " + id + " for " + type.getName() + " is below " + FIRST_MODULE_ID);
    }
    Class<?> previous = taken.putIfAbsent(id, type);
    if (previous != null) {
      throw new IllegalStateException(
          "wire id " + id + " is taken by " + previous.getName() + ", cannot also be " + type.getName());
    }
  }
}
