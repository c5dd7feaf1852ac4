package io.tessera.protocol.serialization;

import akka.actor.typed.ActorRef;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Registration;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.util.DefaultClassResolver;
import java.util.List;

/**
 * Lets a few interfaces stand for all of their implementations on the wire: any {@link ActorRef}
 * is written as an {@code ActorRef}, any {@link List} as a {@code List}. Without this, registration
 * would have to name Akka's and the JDK's internal classes ({@code ActorRefAdapter}, {@code
 * ImmutableCollections.ListN}), which are not ours to rely on.
 */
final class WireClassResolver extends DefaultClassResolver {
  @Override
  public Registration getRegistration(Class type) {
    Registration registration = super.getRegistration(type);
    if (registration != null) {
      return registration;
    }
    if (ActorRef.class.isAssignableFrom(type)) {
      return super.getRegistration(ActorRef.class);
    }
    if (List.class.isAssignableFrom(type)) {
      return super.getRegistration(List.class);
    }
    return null;
  }

  // Kryo falls back to class names for unregistered classes; registration is required here, so a
  // name can only come from a corrupt or hostile sender, and must not even be loaded.
  @Override
  protected Registration readName(Input input) {
    throw new KryoException("class names are not accepted on the wire, only registered ids");
  }
}
