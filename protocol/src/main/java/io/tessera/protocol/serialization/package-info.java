/**
 * The Kryo-backed Akka serializer. {@link io.tessera.protocol.serialization.KryoSerializer} is bound
 * to {@link io.tessera.protocol.TesseraSerializable}; modules add their classes through {@link
 * io.tessera.protocol.serialization.KryoRegistrar}s named in configuration.
 */
package io.tessera.protocol.serialization;
