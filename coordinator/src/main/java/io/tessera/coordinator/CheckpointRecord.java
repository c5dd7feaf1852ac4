package io.tessera.coordinator;

import io.tessera.coordinator.ledger.SplitLedger.Cut;
import io.tessera.protocol.TesseraSerializable;
import java.util.List;
import java.util.Optional;

/**
 * A complete, job-wide checkpoint: every shard of every member saved its numbers, and the split
 * ledgers' cut says which splits those numbers include.
 *
 * @param checkpointId 0 is the initial values; later ids increase and are never reused
 * @param cuts the acknowledged splits of each member, by member index
 * @param positions where each shard's snapshot sits in its journal
 * @param startedAtMillis when it was started (the splits acked then are the ones it holds)
 */
public record CheckpointRecord(long checkpointId, List<Cut> cuts, List<ShardPosition> positions, long startedAtMillis)
    implements TesseraSerializable {

  public CheckpointRecord {
    cuts = List.copyOf(cuts);
    positions = List.copyOf(positions);
  }

  /** Where shard {@code shard} of member {@code member} saved this checkpoint. */
  public Optional<ShardPosition> position(int member, int shard) {
    return positions.stream().filter(p -> p.member() == member && p.shard() == shard).findFirst();
  }

  /**
   * The journal position of the snapshot shard {@code shard} of member {@code member} saved for
   * this checkpoint; 1, the initial values, where none is recorded.
   */
  public long sequenceNr(int member, int shard) {
    return position(member, shard).map(ShardPosition::sequenceNr).orElse(1L);
  }

  /** Whether this checkpoint includes every split of every member: training was over. */
  boolean coversEverything() {
    return cuts.stream().allMatch(c -> c.size() == c.splits());
  }

  /**
   * One shard's part of a checkpoint.
   *
   * @param sequenceNr the journal position of its snapshot
   * @param version the shard's version (optimizer steps) then
   */
  public record ShardPosition(int member, int shard, long sequenceNr, long version)
      implements TesseraSerializable {}

  /**
   * A checkpoint asked of the shards and not yet saved by all of them.
   *
   * @param cuts the ledgers' cut when it was started
   */
  public record Pending(long checkpointId, List<Cut> cuts, long startedAtMillis)
      implements TesseraSerializable {
    public Pending {
      cuts = List.copyOf(cuts);
    }
  }
}
