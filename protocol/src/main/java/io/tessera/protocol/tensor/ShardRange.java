package io.tessera.protocol.tensor;

import io.tessera.protocol.TesseraSerializable;

/**
 * The slice {@code [from, to)} of a model's flattened parameter vector that one shard holds.
 *
 * @param index the shard's number, 0-based
 */
public record ShardRange(int index, int from, int to) implements TesseraSerializable {
  public ShardRange {
    if (index < 0 || from < 0 || to < from) {
      throw new IllegalArgumentException("invalid shard range " + index + ": [" + from + ", " + to + ")");
    }
  }

  public int size() {
    return to - from;
  }
}
