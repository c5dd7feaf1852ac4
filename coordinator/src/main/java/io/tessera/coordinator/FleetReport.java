package io.tessera.coordinator;

import io.tessera.coordinator.CheckpointRecord.ShardPosition;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Local;
import java.util.List;

/** What a {@link ShardFleet} tells the coordinator about a job's shards. Local messages only. */
public sealed interface FleetReport extends Local {

  /** Every shard saved checkpoint {@code checkpointId}. */
  record CheckpointSaved(String jobId, long checkpointId, List<ShardPosition> positions)
      implements FleetReport {}

  /** Some shard did not save checkpoint {@code checkpointId}. */
  record CheckpointFailed(String jobId, long checkpointId, String reason) implements FleetReport {}

  /** Every shard runs in recovery epoch {@code epoch}. */
  record EpochReached(String jobId, long epoch) implements FleetReport {}
}
