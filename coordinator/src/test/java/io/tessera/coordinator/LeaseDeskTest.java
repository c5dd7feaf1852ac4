package io.tessera.coordinator;

import io.tessera.protocol.worker.WorkerProtocol.StageInputs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import io.tessera.coordinator.CoordinatorEvent.GlobalBatchChanged;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.LeaseReleased;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.WorkerDraining;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.coordinator.ledger.SplitLedger.Run;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseGranted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLeaseReason;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import io.tessera.protocol.coordinator.CoordinatorProtocol.SplitReport;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The coordinator's lease decisions in {@code async} mode, as pure functions of its state: which
 * run a worker gets, what the lease says, which acks and give-backs count, and how drains and an
 * operator's change of the global batch reach them. {@code sync} mode is in {@link SyncStepsTest}.
 */
class LeaseDeskTest {
  private static final String A = "akka://tessera@127.0.0.1:25520/user/worker-a#101";
  private static final String B = "akka://tessera@127.0.0.1:25520/user/worker-b#102";
  private static final String JOB = "job-1";
  /** 8 micro-batch splits of 2 samples. */
  private static final DatasetInfo DATA = new DatasetInfo(16, 4, "c0ffee12");

  private static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("LeaseDeskTest");
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static WorkerJoined joined(String workerId) {
    return new WorkerJoined(workerId, testKit.<WorkerProtocol.Command>createTestProbe().getRef());
  }

  /** Steps of 8 samples in micro-batches of 2; leases of {@code splitSize} samples. */
  private static JobSpec spec(int splitSize) {
    return JobSpec.builder().setName("fmnist-tiny").optGlobalBatch(8).optMicroBatch(2).optSplitSize(splitSize).build();
  }

  private static CoordinatorState running(JobSpec spec, String... workers) {
    CoordinatorState state = CoordinatorState.empty();
    for (String worker : workers) {
      state = state.apply(joined(worker));
    }
    return apply(
        state,
        new JobSubmitted(JOB, spec, 1L),
        new JobInitializationStarted(JOB),
        new MemberInitialized(JOB, 0, DATA, 100, 2L));
  }

  private static CoordinatorState apply(CoordinatorState state, CoordinatorEvent... events) {
    CoordinatorState next = state;
    for (CoordinatorEvent event : events) {
      next = next.apply(event);
    }
    return next;
  }

  private static SplitLeased leased(CoordinatorState state, String workerId) {
    Object decision = LeaseDesk.nextLease(state, workerId, 0);
    return assertInstanceOf(SplitLeased.class, decision, () -> "expected a lease, got " + decision);
  }

  private static NoLease noLease(CoordinatorState state, String workerId, int failures) {
    Object decision = LeaseDesk.nextLease(state, workerId, failures);
    return assertInstanceOf(NoLease.class, decision, () -> "expected no lease, got " + decision);
  }

  /** The lease {@code leased} grants, as the worker receives it once the event is applied. */
  private static Lease granted(CoordinatorState applied, SplitLeased leased) {
    return assertInstanceOf(LeaseGranted.class, LeaseDesk.grant(applied, leased)).lease();
  }

  private static SplitReport report(int samples, double lossSum) {
    return new SplitReport(samples, lossSum, 1, 0, 1_000_000L);
  }

  private static JobRun job(CoordinatorState state) {
    return state.job(JOB).orElseThrow();
  }

  @Test
  void anAsyncLeaseIsARunOfSplitSizeFromTheLowestPendingSplit() {
    JobSpec spec = spec(4);
    CoordinatorState state = running(spec, A, B);

    SplitLeased first = leased(state, A);
    assertEquals(new SplitLeased(JOB, 0, 0, 2, 1, A), first, "4 samples are two micro-batches");
    state = state.apply(first);
    assertEquals(new Lease(1, JOB, 0, 2, new Split(0, 0, 0, 4), 2, 16, spec, new StepRule(8, 1.0, -1, -1), StageInputs.NONE, DATA.fingerprint()), granted(state, first));

    SplitLeased second = leased(state, B);
    assertEquals(new SplitLeased(JOB, 0, 2, 2, 2, B), second);
    state = state.apply(second);
    assertEquals(new Split(0, 2, 4, 8), granted(state, second).split());

    // A run given back goes out again before later ones, as it was.
    state = state.apply(LeaseDesk.release(state, 1, "stopping").orElseThrow());
    assertEquals(new SplitLeased(JOB, 0, 0, 2, 3, B), leased(state, B));
  }

  @Test
  void aSplitSizeThatIsNoMultipleOfTheMicroBatchIsRoundedUp() {
    CoordinatorState state = running(spec(5), A);

    SplitLeased lease = leased(state, A);

    assertEquals(3, lease.count(), "5 samples need three micro-batches of 2");
    assertEquals(new Split(0, 0, 0, 6), granted(state.apply(lease), lease).split());
  }

  @Test
  void aLeaseStopsAtTheEndOfTheWork() {
    CoordinatorState state = running(spec(6), A);
    long id = state.nextLeaseId();
    for (Run expected : List.of(new Run(0, 3), new Run(3, 3), new Run(6, 2))) {
      SplitLeased lease = leased(state, A);
      assertEquals(expected, run(lease));
      assertEquals(id++, lease.leaseId());
      state = state.apply(lease);
    }

    NoLease none = noLease(state, A, 0);
    assertInstanceOf(NoLeaseReason.SplitsTaken.class, none.reason(), none.describe());
  }

  @Test
  void noLeaseSaysWhy() {
    CoordinatorState idle = CoordinatorState.empty().apply(joined(A));
    assertEquals(new NoLeaseReason.NoJobRunning(), noLease(idle, A, 0).reason());
    assertEquals(new NoLeaseReason.NotListed(), noLease(idle, B, 0).reason());

    CoordinatorState state = running(spec(4), A);
    NoLease benched = noLease(state, A, LeaseDesk.MAX_CONSECUTIVE_WORKER_FAILURES);
    assertEquals(new NoLeaseReason.BackingOff(3), benched.reason());
    assertEquals("worker failed 3 leases in a row", benched.describe());
    assertTrue(benched.retryAfterMillis() > 0);
    assertInstanceOf(SplitLeased.class, LeaseDesk.nextLease(state, A, 2), "two failures in a row are not three");

    CoordinatorState draining = state.apply(new WorkerDraining(A));
    NoLease refused = noLease(draining, A, 0);
    assertEquals(new NoLeaseReason.Draining(), refused.reason());
    assertEquals("worker is draining", refused.describe());
  }

  @Test
  void aDrainingWorkerGetsNoNewWorkAndTheOthersShareTheStep() {
    CoordinatorState state = running(spec(4), A, B);
    SplitLeased ofB = leased(state, B);
    state = apply(state, ofB, new WorkerDraining(B));

    assertEquals(new NoLeaseReason.Draining(), noLease(state, B, 0).reason());
    assertEquals(
        List.of(new WorkerShare(A, 4)), job(state).member(0).currentPlan().shares(), "A runs the whole step now");
    SplitLeased ofA = leased(state, A);
    state = state.apply(ofA);
    assertEquals(4, granted(state, ofA).accumulationSteps());
    assertEquals(new Run(2, 2), new Run(ofA.split(), ofA.count()), "B keeps what it holds until it is done");

    // B finishes what it holds, then leaves; nothing it did is lost or done twice.
    state = state.apply(LeaseDesk.completion(state, ofB.leaseId(), B, report(4, 4.0)).orElseThrow());
    state = state.apply(new WorkerLeft(B, true));
    assertEquals(2, job(state).member(0).ledger().ackedSplits());
    assertEquals(List.of(B), state.retired());
    assertEquals(new Run(4, 2), run(leased(state, A)));
  }

  @Test
  void aCompletionWithFewerSamplesAcksAPrefixAndTheRestIsLeasedAgain() {
    CoordinatorState state = running(spec(8), A);
    SplitLeased lease = leased(state, A);
    assertEquals(new Run(0, 4), run(lease));
    state = state.apply(lease);

    // A worker that drains mid-lease pushed three micro-batches of its four.
    SplitCompleted completed = LeaseDesk.completion(state, lease.leaseId(), A, report(6, 3.0)).orElseThrow();

    assertEquals(new SplitCompleted(JOB, 0, 0, 3, lease.leaseId(), A, 6, 3.0, 1, 1_000_000L), completed);
    state = state.apply(completed);
    assertEquals(3, job(state).member(0).ledger().ackedSplits());
    assertEquals(6, job(state).samplesDone());
    assertEquals(Optional.empty(), job(state).member(0).ledger().runOfLease(lease.leaseId()));
    SplitLeased rest = leased(state, A);
    assertEquals(new Run(3, 1), run(rest), "the rest goes out as it was, not merged with later splits");
    assertEquals(new Split(0, 3, 6, 8), granted(state.apply(rest), rest).split());
  }

  @Test
  void aCompletionOrReleaseOfALeaseNobodyHoldsMakesNoEvent() {
    CoordinatorState state = running(spec(4), A);
    SplitLeased lease = leased(state, A);
    state = state.apply(lease);

    assertEquals(Optional.empty(), LeaseDesk.completion(state, 99, A, report(4, 1.0)));
    assertEquals(Optional.empty(), LeaseDesk.release(state, 99, "unknown"));
    assertEquals(
        Optional.of(new LeaseReleased(JOB, 0, 0, lease.leaseId(), "CUDA out of memory")),
        LeaseDesk.release(state, lease.leaseId(), "CUDA out of memory"));

    CoordinatorState acked = state.apply(LeaseDesk.completion(state, lease.leaseId(), A, report(4, 1.0)).orElseThrow());
    assertEquals(Optional.empty(), LeaseDesk.completion(acked, lease.leaseId(), A, report(4, 1.0)), "acked once only");
    assertEquals(Optional.empty(), LeaseDesk.release(acked, lease.leaseId(), "late"));
  }

  @Test
  void anAsyncLeaseAfterABatchChangeCarriesTheNewStepRule() {
    JobSpec spec = spec(4);
    CoordinatorState state = running(spec, A, B).apply(new GlobalBatchChanged(JOB, 16, 2.0));

    assertEquals(16, job(state).member(0).currentPlan().globalBatch());
    assertEquals(8, job(state).member(0).currentPlan().totalMicroBatches(), "16 samples in micro-batches of 2");
    SplitLeased lease = leased(state, A);
    state = state.apply(lease);
    Lease granted = granted(state, lease);
    assertEquals(new StepRule(16, 2.0, -1, -1), granted.rule());
    assertEquals(4, granted.accumulationSteps());
    assertEquals(2, lease.count(), "a lease is still split-size samples");
  }

  private static Run run(SplitLeased leased) {
    return new Run(leased.split(), leased.count());
  }
}
