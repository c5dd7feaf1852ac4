package io.tessera.protocol.serialization;

import akka.actor.ExtendedActorSystem;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.javadsl.Adapter;
import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

/** Typed actor refs travel as Akka's own serialization format (address, path, uid). */
final class ActorRefSerializer extends Serializer<ActorRef<?>> {
  private final ExtendedActorSystem system;
  private final int maxBytes;
  private volatile ActorRefResolver resolver;

  ActorRefSerializer(ExtendedActorSystem system, int maxBytes) {
    super(false, true);
    this.system = system;
    this.maxBytes = maxBytes;
  }

  // The resolver is an extension of the very system whose serialization is being set up, so it
  // can only be looked up once that system is running.
  private ActorRefResolver resolver() {
    ActorRefResolver current = resolver;
    if (current == null) {
      current = ActorRefResolver.get(Adapter.toTyped(system));
      resolver = current;
    }
    return current;
  }

  @Override
  public void write(Kryo kryo, Output output, ActorRef<?> ref) {
    byte[] path = resolver().toSerializationFormat(ref).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    BoundedReads.requireWithin("actor path", path.length, maxBytes);
    output.writeVarInt(path.length, true);
    output.writeBytes(path);
  }

  @Override
  public ActorRef<?> read(Kryo kryo, Input input, Class<? extends ActorRef<?>> type) {
    int length = BoundedReads.readCount(input, "actor path", maxBytes, 1);
    String path = new String(input.readBytes(length), java.nio.charset.StandardCharsets.UTF_8);
    return resolver().resolveActorRef(path);
  }
}
