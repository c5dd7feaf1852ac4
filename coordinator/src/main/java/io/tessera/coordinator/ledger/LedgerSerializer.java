package io.tessera.coordinator.ledger;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

/**
 * Writes a {@link SplitLedger} into the coordinator's snapshots: a format version, sizes, then one
 * byte of state, one lease id, one holder (or none) and one run length per split. Counts are
 * checked before anything is allocated.
 */
public final class LedgerSerializer extends Serializer<SplitLedger> {
  private static final int FORMAT = 2;
  private final int maxSplits;

  public LedgerSerializer(int maxSplits) {
    super(false, true);
    this.maxSplits = maxSplits;
  }

  @Override
  public void write(Kryo kryo, Output output, SplitLedger ledger) {
    output.writeByte(FORMAT);
    output.writeVarInt(ledger.trainSize(), true);
    output.writeVarInt(ledger.splitSize(), true);
    output.writeVarInt(ledger.splitsPerEpoch(), true);
    byte[] states = ledger.states();
    long[] leaseIds = ledger.leaseIds();
    String[] holders = ledger.holders();
    output.writeVarInt(states.length, true);
    output.writeBytes(states);
    output.writeLongs(leaseIds, 0, leaseIds.length, true);
    for (String holder : holders) {
      output.writeString(holder);
    }
    output.writeInts(ledger.runs(), 0, states.length, true);
  }

  @Override
  public SplitLedger read(Kryo kryo, Input input, Class<? extends SplitLedger> type) {
    int format = input.readByte();
    if (format != FORMAT) {
      throw new KryoException("split ledger format " + format + " is not known (this build reads " + FORMAT + ")");
    }
    int trainSize = input.readVarInt(true);
    int splitSize = input.readVarInt(true);
    int splitsPerEpoch = input.readVarInt(true);
    int splits = input.readVarInt(true);
    if (splits < 0 || splits > maxSplits || splits > input.limit() - input.position()) {
      throw new KryoException("split ledger of " + splits + " splits exceeds the limit or the message");
    }
    byte[] states = input.readBytes(splits);
    long[] leaseIds = input.readLongs(splits, true);
    String[] holders = new String[splits];
    for (int g = 0; g < splits; g++) {
      holders[g] = input.readString();
    }
    int[] runs = input.readInts(splits, true);
    try {
      return SplitLedger.restore(trainSize, splitSize, splitsPerEpoch, states, leaseIds, holders, runs);
    } catch (IllegalArgumentException e) {
      throw new KryoException(e.getMessage());
    }
  }
}
