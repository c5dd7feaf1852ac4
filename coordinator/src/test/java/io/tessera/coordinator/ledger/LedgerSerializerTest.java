package io.tessera.coordinator.ledger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.util.Arrays;
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
        SplitLedger.create(10, 4, 2).lease(0, 7, WORKER).ack(0).lease(2, 1L << 40, WORKER).lease(3, 9, "w-2");

    SplitLedger copy = read(write(ledger), 6);

    assertEquals(ledger, copy);
    assertEquals(1, copy.ackedSplits());
    assertEquals(4, copy.ackedSamples(), "counters are rebuilt from the states");
    assertEquals(OptionalInt.of(2), copy.splitOfLease(1L << 40));
    assertEquals(1, copy.leasesHeldBy("w-2"));
    assertEquals(OptionalInt.of(1), copy.nextPending());
    assertEquals(ledger.cut(), copy.cut());
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
  void anUnknownSplitStateIsRefused() {
    byte[] bytes = write(SplitLedger.create(10, 4, 2));
    // Four one-byte varints (train size, split size, splits per epoch, count), then the states.
    bytes[4] = 7;

    KryoException e = assertThrows(KryoException.class, () -> read(bytes, 1_000));
    assertTrue(e.getMessage().contains("split 0 has unknown state 7"), e.getMessage());
  }
}
