package io.tessera.coordinator.ledger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.coordinator.ledger.SplitLedger.Run;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** The split ledger: sizes, leasing order, runs, acks, releases and immutability. */
class SplitLedgerTest {
  private static final String WORKER_A = "akka://tessera@10.0.0.5:25520/user/worker-gpu0#1";
  private static final String WORKER_B = "akka://tessera@10.0.0.6:25520/user/worker-gpu0#2";

  @Test
  void cutsEveryEpochIntoSplitsWithAShortLastOne() {
    SplitLedger ledger = SplitLedger.create(10, 4, 2);

    assertEquals(6, ledger.totalSplits(), "3 splits per epoch over 2 epochs");
    assertEquals(3, ledger.splitsPerEpoch());
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
    assertEquals(Optional.of(new Run(0, 1)), ledger.nextRun(1, 0, ledger.totalSplits()));

    ledger = ledger.lease(0, 1, 1, WORKER_A).lease(1, 1, 2, WORKER_B);
    assertEquals(OptionalInt.of(2), ledger.nextPending());
    assertEquals(Optional.of(new Run(2, 1)), ledger.nextRun(1, 0, ledger.totalSplits()));

    // Leasing out of order (split 3 before 2) still leaves 2 as the next one.
    ledger = ledger.lease(3, 1, 3, WORKER_A);
    assertEquals(OptionalInt.of(2), ledger.nextPending());
    assertEquals(Optional.of(new Run(2, 1)), ledger.nextRun(4, 0, ledger.totalSplits()), "a run stops at a leased split");

    // A split given back goes out again before later ones.
    ledger = ledger.release(2);
    assertEquals(OptionalInt.of(1), ledger.nextPending());
    assertEquals(Optional.of(new Run(1, 1)), ledger.nextRun(4, 0, ledger.totalSplits()));

    ledger = ledger.lease(1, 1, 4, WORKER_A).lease(2, 1, 5, WORKER_B);
    assertEquals(OptionalInt.empty(), ledger.nextPending());
    assertEquals(Optional.empty(), ledger.nextRun(4, 0, ledger.totalSplits()));
    assertFalse(ledger.hasPending());
    assertFalse(ledger.isComplete(), "every split leased is not every split done");
  }

  @Test
  void aRunIsUpToTheAskedNumberOfConsecutivePendingSplits() {
    SplitLedger ledger = SplitLedger.create(40, 4, 1);

    assertEquals(Optional.of(new Run(0, 3)), ledger.nextRun(3, 0, 10));
    ledger = ledger.lease(0, 3, 1, WORKER_A);
    assertEquals(Optional.of(new Run(0, 3)), ledger.runOfLease(1));
    assertEquals(new Split(0, 0, 0, 12), ledger.positions(new Run(0, 3)), "one contiguous range of positions");
    assertEquals(Optional.of(new Run(3, 3)), ledger.nextRun(3, 0, 10));
    assertEquals(Optional.of(new Run(5, 2)), ledger.nextRun(2, 5, 10), "from the lowest pending at or after from");

    assertThrows(IllegalArgumentException.class, () -> SplitLedger.create(40, 4, 1).nextRun(0, 0, 10));
  }

  @Test
  void aRunNeverCrossesTheEndOfAnEpoch() {
    SplitLedger ledger = SplitLedger.create(10, 4, 2); // 3 splits per epoch

    assertEquals(Optional.of(new Run(0, 3)), ledger.nextRun(8, 0, ledger.totalSplits()));
    assertEquals(Optional.of(new Run(2, 1)), ledger.nextRun(8, 2, ledger.totalSplits()), "split 2 ends epoch 0");
    ledger = ledger.lease(0, 3, 1, WORKER_A);
    assertEquals(Optional.of(new Run(3, 3)), ledger.nextRun(8, 0, ledger.totalSplits()), "epoch 1 starts afresh");
    assertEquals(new Split(1, 0, 0, 10), ledger.positions(new Run(3, 3)), "the last run is short by the short split");

    SplitLedger fresh = SplitLedger.create(10, 4, 2);
    IllegalArgumentException across =
        assertThrows(IllegalArgumentException.class, () -> fresh.lease(2, 2, 9, WORKER_A));
    assertTrue(across.getMessage().contains("does not lie within one epoch"), across.getMessage());
    assertThrows(IllegalArgumentException.class, () -> fresh.positions(new Run(1, 3)));
    assertThrows(IllegalArgumentException.class, () -> fresh.positions(new Run(1, 0)));
  }

  @Test
  void aRunNeverReachesUntil() {
    SplitLedger ledger = SplitLedger.create(40, 4, 1);

    assertEquals(Optional.of(new Run(4, 2)), ledger.nextRun(8, 4, 6));
    ledger = ledger.lease(4, 2, 1, WORKER_A);
    assertEquals(Optional.empty(), ledger.nextRun(8, 4, 6), "nothing pending in [4, 6)");
    assertEquals(Optional.of(new Run(0, 4)), ledger.nextRun(8, 0, 6), "the run stops at the leased split 4");
    assertEquals(Optional.empty(), ledger.nextRun(8, 0, 0));
    assertEquals(Optional.of(new Run(8, 2)), ledger.nextRun(8, 8, 1_000), "until past the end is the end");
  }

  @Test
  void refusesToLeaseASplitThatIsNotPending() {
    SplitLedger leased = SplitLedger.create(12, 4, 1).lease(0, 1, 1, WORKER_A);
    assertThrows(IllegalStateException.class, () -> leased.lease(0, 1, 2, WORKER_B));
    assertThrows(IllegalStateException.class, () -> leased.lease(0, 2, 2, WORKER_B), "a run over a leased split");

    SplitLedger acked = leased.ack(1, 1);
    assertThrows(IllegalStateException.class, () -> acked.lease(0, 1, 3, WORKER_B));
  }

  @Test
  void ackCountsSplitsAndSamplesIncludingTheShortSplit() {
    SplitLedger ledger = SplitLedger.create(10, 4, 1).lease(0, 1, 1, WORKER_A).lease(2, 1, 2, WORKER_B);

    ledger = ledger.ack(2, 1);
    assertEquals(1, ledger.ackedSplits());
    assertEquals(2, ledger.ackedSamples(), "split 2 holds samples 8 and 9 only");

    ledger = ledger.ack(1, 1);
    assertEquals(2, ledger.ackedSplits());
    assertEquals(6, ledger.ackedSamples());
    assertEquals(OptionalInt.of(1), ledger.nextPending());
  }

  @Test
  void ackingTwiceChangesNothing() {
    SplitLedger once = SplitLedger.create(8, 4, 1).lease(1, 1, 7, WORKER_A).ack(7, 1);
    SplitLedger twice = once.ack(7, 1);

    assertSame(once, twice, "a duplicate ack returns the ledger unchanged");
    assertEquals(1, twice.ackedSplits());
    assertEquals(4, twice.ackedSamples());
  }

  @Test
  void ackEndsTheLeaseAndFreesTheHolder() {
    SplitLedger ledger = SplitLedger.create(8, 4, 1).lease(0, 2, 11, WORKER_A);
    assertEquals(1, ledger.leasesHeldBy(WORKER_A), "a run of two splits is one lease");
    assertEquals(Optional.of(new Run(0, 2)), ledger.runOfLease(11));
    assertEquals(Optional.of(WORKER_A), ledger.holderOfLease(11));

    ledger = ledger.ack(11, 2);
    assertEquals(0, ledger.leasesHeldBy(WORKER_A));
    assertEquals(Optional.empty(), ledger.runOfLease(11), "an acked run's lease is not live");
    assertEquals(Optional.empty(), ledger.holderOfLease(11));
    // Releasing an acked lease (a late release after the ack) must not undo the ack.
    assertSame(ledger, ledger.release(11));
    assertEquals(2, ledger.ackedSplits());
    assertTrue(ledger.isComplete());
  }

  @Test
  void anAckOfALeaseNobodyHoldsChangesNothing() {
    SplitLedger ledger = SplitLedger.create(8, 4, 1).lease(0, 1, 1, WORKER_A);

    assertSame(ledger, ledger.ack(2, 1), "lease 2 was never granted");
    assertEquals(0, ledger.ackedSplits());
    assertEquals(OptionalInt.of(1), ledger.nextPending());
  }

  @Test
  void aPrefixAckAcksExactlyThatManySplitsAndTheRestIsLeasedAgainUnchanged() {
    SplitLedger ledger = SplitLedger.create(40, 4, 1).lease(2, 4, 3, WORKER_A);

    SplitLedger acked = ledger.ack(3, 1);

    assertEquals(1, acked.ackedSplits());
    assertEquals(4, acked.ackedSamples());
    assertTrue(acked.allAcked(2, 3));
    assertFalse(acked.anyLeased(0, acked.totalSplits()), "the rest of the lease is given back");
    assertEquals(Optional.empty(), acked.runOfLease(3));
    assertEquals(0, acked.leasesHeldBy(WORKER_A));
    // The remainder [3, 6) is remembered: it goes out again as it was, whatever is asked for.
    assertEquals(Optional.of(new Run(0, 2)), acked.nextRun(8, 0, 40), "splits before it do not merge into it");
    SplitLedger front = acked.lease(0, 2, 4, WORKER_B);
    assertEquals(Optional.of(new Run(3, 3)), front.nextRun(8, 0, 40), "asked for more");
    assertEquals(Optional.of(new Run(3, 3)), front.nextRun(1, 0, 40), "asked for fewer");
    assertEquals(new Split(0, 3, 12, 24), front.positions(new Run(3, 3)));

    SplitLedger again = front.lease(3, 3, 5, WORKER_B);
    assertEquals(Optional.of(new Run(6, 4)), again.nextRun(8, 0, 40), "after it, runs are cut afresh, up to the epoch end");
    assertEquals(4, again.ack(5, 3).ackedSplits());
  }

  @Test
  void anAckOfMoreSplitsThanTheLeaseHoldsAcksTheLease() {
    SplitLedger ledger = SplitLedger.create(40, 4, 1).lease(0, 2, 1, WORKER_A).lease(2, 2, 2, WORKER_B);

    SplitLedger acked = ledger.ack(1, 5);

    assertEquals(2, acked.ackedSplits(), "only the lease's own splits");
    assertEquals(Optional.of(new Run(2, 2)), acked.runOfLease(2), "the neighbouring lease is untouched");
    assertEquals(0, ledger.ack(1, -1).ackedSplits(), "a negative count acks nothing");
  }

  @Test
  void aReleasedRunIsLeasedAgainWhole() {
    SplitLedger ledger = SplitLedger.create(40, 4, 1).lease(0, 3, 1, WORKER_A).lease(3, 3, 2, WORKER_B);

    SplitLedger released = ledger.release(1);

    assertEquals(OptionalInt.of(0), released.nextPending());
    assertEquals(Optional.of(new Run(0, 3)), released.nextRun(1, 0, 40), "unchanged, though one split was asked for");
    assertEquals(Optional.of(new Run(3, 3)), released.runOfLease(2));
    assertEquals(0, released.ackedSplits());
  }

  @Test
  void releasePutsALeasedSplitBackAndIgnoresOthers() {
    SplitLedger pending = SplitLedger.create(12, 4, 1);
    assertSame(pending, pending.release(5), "releasing a lease nobody holds changes nothing");

    SplitLedger leased = pending.lease(1, 1, 5, WORKER_A);
    SplitLedger released = leased.release(5);

    assertEquals(OptionalInt.of(0), released.nextPending());
    assertEquals(0, released.leasesHeldBy(WORKER_A));
    assertEquals(Optional.empty(), released.runOfLease(5), "a released lease is not live");
    // Released and re-leased under a new id: only the new lease finds it.
    SplitLedger releasedAgain = released.lease(1, 1, 6, WORKER_B);
    assertEquals(Optional.empty(), releasedAgain.runOfLease(5));
    assertEquals(Optional.of(new Run(1, 1)), releasedAgain.runOfLease(6));
    assertSame(releasedAgain, releasedAgain.release(5), "a late release of the old lease changes nothing");
  }

  @Test
  void releaseAllOfReturnsOnlyThatWorkersLeases() {
    SplitLedger ledger =
        SplitLedger.create(40, 4, 1)
            .lease(0, 1, 1, WORKER_A)
            .lease(1, 1, 2, WORKER_B)
            .lease(2, 1, 3, WORKER_A)
            .lease(3, 1, 4, WORKER_A)
            .ack(4, 1);

    SplitLedger after = ledger.releaseAllOf(WORKER_A);

    assertEquals(0, after.leasesHeldBy(WORKER_A));
    assertEquals(1, after.leasesHeldBy(WORKER_B));
    assertEquals(Optional.of(new Run(1, 1)), after.runOfLease(2), "the other worker keeps its lease");
    assertEquals(Optional.empty(), after.runOfLease(1));
    assertEquals(Optional.empty(), after.runOfLease(3));
    assertEquals(1, after.ackedSplits(), "an acked split of the departed worker stays acked");
    assertEquals(OptionalInt.of(0), after.nextPending());
    // Splits 0 and 2 are pending again, before the never-leased split 4.
    SplitLedger releasedTaken = after.lease(0, 1, 5, WORKER_B).lease(2, 1, 6, WORKER_B);
    assertEquals(OptionalInt.of(4), releasedTaken.nextPending());
    assertEquals(3, releasedTaken.leasesHeldBy(WORKER_B));
  }

  @Test
  void releaseAllOfGivesBackAWorkersRunsAsTheyWere() {
    SplitLedger ledger =
        SplitLedger.create(40, 4, 1)
            .lease(0, 2, 1, WORKER_A)
            .lease(2, 3, 2, WORKER_B)
            .lease(5, 2, 3, WORKER_A);
    assertEquals(2, ledger.leasesHeldBy(WORKER_A), "leases are counted, not splits");

    SplitLedger after = ledger.releaseAllOf(WORKER_A);

    assertEquals(0, after.leasesHeldBy(WORKER_A));
    assertEquals(Optional.of(new Run(2, 3)), after.runOfLease(2));
    assertEquals(Optional.of(new Run(0, 2)), after.nextRun(8, 0, 40));
    assertEquals(Optional.of(new Run(5, 2)), after.lease(0, 2, 4, WORKER_B).nextRun(8, 0, 40));
  }

  @Test
  void releaseAllOfAWorkerWithoutLeasesChangesNothing() {
    SplitLedger ledger = SplitLedger.create(8, 4, 1).lease(0, 1, 1, WORKER_A);

    assertEquals(ledger, ledger.releaseAllOf(WORKER_B));
  }

  @Test
  void runOfLeaseFindsOnlyLiveLeases() {
    SplitLedger ledger = SplitLedger.create(40, 4, 2).lease(13, 2, 42, WORKER_A);

    assertEquals(Optional.of(new Run(13, 2)), ledger.runOfLease(42));
    assertEquals(Optional.empty(), ledger.runOfLease(43));
    assertEquals(Optional.empty(), ledger.runOfLease(0), "pending splits hold no lease 0");
  }

  @Test
  void adjacentLeasesStayApart() {
    SplitLedger ledger = SplitLedger.create(40, 4, 1).lease(0, 2, 1, WORKER_A).lease(2, 2, 2, WORKER_A);

    assertEquals(2, ledger.leasesHeldBy(WORKER_A));
    assertEquals(Optional.of(new Run(0, 2)), ledger.runOfLease(1));
    assertEquals(Optional.of(new Run(2, 2)), ledger.runOfLease(2));
    SplitLedger first = ledger.ack(1, 2);
    assertEquals(Optional.of(new Run(2, 2)), first.runOfLease(2));
    assertEquals(1, first.leasesHeldBy(WORKER_A));
  }

  @Test
  void splitsCoveredCountsTheWholeSplitsOfALeasesFirstSamples() {
    SplitLedger ledger = SplitLedger.create(10, 4, 1).lease(0, 3, 1, WORKER_A);

    assertEquals(0, ledger.splitsCovered(1, 0));
    assertEquals(0, ledger.splitsCovered(1, 3), "a split is covered only whole");
    assertEquals(1, ledger.splitsCovered(1, 4));
    assertEquals(1, ledger.splitsCovered(1, 7));
    assertEquals(2, ledger.splitsCovered(1, 8));
    assertEquals(3, ledger.splitsCovered(1, 10), "the short last split needs its two samples only");
    assertEquals(3, ledger.splitsCovered(1, 50), "never more than the lease holds");
    assertEquals(0, ledger.splitsCovered(2, 10), "a lease nobody holds covers nothing");

    SplitLedger later = SplitLedger.create(40, 4, 1).lease(3, 2, 7, WORKER_B);
    assertEquals(1, later.splitsCovered(7, 4), "counted from the run's first position, 12");
    assertEquals(2, later.splitsCovered(7, 8));
  }

  @Test
  void firstUnackedAnyLeasedAndAllAckedDescribeARange() {
    SplitLedger ledger = SplitLedger.create(40, 4, 1).lease(0, 2, 1, WORKER_A).lease(2, 2, 2, WORKER_B).ack(1, 2);

    assertEquals(OptionalInt.of(2), ledger.firstUnacked());
    assertTrue(ledger.allAcked(0, 2));
    assertFalse(ledger.allAcked(0, 3));
    assertTrue(ledger.anyLeased(0, 4));
    assertFalse(ledger.anyLeased(0, 2));
    assertFalse(ledger.anyLeased(4, 10));
    assertTrue(ledger.allAcked(5, 5), "an empty range is all acked");
    assertEquals(OptionalInt.empty(), ledger.ack(2, 2).lease(4, 6, 3, WORKER_A).ack(3, 6).firstUnacked());
  }

  @Test
  void isCompleteOnceEverySplitOfEveryEpochIsAcked() {
    SplitLedger ledger = SplitLedger.create(6, 4, 2);
    long lease = 1;
    for (int g = 0; g < ledger.totalSplits(); g++) {
      assertFalse(ledger.isComplete(), "complete before split " + g + " was acked");
      ledger = ledger.lease(g, 1, lease, g % 2 == 0 ? WORKER_A : WORKER_B).ack(lease, 1);
      lease++;
    }

    assertTrue(ledger.isComplete());
    assertFalse(ledger.hasPending());
    assertEquals(OptionalInt.empty(), ledger.firstUnacked());
    assertEquals(4, ledger.ackedSplits());
    assertEquals(12, ledger.ackedSamples(), "two epochs of 6 samples");
    assertEquals(ledger.totalSamples(), ledger.ackedSamples());
  }

  @Test
  void everyChangeLeavesTheOldLedgerAsItWas() {
    SplitLedger fresh = SplitLedger.create(12, 4, 1);
    SplitLedger freshCopy = SplitLedger.create(12, 4, 1);

    SplitLedger leased = fresh.lease(0, 1, 1, WORKER_A);
    assertEquals(freshCopy, fresh);
    assertEquals(OptionalInt.of(0), fresh.nextPending());
    assertEquals(0, fresh.leasesHeldBy(WORKER_A));

    SplitLedger acked = leased.ack(1, 1);
    assertEquals(Optional.of(new Run(0, 1)), leased.runOfLease(1), "ack must not touch the leased ledger");
    assertEquals(0, leased.ackedSplits());
    assertEquals(0, leased.ackedSamples());
    assertEquals(1, acked.ackedSplits());

    SplitLedger twoLeases = acked.lease(1, 1, 2, WORKER_A).lease(2, 1, 3, WORKER_B);
    SplitLedger released = twoLeases.release(2);
    SplitLedger releasedAll = twoLeases.releaseAllOf(WORKER_B);
    assertEquals(1, twoLeases.leasesHeldBy(WORKER_A));
    assertEquals(1, twoLeases.leasesHeldBy(WORKER_B));
    assertEquals(OptionalInt.empty(), twoLeases.nextPending());
    assertEquals(OptionalInt.of(1), released.nextPending());
    assertEquals(OptionalInt.of(2), releasedAll.nextPending());
    assertEquals(1, acked.ackedSplits());
    assertEquals(OptionalInt.of(1), acked.nextPending());

    SplitLedger run = SplitLedger.create(40, 4, 1).lease(0, 4, 9, WORKER_A);
    run.ack(9, 1);
    assertEquals(Optional.of(new Run(0, 4)), run.runOfLease(9), "a prefix ack must not touch the leased ledger");
  }

  @Test
  void ledgersWithTheSameHistoryAreEqual() {
    SplitLedger a = SplitLedger.create(12, 4, 1).lease(0, 1, 1, WORKER_A).ack(1, 1).lease(1, 1, 2, WORKER_B);
    SplitLedger b = SplitLedger.create(12, 4, 1).lease(0, 1, 1, WORKER_A).ack(1, 1).lease(1, 1, 2, WORKER_B);

    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    assertNotEquals(a, b.release(2));
    assertNotEquals(a, SplitLedger.create(12, 4, 1));
  }

  // ---------------------------------------------------------------- cuts and rewinds

  @Test
  void aCutHoldsExactlyTheAckedSplits() {
    SplitLedger ledger =
        SplitLedger.create(10, 4, 2)
            .lease(0, 1, 1, WORKER_A)
            .ack(1, 1)
            .lease(1, 1, 2, WORKER_B)
            .lease(4, 1, 3, WORKER_A)
            .ack(3, 1)
            .lease(5, 1, 4, WORKER_A);

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
    long lease = 1;
    for (int g : new int[] {0, 63, 64, 127, 199}) {
      ledger = ledger.lease(g, 1, lease, WORKER_A).ack(lease, 1);
      lease++;
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
  void skippingThePendingSplitsLeavesTheLeaseOutToBeAckedAndCountsNoSamples() {
    SplitLedger ledger = SplitLedger.create(10, 4, 2).lease(0, 2, 1, WORKER_A).ack(1, 2).lease(2, 1, 2, WORKER_B);
    assertEquals(0, ledger.epochsDone());

    SplitLedger stopped = ledger.skipPending();

    assertFalse(stopped.isComplete(), "split 2 is still out");
    assertEquals(5, stopped.ackedSplits(), "skipped splits are done");
    assertEquals(3, stopped.skippedSplits());
    assertEquals(10, stopped.skippedSamples(), "4 + 4 + 2 samples of the second epoch");
    assertEquals(8, stopped.ackedSamples(), "but trained no samples");
    assertEquals(0, stopped.epochsDone());
    assertEquals(Optional.of(new Run(2, 1)), stopped.runOfLease(2), "the lease out stays live");
    assertFalse(stopped.hasPending());
    assertEquals(Optional.empty(), stopped.nextRun(4, 0, stopped.totalSplits()), "nothing more is leased");
    assertSame(stopped, stopped.skipPending(), "nothing left to skip");

    SplitLedger acked = stopped.ack(2, 1);
    assertTrue(acked.isComplete());
    assertEquals(10, acked.ackedSamples(), "the lease out trained its samples");
    assertEquals(2, acked.epochsDone());
    assertEquals(acked.cut().splits(), acked.cut().size(), "a checkpoint now covers everything");

    SplitLedger givenBack = stopped.release(2);
    assertEquals(OptionalInt.of(2), givenBack.nextPending(), "the ledger alone puts a lease given back back");
    assertTrue(givenBack.skipPending().isComplete(), "and the member skips it again");
    assertEquals(4, givenBack.skipPending().skippedSplits());
  }

  @Test
  void aRewindKeepsSkippedSplitsSkippedOrPutsThemBackIfItGoesToBeforeTheStop() {
    SplitLedger ledger = SplitLedger.create(10, 4, 2).lease(0, 3, 1, WORKER_A).ack(1, 3);
    SplitLedger.Cut beforeStop = ledger.cut();
    SplitLedger stopped = ledger.skipPending();
    SplitLedger.Cut afterStop = stopped.cut();

    SplitLedger toAfter = stopped.rewoundTo(afterStop);
    assertEquals(stopped.skippedSplits(), toAfter.skippedSplits());
    assertEquals(stopped.ackedSamples(), toAfter.ackedSamples());
    assertTrue(toAfter.isComplete());

    SplitLedger toBefore = stopped.rewoundTo(beforeStop);
    assertEquals(0, toBefore.skippedSplits());
    assertEquals(OptionalInt.of(3), toBefore.nextPending(), "the second epoch is trained after all");
    assertEquals(1, toBefore.epochsDone());
  }

  @Test
  void epochsDoneCountsOnlyEpochsWithEverySplitDone() {
    SplitLedger ledger = SplitLedger.create(8, 4, 3).lease(0, 2, 1, WORKER_A).lease(2, 1, 2, WORKER_B).ack(2, 1);
    assertEquals(0, ledger.epochsDone(), "split 2 of the second epoch is done, split 0 of the first is not");
    assertEquals(1, ledger.ack(1, 2).epochsDone());
    assertEquals(3, ledger.epochs());
  }

  @Test
  void rewindingKeepsTheCutsSplitsAndPutsEveryOtherBackToPending() {
    SplitLedger atCheckpoint =
        SplitLedger.create(10, 4, 2).lease(0, 1, 1, WORKER_A).ack(1, 1).lease(1, 1, 2, WORKER_B);
    SplitLedger.Cut cut = atCheckpoint.cut();
    SplitLedger later = atCheckpoint.ack(2, 1).lease(2, 1, 3, WORKER_A).ack(3, 1).lease(3, 1, 4, WORKER_B);

    SplitLedger rewound = later.rewoundTo(cut);

    assertEquals(1, rewound.ackedSplits());
    assertEquals(4, rewound.ackedSamples());
    assertEquals(cut, rewound.cut());
    assertEquals(OptionalInt.of(1), rewound.nextPending(), "split 1, acked after the cut, is trained again");
    assertEquals(Optional.empty(), rewound.runOfLease(4), "every lease is void");
    assertEquals(Optional.empty(), rewound.runOfLease(2), "even one granted before the cut");
    assertEquals(0, rewound.leasesHeldBy(WORKER_A) + rewound.leasesHeldBy(WORKER_B));
    assertEquals(3, later.ackedSplits(), "the ledger rewound is left as it was");
    // Its new leases go out from split 1 on, with no memory of the voided ones.
    assertEquals(Optional.of(new Run(1, 1)), rewound.lease(1, 1, 9, WORKER_A).runOfLease(9));
  }

  @Test
  void rewindingForgetsTheRunsItVoided() {
    SplitLedger ledger =
        SplitLedger.create(40, 4, 1).lease(0, 2, 1, WORKER_A).ack(1, 2).lease(2, 4, 2, WORKER_B);
    SplitLedger.Cut cut = ledger.cut();
    // Lease 2 is acked by a prefix (its rest remembered), lease 3 given back whole.
    SplitLedger later = ledger.ack(2, 1).lease(8, 2, 3, WORKER_A).release(3);
    assertEquals(Optional.of(new Run(3, 3)), later.nextRun(1, 0, 40));

    SplitLedger rewound = later.rewoundTo(cut);

    assertEquals(Optional.of(new Run(2, 1)), rewound.nextRun(1, 0, 40), "no remembered run after a rewind");
    assertEquals(Optional.of(new Run(2, 8)), rewound.nextRun(8, 0, 40), "runs are cut afresh across the old ones");
    assertEquals(SplitLedger.create(40, 4, 1).lease(0, 2, 1, WORKER_A).ack(1, 2).rewoundTo(cut), rewound);
  }

  @Test
  void rewindingToACompleteCutLeavesNothingToDo() {
    SplitLedger done = SplitLedger.create(8, 4, 1).lease(0, 2, 1, WORKER_A).ack(1, 2);

    SplitLedger rewound = done.rewoundTo(done.cut());

    assertTrue(rewound.isComplete());
    assertEquals(done.cut(), rewound.cut());
    assertEquals(done.ackedSamples(), rewound.ackedSamples());
  }

  @Test
  void aCutOfAnotherLedgerIsRefused() {
    SplitLedger ledger = SplitLedger.create(10, 4, 2);

    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ledger.rewoundTo(SplitLedger.Cut.none(3)));
    assertTrue(e.getMessage().contains("cut covers 3 splits"), e.getMessage());
  }
}
