package io.tessera.ps;

import akka.persistence.typed.EventAdapter;
import akka.persistence.typed.EventSeq;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;

/**
 * Decides which journaled events a recovering shard replays after its snapshot: none that would
 * change what the snapshot restored.
 *
 * <p>A checkpoint's numbers live in its snapshot, so a {@link ShardEvent.CheckpointTaken} marker
 * replayed after an older snapshot adds nothing. Worse, Akka saves a snapshot of the recovered
 * state at the journal's end whenever recovery replayed events (retention {@code snapshotEvery(1,
 * ...)}), which would overwrite the newest checkpoint's snapshot with the older numbers the plan
 * named, or, when the named snapshot was missing, with the initial values. So markers are never
 * replayed, and {@link ShardEvent.ShardInitialized} only where it is the state wanted: for a
 * fresh plan (the shard may have stopped before its first snapshot was stored) or a plan naming
 * checkpoint 0, the initial values themselves.
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
