package io.tessera.protocol.tensor;

import io.tessera.protocol.TesseraSerializable;

/**
 * The part of one tensor that falls inside a shard: values {@code [tensorOffset, tensorOffset +
 * length)} of the tensor sit at {@code [shardOffset, shardOffset + length)} of the shard's slice.
 * A tensor may span shards, so a shard may hold only part of it.
 */
public record Segment(String tensor, int tensorOffset, int shardOffset, int length, boolean decay)
    implements TesseraSerializable {}
