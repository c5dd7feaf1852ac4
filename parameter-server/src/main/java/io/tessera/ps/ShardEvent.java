package io.tessera.ps;

import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.tensor.TensorPayload;

/**
 * What a parameter shard journals. Pushes are not journaled (the arrays change in place between
 * checkpoints); only the set-up and each checkpoint marker are, and every event is followed by a
 * snapshot of the shard.
 */
public sealed interface ShardEvent extends TesseraSerializable {

  /** The shard received its rules and initial values (fp32): checkpoint 0. */
  record ShardInitialized(ShardSetup setup, TensorPayload values) implements ShardEvent {}

  /** Checkpoint {@code checkpointId} of recovery epoch {@code epoch} was taken at {@code version}. */
  record CheckpointTaken(long checkpointId, long epoch, long version) implements ShardEvent {}
}
