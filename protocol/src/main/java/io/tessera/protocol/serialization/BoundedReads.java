package io.tessera.protocol.serialization;

import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.Input;

/**
 * Length checks shared by the serializers of this package: on read before any allocation, and on
 * write too, so that nothing is sent or persisted that a reader with the same limits would refuse.
 */
final class BoundedReads {
  private BoundedReads() {}

  /**
   * Reads a count written with {@code writeVarInt(n, true)} and checks it against the configured
   * maximum and against the bytes left in the message, assuming each item takes {@code minBytes}.
   */
  static int readCount(Input input, String what, int max, int minBytesPerItem) {
    int count = input.readVarInt(true);
    requireWithin(what, count, max);
    long needed = (long) count * minBytesPerItem;
    long remaining = (long) input.limit() - input.position();
    if (input.getInputStream() == null && needed > remaining) {
      throw new KryoException(
          what + " of " + count + " needs " + needed + " bytes but only " + remaining + " remain");
    }
    return count;
  }

  /** Refuses a count, read or about to be written, above the configured maximum. */
  static void requireWithin(String what, int count, int max) {
    if (count < 0 || count > max) {
      throw new KryoException(what + " of " + count + " exceeds the configured maximum of " + max);
    }
  }
}
