package io.tessera.protocol.serialization;

/**
 * Registers one module's wire classes with the Kryo serializer. Each module names its registrar
 * in its {@code reference.conf} under {@code tessera.serialization.registrars} and uses its own
 * block of ids, so that ids never depend on class-path order.
 *
 * <p>Implementations need a public no-argument constructor.
 */
public interface KryoRegistrar {
  void register(WireRegistry registry);
}
