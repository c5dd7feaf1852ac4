package io.tessera.ps;

import io.tessera.protocol.serialization.KryoRegistrar;
import io.tessera.protocol.serialization.WireRegistry;
import io.tessera.ps.optimizer.OptimizerState;

/**
 * Wire ids 300-399: the classes only the parameter server writes: its journal events and the
 * optimizer state. The {@link io.tessera.protocol.spec.OptimizerKind} and {@code float[]}
 * inside them are registered by the protocol module. Ids are part of the stored format: never
 * reuse or renumber one, only append.
 */
public final class ParameterServerRegistrar implements KryoRegistrar {
  @Override
  public void register(WireRegistry registry) {
    // optimizer: 300-309
    registry.add(300, OptimizerState.class);
    // journal events: 310-329
    registry.add(310, ShardEvent.ShardInitialized.class);
    registry.add(311, ShardEvent.CheckpointTaken.class);
  }
}
