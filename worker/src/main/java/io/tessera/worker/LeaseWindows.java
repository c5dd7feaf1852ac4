package io.tessera.worker;

import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Overlap;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.Stale;
import io.tessera.protocol.ps.ShardProtocol.Window;
import java.util.Arrays;
import java.util.List;

/**
 * How far each of a member's shards has taken one lease, and which window to train next.
 *
 * <p>Positions are samples from the lease's start. A shard has <em>reached</em> a position when
 * every sample before it is applied there (by this worker's pushes, or, as the shard said by
 * answering Duplicate, by an earlier holder of the work). Shards can be at different positions: a
 * window one shard took and another refused as Stale is computed again for the second only, and a
 * shard that had applied part of a window (Overlap) is sent its parts separately. The next window
 * starts where the shards furthest behind are, goes only to them, and ends where the next shard
 * ahead is, so no shard is sent a split it has, and every window completes, for the shards it goes
 * to, a stretch of the lease that every shard then has: the lease's samples done are the lowest
 * position. Not thread-safe: it belongs to the worker actor.
 */
final class LeaseWindows {

  /**
   * The window to train next: positions {@code [from, to)} of the lease, for the shards {@code
   * targets} marks, named on the wire as {@code window}.
   */
  record Planned(int from, int to, boolean[] targets, Window window) {
    int samples() {
      return to - from;
    }
  }

  /** What a push's answers left: the window complete, or to be trained again for some shards. */
  enum Result {
    COMPLETE,
    AGAIN
  }

  private final Lease lease;
  private final int length;
  private final int microBatch;
  private final long splitsPerEpoch;
  private final int[] reached;
  /** The recovery epoch of the pushes that put some shards ahead of others. */
  private long aheadEpoch = -1;
  /** The end of a window some shards refused as Stale: its copy covers the same samples. */
  private int retryTo = -1;
  /** Where the state of splits changes at a shard that answered Overlap. */
  private int overlapTo = -1;

  LeaseWindows(Lease lease, int shards) {
    this.lease = lease;
    this.length = lease.split().size();
    this.microBatch = lease.spec().microBatch();
    this.splitsPerEpoch = (lease.trainSize() + microBatch - 1) / microBatch;
    this.reached = new int[shards];
  }

  /** Samples of the lease from its start that every shard has. */
  int done() {
    return Arrays.stream(reached).min().orElse(length);
  }

  boolean finished() {
    return done() >= length;
  }

  /**
   * The next window on parameters pulled in recovery epoch {@code pulledEpoch}, of at most {@code
   * samples} samples (the accumulation count's worth), unless it is the copy of a window refused
   * as Stale, which covers the same samples.
   */
  Planned next(long pulledEpoch, int samples) {
    int from = done();
    if (ahead(from) && pulledEpoch != aheadEpoch) {
      // Rewound since: what the shards ahead had applied is gone.
      Arrays.fill(reached, from);
      retryTo = -1;
      overlapTo = -1;
    }
    int to = retryTo > from ? retryTo : from + samples;
    to = Math.min(to, length);
    if (overlapTo > from) {
      to = Math.min(to, overlapTo);
    }
    boolean[] targets = new boolean[reached.length];
    for (int i = 0; i < reached.length; i++) {
      targets[i] = reached[i] == from;
      if (reached[i] > from) {
        to = Math.min(to, reached[i]);
      }
    }
    return new Planned(from, to, targets, window(from, to));
  }

  /**
   * Records the answers to a push of {@code planned} made on parameters of {@code epoch}: shards
   * that applied it (or had) move on; the window is trained again for those that answered Stale,
   * and in parts for those that answered Overlap. Revoked answers are the caller's to handle.
   */
  Result pushed(Planned planned, long epoch, List<PushOutcome> outcomes) {
    boolean again = false;
    for (int i = 0; i < reached.length; i++) {
      if (!planned.targets()[i]) {
        continue;
      }
      PushOutcome outcome = outcomes.get(i);
      if (outcome instanceof Stale) {
        retryTo = planned.to();
        again = true;
      } else if (outcome instanceof Overlap overlap) {
        int until = position(overlap.uniformUntil());
        // An answer that does not cut the window inside (it cannot happen) cuts off one split.
        int cut = until > planned.from() && until < planned.to() ? until : Math.min(planned.to(), planned.from() + microBatch);
        overlapTo = overlapTo > planned.from() ? Math.min(overlapTo, cut) : cut;
        again = true;
      } else {
        reached[i] = planned.to();
      }
    }
    if (ahead(done())) {
      aheadEpoch = epoch;
    }
    if (!again) {
      retryTo = -1;
      overlapTo = -1;
      return Result.COMPLETE;
    }
    return Result.AGAIN;
  }

  /** Whether some shard is further than {@code from}. */
  private boolean ahead(int from) {
    return Arrays.stream(reached).anyMatch(r -> r > from);
  }

  /** The window of this lease covering positions {@code [from, to)}, as the shards count splits. */
  Window window(int from, int to) {
    int start = lease.split().from();
    long epochBase = lease.split().epoch() * splitsPerEpoch;
    long first = epochBase + (start + from) / microBatch;
    long end = epochBase + (start + to + microBatch - 1) / microBatch;
    return new ShardProtocol.Window(lease.leaseId(), first, (int) (end - first));
  }

  /** The lease position where split {@code split} starts (clamped to the lease). */
  private int position(long split) {
    long epochBase = lease.split().epoch() * splitsPerEpoch;
    long sample = (split - epochBase) * microBatch - lease.split().from();
    return (int) Math.max(0, Math.min(length, sample));
  }
}
