package io.tessera.ps;

import akka.actor.ExtendedActorSystem;
import io.tessera.protocol.tensor.ShardRange;

/**
 * Reads parameter shards' checkpoints as the snapshot store keeps them, for tools that work on a
 * finished or stopped job without a running cluster (writing MAE reconstructions, say).
 */
public final class ShardCheckpoints {
  private ShardCheckpoints() {}

  /** The persistence id under which shard entity {@code entityId} stores its snapshots. */
  public static String persistenceId(String entityId) {
    return PersistentShard.persistenceIdOf(entityId).id();
  }

  /**
   * One shard's checkpoint.
   *
   * @param range the slice of the member's flat parameter vector the shard holds
   * @param parameters the slice's values at the checkpoint
   */
  public record Checkpoint(long checkpointId, long version, ShardRange range, float[] parameters) {}

  /**
   * Decodes a snapshot payload written by {@link ShardSnapshotSerializer}.
   *
   * @throws IllegalArgumentException if the payload fails the format's checks, saying why
   */
  public static Checkpoint decode(ExtendedActorSystem system, byte[] payload) {
    ShardState state = (ShardState) new ShardSnapshotSerializer(system).fromBinaryJava(payload, null);
    if (state.isCorrupt()) {
      throw new IllegalArgumentException(state.corruption());
    }
    ShardImage image = state.image();
    return new Checkpoint(image.checkpointId(), image.version(), state.setup().range(), image.parameters());
  }
}
