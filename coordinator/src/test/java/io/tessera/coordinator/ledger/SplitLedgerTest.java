package io.tessera.coordinator.ledger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** The split ledger: sizes, leasing order, acks, releases and immutability. */
class SplitLedgerTest {
  private static final String WORKER_A = "akka://tessera@10.0.0.5:25520/user/worker-gpu0#1";
  private static final String WORKER_B = "akka://tessera@10.0.0.6:25520/user/worker-gpu0#2";

  @Test
  void cutsEveryEpochIntoSplitsWithAShortLastOne() {
    SplitLedger ledger = SplitLedger.create(10, 4, 2);

    assertEquals(6, ledger.totalSplits(), "3 splits per epoch over 2 epochs");
    assertEquals(20, ledger.totalSamples());
    assertEquals(new Split(0, 0, 0, 4), ledger.split(0));
    assertEquals(new Split(0, 1, 4, 8), ledger.split(1));
    assertEquals(new Split(0, 2, 8, 10), ledger.split(2), "the last split of an epoch is short");
    assertEquals(2, ledger.split(2).size());
    assertEquals(new Split(1, 0, 0, 4), ledger.split(3), "global split 3 starts epoch 1");
    assertEquals(new Split(1, 2, 8, 10), ledger.split(5));
    assertEquals(0, ledger.ackedSplits());
    assertEquals(0, ledger.ackedSamples());
    assertFalse(ledger.isComplete());
    assertTrue(ledger.hasPending());
  }

  @Test
  void aTrainingSetThatDividesEvenlyHasNoShortSplit() {
    SplitLedger ledger = SplitLedger.create(8, 4, 1);

    assertEquals(2, ledger.totalSplits());
    assertEquals(new Split(0, 1, 4, 8), ledger.split(1));
    assertEquals(8, ledger.totalSamples());
  }

  @Test
  void aSplitLargerThanTheTrainingSetIsOneShortSplitPerEpoch() {
    SplitLedger ledger = SplitLedger.create(3, 1024, 3);

    assertEquals(3, ledger.totalSplits());
    assertEquals(new Split(2, 0, 0, 3), ledger.split(2));
  }

  @Test
  void refusesSizesThatAreNotPositive() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> SplitLedger.create(0, 4, 1));
    assertTrue(e.getMessage().contains("trainSize=0"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> SplitLedger.create(10, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> SplitLedger.create(10, 4, 0));
    assertThrows(IllegalArgumentException.class, () -> SplitLedger.create(-5, 4, 1));
  }

  @Test
  void leasesTheLowestPendingSplitFirst() {
    SplitLedger ledger = SplitLedger.create(16, 4, 1);
    assertEquals(OptionalInt.of(0), ledger.nextPending());

    ledger = ledger.lease(0, 1, WORKER_A).lease(1, 2, WORKER_B);
    assertEquals(OptionalInt.of(2), ledger.nextPending());

    // Leasing out of order (split 3 before 2) still leaves 2 as the next one.
    ledger = ledger.lease(3, 3, WORKER_A);
    assertEquals(OptionalInt.of(2), ledger.nextPending());

    // A split given back goes out again before later ones.
    ledger = ledger.release(1);
    assertEquals(OptionalInt.of(1), ledger.nextPending());

    ledger = ledger.lease(1, 4, WORKER_A).lease(2, 5, WORKER_B);
    assertEquals(OptionalInt.empty(), ledger.nextPending());
    assertFalse(ledger.hasPending());
    assertFalse(ledger.isComplete(), "every split leased is not every split done");
  }

  @Test
  void refusesToLeaseASplitThatIsNotPending() {
    SplitLedger leased = SplitLedger.create(8, 4, 1).lease(0, 1, WORKER_A);
    assertThrows(IllegalStateException.class, () -> leased.lease(0, 2, WORKER_B));

    SplitLedger acked = leased.ack(0);
    assertThrows(IllegalStateException.class, () -> acked.lease(0, 3, WORKER_B));
  }

  @Test
  void ackCountsSplitsAndSamplesIncludingTheShortSplit() {
    SplitLedger ledger = SplitLedger.create(10, 4, 1).lease(0, 1, WORKER_A).lease(2, 2, WORKER_B);

    ledger = ledger.ack(2);
    assertEquals(1, ledger.ackedSplits());
    assertEquals(2, ledger.ackedSamples(), "split 2 holds samples 8 and 9 only");

    ledger = ledger.ack(0);
    assertEquals(2, ledger.ackedSplits());
    assertEquals(6, ledger.ackedSamples());
    assertEquals(OptionalInt.of(1), ledger.nextPending());
  }

  @Test
  void ackingTwiceChangesNothing() {
    SplitLedger once = SplitLedger.create(8, 4, 1).lease(1, 7, WORKER_A).ack(1);
    SplitLedger twice = once.ack(1);

    assertSame(once, twice, "a duplicate ack returns the ledger unchanged");
    assertEquals(1, twice.ackedSplits());
    assertEquals(4, twice.ackedSamples());
  }

  @Test
  void ackEndsTheLeaseAndFreesTheHolder() {
    SplitLedger ledger = SplitLedger.create(8, 4, 1).lease(0, 11, WORKER_A);
    assertEquals(1, ledger.leasesHeldBy(WORKER_A));
    assertEquals(OptionalInt.of(0), ledger.splitOfLease(11));

    ledger = ledger.ack(0);
    assertEquals(0, ledger.leasesHeldBy(WORKER_A));
    assertEquals(OptionalInt.empty(), ledger.splitOfLease(11), "an acked split's lease is not live");
    // Releasing an acked split (a late release after the ack) must not undo the ack.
    assertSame(ledger, ledger.release(0));
    assertEquals(1, ledger.ackedSplits());
  }

  @Test
  void aSplitAckedWithoutALeaseStillCounts() {
    SplitLedger ledger = SplitLedger.create(8, 4, 1).ack(1);

    assertEquals(1, ledger.ackedSplits());
    assertEquals(OptionalInt.of(0), ledger.nextPending());
  }

  @Test
  void releasePutsALeasedSplitBackAndIgnoresOthers() {
    SplitLedger pending = SplitLedger.create(12, 4, 1);
    assertSame(pending, pending.release(1), "releasing a pending split changes nothing");

    SplitLedger leased = pending.lease(1, 5, WORKER_A);
    SplitLedger released = leased.release(1);

    assertEquals(OptionalInt.of(0), released.nextPending());
    assertEquals(0, released.leasesHeldBy(WORKER_A));
    assertEquals(OptionalInt.empty(), released.splitOfLease(5), "a released lease is not live");
    // Released and re-leased under a new id: only the new lease finds it.
    SplitLedger releasedAgain = released.lease(1, 6, WORKER_B);
    assertEquals(OptionalInt.empty(), releasedAgain.splitOfLease(5));
    assertEquals(OptionalInt.of(1), releasedAgain.splitOfLease(6));
  }

  @Test
  void releaseAllOfReturnsOnlyThatWorkersLeases() {
    SplitLedger ledger =
        SplitLedger.create(20, 4, 1)
            .lease(0, 1, WORKER_A)
            .lease(1, 2, WORKER_B)
            .lease(2, 3, WORKER_A)
            .lease(3, 4, WORKER_A)
            .ack(3);

    SplitLedger after = ledger.releaseAllOf(WORKER_A);

    assertEquals(0, after.leasesHeldBy(WORKER_A));
    assertEquals(1, after.leasesHeldBy(WORKER_B));
    assertEquals(OptionalInt.of(1), after.splitOfLease(2), "the other worker keeps its lease");
    assertEquals(OptionalInt.empty(), after.splitOfLease(1));
    assertEquals(OptionalInt.empty(), after.splitOfLease(3));
    assertEquals(1, after.ackedSplits(), "an acked split of the departed worker stays acked");
    assertEquals(OptionalInt.of(0), after.nextPending());
    // Splits 0 and 2 are pending again, next to the never-leased split 4.
    SplitLedger releasedTaken = after.lease(0, 5, WORKER_B).lease(2, 6, WORKER_B);
    assertEquals(OptionalInt.of(4), releasedTaken.nextPending());
    assertEquals(3, releasedTaken.leasesHeldBy(WORKER_B));
  }

  @Test
  void releaseAllOfAWorkerWithoutLeasesChangesNothing() {
    SplitLedger ledger = SplitLedger.create(8, 4, 1).lease(0, 1, WORKER_A);

    assertEquals(ledger, ledger.releaseAllOf(WORKER_B));
  }

  @Test
  void splitOfLeaseFindsOnlyLiveLeases() {
    SplitLedger ledger = SplitLedger.create(40, 4, 2).lease(13, 42, WORKER_A);

    assertEquals(OptionalInt.of(13), ledger.splitOfLease(42));
    assertEquals(OptionalInt.empty(), ledger.splitOfLease(43));
    assertEquals(OptionalInt.empty(), ledger.splitOfLease(0), "pending splits hold no lease 0");
  }

  @Test
  void isCompleteOnceEverySplitOfEveryEpochIsAcked() {
    SplitLedger ledger = SplitLedger.create(6, 4, 2);
    long lease = 1;
    for (int g = 0; g < ledger.totalSplits(); g++) {
      assertFalse(ledger.isComplete(), "complete before split " + g + " was acked");
      ledger = ledger.lease(g, lease++, g % 2 == 0 ? WORKER_A : WORKER_B).ack(g);
    }

    assertTrue(ledger.isComplete());
    assertFalse(ledger.hasPending());
    assertEquals(4, ledger.ackedSplits());
    assertEquals(12, ledger.ackedSamples(), "two epochs of 6 samples");
    assertEquals(ledger.totalSamples(), ledger.ackedSamples());
  }

  @Test
  void everyChangeLeavesTheOldLedgerAsItWas() {
    SplitLedger fresh = SplitLedger.create(12, 4, 1);
    SplitLedger freshCopy = SplitLedger.create(12, 4, 1);

    SplitLedger leased = fresh.lease(0, 1, WORKER_A);
    assertEquals(freshCopy, fresh);
    assertEquals(OptionalInt.of(0), fresh.nextPending());
    assertEquals(0, fresh.leasesHeldBy(WORKER_A));

    SplitLedger acked = leased.ack(0);
    assertEquals(OptionalInt.of(0), leased.splitOfLease(1), "ack must not touch the leased ledger");
    assertEquals(0, leased.ackedSplits());
    assertEquals(0, leased.ackedSamples());
    assertEquals(1, acked.ackedSplits());

    SplitLedger twoLeases = acked.lease(1, 2, WORKER_A).lease(2, 3, WORKER_B);
    SplitLedger released = twoLeases.release(1);
    SplitLedger releasedAll = twoLeases.releaseAllOf(WORKER_B);
    assertEquals(1, twoLeases.leasesHeldBy(WORKER_A));
    assertEquals(1, twoLeases.leasesHeldBy(WORKER_B));
    assertEquals(OptionalInt.empty(), twoLeases.nextPending());
    assertEquals(OptionalInt.of(1), released.nextPending());
    assertEquals(OptionalInt.of(2), releasedAll.nextPending());
    assertEquals(1, acked.ackedSplits());
    assertEquals(OptionalInt.of(1), acked.nextPending());
  }

  @Test
  void ledgersWithTheSameHistoryAreEqual() {
    SplitLedger a = SplitLedger.create(12, 4, 1).lease(0, 1, WORKER_A).ack(0).lease(1, 2, WORKER_B);
    SplitLedger b = SplitLedger.create(12, 4, 1).lease(0, 1, WORKER_A).ack(0).lease(1, 2, WORKER_B);

    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    assertNotEquals(a, b.release(1));
    assertNotEquals(a, SplitLedger.create(12, 4, 1));
  }

  // ---------------------------------------------------------------- cuts and rewinds

  @Test
  void aCutHoldsExactlyTheAckedSplits() {
    SplitLedger ledger =
        SplitLedger.create(10, 4, 2).lease(0, 1, WORKER_A).ack(0).lease(1, 2, WORKER_B).ack(4).lease(5, 3, WORKER_A);

    SplitLedger.Cut cut = ledger.cut();
    assertEquals(6, cut.splits());
    assertEquals(2, cut.size());
    assertTrue(cut.contains(0));
    assertTrue(cut.contains(4));
    assertFalse(cut.contains(1), "leased is not acked");
    assertFalse(cut.contains(5));
    assertEquals("Cut[2/6 acked]", cut.toString());
    assertEquals(SplitLedger.Cut.none(6), SplitLedger.create(10, 4, 2).cut());
  }

  @Test
  void aCutReachesPastTheFirstWord() {
    SplitLedger ledger = SplitLedger.create(200, 1, 1);
    for (int g : new int[] {0, 63, 64, 127, 199}) {
      ledger = ledger.ack(g);
    }

    SplitLedger.Cut cut = ledger.cut();
    assertEquals(4, cut.words().length);
    assertEquals(5, cut.size());
    assertTrue(cut.contains(64) && cut.contains(127) && cut.contains(199));
    assertFalse(cut.contains(65));
    assertEquals(ledger.ackedSplits(), ledger.rewoundTo(cut).ackedSplits());
  }

  @Test
  void aCutIsAValueAndCannotBeChangedFromOutside() {
    long[] words = {0b101L};
    SplitLedger.Cut cut = new SplitLedger.Cut(3, words);
    words[0] = 0;
    cut.words()[0] = 0;

    assertEquals(2, cut.size());
    assertEquals(new SplitLedger.Cut(3, new long[] {0b101L}), cut);
    assertEquals(new SplitLedger.Cut(3, new long[] {0b101L}).hashCode(), cut.hashCode());
    assertNotEquals(new SplitLedger.Cut(4, new long[] {0b101L}), cut);
    assertThrows(IllegalArgumentException.class, () -> new SplitLedger.Cut(65, new long[1]));
    assertThrows(IllegalArgumentException.class, () -> new SplitLedger.Cut(-1, new long[0]));
  }

  @Test
  void rewindingKeepsTheCutsSplitsAndPutsEveryOtherBackToPending() {
    SplitLedger atCheckpoint = SplitLedger.create(10, 4, 2).lease(0, 1, WORKER_A).ack(0).lease(1, 2, WORKER_B);
    SplitLedger.Cut cut = atCheckpoint.cut();
    SplitLedger later = atCheckpoint.ack(1).lease(2, 3, WORKER_A).ack(2).lease(3, 4, WORKER_B);

    SplitLedger rewound = later.rewoundTo(cut);

    assertEquals(1, rewound.ackedSplits());
    assertEquals(4, rewound.ackedSamples());
    assertEquals(cut, rewound.cut());
    assertEquals(OptionalInt.of(1), rewound.nextPending(), "split 1, acked after the cut, is trained again");
    assertEquals(OptionalInt.empty(), rewound.splitOfLease(4), "every lease is void");
    assertEquals(OptionalInt.empty(), rewound.splitOfLease(2), "even one granted before the cut");
    assertEquals(0, rewound.leasesHeldBy(WORKER_A) + rewound.leasesHeldBy(WORKER_B));
    assertEquals(3, later.ackedSplits(), "the ledger rewound is left as it was");
    // Its new leases go out from split 1 on, with no memory of the voided ones.
    assertEquals(OptionalInt.of(1), rewound.lease(1, 9, WORKER_A).splitOfLease(9));
  }

  @Test
  void rewindingToACompleteCutLeavesNothingToDo() {
    SplitLedger done = SplitLedger.create(8, 4, 1).ack(0).ack(1);

    SplitLedger rewound = done.rewoundTo(done.cut());

    assertTrue(rewound.isComplete());
    assertEquals(done, rewound);
  }

  @Test
  void aCutOfAnotherLedgerIsRefused() {
    SplitLedger ledger = SplitLedger.create(10, 4, 2);

    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ledger.rewoundTo(SplitLedger.Cut.none(3)));
    assertTrue(e.getMessage().contains("cut covers 3 splits"), e.getMessage());
  }
}
