package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.receptionist.Receptionist;
import akka.pattern.StatusReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.GetAccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.GetJobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobList;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ListJobs;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ReleaseLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.MemberSpec;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import io.tessera.protocol.worker.WorkerProtocol.Evaluate;
import io.tessera.protocol.worker.WorkerProtocol.InitializeModel;
import io.tessera.protocol.worker.WorkerProtocol.ModelInitialized;
import io.tessera.protocol.worker.WorkerProtocol.SetAccumulation;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The coordinator as workers see it: leases, accumulation plans, membership changes, failures and
 * a respawn, on the {@link CoordinatorFixture}'s one-node cluster. Checkpoints and recovery are in
 * {@link CoordinatorCheckpointTest}.
 */
class CoordinatorTest extends CoordinatorFixture {

  @Test
  void runsATinyJobFromSubmissionToCompletion() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    JobSpec spec = spec(4, 2, 4, 1);

    assertEquals(JOB, submit(coordinator, spec));

    InitializeModel init = expectWorkerMessage(worker, InitializeModel.class);
    assertEquals(JOB, init.jobId());
    assertEquals(0, init.member());
    assertEquals(spec, init.spec());
    assertEquals(JobState.INITIALIZING, status(coordinator, JOB).state());
    init.replyTo().tell(StatusReply.success(new ModelInitialized(JOB, 0, 5_130, 12, data(8))));

    assertEquals(new SetAccumulation(JOB, 0, 1, 2), expectWorkerMessage(worker, SetAccumulation.class));
    expectWorkerMessage(worker, WorkerProtocol.WorkAvailable.class);

    Lease first = requestLease(coordinator, worker);
    assertEquals(new Lease(1, JOB, 0, 1, new Split(0, 0, 0, 4), 2, 8, spec), first);

    Lease second = grantedLease(complete(coordinator, worker, first.leaseId(), 4, 8.0));
    assertEquals(new Lease(2, JOB, 0, 1, new Split(0, 1, 4, 8), 2, 8, spec), second);
    JobStatus halfway = status(coordinator, JOB);
    assertEquals(JobState.RUNNING, halfway.state());
    assertEquals(4, halfway.samplesDone());
    assertEquals(8, halfway.samplesTotal());
    assertEquals(1, halfway.splitsDone());
    assertEquals(2, halfway.splitsTotal());
    assertEquals(2.0, halfway.recentLoss(), 1e-12);

    NoLease none = assertInstanceOf(NoLease.class, complete(coordinator, worker, second.leaseId(), 4, 4.0));
    assertTrue(none.reason().contains("EVALUATING"), none.reason());

    Evaluate evaluate = expectWorkerMessage(worker, Evaluate.class);
    assertEquals(JOB, evaluate.jobId());
    assertEquals(0, evaluate.member());
    assertEquals(spec, evaluate.spec());
    evaluate.replyTo().tell(StatusReply.success(new EvaluationReport(JOB, 0, 4, 3, 0.41, 2)));

    JobStatus done = awaitState(coordinator, JOB, JobState.COMPLETED);
    assertEquals(List.of(new MemberResult(0, "m0", 4, 0.75)), done.results());
    assertEquals(8, done.samplesDone());
    assertEquals(2, done.splitsDone());
    assertEquals(2, done.splitsTotal());
    assertEquals(1, done.liveWorkers());
    assertEquals(1, done.membershipEpoch());
    assertEquals(0.7 * 2.0 + 0.3 * 1.0, done.recentLoss(), 1e-12);
    assertEquals("", done.failure());
    assertEquals("fmnist-tiny", done.name());
    assertEquals(1, done.lastCheckpointId(), "the final checkpoint is taken before evaluating");
    assertEquals(0, done.recoveryEpoch());

    NoLease idle = assertInstanceOf(NoLease.class, askLease(coordinator, worker));
    assertEquals("no job is running", idle.reason());
  }

  @Test
  void twoWorkersShareTheStepAndADeregisteredWorkersSplitGoesToTheOther() {
    TestProbe<WorkerProtocol.Command> a = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> b = registerWorker("worker-b");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(a, b);
    TestProbe<WorkerProtocol.Command> first = sorted.get(0);
    TestProbe<WorkerProtocol.Command> second = sorted.get(1);
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, first, second);
    JobSpec spec = spec(8, 2, 4, 1);
    submit(coordinator, spec);

    // The member is set up by the first worker in id order.
    expectWorkerMessage(first, InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 5_130, 12, data(16))));
    assertEquals(new SetAccumulation(JOB, 0, 2, 2), expectWorkerMessage(first, SetAccumulation.class));
    assertEquals(new SetAccumulation(JOB, 0, 2, 2), expectWorkerMessage(second, SetAccumulation.class));

    Lease leaseOfFirst = requestLease(coordinator, first);
    Lease leaseOfSecond = requestLease(coordinator, second);
    assertEquals(new Split(0, 0, 0, 4), leaseOfFirst.split());
    assertEquals(new Split(0, 1, 4, 8), leaseOfSecond.split());
    assertEquals(2, leaseOfFirst.accumulationSteps());
    assertEquals(2, leaseOfSecond.accumulationSteps());

    TestProbe<Receptionist.Deregistered> deregistered = testKit.createTestProbe();
    testKit
        .system()
        .receptionist()
        .tell(Receptionist.deregister(WorkerProtocol.SERVICE_KEY, second.getRef(), deregistered.getRef()));
    deregistered.expectMessageClass(Receptionist.Deregistered.class, TIMEOUT);
    awaitWorkers(coordinator, 1, 3);
    assertEquals(new SetAccumulation(JOB, 0, 3, 4), expectWorkerMessage(first, SetAccumulation.class));

    // The departed worker's split is the lowest pending one, so it goes out next, with the new k.
    Lease taken = grantedLease(complete(coordinator, first, leaseOfFirst.leaseId(), 4, 6.0));
    assertEquals(leaseOfSecond.split(), taken.split());
    assertEquals(4, taken.accumulationSteps());
    assertEquals(3, taken.membershipEpoch());
    assertEquals(3, taken.leaseId());

    // The departed worker finishes its old lease after all: it is not counted twice.
    NoLease late = assertInstanceOf(NoLease.class, complete(coordinator, second, leaseOfSecond.leaseId(), 4, 6.0));
    assertTrue(late.reason().contains("Receptionist"), late.reason());
    assertEquals(1, status(coordinator, JOB).splitsDone());

    Lease third = grantedLease(complete(coordinator, first, taken.leaseId(), 4, 6.0));
    Lease fourth = grantedLease(complete(coordinator, first, third.leaseId(), 4, 6.0));
    assertEquals(List.of(2, 3), List.of(third.split().index(), fourth.split().index()));
    assertInstanceOf(NoLease.class, complete(coordinator, first, fourth.leaseId(), 4, 6.0));
    assertEquals(4, status(coordinator, JOB).splitsDone());

    AccumulationHistory history = history(coordinator, JOB);
    assertEquals(8, history.globalBatch());
    assertEquals(2, history.microBatch());
    assertEquals(
        List.of(
            new AccumulationPlan(2, 0, List.of(share(first, 2), share(second, 2))),
            new AccumulationPlan(3, 0, List.of(share(first, 4)))),
        history.plans());
    for (AccumulationPlan plan : history.plans()) {
      assertEquals(history.globalBatch() / history.microBatch(), plan.totalMicroBatches(), plan::toString);
    }
  }

  @Test
  void aStoppedWorkersLeaseIsLeasedAgain() {
    TestProbe<WorkerProtocol.Command> a = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> b = registerWorker("worker-b");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(a, b);
    TestProbe<WorkerProtocol.Command> survivor = sorted.get(0);
    TestProbe<WorkerProtocol.Command> doomed = sorted.get(1);
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, survivor, doomed);
    submit(coordinator, spec(8, 2, 4, 1));
    expectWorkerMessage(survivor, InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 5_130, 12, data(8))));
    assertEquals(new SetAccumulation(JOB, 0, 2, 2), expectWorkerMessage(doomed, SetAccumulation.class));

    Lease doomedLease = requestLease(coordinator, doomed);
    assertEquals(0, doomedLease.split().index());
    Lease survivorLease = requestLease(coordinator, survivor);
    assertEquals(1, survivorLease.split().index());

    doomed.stop();
    awaitWorkers(coordinator, 1, 3);

    Lease retaken = grantedLease(complete(coordinator, survivor, survivorLease.leaseId(), 4, 1.0));
    assertEquals(doomedLease.split(), retaken.split());
    assertEquals(4, retaken.accumulationSteps());
    assertInstanceOf(NoLease.class, complete(coordinator, survivor, retaken.leaseId(), 4, 1.0));
    assertEquals(JobState.EVALUATING, status(coordinator, JOB).state());
  }

  @Test
  void aWorkerThatJoinsMidRunTakesAShareOfTheStep() {
    TestProbe<WorkerProtocol.Command> early = registerWorker("worker-early");
    ActorRef<Command> coordinator = spawnCoordinator();
    submit(coordinator, spec(8, 2, 4, 1));
    expectWorkerMessage(early, InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 100, 4, data(16))));
    assertEquals(new SetAccumulation(JOB, 0, 1, 4), expectWorkerMessage(early, SetAccumulation.class));
    Lease before = requestLease(coordinator, early);
    assertEquals(4, before.accumulationSteps());

    TestProbe<WorkerProtocol.Command> late = registerWorker("worker-late");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(early, late);
    assertEquals(new SetAccumulation(JOB, 0, 2, 2), expectWorkerMessage(late, SetAccumulation.class));
    assertEquals(new SetAccumulation(JOB, 0, 2, 2), expectWorkerMessage(early, SetAccumulation.class));

    Lease forLate = requestLease(coordinator, late);
    assertEquals(1, forLate.split().index(), "the early worker still holds split 0");
    assertEquals(2, forLate.accumulationSteps());
    assertEquals(2, forLate.membershipEpoch());
    Lease forEarly = grantedLease(complete(coordinator, early, before.leaseId(), 4, 2.0));
    assertEquals(2, forEarly.accumulationSteps());
    assertEquals(2, forEarly.split().index());

    assertEquals(
        List.of(
            new AccumulationPlan(1, 0, List.of(share(early, 4))),
            new AccumulationPlan(2, 0, List.of(share(sorted.get(0), 2), share(sorted.get(1), 2)))),
        history(coordinator, JOB).plans());
  }

  @Test
  void initialisationFailuresAreRetriedOnAnotherWorkerAndFailTheJobAfterThree() {
    TestProbe<WorkerProtocol.Command> a = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> b = registerWorker("worker-b");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(a, b);
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, sorted.get(0), sorted.get(1));
    submit(coordinator, spec(4, 2, 4, 1));

    InitializeModel firstTry = expectWorkerMessage(sorted.get(0), InitializeModel.class);
    firstTry.replyTo().tell(StatusReply.error("no Fashion-MNIST files in /data/fmnist"));
    InitializeModel secondTry = expectWorkerMessage(sorted.get(1), InitializeModel.class);
    assertEquals(firstTry.spec(), secondTry.spec());
    assertEquals(JobState.INITIALIZING, status(coordinator, JOB).state());
    secondTry.replyTo().tell(StatusReply.error("model does not fit in 2 GiB"));
    InitializeModel thirdTry = expectWorkerMessage(sorted.get(0), InitializeModel.class);
    thirdTry.replyTo().tell(StatusReply.error("no Fashion-MNIST files in /data/fmnist-2"));

    JobStatus failed = awaitState(coordinator, JOB, JobState.FAILED);
    assertTrue(failed.failure().contains("initialising member 0 failed 3 times"), failed.failure());
    assertTrue(failed.failure().contains("no Fashion-MNIST files in /data/fmnist-2"), failed.failure());
    assertEquals(List.of(), failed.results());
    sorted.forEach(worker -> worker.expectNoMessage(Duration.ofMillis(200)));
  }

  @Test
  void aWorkerThatSeesOtherDataIsNotTrustedWithTheMember() {
    TestProbe<WorkerProtocol.Command> a = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> b = registerWorker("worker-b");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(a, b);
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, sorted.get(0), sorted.get(1));
    JobSpec ensemble =
        JobSpec.builder()
            .setName("fmnist-tiny-ensemble")
            .optGlobalBatch(4)
            .optMicroBatch(2)
            .optSplitSize(4)
            .optMembers(List.of(new MemberSpec("m0", 1), new MemberSpec("m1", 2)))
            .build();
    submit(coordinator, ensemble);

    // Members are spread over the workers: member 0 on the first, member 1 on the second.
    InitializeModel member0 = expectWorkerMessage(sorted.get(0), InitializeModel.class);
    InitializeModel member1 = expectWorkerMessage(sorted.get(1), InitializeModel.class);
    assertEquals(List.of(0, 1), List.of(member0.member(), member1.member()));
    member0.replyTo().tell(StatusReply.success(new ModelInitialized(JOB, 0, 100, 4, data(8))));
    awaitAssert(() -> assertEquals(16, status(coordinator, JOB).samplesTotal()));

    member1
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 1, 100, 4, new DatasetInfo(8, 4, "other"))));

    InitializeModel retry = expectWorkerMessage(sorted.get(0), InitializeModel.class);
    assertEquals(1, retry.member());
    assertEquals(JobState.INITIALIZING, status(coordinator, JOB).state());
    retry.replyTo().tell(StatusReply.success(new ModelInitialized(JOB, 1, 100, 4, data(8))));

    JobStatus running = awaitState(coordinator, JOB, JobState.RUNNING);
    assertEquals(4, running.splitsTotal());
    AccumulationHistory history = history(coordinator, JOB);
    assertEquals(
        List.of(
            new AccumulationPlan(2, 0, List.of(share(sorted.get(0), 2))),
            new AccumulationPlan(2, 1, List.of(share(sorted.get(1), 2)))),
        history.plans());
  }

  @Test
  void leaseRequestsFromUnknownWorkersAndLateAcksAreTolerated() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    TestProbe<WorkerProtocol.Command> stranger = testKit.createTestProbe("stranger");
    ActorRef<Command> coordinator = spawnCoordinator();

    NoLease unknown = assertInstanceOf(NoLease.class, askLease(coordinator, stranger));
    assertTrue(unknown.reason().contains("Receptionist"), unknown.reason());
    assertTrue(unknown.retryAfterMillis() > 0);

    submit(coordinator, spec(4, 2, 4, 1));
    expectWorkerMessage(worker, InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 100, 4, data(12))));
    awaitState(coordinator, JOB, JobState.RUNNING);

    // An ack for a lease the coordinator never granted: nothing is acked, but the worker gets work.
    Lease lease = grantedLease(complete(coordinator, worker, 999, 4, 1.0));
    assertEquals(new Split(0, 0, 0, 4), lease.split());
    JobStatus status = status(coordinator, JOB);
    assertEquals(0, status.splitsDone());
    assertEquals(0, status.samplesDone());

    // The same ack twice: the second is late and changes nothing.
    Lease next = grantedLease(complete(coordinator, worker, lease.leaseId(), 4, 1.0));
    assertEquals(1, next.split().index());
    Lease last = grantedLease(complete(coordinator, worker, lease.leaseId(), 4, 1.0));
    assertEquals(2, last.split().index());
    assertEquals(1, status(coordinator, JOB).splitsDone());
    assertEquals(4, status(coordinator, JOB).samplesDone());

    // A worker outside the listing reporting a lease nobody holds gets an answer, and no work.
    NoLease stillUnknown = assertInstanceOf(NoLease.class, complete(coordinator, stranger, 4242, 4, 1.0));
    assertTrue(stillUnknown.reason().contains("Receptionist"), stillUnknown.reason());
    assertEquals(1, status(coordinator, JOB).splitsDone());
  }

  @Test
  void aReleasedLeaseGoesOutAgainAndAWorkerThatKeepsFailingIsBenched() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    submit(coordinator, spec(4, 2, 4, 1));
    expectWorkerMessage(worker, InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 100, 4, data(12))));
    awaitState(coordinator, JOB, JobState.RUNNING);

    long previous = -1;
    for (int attempt = 1; attempt <= 3; attempt++) {
      Lease lease = requestLease(coordinator, worker);
      assertEquals(0, lease.split().index(), "a released split is the next one out");
      assertTrue(lease.leaseId() > previous, "every lease has a new id");
      previous = lease.leaseId();
      coordinator.tell(new ReleaseLease(worker.getRef(), lease.leaseId(), "CUDA out of memory #" + attempt));
    }

    NoLease benched = assertInstanceOf(NoLease.class, askLease(coordinator, worker));
    assertTrue(benched.reason().contains("3 splits in a row"), benched.reason());
    assertEquals(0, status(coordinator, JOB).splitsDone());
  }

  @Test
  void unknownJobsAreReportedAsErrors() {
    ActorRef<Command> coordinator = spawnCoordinator();

    TestProbe<StatusReply<JobStatus>> statusReply = testKit.createTestProbe();
    coordinator.tell(new GetJobStatus("job-42", statusReply.getRef()));
    StatusReply<JobStatus> reply = statusReply.receiveMessage(TIMEOUT);
    assertTrue(reply.isError());
    assertEquals("no job job-42", reply.getError().getMessage());

    TestProbe<StatusReply<AccumulationHistory>> historyReply = testKit.createTestProbe();
    coordinator.tell(new GetAccumulationHistory("job-42", historyReply.getRef()));
    StatusReply<AccumulationHistory> history = historyReply.receiveMessage(TIMEOUT);
    assertTrue(history.isError());
    assertEquals("no job job-42", history.getError().getMessage());

    TestProbe<JobList> list = testKit.createTestProbe();
    coordinator.tell(new ListJobs(list.getRef()));
    assertEquals(new JobList(List.of()), list.receiveMessage(TIMEOUT));
  }

  @Test
  void jobsWaitForAWorkerAndRunOneAtATime() {
    ActorRef<Command> coordinator = spawnCoordinator();
    assertEquals("job-1", submit(coordinator, spec(4, 2, 4, 1)));
    assertEquals("job-2", submit(coordinator, spec(4, 2, 4, 1)));
    assertEquals(JobState.QUEUED, status(coordinator, "job-1").state());

    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    InitializeModel init = expectWorkerMessage(worker, InitializeModel.class);
    assertEquals("job-1", init.jobId());
    assertEquals(JobState.QUEUED, status(coordinator, "job-2").state());
    init.replyTo().tell(StatusReply.error("no data"));
    expectWorkerMessage(worker, InitializeModel.class).replyTo().tell(StatusReply.error("no data"));
    expectWorkerMessage(worker, InitializeModel.class).replyTo().tell(StatusReply.error("no data"));
    awaitState(coordinator, "job-1", JobState.FAILED);

    // The next job starts once the first one has ended.
    InitializeModel next = expectWorkerMessage(worker, InitializeModel.class);
    assertEquals("job-2", next.jobId());
    TestProbe<JobList> list = testKit.createTestProbe();
    coordinator.tell(new ListJobs(list.getRef()));
    assertEquals(
        List.of(JobState.FAILED, JobState.INITIALIZING),
        list.receiveMessage(TIMEOUT).jobs().stream().map(JobStatus::state).toList());
  }

  @Test
  void aRespawnedCoordinatorContinuesWhereTheLastOneStopped() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    JobSpec spec = spec(4, 2, 4, 1);
    submit(coordinator, spec);
    expectWorkerMessage(worker, InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 100, 4, data(12))));
    assertEquals(new SetAccumulation(JOB, 0, 1, 2), expectWorkerMessage(worker, SetAccumulation.class));
    Lease first = requestLease(coordinator, worker);
    Lease second = grantedLease(complete(coordinator, worker, first.leaseId(), 4, 3.0));
    assertEquals(1, second.split().index());
    JobStatus before = status(coordinator, JOB);

    testKit.stop(coordinator, TIMEOUT);
    ActorRef<Command> respawned = spawnCoordinator();

    JobStatus after = status(respawned, JOB);
    assertEquals(JobState.RUNNING, after.state());
    assertEquals(before.samplesDone(), after.samplesDone());
    assertEquals(before.splitsDone(), after.splitsDone());
    assertEquals(before.samplesTotal(), after.samplesTotal());
    assertEquals(before.membershipEpoch(), after.membershipEpoch());
    assertEquals(before.recentLoss(), after.recentLoss(), 1e-12);
    assertEquals(4, after.samplesDone());
    assertEquals(1, after.splitsDone());
    // What was sent to workers is not journaled, so the new incarnation tells them again.
    assertEquals(new SetAccumulation(JOB, 0, 1, 2), expectWorkerMessage(worker, SetAccumulation.class));

    // Split 1 is still leased: the next lease is the first pending split, under a fresh id.
    Lease third = requestLease(respawned, worker);
    assertEquals(new Split(0, 2, 8, 12), third.split());
    assertEquals(3, third.leaseId());
    assertEquals(2, third.accumulationSteps());

    // A lease granted before the restart is still honoured.
    NoLease nothingLeft = assertInstanceOf(NoLease.class, complete(respawned, worker, second.leaseId(), 4, 3.0));
    assertTrue(nothingLeft.reason().contains("leased or done"), nothingLeft.reason());
    assertEquals(2, status(respawned, JOB).splitsDone());
    assertInstanceOf(NoLease.class, complete(respawned, worker, third.leaseId(), 4, 3.0));

    expectWorkerMessage(worker, Evaluate.class)
        .replyTo()
        .tell(StatusReply.success(new EvaluationReport(JOB, 0, 4, 4, 0.1, 3)));
    JobStatus done = awaitState(respawned, JOB, JobState.COMPLETED);
    assertEquals(12, done.samplesDone());
    assertEquals(List.of(new MemberResult(0, "m0", 4, 1.0)), done.results());
    assertEquals(1, done.lastCheckpointId());
  }
}
