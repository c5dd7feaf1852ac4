package io.tessera.coordinator.ledger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import io.tessera.coordinator.ledger.SplitLedger.Run;
import java.util.Arrays;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/**
 * The snapshot format of a split ledger, read back by a reader with its own limit; the round trip
 * through Akka's serialization of a whole coordinator state is in {@code CoordinatorSnapshotTest}.
 */
class LedgerSerializerTest {
  private static final String WORKER = "akka://tessera@10.0.0.5:25520/user/worker-gpu0#1";

  private static Kryo kryo(int maxSplits) {
    Kryo kryo = new Kryo();
    kryo.register(SplitLedger.class, new LedgerSerializer(maxSplits));
    return kryo;
  }

  private static byte[] write(SplitLedger ledger) {
    Output output = new Output(64, -1);
    kryo(1_000).writeObject(output, ledger);
    return output.toBytes();
  }

  private static SplitLedger read(byte[] bytes, int maxSplits) {
    return kryo(maxSplits).readObject(new Input(bytes), SplitLedger.class);
  }

  @Test
  void aLedgerWithLeasesAndAcksComesBackWhole() {
    SplitLedger ledger =
        SplitLedger.create(10, 4, 2)
            .lease(0, 1, 7, WORKER)
            .ack(7, 1)
            .lease(1, 2, 1L << 40, WORKER)
            .lease(3, 1, 9, "w-2");

    SplitLedger copy = read(write(ledger), 6);

    assertEquals(ledger, copy);
    assertEquals(1, copy.ackedSplits());
    assertEquals(4, copy.ackedSamples(), "counters are rebuilt from the states");
    assertEquals(Optional.of(new Run(1, 2)), copy.runOfLease(1L << 40));
    assertEquals(Optional.of(WORKER), copy.holderOfLease(1L << 40));
    assertEquals(1, copy.leasesHeldBy("w-2"));
    assertEquals(OptionalInt.of(4), copy.nextPending());
    assertEquals(ledger.cut(), copy.cut());
  }

  @Test
  void rememberedRunsComeBackAndAreLeasedAgainAsTheyWere() {
    // Lease 1 is acked by a prefix (its rest [1, 3) remembered), lease 2 given back whole.
    SplitLedger ledger =
        SplitLedger.create(40, 4, 1).lease(0, 3, 1, WORKER).ack(1, 1).lease(5, 4, 2, WORKER).release(2);

    SplitLedger copy = read(write(ledger), 1_000);

    assertEquals(ledger, copy);
    assertEquals(Optional.of(new Run(1, 2)), copy.nextRun(8, 0, 40));
    SplitLedger next = copy.lease(1, 2, 3, WORKER);
    assertEquals(Optional.of(new Run(3, 2)), next.nextRun(8, 0, 40), "a run stops where a remembered one starts");
    assertEquals(Optional.of(new Run(5, 4)), next.lease(3, 2, 4, WORKER).nextRun(1, 0, 40));
  }

  @Test
  void aLedgerLargerThanTheReadersLimitIsRefusedBeforeAllocating() {
    byte[] bytes = write(SplitLedger.create(10, 4, 2));

    KryoException e = assertThrows(KryoException.class, () -> read(bytes, 5));
    assertTrue(e.getMessage().contains("6 splits exceeds"), e.getMessage());
  }

  @Test
  void aCountLargerThanTheMessageIsRefused() {
    byte[] bytes = write(SplitLedger.create(10, 4, 2));
    byte[] truncated = Arrays.copyOf(bytes, 6);

    assertThrows(KryoException.class, () -> read(truncated, 1_000));
  }

  @Test
  void anUnknownFormatIsRefused() {
    byte[] bytes = write(SplitLedger.create(10, 4, 2));
    assertEquals(2, bytes[0], "the format byte comes first");
    bytes[0] = 3;

    KryoException e = assertThrows(KryoException.class, () -> read(bytes, 1_000));
    assertTrue(e.getMessage().contains("split ledger format 3 is not known"), e.getMessage());
  }

  @Test
  void anUnknownSplitStateIsRefused() {
    byte[] bytes = write(SplitLedger.create(10, 4, 2));
    // The format byte, four one-byte varints (train size, split size, splits per epoch, count),
    // then the states.
    bytes[5] = 7;

    KryoException e = assertThrows(KryoException.class, () -> read(bytes, 1_000));
    assertTrue(e.getMessage().contains("split 0 has unknown state 7"), e.getMessage());
  }

  @Test
  void aRunPastTheEndOfItsEpochIsRefused() {
    byte[] bytes = write(SplitLedger.create(10, 4, 2));
    // The run lengths come last, one one-byte varint per split; split 5 ends epoch 1.
    bytes[bytes.length - 1] = 2;

    KryoException e = assertThrows(KryoException.class, () -> read(bytes, 1_000));
    assertTrue(e.getMessage().contains("split 5 starts a run of 2 splits"), e.getMessage());
  }
}
