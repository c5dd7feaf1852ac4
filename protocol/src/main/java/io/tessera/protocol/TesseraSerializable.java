package io.tessera.protocol;

/**
 * Marker for every message, event and snapshot that leaves an actor's JVM or is persisted.
 *
 * <p>It is bound once, in {@code reference.conf}, to {@link
 * io.tessera.protocol.serialization.KryoSerializer}. Implementations must also be registered with a
 * {@link io.tessera.protocol.serialization.KryoRegistrar}: the serializer refuses unregistered
 * classes, so no class name is ever read off the wire.
 */
public interface TesseraSerializable {}
