package io.tessera.ps;

import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.WirePrecision;

/**
 * A parameter shard's state as it snapshots it at a checkpoint, for tests of the tools that read
 * snapshot stores: set up as a worker sets a member's shards up, holding its slice of a member's
 * parameters.
 */
public final class TestingShardCheckpoints {
  private TestingShardCheckpoints() {}

  /**
   * The state shard {@code range} of member {@code member} snapshots at checkpoint {@code
   * checkpointId} when the member's parameters are {@code values} (the whole flat vector).
   */
  public static Object checkpointed(
      String jobId, int member, JobSpec spec, ParameterLayout layout, ShardRange range, float[] values, long checkpointId) {
    ShardSetup setup =
        new ShardSetup(
            jobId,
            member,
            range,
            layout.segments(range),
            spec.optimizerOf(member),
            spec.globalBatch(),
            spec.staleness(),
            1,
            spec.mode(),
            spec.stalenessDamping());
    TensorPayload slice = TensorPayload.encode(values, range.from(), range.size(), WirePrecision.FP32);
    return ShardState.empty().initialize(setup, slice).checkpoint(checkpointId);
  }
}
