package io.tessera.protocol.serialization;

import akka.actor.ExtendedActorSystem;
import akka.actor.typed.ActorRef;
import akka.serialization.JSerializer;
import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.util.MapReferenceResolver;
import com.esotericsoftware.kryo.util.Pool;
import com.typesafe.config.Config;
import io.tessera.protocol.TesseraSerializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The one Akka serializer for everything that implements {@link
 * io.tessera.protocol.TesseraSerializable}: Kryo with registration required, so only classes named
 * by a {@link KryoRegistrar} can be read, and every length checked against {@link WireLimits}.
 *
 * <p>Kryo instances are not thread-safe; a pool hands one to each call.
 */
public final class KryoSerializer extends JSerializer {
  /** Akka serializer id; must be unique among the system's serializers. */
  public static final int IDENTIFIER = 714_207;

  private static final int ID_LIST = 20;
  private static final int ID_ACTOR_REF = 21;
  private static final int ID_INT_ARRAY = 22;

  /** First output buffer; grows up to max-message-bytes. */
  private static final int INITIAL_BUFFER_BYTES = 4096;

  /**
   * Deepest object graph read or written. Tessera's messages nest a handful of levels; without a
   * bound, a small hostile message of nested lists overflows the stack of the reading thread.
   */
  static final int MAX_DEPTH = 64;
  private static final int ID_FLOAT_ARRAY = 23;
  private static final int ID_LONG_ARRAY = 24;

  private final ExtendedActorSystem system;
  private final WireLimits limits;
  private final List<KryoRegistrar> registrars;
  private final Pool<Kryo> pool;

  public KryoSerializer(ExtendedActorSystem system) {
    this(system, system.settings().config().getConfig("tessera.serialization"));
  }

  KryoSerializer(ExtendedActorSystem system, Config config) {
    this.system = system;
    this.limits = WireLimits.fromConfig(config);
    this.registrars = loadRegistrars(config.getConfig("registrars"));
    this.pool =
        new Pool<>(true, false, 16) {
          @Override
          protected Kryo create() {
            return newKryo();
          }
        };
    pool.free(pool.obtain()); // fail at start-up, not on the first message, if registration breaks
  }

  @Override
  public int identifier() {
    return IDENTIFIER;
  }

  @Override
  public boolean includeManifest() {
    return false;
  }

  @Override
  public byte[] toBinary(Object object) {
    Kryo kryo = pool.obtain();
    int maxBytes = limits.maxMessageBytes();
    try (Output output = new Output(Math.min(INITIAL_BUFFER_BYTES, maxBytes), maxBytes)) {
      kryo.writeClassAndObject(output, object);
      return output.toBytes();
    } catch (KryoException e) {
      throw new IllegalArgumentException(
          "cannot serialize " + object.getClass().getName() + ": " + e.getMessage(), e);
    } finally {
      pool.free(kryo);
    }
  }

  @Override
  public Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
    if (bytes.length > limits.maxMessageBytes()) {
      throw new IllegalArgumentException(
          "message of " + bytes.length + " bytes exceeds tessera.serialization.max-message-bytes");
    }
    Kryo kryo = pool.obtain();
    try (Input input = new Input(bytes)) {
      Object value = kryo.readClassAndObject(input);
      // Only marked classes are bound to this serializer, so nothing else can be a message.
      if (!(value instanceof TesseraSerializable)) {
        String read = value == null ? "null" : value.getClass().getName();
        throw new KryoException("read " + read + ", which is not a Tessera message");
      }
      if (input.position() != bytes.length) {
        throw new KryoException(
            (bytes.length - input.position()) + " unread bytes after " + value.getClass().getName());
      }
      return value;
    } catch (RuntimeException e) {
      // Whatever hostile bytes make a serializer or constructor throw is the same refusal.
      throw new IllegalArgumentException("cannot read Tessera message: " + e.getMessage(), e);
    } finally {
      pool.free(kryo);
    }
  }

  private Kryo newKryo() {
    Kryo kryo = new Kryo(new WireClassResolver(), new MapReferenceResolver());
    kryo.setRegistrationRequired(true);
    kryo.setReferences(false);
    kryo.setMaxDepth(MAX_DEPTH);
    WireRegistry registry = new WireRegistry(kryo, limits);
    kryo.register(String.class, new BoundedStringSerializer(limits.maxStringBytes()));
    registry.addBuiltIn(ID_LIST, List.class, new ListSerializer(limits.maxCollectionSize()));
    registry.addBuiltIn(
        ID_ACTOR_REF, ActorRef.class, new ActorRefSerializer(system, limits.maxStringBytes()));
    registry.addBuiltIn(ID_INT_ARRAY, int[].class, new IntArraySerializer(limits.maxCollectionSize()));
    registry.addBuiltIn(
        ID_FLOAT_ARRAY, float[].class, new FloatArraySerializer(limits.maxTensorValues()));
    registry.addBuiltIn(ID_LONG_ARRAY, long[].class, new LongArraySerializer(limits.maxCollectionSize()));
    for (KryoRegistrar registrar : registrars) {
      registrar.register(registry);
    }
    return kryo;
  }

  private static List<KryoRegistrar> loadRegistrars(Config registrars) {
    // Sorted by key so every node builds the same registry whatever the class-path order.
    Map<String, String> byKey = new TreeMap<>();
    for (String key : registrars.root().keySet()) {
      byKey.put(key, registrars.getString(key));
    }
    List<KryoRegistrar> loaded = new ArrayList<>();
    for (Map.Entry<String, String> entry : byKey.entrySet()) {
      try {
        Class<?> type = Class.forName(entry.getValue());
        loaded.add((KryoRegistrar) type.getDeclaredConstructor().newInstance());
      } catch (ReflectiveOperationException | ClassCastException e) {
        throw new IllegalStateException(
            "tessera.serialization.registrars."
                + entry.getKey()
                + " = "
                + entry.getValue()
                + " is not a KryoRegistrar with a public no-argument constructor",
            e);
      }
    }
    return loaded;
  }
}
