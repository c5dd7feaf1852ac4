package io.tessera.coordinator.ledger;

import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import java.util.Arrays;
import java.util.OptionalInt;

/**
 * Which splits of one member's training run are pending, leased (to whom, under which lease) and
 * acknowledged. Splits are numbered globally over all epochs: split {@code g} is index {@code g %
 * splitsPerEpoch} of epoch {@code g / splitsPerEpoch}. The lowest pending split is leased next, so
 * a split given back goes out again before later ones.
 *
 * <p>Immutable: every change returns a new ledger. Sizes are small (hundreds of splits), so each
 * change copies its arrays.
 */
public final class SplitLedger implements TesseraSerializable {
  private static final byte PENDING = 0;
  private static final byte LEASED = 1;
  private static final byte ACKED = 2;

  private final int trainSize;
  private final int splitSize;
  private final int splitsPerEpoch;
  private final byte[] states;
  private final long[] leaseIds;
  private final String[] holders;
  private final int acked;
  private final long ackedSamples;

  private SplitLedger(
      int trainSize,
      int splitSize,
      int splitsPerEpoch,
      byte[] states,
      long[] leaseIds,
      String[] holders,
      int acked,
      long ackedSamples) {
    this.trainSize = trainSize;
    this.splitSize = splitSize;
    this.splitsPerEpoch = splitsPerEpoch;
    this.states = states;
    this.leaseIds = leaseIds;
    this.holders = holders;
    this.acked = acked;
    this.ackedSamples = ackedSamples;
  }

  /** Rebuilds a ledger from its stored parts (see {@link LedgerSerializer}). */
  static SplitLedger restore(
      int trainSize, int splitSize, int splitsPerEpoch, byte[] states, long[] leaseIds, String[] holders) {
    if (states.length != leaseIds.length || states.length != holders.length || splitsPerEpoch <= 0
        || states.length % splitsPerEpoch != 0) {
      throw new IllegalArgumentException("inconsistent split ledger of " + states.length + " splits");
    }
    SplitLedger empty = new SplitLedger(trainSize, splitSize, splitsPerEpoch, states, leaseIds, holders, 0, 0);
    int acked = 0;
    long samples = 0;
    for (int g = 0; g < states.length; g++) {
      if (states[g] == ACKED) {
        acked++;
        samples += empty.split(g).size();
      } else if (states[g] != PENDING && states[g] != LEASED) {
        throw new IllegalArgumentException("split " + g + " has unknown state " + states[g]);
      }
    }
    return new SplitLedger(trainSize, splitSize, splitsPerEpoch, states, leaseIds, holders, acked, samples);
  }

  int trainSize() {
    return trainSize;
  }

  int splitSize() {
    return splitSize;
  }

  int splitsPerEpoch() {
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

  /** A ledger with every split of {@code epochs} passes over {@code trainSize} samples pending. */
  public static SplitLedger create(int trainSize, int splitSize, int epochs) {
    if (trainSize <= 0 || splitSize <= 0 || epochs <= 0) {
      throw new IllegalArgumentException(
          "ledger needs positive sizes, got trainSize=" + trainSize + " splitSize=" + splitSize
              + " epochs=" + epochs);
    }
    int perEpoch = (trainSize + splitSize - 1) / splitSize;
    int total = Math.multiplyExact(perEpoch, epochs);
    return new SplitLedger(
        trainSize, splitSize, perEpoch, new byte[total], new long[total], new String[total], 0, 0);
  }

  public int totalSplits() {
    return states.length;
  }

  public int ackedSplits() {
    return acked;
  }

  public long ackedSamples() {
    return ackedSamples;
  }

  public long totalSamples() {
    return (long) trainSize * (states.length / splitsPerEpoch);
  }

  public boolean isComplete() {
    return acked == states.length;
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

  /** The sample positions of split {@code g}. */
  public Split split(int g) {
    int epoch = g / splitsPerEpoch;
    int index = g % splitsPerEpoch;
    int from = index * splitSize;
    return new Split(epoch, index, from, Math.min(from + splitSize, trainSize));
  }

  /** The split held under {@code leaseId}, if that lease is live. */
  public OptionalInt splitOfLease(long leaseId) {
    for (int g = 0; g < states.length; g++) {
      if (states[g] == LEASED && leaseIds[g] == leaseId) {
        return OptionalInt.of(g);
      }
    }
    return OptionalInt.empty();
  }

  /** Live leases held by {@code workerId}. */
  public int leasesHeldBy(String workerId) {
    int count = 0;
    for (int g = 0; g < states.length; g++) {
      if (states[g] == LEASED && workerId.equals(holders[g])) {
        count++;
      }
    }
    return count;
  }

  public SplitLedger lease(int g, long leaseId, String workerId) {
    if (states[g] != PENDING) {
      throw new IllegalStateException("split " + g + " is not pending");
    }
    SplitLedger next = copy();
    next.states[g] = LEASED;
    next.leaseIds[g] = leaseId;
    next.holders[g] = workerId;
    return next;
  }

  /**
   * Acknowledges split {@code g}. Acknowledging a split that is already acknowledged (a late
   * duplicate) changes nothing.
   */
  public SplitLedger ack(int g) {
    if (states[g] == ACKED) {
      return this;
    }
    byte[] nextStates = states.clone();
    nextStates[g] = ACKED;
    String[] nextHolders = holders.clone();
    nextHolders[g] = null;
    return new SplitLedger(
        trainSize,
        splitSize,
        splitsPerEpoch,
        nextStates,
        leaseIds,
        nextHolders,
        acked + 1,
        ackedSamples + split(g).size());
  }

  /** Puts split {@code g} back to pending if it is still leased. */
  public SplitLedger release(int g) {
    if (states[g] != LEASED) {
      return this;
    }
    SplitLedger next = copy();
    next.states[g] = PENDING;
    next.holders[g] = null;
    return next;
  }

  /** Puts every split leased by {@code workerId} back to pending. */
  public SplitLedger releaseAllOf(String workerId) {
    SplitLedger next = this;
    for (int g = 0; g < states.length; g++) {
      if (states[g] == LEASED && workerId.equals(holders[g])) {
        next = next.release(g);
      }
    }
    return next;
  }

  /** The acknowledged splits now: what a checkpoint records, and what a rewind returns to. */
  public Cut cut() {
    long[] words = new long[(states.length + 63) / 64];
    for (int g = 0; g < states.length; g++) {
      if (states[g] == ACKED) {
        words[g >>> 6] |= 1L << (g & 63);
      }
    }
    return new Cut(states.length, words);
  }

  /**
   * The ledger as of {@code cut}: splits acknowledged then stay acknowledged, every other split
   * is pending again, and every lease is void. Splits trained after the cut are trained again, so
   * none is skipped.
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
      if (cut.contains(g)) {
        nextStates[g] = ACKED;
        nextAcked++;
        samples += split(g).size();
      }
    }
    return new SplitLedger(
        trainSize, splitSize, splitsPerEpoch, nextStates, new long[states.length], new String[states.length],
        nextAcked, samples);
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
        acked,
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
        && Arrays.equals(holders, that.holders);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(states) * 31 + trainSize;
  }

  @Override
  public String toString() {
    return "SplitLedger[" + acked + "/" + states.length + " acked]";
  }
}
