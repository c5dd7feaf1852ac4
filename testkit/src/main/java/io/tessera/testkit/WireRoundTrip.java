package io.tessera.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Adapter;
import akka.serialization.Serialization;
import akka.serialization.SerializationExtension;
import akka.serialization.Serializer;
import akka.serialization.Serializers;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.tessera.protocol.serialization.KryoSerializer;

/**
 * Serialization round trips through Akka's own serialization API, for the tests of every module
 * that puts messages, events or snapshots on the wire or in a journal.
 *
 * <p>The copy comes back the way a remote node or a journal replay would see it: Akka picks the
 * serializer from the bindings, writes the manifest it asks for, and reads the bytes back by
 * serializer id and manifest. A class that is not bound to the Kryo serializer, or not registered
 * with it, fails the calling test instead of quietly taking another route.
 */
public final class WireRoundTrip {
  private WireRoundTrip() {}

  /**
   * Serializes {@code message} with the serializer Akka binds to it, which must be the {@link
   * KryoSerializer}, and returns the deserialized copy.
   */
  public static <T> T roundTrip(ActorSystem<?> system, T message) {
    Serialization serialization = SerializationExtension.get(Adapter.toClassic(system));
    Serializer serializer = serialization.findSerializerFor(message);
    assertInstanceOf(
        KryoSerializer.class,
        serializer,
        () ->
            message.getClass().getName()
                + " is not bound to the Tessera Kryo serializer: does it implement"
                + " io.tessera.protocol.TesseraSerializable?");
    byte[] bytes = serialization.serialize(message).get();
    String manifest = Serializers.manifestFor(serializer, message);
    Object copy = serialization.deserialize(bytes, serializer.identifier(), manifest).get();
    // A copy of another class would compare unequal anyway, but this names the problem.
    assertEquals(message.getClass(), copy.getClass(), "round trip changed the message's class");
    @SuppressWarnings("unchecked")
    T typed = (T) copy;
    return typed;
  }

  /** Round-trips {@code message} and asserts that the copy {@code equals} the original. */
  public static void assertRoundTrip(ActorSystem<?> system, Object message) {
    Object copy = roundTrip(system, message);
    assertEquals(message, copy, () -> "round trip of " + message.getClass().getName());
  }

  /**
   * Settings for an {@code ActorTestKit} whose system uses the cluster provider and Artery on
   * loopback with a free port, so that actor refs inside messages carry real, remote-capable
   * addresses ({@code akka://name@127.0.0.1:port/...}) just as between nodes. Layer a test's own
   * settings on top with {@code withFallback}; the system adds every module's {@code
   * reference.conf} itself.
   */
  public static Config clusterTestConfig() {
    return ConfigFactory.parseString(
        String.join(
            "\n",
            "akka.actor.provider = cluster",
            "akka.remote.artery.canonical.hostname = \"127.0.0.1\"",
            "akka.remote.artery.canonical.port = 0"));
  }
}
