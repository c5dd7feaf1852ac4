package io.tessera.ps;

import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.ps.optimizer.Optimizer;
import java.util.BitSet;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A parameter shard's state as its event-sourced behavior sees it.
 *
 * <p>The wrapper is immutable and each journaled event yields a new one holding a fresh {@link
 * ShardImage}, which is what a snapshot stores. The numbers that pushes change ({@link Live}) are
 * one mutable object carried from wrapper to wrapper: the documented exception for large buffers
 * owned by one actor.
 *
 * @param setup the shard's rules; null until initialised
 * @param image the copy taken at the last event or restored from a snapshot; null before
 * @param corruption why the restored snapshot could not be read; null when it could
 */
record ShardState(ShardSetup setup, Live live, ShardImage image, String corruption) {

  static ShardState empty() {
    return new ShardState(null, null, null, null);
  }

  /** A state whose snapshot could not be read; the shard reports it and serves nothing. */
  static ShardState corrupt(String reason) {
    return new ShardState(null, null, null, reason);
  }

  /** A state restored from a snapshot. */
  static ShardState restored(ShardSetup setup, ShardImage image) {
    return new ShardState(setup, Live.from(setup, image), image, null);
  }

  boolean initialized() {
    return setup != null && live != null;
  }

  boolean isCorrupt() {
    return corruption != null;
  }

  long checkpointId() {
    return image == null ? -1 : image.checkpointId();
  }

  /** Applies {@code ShardInitialized}: checkpoint 0. */
  ShardState initialize(ShardSetup newSetup, TensorPayload values) {
    ShardImage initial =
        new ShardImage(
            0,
            0,
            values.decode(),
            new float[newSetup.range().size()],
            0,
            Optimizer.create(newSetup.optimizer(), newSetup.range().size(), newSetup.segments()).snapshot(),
            Map.of(),
            0,
            Set.of(),
            -1,
            -1,
            new long[0],
            0);
    return restored(newSetup, initial);
  }

  /** Applies {@code CheckpointTaken}: freezes a copy of the live numbers. */
  ShardState checkpoint(long checkpointId) {
    return new ShardState(setup, live, live.image(checkpointId), null);
  }

  /**
   * The numbers pushes and optimizer steps change in place, and the bookkeeping of the modes
   * ({@code ssp} clocks, {@code sync} parts). Owned by the shard's actor.
   */
  static final class Live {
    final float[] parameters;
    final float[] pendingGradient;
    final float[] decoded;
    final Optimizer optimizer;
    final Map<String, Long> lastSeqByWorker;
    /** Sync mode: the contributions summed into the pending gradient. */
    final Set<Long> pendingParts;
    /**
     * Async and ssp mode: the member's splits whose gradients are in {@link #parameters} or {@link
     * #pendingGradient}; part of every checkpoint, so a rewind restores it with the numbers.
     */
    final BitSet appliedSplits;
    /**
     * Async and ssp mode: the splits named by every accepted push, summed (a window of {@code k}
     * splits adds {@code k}). Counted apart from {@link #appliedSplits}, as the audit of it: equal
     * to its cardinality unless a split was applied twice. Part of every checkpoint.
     */
    long splitApplications;
    /** Every worker whose push was accepted since the shard started (for reports). */
    final Set<String> pushers = new TreeSet<>();
    /** SSP mode: accepted windows per worker of the roster; runtime only. */
    final Map<String, Long> clocks = new HashMap<>();
    /** The workers the coordinator last said train this member, and under which epoch. */
    Set<String> roster = Set.of();
    long rosterEpoch = -1;
    /**
     * Async and ssp mode, the coordinator's lease fence: of the leases issued before {@code
     * leasesIssuedBefore}, only {@link #liveLeases} may push. Runtime only: a shard that restarts
     * gets its fence from its recovery plan.
     */
    long leasesIssuedBefore;
    Set<Long> liveLeases = Set.of();
    long maxClockLead;
    long fencedMessages;
    int pendingSamples;
    long samplesApplied;
    /** Sync mode: the first split of the step most recently taken (-1 before the first). */
    long lastStep;
    /** Sync mode: the first split of the step being collected (-1 when none). */
    long pendingStep;
    long version;
    long accepted;
    long stale;
    long duplicates;
    long rejected;
    long revoked;

    private Live(ShardImage image, Optimizer optimizer) {
      this.parameters = image.parameters().clone();
      this.pendingGradient = image.pendingGradient().clone();
      this.decoded = new float[parameters.length];
      this.optimizer = optimizer;
      this.lastSeqByWorker = new HashMap<>(image.lastSeqByWorker());
      this.pendingParts = new HashSet<>(image.pendingParts());
      this.appliedSplits = BitSet.valueOf(image.appliedSplits());
      this.splitApplications = image.splitApplications();
      this.pendingSamples = image.pendingSamples();
      this.samplesApplied = image.samplesApplied();
      this.lastStep = image.lastStep();
      this.pendingStep = image.pendingStep();
      this.version = image.version();
    }

    /** Live numbers that start as copies of {@code image}, which stays untouched. */
    static Live from(ShardSetup setup, ShardImage image) {
      return new Live(image, Optimizer.restore(setup.optimizer(), setup.segments(), image.optimizer()));
    }

    ShardImage image(long checkpointId) {
      return new ShardImage(
          checkpointId,
          version,
          parameters.clone(),
          pendingGradient.clone(),
          pendingSamples,
          optimizer.snapshot(),
          lastSeqByWorker,
          samplesApplied,
          pendingParts,
          lastStep,
          pendingStep,
          appliedSplits.toLongArray(),
          splitApplications);
    }

    /** Whether lease {@code leaseId} may no longer push (see {@link #applyFence}). */
    boolean isRevoked(long leaseId) {
      return leaseId >= 0 && leaseId < leasesIssuedBefore && !liveLeases.contains(leaseId);
    }

    /**
     * Applies a lease fence from the coordinator: of the leases issued before {@code issuedBefore},
     * only {@code live} are current. For leases issued before a given point the coordinator's live
     * set only shrinks, so a newer fence (a higher {@code issuedBefore}) replaces the one in force,
     * one of the same point narrows it, and an older one is dropped: fences that arrive late,
     * twice or out of order never bring a lease back.
     *
     * @return whether the fence was applied
     */
    boolean applyFence(long issuedBefore, Collection<Long> live) {
      if (issuedBefore < leasesIssuedBefore) {
        fencedMessages++;
        return false;
      }
      Set<Long> next = new HashSet<>(live);
      if (issuedBefore == leasesIssuedBefore) {
        next.retainAll(liveLeases);
      }
      leasesIssuedBefore = issuedBefore;
      liveLeases = Set.copyOf(next);
      return true;
    }

    /** The slowest clock of the roster (0 for an empty roster). */
    long slowestClock() {
      long slowest = Long.MAX_VALUE;
      for (String worker : roster) {
        slowest = Math.min(slowest, clocks.getOrDefault(worker, 0L));
      }
      return slowest == Long.MAX_VALUE ? 0 : slowest;
    }

    /**
     * Applies a roster from the coordinator, unless it is older than the one in force: workers
     * that enter start level with the slowest of those already there, so none of them holds the
     * others back, and workers that left no longer count.
     *
     * @return whether the roster was applied
     */
    boolean applyRoster(long membershipEpoch, Collection<String> workers) {
      if (membershipEpoch < rosterEpoch) {
        fencedMessages++;
        return false;
      }
      Set<String> next = Set.copyOf(workers);
      Set<String> staying = new HashSet<>(roster);
      staying.retainAll(next);
      long start = 0;
      if (staying.isEmpty()) {
        clocks.clear(); // nobody stays (say, the bound was lifted for a checkpoint): all start level
      } else {
        start = Long.MAX_VALUE;
        for (String worker : staying) {
          start = Math.min(start, clocks.getOrDefault(worker, 0L));
        }
      }
      clocks.keySet().retainAll(next);
      for (String worker : next) {
        clocks.putIfAbsent(worker, start);
      }
      roster = next;
      rosterEpoch = membershipEpoch;
      return true;
    }
  }
}
