package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import io.tessera.coordinator.CoordinatorEvent.CheckpointStarted;
import io.tessera.coordinator.CoordinatorEvent.LeaseReleased;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseProgress;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ReleaseLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.RequestLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import io.tessera.protocol.coordinator.CoordinatorProtocol.SplitReport;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.FenceLeases;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.worker.WorkerProtocol;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * How the coordinator takes a lease back before it is completed, in {@code async} mode: the
 * windows its holder reported done are acked and only the rest goes out again, the shards are
 * told the lease is no longer current, and a lease whose holder goes silent expires, so that a
 * lost acknowledgement stalls neither the job nor a checkpoint.
 *
 * <p>The job: micro-batches of 2 samples, leases of 8 samples (4 splits), a global batch of 4,
 * one member on 2 shards.
 */
class LeaseTakeBackTest extends CoordinatorFixture {

  private static final JobSpec SPEC = spec(4, 2, 8, 1);
  private static final Duration SHORT_LEASES = Duration.ofSeconds(1);

  private CoordinatorSettings leasesOf(Duration timeout) {
    return SETTINGS.withLeaseTimeout(timeout);
  }

  /** A worker's report: {@code samples} of its lease done, in windows every shard took. */
  private void reportProgress(
      ActorRef<Command> coordinator, TestProbe<WorkerProtocol.Command> worker, long leaseId, int samples) {
    coordinator.tell(new LeaseProgress(worker.getRef(), leaseId, new SplitReport(samples, 0.5 * samples, 2, 0, 1_000_000L)));
  }

  /** The lease fences the job's two shards were sent. */
  private List<FenceLeases> fencesSeen() {
    return shards.seen().stream()
        .map(TestingShard.Seen::command)
        .filter(FenceLeases.class::isInstance)
        .map(FenceLeases.class::cast)
        .toList();
  }

  /** Waits until both shards were told that {@code leaseId} is no longer current. */
  private void awaitFenced(long leaseId) {
    awaitAssert(
        () -> {
          Set<String> told =
              shards.shardsThatSaw(
                  c -> c instanceof FenceLeases fence && fence.issuedBefore() > leaseId && !fence.live().contains(leaseId));
          assertEquals(
              Set.of(ShardProtocol.entityId(JOB, 0, 0), ShardProtocol.entityId(JOB, 0, 1)), told, "fences: " + fencesSeen());
        });
  }

  // ------------------------------------------------------------------ given back, or its worker left

  @Test
  void windowsReportedBeforeALeaseIsGivenBackAreAckedAndOnlyTheRestGoesOutAgain() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, SPEC, 16);
    Lease lease = requestLease(coordinator, worker);
    assertEquals(new Split(0, 0, 0, 8), lease.split());

    // Two windows of four (one micro-batch each) were taken by every shard; then the worker gives up.
    reportProgress(coordinator, worker, lease.leaseId(), 4);
    coordinator.tell(new ReleaseLease(worker.getRef(), lease.leaseId(), "push failed 4 times", true));

    SplitCompleted acked = awaitEvent(SplitCompleted.class, e -> e.leaseId() == lease.leaseId());
    assertEquals(0, acked.split());
    assertEquals(2, acked.count(), "the two splits its windows covered");
    assertEquals(4, acked.samples());
    assertEquals(List.of(), journal.events(LeaseReleased.class), "the rest went back with the ack");
    awaitFenced(lease.leaseId());

    Lease rest = requestLease(coordinator, worker);
    assertEquals(new Split(0, 2, 4, 8), rest.split(), "only the splits not pushed go out again");
    Lease second = grantedLease(complete(coordinator, worker, rest.leaseId(), 4, 2.0));
    assertEquals(new Split(0, 4, 8, 16), second.split());
    complete(coordinator, worker, second.leaseId(), 8, 4.0);

    JobStatus status = awaitState(coordinator, JOB, JobState.EVALUATING);
    assertEquals(16, status.samplesDone(), "every sample once");
  }

  @Test
  void aLeaseGivenBackWithoutAReportGoesOutWholeAndIsFenced() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, SPEC, 16);
    Lease lease = requestLease(coordinator, worker);

    coordinator.tell(new ReleaseLease(worker.getRef(), lease.leaseId(), "cannot train here", true));

    awaitEvent(LeaseReleased.class, e -> e.leaseId() == lease.leaseId());
    awaitFenced(lease.leaseId());
    assertEquals(lease.split(), requestLease(coordinator, worker).split());
  }

  @Test
  void aWorkerThatLeavesHasTheWindowsItReportedAckedAndItsLeaseFenced() {
    TestProbe<WorkerProtocol.Command> a = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> b = registerWorker("worker-b");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(a, b);
    TestProbe<WorkerProtocol.Command> leaving = sorted.get(0);
    TestProbe<WorkerProtocol.Command> staying = sorted.get(1);
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, leaving, staying);
    submit(coordinator, SPEC);
    expectWorkerMessage(leaving, WorkerProtocol.InitializeModel.class)
        .replyTo()
        .tell(akka.pattern.StatusReply.success(new WorkerProtocol.ModelInitialized(JOB, 0, 100, 4, data(16))));
    awaitState(coordinator, JOB, JobState.RUNNING);
    Lease doomed = requestLease(coordinator, leaving);
    Lease other = requestLease(coordinator, staying);
    assertEquals(0, doomed.split().index());
    assertEquals(4, other.split().index());

    reportProgress(coordinator, leaving, doomed.leaseId(), 6);
    deregisterWorker(leaving);

    SplitCompleted acked = awaitEvent(SplitCompleted.class, e -> e.leaseId() == doomed.leaseId());
    assertEquals(3, acked.count());
    awaitWorkers(coordinator, 1, 3);
    awaitFenced(doomed.leaseId());
    assertTrue(fencesSeen().stream().allMatch(f -> !f.live().contains(doomed.leaseId())));
    assertTrue(
        fencesSeen().stream().anyMatch(f -> f.live().equals(List.of(other.leaseId()))),
        "the other worker's lease is still current: " + fencesSeen());

    Lease retaken = grantedLease(complete(coordinator, staying, other.leaseId(), 8, 1.0));
    assertEquals(new Split(0, 3, 6, 8), retaken.split(), "the one split it had not pushed");
    assertInstanceOf(NoLease.class, complete(coordinator, staying, retaken.leaseId(), 2, 1.0));
    assertEquals(16, awaitState(coordinator, JOB, JobState.EVALUATING).samplesDone());
  }

  // ------------------------------------------------------------------ answers lost on the way

  @Test
  void aLeaseWhoseGrantWasLostIsTakenBackWhenItsWorkerAsksAgainNotWhenItExpires() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator(); // leases live for minutes
    startJob(coordinator, worker, SPEC, 16);
    Lease lost = requestLease(coordinator, worker);

    // The worker never got that answer, so it asks again: the lease it does not know of goes back
    // whole, is fenced, and the same splits go out again at once.
    Lease again = requestLease(coordinator, worker);

    LeaseReleased released = awaitEvent(LeaseReleased.class, e -> e.leaseId() == lost.leaseId());
    assertEquals("its worker never got the grant", released.reason());
    awaitFenced(lost.leaseId());
    assertEquals(lost.split(), again.split());
    assertTrue(again.leaseId() > lost.leaseId());
    Lease second = grantedLease(complete(coordinator, worker, again.leaseId(), 8, 4.0));
    assertInstanceOf(NoLease.class, complete(coordinator, worker, second.leaseId(), 8, 4.0));
    assertEquals(16, awaitState(coordinator, JOB, JobState.EVALUATING).samplesDone(), "every sample once");
  }

  @Test
  void aCopyOfAnAskAndAnAskOvertakenByANewerOneAreNotAnswered() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, SPEC, 16);
    TestProbe<LeaseReply> first = testKit.createTestProbe();
    TestProbe<LeaseReply> copy = testKit.createTestProbe();
    TestProbe<LeaseReply> overtaken = testKit.createTestProbe();
    long askId = nextAskId();
    long older = askId - 1;

    coordinator.tell(new RequestLease(worker.getRef(), askId, first.getRef()));
    coordinator.tell(new RequestLease(worker.getRef(), askId, copy.getRef()));
    coordinator.tell(new RequestLease(worker.getRef(), older, overtaken.getRef()));

    Lease lease = grantedLease(first.receiveMessage(TIMEOUT));
    status(coordinator, JOB); // answered after the three asks, so all three were handled
    copy.expectNoMessage(Duration.ofMillis(200));
    overtaken.expectNoMessage(Duration.ofMillis(200));
    assertEquals(1, journal.events(SplitLeased.class).size(), "one lease granted");
    assertEquals(List.of(), journal.events(LeaseReleased.class), "the lease answered stays with its worker");
    Lease next = grantedLease(complete(coordinator, worker, lease.leaseId(), 8, 4.0));
    assertInstanceOf(NoLease.class, complete(coordinator, worker, next.leaseId(), 8, 4.0));
    assertEquals(16, awaitState(coordinator, JOB, JobState.EVALUATING).samplesDone());
  }

  // ------------------------------------------------------------------ expiry

  @Test
  void aLeaseNeverAckedExpiresItsSplitsGoOutAgainAndTheJobCompletes() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator(leasesOf(SHORT_LEASES));
    startJob(coordinator, worker, SPEC, 8);
    Lease lost = requestLease(coordinator, worker);
    // The worker pushed everything and acked, but its acknowledgement was lost.

    LeaseReleased expired = awaitEvent(LeaseReleased.class, e -> e.leaseId() == lost.leaseId());
    assertTrue(expired.reason().startsWith("expired: no word from " + id(worker)), expired.reason());
    assertTrue(expired.reason().contains("lease-timeout"), expired.reason());
    awaitFenced(lost.leaseId());

    Lease again = requestLease(coordinator, worker);
    assertEquals(lost.split(), again.split());
    assertTrue(again.leaseId() > lost.leaseId());
    assertInstanceOf(NoLease.class, complete(coordinator, worker, again.leaseId(), 8, 4.0));
    JobStatus status = awaitState(coordinator, JOB, JobState.EVALUATING);

    // The lost acknowledgement turns up at last: too late to count.
    complete(coordinator, worker, lost.leaseId(), 8, 4.0);
    assertEquals(8, status(coordinator, JOB).samplesDone());
    assertEquals(status.splitsDone(), status(coordinator, JOB).splitsDone());
  }

  @Test
  void aLeaseWhoseHolderReportsProgressLivesOnAndExpiresWithWhatItReportedAcked() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator(leasesOf(Duration.ofMillis(1500)));
    startJob(coordinator, worker, SPEC, 8);
    Lease slow = requestLease(coordinator, worker);

    // A window every 300 ms for twice the timeout: a slow worker, not a silent one.
    for (int window = 1; window <= 10; window++) {
      reportProgress(coordinator, worker, slow.leaseId(), 2 * Math.min(window, 3));
      TestProbe<Object> pause = testKit.createTestProbe();
      pause.expectNoMessage(Duration.ofMillis(300));
    }
    assertEquals(List.of(), journal.events(LeaseReleased.class));
    assertEquals(List.of(), journal.events(SplitCompleted.class));

    // Then it goes silent: the lease expires, its three reported splits acked.
    SplitCompleted acked = awaitEvent(SplitCompleted.class, e -> e.leaseId() == slow.leaseId());
    assertEquals(3, acked.count());
    assertEquals(new Split(0, 3, 6, 8), requestLease(coordinator, worker).split());
  }

  @Test
  void aCheckpointWaitingForALeaseStartsOnceTheLeaseExpires() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator(leasesOf(SHORT_LEASES));
    startJob(coordinator, worker, SPEC, 16);
    Lease lost = requestLease(coordinator, worker);

    assertEquals(1, requestCheckpoint(coordinator));
    assertEquals(List.of(), journal.events(CheckpointStarted.class), "the lease out may still be pushing");

    awaitEvent(LeaseReleased.class, e -> e.leaseId() == lost.leaseId());
    awaitEvent(CheckpointStarted.class, e -> e.checkpointId() == 1);
    awaitCheckpoint(coordinator, 1);
    assertEquals(lost.split(), requestLease(coordinator, worker).split(), "leases go out again after it");
  }

  @Test
  void aRestartedCoordinatorFencesTheLeasesOutAgainAndStillExpiresThem() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator(leasesOf(Duration.ofSeconds(5)));
    startJob(coordinator, worker, SPEC, 16);
    Lease given = requestLease(coordinator, worker);
    Lease kept = requestLease(coordinator, worker);
    coordinator.tell(new ReleaseLease(worker.getRef(), given.leaseId(), "stopping", false));
    awaitFenced(given.leaseId());
    int before = fencesSeen().size();

    testKit.stop(coordinator, TIMEOUT);
    ActorRef<Command> respawned = spawnCoordinator(leasesOf(Duration.ofSeconds(5)));

    awaitAssert(() -> assertTrue(fencesSeen().size() >= before + 2, "fenced again after the restart"));
    FenceLeases again = fencesSeen().get(fencesSeen().size() - 1);
    assertEquals(List.of(kept.leaseId()), again.live());
    assertTrue(again.issuedBefore() > kept.leaseId());
    assertFalse(journal.events(LeaseReleased.class).stream().anyMatch(e -> e.leaseId() == kept.leaseId()));
    awaitEvent(LeaseReleased.class, e -> e.leaseId() == kept.leaseId() && e.reason().startsWith("expired"));
    assertEquals(JobState.RUNNING, status(respawned, JOB).state());
  }

  // ------------------------------------------------------------------ shards that start

  @Test
  void aShardThatStartsFencesEveryLeaseIssuedBeforeIt() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, SPEC, 16);
    Lease lease = requestLease(coordinator, worker);

    // A shard of the running job starts unasked: it was lost, and the job is rewound.
    ShardRecoveryPlan plan = resolveRecovery(coordinator, JOB, 0, 1);

    assertEquals(1, plan.epoch());
    assertTrue(plan.leaseFence() > lease.leaseId(), "the rewind voided lease " + lease.leaseId() + ": " + plan);
  }
}
