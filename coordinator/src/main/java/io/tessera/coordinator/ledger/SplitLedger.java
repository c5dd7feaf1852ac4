package io.tessera.coordinator.ledger;

import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Which splits of one member's training run are pending, leased (to whom, under which lease) and
 * acknowledged. A split is one micro-batch of sample positions, the smallest unit of work; a lease
 * covers a run of consecutive splits of one epoch. Splits are numbered globally over all epochs:
 * split {@code g} is index {@code g % splitsPerEpoch} of epoch {@code g / splitsPerEpoch}. The
 * lowest pending split is leased next, so work given back goes out again before later work.
 *
 * <p>A lease is acknowledged whole or by a prefix (a worker that drains acks what it pushed and
 * gives back the rest). Where a lease started is remembered after it is given back, so the same
 * run goes out again unchanged: in {@code sync} mode a run is one contribution to an optimizer
 * step, and a shard that already applied part of a departed worker's contribution recognises the
 * run when it comes again.
 *
 * <p>A member stopped early ({@link #skipPending}) has its pending splits skipped: done, but not
 * trained, so they count no samples. Its leases out are left to be acknowledged (their pushes are
 * on their way to the shards), and the ledger is complete once they are.
 *
 * <p>Immutable: every change returns a new ledger. Sizes are modest (a split per micro-batch per
 * epoch), so each change copies its arrays.
 */
public final class SplitLedger implements TesseraSerializable {
  private static final byte PENDING = 0;
  private static final byte LEASED = 1;
  private static final byte ACKED = 2;
  private static final byte SKIPPED = 3;

  private final int trainSize;
  private final int splitSize;
  private final int splitsPerEpoch;
  private final byte[] states;
  private final long[] leaseIds;
  private final String[] holders;
  /** Length of the run that starts at a split, 0 where none was leased from it. */
  private final int[] runs;
  /** Splits acknowledged or skipped: done. */
  private final int done;
  private final long ackedSamples;

  private SplitLedger(
      int trainSize,
      int splitSize,
      int splitsPerEpoch,
      byte[] states,
      long[] leaseIds,
      String[] holders,
      int[] runs,
      int done,
      long ackedSamples) {
    this.trainSize = trainSize;
    this.splitSize = splitSize;
    this.splitsPerEpoch = splitsPerEpoch;
    this.states = states;
    this.leaseIds = leaseIds;
    this.holders = holders;
    this.runs = runs;
    this.done = done;
    this.ackedSamples = ackedSamples;
  }

  /** A run of {@code count} consecutive splits from {@code first}, within one epoch. */
  public record Run(int first, int count) {
    public int end() {
      return first + count;
    }
  }

  /** Rebuilds a ledger from its stored parts (see {@link LedgerSerializer}). */
  static SplitLedger restore(
      int trainSize,
      int splitSize,
      int splitsPerEpoch,
      byte[] states,
      long[] leaseIds,
      String[] holders,
      int[] runs) {
    if (states.length != leaseIds.length || states.length != holders.length || states.length != runs.length
        || splitsPerEpoch <= 0 || states.length % splitsPerEpoch != 0 || trainSize <= 0 || splitSize <= 0) {
      throw new IllegalArgumentException("inconsistent split ledger of " + states.length + " splits");
    }
    SplitLedger empty =
        new SplitLedger(trainSize, splitSize, splitsPerEpoch, states, leaseIds, holders, runs, 0, 0);
    int done = 0;
    long samples = 0;
    for (int g = 0; g < states.length; g++) {
      if (states[g] == ACKED) {
        done++;
        samples += empty.split(g).size();
      } else if (states[g] == SKIPPED) {
        done++;
      } else if (states[g] != PENDING && states[g] != LEASED) {
        throw new IllegalArgumentException("split " + g + " has unknown state " + states[g]);
      }
      if (runs[g] < 0 || runs[g] > splitsPerEpoch - g % splitsPerEpoch) {
        throw new IllegalArgumentException("split " + g + " starts a run of " + runs[g] + " splits");
      }
    }
    return new SplitLedger(trainSize, splitSize, splitsPerEpoch, states, leaseIds, holders, runs, done, samples);
  }

  int trainSize() {
    return trainSize;
  }

  int splitSize() {
    return splitSize;
  }

  public int splitsPerEpoch() {
    return splitsPerEpoch;
  }

  byte[] states() {
    return states.clone();
  }

  long[] leaseIds() {
    return leaseIds.clone();
  }

  String[] holders() {
    return holders.clone();
  }

  int[] runs() {
    return runs.clone();
  }

  /**
   * A ledger with every split of {@code epochs} passes over {@code trainSize} samples pending.
   *
   * @param splitSize samples per split: the job's micro-batch
   */
  public static SplitLedger create(int trainSize, int splitSize, int epochs) {
    if (trainSize <= 0 || splitSize <= 0 || epochs <= 0) {
      throw new IllegalArgumentException(
          "ledger needs positive sizes, got trainSize=" + trainSize + " splitSize=" + splitSize
              + " epochs=" + epochs);
    }
    int perEpoch = (trainSize + splitSize - 1) / splitSize;
    int total = Math.multiplyExact(perEpoch, epochs);
    return new SplitLedger(
        trainSize, splitSize, perEpoch, new byte[total], new long[total], new String[total], new int[total], 0, 0);
  }

  public int totalSplits() {
    return states.length;
  }

  /** Splits acknowledged or skipped. */
  public int ackedSplits() {
    return done;
  }

  /** Splits skipped when the member stopped early; 0 otherwise. */
  public int skippedSplits() {
    int skipped = 0;
    for (byte state : states) {
      if (state == SKIPPED) {
        skipped++;
      }
    }
    return skipped;
  }

  /** Samples of the splits skipped when the member stopped early; 0 otherwise. */
  public long skippedSamples() {
    long samples = 0;
    for (int g = 0; g < states.length; g++) {
      if (states[g] == SKIPPED) {
        samples += split(g).size();
      }
    }
    return samples;
  }

  /** Epochs whose every split is done: training has passed their end. */
  public int epochsDone() {
    return firstUnacked().orElse(states.length) / splitsPerEpoch;
  }

  /** Epochs this ledger covers. */
  public int epochs() {
    return states.length / splitsPerEpoch;
  }

  public long ackedSamples() {
    return ackedSamples;
  }

  public long totalSamples() {
    return (long) trainSize * (states.length / splitsPerEpoch);
  }

  public boolean isComplete() {
    return done == states.length;
  }

  public boolean hasPending() {
    return nextPending().isPresent();
  }

  /** The lowest pending split, if any. */
  public OptionalInt nextPending() {
    for (int g = 0; g < states.length; g++) {
      if (states[g] == PENDING) {
        return OptionalInt.of(g);
      }
    }
    return OptionalInt.empty();
  }

  /** The lowest split not acknowledged (or skipped) yet, if any. */
  public OptionalInt firstUnacked() {
    for (int g = 0; g < states.length; g++) {
      if (states[g] != ACKED && states[g] != SKIPPED) {
        return OptionalInt.of(g);
      }
    }
    return OptionalInt.empty();
  }

  /**
   * The run the next lease should cover: from the lowest pending split at or after {@code from}
   * and before {@code until}, the run that was leased from it before if it is all pending again,
   * else up to {@code maxSplits} consecutive pending splits, never past the end of an epoch or
   * {@code until}.
   */
  public Optional<Run> nextRun(int maxSplits, int from, int until) {
    if (maxSplits <= 0) {
      throw new IllegalArgumentException("a run needs at least one split, asked for " + maxSplits);
    }
    int limit = Math.min(until, states.length);
    for (int g = Math.max(0, from); g < limit; g++) {
      if (states[g] != PENDING) {
        continue;
      }
      int epochEnd = (g / splitsPerEpoch + 1) * splitsPerEpoch;
      int end = Math.min(limit, epochEnd);
      if (runs[g] > 0 && g + runs[g] <= end && allPending(g, g + runs[g])) {
        return Optional.of(new Run(g, runs[g]));
      }
      int count = 0;
      while (g + count < end && count < maxSplits && states[g + count] == PENDING
          && (count == 0 || runs[g + count] == 0)) {
        count++;
      }
      return Optional.of(new Run(g, count));
    }
    return Optional.empty();
  }

  private boolean allPending(int from, int to) {
    for (int g = from; g < to; g++) {
      if (states[g] != PENDING) {
        return false;
      }
    }
    return true;
  }

  /** The sample positions of split {@code g}. */
  public Split split(int g) {
    return positions(new Run(g, 1));
  }

  /** The sample positions a run covers: one contiguous range of one epoch's order. */
  public Split positions(Run run) {
    int epoch = run.first() / splitsPerEpoch;
    int index = run.first() % splitsPerEpoch;
    if (run.count() <= 0 || index + run.count() > splitsPerEpoch) {
      throw new IllegalArgumentException("run " + run + " does not lie within one epoch");
    }
    int from = index * splitSize;
    int to = Math.min((index + run.count()) * splitSize, trainSize);
    return new Split(epoch, index, from, to);
  }

  /** The run held under {@code leaseId}, if that lease is live. */
  public Optional<Run> runOfLease(long leaseId) {
    for (int g = 0; g < states.length; g++) {
      if (states[g] == LEASED && leaseIds[g] == leaseId) {
        int count = 1;
        while (g + count < states.length && states[g + count] == LEASED && leaseIds[g + count] == leaseId) {
          count++;
        }
        return Optional.of(new Run(g, count));
      }
    }
    return Optional.empty();
  }

  /** A live lease: its id, the run it holds and who holds it. */
  public record LiveLease(long leaseId, Run run, String holder) {}

  /** Every live lease, in split order. */
  public List<LiveLease> liveLeases() {
    List<LiveLease> live = new ArrayList<>();
    int g = 0;
    while (g < states.length) {
      if (states[g] != LEASED) {
        g++;
        continue;
      }
      long id = leaseIds[g];
      int count = 1;
      while (g + count < states.length && states[g + count] == LEASED && leaseIds[g + count] == id) {
        count++;
      }
      live.add(new LiveLease(id, new Run(g, count), holders[g]));
      g += count;
    }
    return live;
  }

  /** The live lease split {@code g} is leased under, if it is leased. */
  public Optional<Long> leaseAt(int g) {
    return states[g] == LEASED ? Optional.of(leaseIds[g]) : Optional.empty();
  }

  /** Who holds lease {@code leaseId}, if it is live. */
  public Optional<String> holderOfLease(long leaseId) {
    return runOfLease(leaseId).map(run -> holders[run.first()]);
  }

  /** Live leases held by {@code workerId}. */
  public int leasesHeldBy(String workerId) {
    int count = 0;
    for (int g = 0; g < states.length; g++) {
      if (states[g] == LEASED && workerId.equals(holders[g]) && (g == 0 || leaseIds[g - 1] != leaseIds[g]
          || states[g - 1] != LEASED)) {
        count++;
      }
    }
    return count;
  }

  /** Whether any split in {@code [from, to)} is leased. */
  public boolean anyLeased(int from, int to) {
    for (int g = Math.max(0, from); g < Math.min(to, states.length); g++) {
      if (states[g] == LEASED) {
        return true;
      }
    }
    return false;
  }

  /** Whether every split in {@code [from, to)} is acknowledged (or skipped). */
  public boolean allAcked(int from, int to) {
    for (int g = Math.max(0, from); g < Math.min(to, states.length); g++) {
      if (states[g] != ACKED && states[g] != SKIPPED) {
        return false;
      }
    }
    return true;
  }

  /** Leases the run {@code [first, first + count)}, which must be pending and in one epoch. */
  public SplitLedger lease(int first, int count, long leaseId, String workerId) {
    positions(new Run(first, count)); // checks the run lies in one epoch
    for (int g = first; g < first + count; g++) {
      if (states[g] != PENDING) {
        throw new IllegalStateException("split " + g + " is not pending");
      }
    }
    SplitLedger next = copy();
    for (int g = first; g < first + count; g++) {
      next.states[g] = LEASED;
      next.leaseIds[g] = leaseId;
      next.holders[g] = workerId;
      next.runs[g] = 0;
    }
    next.runs[first] = count;
    return next;
  }

  /**
   * Acknowledges the first {@code count} splits of lease {@code leaseId} and gives the rest back;
   * the rest keeps its run, so it is leased again as it was. Unknown or voided leases change
   * nothing.
   */
  public SplitLedger ack(long leaseId, int count) {
    Optional<Run> held = runOfLease(leaseId);
    if (held.isEmpty()) {
      return this;
    }
    Run run = held.get();
    int acking = Math.max(0, Math.min(count, run.count()));
    SplitLedger next = copy();
    long samples = 0;
    for (int g = run.first(); g < run.end(); g++) {
      next.holders[g] = null;
      if (g < run.first() + acking) {
        next.states[g] = ACKED;
        samples += split(g).size();
      } else {
        next.states[g] = PENDING;
      }
      next.runs[g] = 0;
    }
    if (acking < run.count()) {
      next.runs[run.first() + acking] = run.count() - acking;
    }
    return new SplitLedger(
        trainSize, splitSize, splitsPerEpoch, next.states, next.leaseIds, next.holders, next.runs,
        done + acking, ackedSamples + samples);
  }

  /** Splits of lease {@code leaseId}'s run fully covered by its first {@code samples} samples. */
  public int splitsCovered(long leaseId, int samples) {
    Optional<Run> held = runOfLease(leaseId);
    if (held.isEmpty()) {
      return 0;
    }
    Run run = held.get();
    int start = positions(run).from();
    int covered = 0;
    while (covered < run.count() && split(run.first() + covered).to() <= start + samples) {
      covered++;
    }
    return covered;
  }

  /** Gives lease {@code leaseId} back whole: its run is pending again, as it was. */
  public SplitLedger release(long leaseId) {
    return ack(leaseId, 0);
  }

  /** Gives back every lease held by {@code workerId}. */
  public SplitLedger releaseAllOf(String workerId) {
    SplitLedger next = this;
    for (int g = 0; g < states.length; g++) {
      if (next.states[g] == LEASED && workerId.equals(next.holders[g])) {
        next = next.release(next.leaseIds[g]);
      }
    }
    return next;
  }

  /**
   * Every pending split is skipped: done, without samples. Leased splits stay leased, so their
   * holders' pushes are acknowledged as usual; a lease given back later must be skipped again by
   * the caller (see {@code MemberRun}). Returns this ledger when nothing is pending.
   */
  public SplitLedger skipPending() {
    if (nextPending().isEmpty()) {
      return this;
    }
    SplitLedger next = copy();
    int skipped = 0;
    for (int g = 0; g < states.length; g++) {
      if (states[g] == PENDING) {
        next.states[g] = SKIPPED;
        next.leaseIds[g] = 0;
        next.holders[g] = null;
        next.runs[g] = 0;
        skipped++;
      }
    }
    return new SplitLedger(
        trainSize, splitSize, splitsPerEpoch, next.states, next.leaseIds, next.holders, next.runs,
        done + skipped, ackedSamples);
  }

  /**
   * The splits done now (acknowledged, or skipped): what a checkpoint records, and what a rewind
   * returns to.
   */
  public Cut cut() {
    long[] words = new long[(states.length + 63) / 64];
    for (int g = 0; g < states.length; g++) {
      if (states[g] == ACKED || states[g] == SKIPPED) {
        words[g >>> 6] |= 1L << (g & 63);
      }
    }
    return new Cut(states.length, words);
  }

  /**
   * The ledger as of {@code cut}: splits acknowledged then stay acknowledged (skipped ones stay
   * skipped), every other split is pending again, every lease is void and no run is remembered.
   * Splits trained after the cut are trained again, so none is left out; a rewind to before a
   * member stopped early puts its skipped splits back.
   */
  public SplitLedger rewoundTo(Cut cut) {
    if (cut.splits() != states.length) {
      throw new IllegalArgumentException(
          "cut covers " + cut.splits() + " splits, this ledger has " + states.length);
    }
    byte[] nextStates = new byte[states.length];
    int nextAcked = 0;
    long samples = 0;
    for (int g = 0; g < states.length; g++) {
      if (cut.contains(g) && states[g] == SKIPPED) {
        nextStates[g] = SKIPPED; // skipped since the cut was taken after the member stopped
        nextAcked++;
      } else if (cut.contains(g)) {
        nextStates[g] = ACKED;
        nextAcked++;
        samples += split(g).size();
      }
    }
    return new SplitLedger(
        trainSize, splitSize, splitsPerEpoch, nextStates, new long[states.length], new String[states.length],
        new int[states.length], nextAcked, samples);
  }

  /**
   * A set of acknowledged splits, as bits.
   *
   * @param splits how many splits the ledger has
   */
  public record Cut(int splits, long[] words) implements TesseraSerializable {
    public Cut {
      if (splits < 0 || words.length != (splits + 63) / 64) {
        throw new IllegalArgumentException("a cut of " + splits + " splits needs " + (splits + 63) / 64 + " words");
      }
      words = words.clone();
    }

    /** A cut with nothing acknowledged. */
    public static Cut none(int splits) {
      return new Cut(splits, new long[(splits + 63) / 64]);
    }

    public boolean contains(int g) {
      return (words[g >>> 6] & (1L << (g & 63))) != 0;
    }

    public int size() {
      int count = 0;
      for (long word : words) {
        count += Long.bitCount(word);
      }
      return count;
    }

    @Override
    public long[] words() {
      return words.clone();
    }

    @Override
    public boolean equals(Object other) {
      return other instanceof Cut that && splits == that.splits && Arrays.equals(words, that.words);
    }

    @Override
    public int hashCode() {
      return 31 * splits + Arrays.hashCode(words);
    }

    @Override
    public String toString() {
      return "Cut[" + size() + "/" + splits + " acked]";
    }
  }

  private SplitLedger copy() {
    return new SplitLedger(
        trainSize,
        splitSize,
        splitsPerEpoch,
        states.clone(),
        leaseIds.clone(),
        holders.clone(),
        runs.clone(),
        done,
        ackedSamples);
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof SplitLedger that
        && trainSize == that.trainSize
        && splitSize == that.splitSize
        && splitsPerEpoch == that.splitsPerEpoch
        && Arrays.equals(states, that.states)
        && Arrays.equals(leaseIds, that.leaseIds)
        && Arrays.equals(holders, that.holders)
        && Arrays.equals(runs, that.runs);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(states) * 31 + trainSize;
  }

  @Override
  public String toString() {
    return "SplitLedger[" + done + "/" + states.length + " done]";
  }
}
