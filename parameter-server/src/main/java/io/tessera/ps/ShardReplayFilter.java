package io.tessera.ps;

import akka.persistence.typed.EventAdapter;
import akka.persistence.typed.EventSeq;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;

/**
 * Decides which journaled events a recovering shard replays after its snapshot: none that would
 * change what the snapshot restored.
 *
 * <p>A checkpoint's numbers live in its snapshot, so a {@link ShardEvent.CheckpointTaken} marker
 * replayed after an older snapshot adds nothing, and {@link ShardEvent.ShardInitialized} replayed
 * when the named snapshot is missing would pass the initial values off as that checkpoint. So
 * markers are never replayed, and the set-up only where it is the state wanted: for a fresh plan
 * (the shard may have stopped before its first snapshot was stored) or a plan naming checkpoint 0,
 * the initial values themselves. (Shards use no Akka retention, so Akka takes no snapshot after a
 * recovery that replayed events: nothing overwrites a newer checkpoint's snapshot.)
 */
final class ShardReplayFilter extends EventAdapter<ShardEvent, ShardEvent> {
  private final boolean replayInitialValues;

  ShardReplayFilter(ShardRecoveryPlan plan) {
    this.replayInitialValues = plan.isFresh() || plan.checkpointId() == 0;
  }

  @Override
  public ShardEvent toJournal(ShardEvent event) {
    return event;
  }

  @Override
  public String manifest(ShardEvent event) {
    return "";
  }

  @Override
  public EventSeq<ShardEvent> fromJournal(ShardEvent event, String manifest) {
    if (event instanceof ShardEvent.ShardInitialized && replayInitialValues) {
      return EventSeq.single(event);
    }
    return EventSeq.empty();
  }
}
