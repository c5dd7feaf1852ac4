package io.tessera.coordinator;

import io.tessera.protocol.worker.WorkerProtocol.StageInputs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.receptionist.Receptionist;
import akka.pattern.StatusReply;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.protocol.coordinator.AdminProtocol.GetAccumulationHistory;
import io.tessera.protocol.coordinator.AdminProtocol.GetJobStatus;
import io.tessera.protocol.coordinator.AdminProtocol.ListJobs;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.DrainCompleted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.DrainStarted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.GlobalBatchSet;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobList;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLeaseReason;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ReleaseLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import io.tessera.protocol.coordinator.CoordinatorProtocol.TrainingCurve;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerInfo;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.MemberSpec;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.protocol.worker.WorkerProtocol.Evaluate;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import io.tessera.protocol.worker.WorkerProtocol.InitializeModel;
import io.tessera.protocol.worker.WorkerProtocol.ModelInitialized;
import io.tessera.protocol.worker.WorkerProtocol.SetAccumulation;
import io.tessera.protocol.worker.WorkerProtocol;
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

    // A lease is split-size samples: two micro-batch splits.
    Lease first = requestLease(coordinator, worker);
    assertEquals(new Lease(1, JOB, 0, 1, new Split(0, 0, 0, 4), 2, 8, spec, new StepRule(4, 1.0, -1, -1), StageInputs.NONE, "fp-8"), first);

    Lease second = grantedLease(complete(coordinator, worker, first.leaseId(), 4, 8.0));
    assertEquals(new Lease(2, JOB, 0, 1, new Split(0, 2, 4, 8), 2, 8, spec, new StepRule(4, 1.0, -1, -1), StageInputs.NONE, "fp-8"), second);
    JobStatus halfway = status(coordinator, JOB);
    assertEquals(JobState.RUNNING, halfway.state());
    assertEquals(4, halfway.samplesDone());
    assertEquals(8, halfway.samplesTotal());
    assertEquals(2, halfway.splitsDone());
    assertEquals(4, halfway.splitsTotal());
    assertEquals(2.0, halfway.recentLoss(), 1e-12);

    NoLease none = assertInstanceOf(NoLease.class, complete(coordinator, worker, second.leaseId(), 4, 4.0));
    assertEquals(JobState.EVALUATING, assertInstanceOf(NoLeaseReason.JobNotLeasing.class, none.reason()).state(), none.describe());

    Evaluate evaluate = expectWorkerMessage(worker, Evaluate.class);
    assertEquals(JOB, evaluate.jobId());
    assertEquals(0, evaluate.member());
    assertEquals(spec, evaluate.spec());
    evaluate.replyTo().tell(StatusReply.success(new EvaluationReport(JOB, 0, 4, 3, 0.41, 2, 0, 0)));

    JobStatus done = awaitState(coordinator, JOB, JobState.COMPLETED);
    assertEquals(List.of(new MemberResult(0, "m0", 4, 0.75, 0.41, Double.NaN)), done.results());
    assertEquals(8, done.samplesDone());
    assertEquals(4, done.splitsDone());
    assertEquals(4, done.splitsTotal());
    assertEquals(1, done.liveWorkers());
    assertEquals(1, done.membershipEpoch());
    assertEquals(0.7 * 2.0 + 0.3 * 1.0, done.recentLoss(), 1e-12);
    assertEquals("", done.failure());
    assertEquals("fmnist-tiny", done.name());
    assertEquals(1, done.lastCheckpointId(), "the final checkpoint is taken before evaluating");
    assertEquals(0, done.recoveryEpoch());

    NoLease idle = assertInstanceOf(NoLease.class, askLease(coordinator, worker));
    assertEquals(new NoLeaseReason.NoJobRunning(), idle.reason());
    assertEquals("no job is running", idle.describe());
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
    assertEquals(new Split(0, 2, 4, 8), leaseOfSecond.split());
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

    // The departed worker's run is the lowest pending one, so it goes out next, with the new k.
    Lease taken = grantedLease(complete(coordinator, first, leaseOfFirst.leaseId(), 4, 6.0));
    assertEquals(leaseOfSecond.split(), taken.split());
    assertEquals(4, taken.accumulationSteps());
    assertEquals(3, taken.membershipEpoch());
    assertEquals(3, taken.leaseId());

    // The departed worker finishes its old lease after all: it is not counted twice.
    NoLease late = assertInstanceOf(NoLease.class, complete(coordinator, second, leaseOfSecond.leaseId(), 4, 6.0));
    assertEquals(new NoLeaseReason.NotListed(), late.reason());
    assertEquals(2, status(coordinator, JOB).splitsDone());

    Lease third = grantedLease(complete(coordinator, first, taken.leaseId(), 4, 6.0));
    Lease fourth = grantedLease(complete(coordinator, first, third.leaseId(), 4, 6.0));
    assertEquals(List.of(4, 6), List.of(third.split().index(), fourth.split().index()));
    assertInstanceOf(NoLease.class, complete(coordinator, first, fourth.leaseId(), 4, 6.0));
    assertEquals(8, status(coordinator, JOB).splitsDone());

    AccumulationHistory history = history(coordinator, JOB);
    assertEquals(8, history.globalBatch());
    assertEquals(2, history.microBatch());
    assertEquals(
        List.of(
            new AccumulationPlan(2, 0, 8, List.of(share(first, 2), share(second, 2))),
            new AccumulationPlan(3, 0, 8, List.of(share(first, 4)))),
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
    assertEquals(2, survivorLease.split().index());

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
    assertEquals(2, forLate.split().index(), "the early worker still holds splits 0 and 1");
    assertEquals(2, forLate.accumulationSteps());
    assertEquals(2, forLate.membershipEpoch());
    Lease forEarly = grantedLease(complete(coordinator, early, before.leaseId(), 4, 2.0));
    assertEquals(2, forEarly.accumulationSteps());
    assertEquals(4, forEarly.split().index());

    assertEquals(
        List.of(
            new AccumulationPlan(1, 0, 8, List.of(share(early, 4))),
            new AccumulationPlan(2, 0, 8, List.of(share(sorted.get(0), 2), share(sorted.get(1), 2)))),
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
    assertEquals(8, running.splitsTotal(), "4 micro-batch splits per member");
    AccumulationHistory history = history(coordinator, JOB);
    assertEquals(
        List.of(
            new AccumulationPlan(2, 0, 4, List.of(share(sorted.get(0), 2))),
            new AccumulationPlan(2, 1, 4, List.of(share(sorted.get(1), 2)))),
        history.plans());
  }

  @Test
  void leaseRequestsFromUnknownWorkersAndLateAcksAreTolerated() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    TestProbe<WorkerProtocol.Command> stranger = testKit.createTestProbe("stranger");
    ActorRef<Command> coordinator = spawnCoordinator();

    NoLease unknown = assertInstanceOf(NoLease.class, askLease(coordinator, stranger));
    assertEquals(new NoLeaseReason.NotListed(), unknown.reason());
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

    // The same ack again, as a new ask: it acks nothing more. The worker sends it again only when
    // it got no answer, so the lease the first one was answered with is taken back and goes out
    // again under a new id.
    Lease next = grantedLease(complete(coordinator, worker, lease.leaseId(), 4, 1.0));
    assertEquals(2, next.split().index());
    Lease again = grantedLease(complete(coordinator, worker, lease.leaseId(), 4, 1.0));
    assertEquals(next.split(), again.split());
    assertTrue(again.leaseId() > next.leaseId(), again + " after " + next);
    assertEquals(2, status(coordinator, JOB).splitsDone());
    assertEquals(4, status(coordinator, JOB).samplesDone());

    // A worker outside the listing reporting a lease nobody holds gets an answer, and no work.
    NoLease stillUnknown = assertInstanceOf(NoLease.class, complete(coordinator, stranger, 4242, 4, 1.0));
    assertEquals(new NoLeaseReason.NotListed(), stillUnknown.reason());
    assertEquals(2, status(coordinator, JOB).splitsDone());
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
      assertEquals(0, lease.split().index(), "a released run is the next one out");
      assertEquals(new Split(0, 0, 0, 4), lease.split(), "as it was");
      assertTrue(lease.leaseId() > previous, "every lease has a new id");
      previous = lease.leaseId();
      coordinator.tell(new ReleaseLease(worker.getRef(), lease.leaseId(), "CUDA out of memory #" + attempt, true));
    }

    NoLease benched = assertInstanceOf(NoLease.class, askLease(coordinator, worker));
    assertEquals(new NoLeaseReason.BackingOff(3), benched.reason());
    assertEquals(0, status(coordinator, JOB).splitsDone());
  }

  @Test
  void aLeaseGivenBackWithoutAFailureDoesNotCountAgainstTheWorker() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(4, 2, 4, 1), 12);

    for (int attempt = 1; attempt <= 4; attempt++) {
      Lease lease = requestLease(coordinator, worker);
      assertEquals(0, lease.split().index());
      coordinator.tell(new ReleaseLease(worker.getRef(), lease.leaseId(), "overtaken #" + attempt, false));
    }
    Lease stillServed = requestLease(coordinator, worker);
    assertEquals(0, stillServed.split().index());

    // A failure after a success starts the count again.
    coordinator.tell(new ReleaseLease(worker.getRef(), stillServed.leaseId(), "CUDA out of memory", true));
    Lease again = requestLease(coordinator, worker);
    coordinator.tell(new ReleaseLease(worker.getRef(), again.leaseId(), "CUDA out of memory", true));
    Lease third = requestLease(coordinator, worker);
    Lease next = grantedLease(complete(coordinator, worker, third.leaseId(), 4, 1.0));
    coordinator.tell(new ReleaseLease(worker.getRef(), next.leaseId(), "CUDA out of memory", true));
    coordinator.tell(new ReleaseLease(worker.getRef(), requestLease(coordinator, worker).leaseId(), "again", true));
    assertEquals(2, requestLease(coordinator, worker).split().index(), "two failures since the ack are not three");
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
    assertEquals(2, second.split().index());
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
    assertEquals(2, after.splitsDone());
    // What was sent to workers is not journaled, so the new incarnation tells them again.
    assertEquals(new SetAccumulation(JOB, 0, 1, 2), expectWorkerMessage(worker, SetAccumulation.class));

    // A lease granted before the restart is still honoured; the next lease is the first pending
    // run, under a fresh id.
    Lease third = grantedLease(complete(respawned, worker, second.leaseId(), 4, 3.0));
    assertEquals(4, status(respawned, JOB).splitsDone());
    assertEquals(new Split(0, 4, 8, 12), third.split());
    assertEquals(3, third.leaseId());
    assertEquals(2, third.accumulationSteps());
    assertInstanceOf(NoLease.class, complete(respawned, worker, third.leaseId(), 4, 3.0));

    expectWorkerMessage(worker, Evaluate.class)
        .replyTo()
        .tell(StatusReply.success(new EvaluationReport(JOB, 0, 4, 4, 0.1, 3, 0, 0)));
    JobStatus done = awaitState(respawned, JOB, JobState.COMPLETED);
    assertEquals(12, done.samplesDone());
    assertEquals(List.of(new MemberResult(0, "m0", 4, 1.0, 0.1, Double.NaN)), done.results());
    assertEquals(1, done.lastCheckpointId());
  }

  // ------------------------------------------------------------------ operators: drains

  @Test
  void aDrainOfAnUnknownTargetIsAnErrorNamingIt() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, worker);

    for (String target : List.of("akka://tessera@10.9.9.9:25520/user/worker-x", "10.9.9.9:25520", " ")) {
      StatusReply<DrainStarted> reply = drain(coordinator, target);
      assertTrue(reply.isError(), target);
      String error = reply.getError().getMessage();
      assertTrue(error.contains("'" + target + "'"), error);
      assertTrue(error.contains(id(worker)), "the error lists the live workers: " + error);
    }
    assertEquals(List.of(), auditLog(coordinator), "a refused drain is not audited");
    assertEquals(List.of("idle"), workers(coordinator).stream().map(WorkerInfo::state).toList());
  }

  @Test
  void aDrainedWorkerFinishesItsLeaseLeavesThePoolAndIsNotTakenBack() {
    TestProbe<WorkerProtocol.Command> a = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> b = registerWorker("worker-b");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(a, b);
    TestProbe<WorkerProtocol.Command> stays = sorted.get(0);
    TestProbe<WorkerProtocol.Command> leaves = sorted.get(1);
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, stays, leaves);
    submit(coordinator, spec(8, 2, 4, 1));
    expectWorkerMessage(stays, InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 100, 4, data(16))));
    assertEquals(new SetAccumulation(JOB, 0, 2, 2), expectWorkerMessage(stays, SetAccumulation.class));
    assertEquals(new SetAccumulation(JOB, 0, 2, 2), expectWorkerMessage(leaves, SetAccumulation.class));
    Lease held = requestLease(coordinator, leaves);

    StatusReply<DrainStarted> started = drain(coordinator, id(leaves));

    assertEquals(new DrainStarted(List.of(id(leaves))), started.getValue());
    expectWorkerMessage(leaves, WorkerProtocol.Drain.class);
    assertEquals(new SetAccumulation(JOB, 0, 3, 4), expectWorkerMessage(stays, SetAccumulation.class));
    AuditRecord audited = auditLog(coordinator).get(auditLog(coordinator).size() - 1);
    assertEquals("drain", audited.command());
    assertEquals(id(leaves) + " (1 worker(s))", audited.detail());
    assertEquals(
        List.of(
            new WorkerInfo(id(stays), "idle", 0, 4, 0, -1),
            new WorkerInfo(id(leaves), "draining", -1, 0, 1, -1)),
        workers(coordinator));

    // It acks what it holds, then says it is done.
    NoLease done = assertInstanceOf(NoLease.class, complete(coordinator, leaves, held.leaseId(), 4, 2.0));
    assertEquals(new NoLeaseReason.Draining(), done.reason());
    assertEquals(2, status(coordinator, JOB).splitsDone());
    coordinator.tell(new DrainCompleted(leaves.getRef()));
    awaitEvent(WorkerLeft.class, left -> left.workerId().equals(id(leaves)) && left.drained());

    List<WorkerInfo> listed = workers(coordinator);
    assertEquals(List.of(id(stays), id(leaves)), listed.stream().map(WorkerInfo::workerId).toList());
    assertEquals("idle", listed.get(0).state());
    WorkerInfo drained = listed.get(1);
    assertEquals("drained", drained.state());
    assertTrue(drained.drainMillis() >= 0, drained::toString);
    awaitWorkers(coordinator, 1, 4);
    List<AccumulationPlan> plans = history(coordinator, JOB).plans();
    assertEquals(new AccumulationPlan(4, 0, 8, List.of(share(stays, 4))), plans.get(plans.size() - 1));
    assertTrue(
        plans.stream().filter(p -> p.membershipEpoch() >= 3).flatMap(p -> p.shares().stream())
            .noneMatch(sh -> sh.workerId().equals(id(leaves))),
        plans::toString);

    // A listing that still names it (it never left the Receptionist here) does not take it back.
    TestProbe<WorkerProtocol.Command> newcomer = registerWorker("worker-c");
    awaitWorkers(coordinator, 2, 5);
    assertTrue(
        workers(coordinator).stream().noneMatch(w -> w.workerId().equals(id(leaves)) && !w.state().equals("drained")));
    assertInstanceOf(NoLease.class, askLease(coordinator, leaves));
    assertTrue(history(coordinator, JOB).plans().stream()
        .anyMatch(p -> p.shares().stream().anyMatch(sh -> sh.workerId().equals(id(newcomer)))));
  }

  @Test
  void aDrainUnderWayWhenTheCoordinatorRestartsIsAskedAgainAndCompletes() {
    TestProbe<WorkerProtocol.Command> stays = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> leaves = registerWorker("worker-b");
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, stays, leaves);
    assertEquals(List.of(id(leaves)), drain(coordinator, id(leaves)).getValue().workerIds());
    expectWorkerMessage(leaves, WorkerProtocol.Drain.class);

    // The coordinator fails over before the worker is done (its Drain may have been lost).
    testKit.stop(coordinator, TIMEOUT);
    ActorRef<Command> respawned = spawnCoordinator();
    expectWorkerMessage(leaves, WorkerProtocol.Drain.class);
    stays.expectNoMessage(java.time.Duration.ofMillis(300));

    respawned.tell(new DrainCompleted(leaves.getRef()));
    awaitEvent(WorkerLeft.class, left -> left.workerId().equals(id(leaves)) && left.drained());
    WorkerInfo drained =
        workers(respawned).stream().filter(w -> w.workerId().equals(id(leaves))).findFirst().orElseThrow();
    assertEquals("drained", drained.state());
    assertTrue(drained.drainMillis() >= 0, "timed from the drain asked again: " + drained);
  }

  @Test
  void aDrainCompletedThatArrivesAfterTheListingDroppedTheWorkerStillRetiresIt() {
    TestProbe<WorkerProtocol.Command> leaves = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> stays = registerWorker("worker-b");
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, leaves, stays);
    drain(coordinator, id(leaves));
    expectWorkerMessage(leaves, WorkerProtocol.Drain.class);

    // The worker deregistered and its listing removal overtook its DrainCompleted.
    deregisterWorker(leaves);
    awaitEvent(WorkerLeft.class, left -> left.workerId().equals(id(leaves)) && !left.drained());
    coordinator.tell(new DrainCompleted(leaves.getRef()));

    awaitEvent(WorkerLeft.class, left -> left.workerId().equals(id(leaves)) && left.drained());
    WorkerInfo drained =
        workers(coordinator).stream().filter(w -> w.workerId().equals(id(leaves))).findFirst().orElseThrow();
    assertEquals("drained", drained.state());
    assertTrue(drained.drainMillis() >= 0, drained::toString);
  }

  @Test
  void aDrainingWorkerIsNotGivenAMemberToSetUp() {
    TestProbe<WorkerProtocol.Command> draining = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> other = registerWorker("worker-b");
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, draining, other);
    drain(coordinator, id(draining));
    expectWorkerMessage(draining, WorkerProtocol.Drain.class);

    submit(coordinator, spec(8, 2, 4, 1));

    expectWorkerMessage(other, InitializeModel.class);
    draining.expectNoMessage(Duration.ofMillis(500));
  }

  @Test
  void aDrainOfANodeDrainsEveryWorkerOnIt() {
    TestProbe<WorkerProtocol.Command> a = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> b = registerWorker("worker-b");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(a, b);
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, sorted.get(0), sorted.get(1));
    String node = WorkerDrains.nodeOf(id(a));
    String hostPort = node.substring(node.indexOf('@') + 1);

    DrainStarted started = drain(coordinator, hostPort).getValue();

    assertEquals(List.of(id(sorted.get(0)), id(sorted.get(1))), started.workerIds());
    expectWorkerMessage(a, WorkerProtocol.Drain.class);
    expectWorkerMessage(b, WorkerProtocol.Drain.class);
    assertEquals(List.of("draining", "draining"), workers(coordinator).stream().map(WorkerInfo::state).toList());
    // Asked again by its full address: the same workers, drained once.
    assertEquals(started, drain(coordinator, node).getValue());
    assertEquals(2, journal.events(CoordinatorEvent.WorkerDraining.class).size());
  }

  // ------------------------------------------------------------------ operators: the global batch

  @Test
  void anOperatorChangesTheGlobalBatchOfARunningJobOnly() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    startJob(coordinator, worker, spec(8, 2, 4, 1), 16);
    assertEquals("job-2", submit(coordinator, spec(8, 2, 4, 1)));

    assertEquals(
        "job job-2 is QUEUED; the global batch changes while it runs",
        setGlobalBatch(coordinator, "job-2", 16).getError().getMessage());
    assertEquals("no job job-9", setGlobalBatch(coordinator, "job-9", 16).getError().getMessage());
    for (int wrong : new int[] {7, 0, -4}) {
      String error = setGlobalBatch(coordinator, JOB, wrong).getError().getMessage();
      assertTrue(error.contains("a positive multiple of the micro-batch (2), was " + wrong), error);
    }
    String tooLarge = setGlobalBatch(coordinator, JOB, 8 * 64 + 2).getError().getMessage();
    assertTrue(tooLarge.contains("64-fold"), tooLarge);
    assertEquals(2, auditLog(coordinator).size(), "refusals are not audited");
    Lease before = requestLease(coordinator, worker);
    assertEquals(new StepRule(8, 1.0, -1, -1), before.rule());
    assertEquals(4, before.accumulationSteps());

    assertEquals(new GlobalBatchSet(JOB, 16, 2.0), setGlobalBatch(coordinator, JOB, 16).getValue());

    assertEquals(new SetAccumulation(JOB, 0, 1, 8), expectWorkerMessage(worker, SetAccumulation.class));
    AuditRecord audited = auditLog(coordinator).get(2);
    assertEquals("set-global-batch", audited.command());
    assertEquals("job-1 8 -> 16", audited.detail());
    AccumulationHistory history = history(coordinator, JOB);
    assertEquals(16, history.globalBatch());
    assertEquals(
        List.of(
            new AccumulationPlan(1, 0, 8, List.of(share(worker, 4))),
            new AccumulationPlan(1, 0, 16, List.of(share(worker, 8)))),
        history.plans());
    for (AccumulationPlan plan : history.plans()) {
      assertEquals(plan.globalBatch(), plan.totalMicroBatches() * history.microBatch(), plan::toString);
    }
    Lease after = grantedLease(complete(coordinator, worker, before.leaseId(), 4, 4.0));
    assertEquals(new StepRule(16, 2.0, -1, -1), after.rule(), "the learning rate follows linearly");
    assertEquals(8, after.accumulationSteps());
    assertEquals(List.of(), trainingCurve(coordinator, JOB, 0).getValue().stepLosses(), "no steps to tell in async");
  }

  // ------------------------------------------------------------------ sync mode

  @Test
  void theTrainingCurveOfASyncJobHasOneLossPerStep() {
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    ActorRef<Command> coordinator = spawnCoordinator();
    JobSpec spec = syncSpec(4, 2, 1);
    startJob(coordinator, worker, spec, 8);
    assertEquals(new TrainingCurve(JOB, 0, List.of()), trainingCurve(coordinator, JOB, 0).getValue());

    Lease first = requestLease(coordinator, worker);
    assertEquals(new Lease(1, JOB, 0, 1, new Split(0, 0, 0, 4), 2, 8, spec, new StepRule(4, 1.0, 0, 0), StageInputs.NONE, "fp-8"), first);
    Lease second = grantedLease(complete(coordinator, worker, first.leaseId(), 4, 8.0));
    assertEquals(new Split(0, 2, 4, 8), second.split());
    assertEquals(new StepRule(4, 1.0, 2, 2), second.rule());
    assertEquals(List.of(2.0), trainingCurve(coordinator, JOB, 0).getValue().stepLosses());

    NoLease over = assertInstanceOf(NoLease.class, complete(coordinator, worker, second.leaseId(), 4, 4.0));
    assertEquals(JobState.EVALUATING, assertInstanceOf(NoLeaseReason.JobNotLeasing.class, over.reason()).state(), over.describe());
    assertEquals(new TrainingCurve(JOB, 0, List.of(2.0, 1.0)), trainingCurve(coordinator, JOB, 0).getValue());

    assertEquals("no member 1 of job job-1", trainingCurve(coordinator, JOB, 1).getError().getMessage());
    assertEquals("no member 0 of job job-9", trainingCurve(coordinator, "job-9", 0).getError().getMessage());
    expectWorkerMessage(worker, Evaluate.class)
        .replyTo()
        .tell(StatusReply.success(new EvaluationReport(JOB, 0, 4, 4, 0.1, 2, 0, 0)));
    awaitState(coordinator, JOB, JobState.COMPLETED);
    assertEquals(List.of(2.0, 1.0), trainingCurve(coordinator, JOB, 0).getValue().stepLosses());
  }

  @Test
  void inSyncModeTheNextStepWaitsForEveryContribution() {
    TestProbe<WorkerProtocol.Command> a = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> b = registerWorker("worker-b");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(a, b);
    TestProbe<WorkerProtocol.Command> first = sorted.get(0);
    TestProbe<WorkerProtocol.Command> second = sorted.get(1);
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, first, second);
    submit(coordinator, syncSpec(8, 2, 1));
    expectWorkerMessage(first, InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 100, 4, data(16))));
    assertEquals(new SetAccumulation(JOB, 0, 2, 2), expectWorkerMessage(second, SetAccumulation.class));

    Lease ofFirst = requestLease(coordinator, first);
    Lease ofSecond = requestLease(coordinator, second);
    assertEquals(List.of(0, 2), List.of(ofFirst.split().index(), ofSecond.split().index()));
    assertEquals(new StepRule(8, 1.0, 2, 0), ofSecond.rule());

    // The first ack's answer waits at the barrier: no lease of the next step while B trains.
    TestProbe<LeaseReply> firstWaits = completeLater(coordinator, first, ofFirst.leaseId(), 4, 4.0);
    assertEquals(List.of(), trainingCurve(coordinator, JOB, 0).getValue().stepLosses());
    Lease nextOfSecond = grantedLease(complete(coordinator, second, ofSecond.leaseId(), 4, 4.0));
    assertEquals(new Split(0, 4, 8, 12), nextOfSecond.split(), "the last contribution opens the next step");
    assertEquals(new StepRule(8, 1.0, 4, 4), nextOfSecond.rule());

    // Then the held answer is a lease of the next step too.
    Lease nextOfFirst = grantedLease(firstWaits.receiveMessage(TIMEOUT));
    assertEquals(new Split(0, 6, 12, 16), nextOfFirst.split());
    assertEquals(new StepRule(8, 1.0, 6, 4), nextOfFirst.rule());
    assertEquals(List.of(1.0), trainingCurve(coordinator, JOB, 0).getValue().stepLosses());
    journal.events(SplitLeased.class).forEach(leased -> assertTrue(leased.count() == 2, leased::toString));
  }

  @Test
  void anAskHeldAtTheSyncBarrierIsAnsweredWithinTheLimitIfTheStepDoesNotMoveOn() {
    TestProbe<WorkerProtocol.Command> a = registerWorker("worker-a");
    TestProbe<WorkerProtocol.Command> b = registerWorker("worker-b");
    List<TestProbe<WorkerProtocol.Command>> sorted = sortedById(a, b);
    ActorRef<Command> coordinator = spawnCoordinator();
    awaitKnown(coordinator, sorted.get(0), sorted.get(1));
    submit(coordinator, syncSpec(8, 2, 1));
    expectWorkerMessage(sorted.get(0), InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 100, 4, data(16))));
    expectWorkerMessage(sorted.get(1), SetAccumulation.class);
    Lease first = requestLease(coordinator, sorted.get(0));
    requestLease(coordinator, sorted.get(1));

    // Its contribution is in, the other's is out, so the worker waits; it hears so before its own
    // ask would time out.
    TestProbe<LeaseReply> waits = completeLater(coordinator, sorted.get(0), first.leaseId(), first.split().size(), 1.0);
    NoLease later = assertInstanceOf(NoLease.class, waits.receiveMessage(Duration.ofSeconds(5)));
    assertInstanceOf(NoLeaseReason.AtBarrier.class, later.reason(), later.describe());
    assertTrue(later.describe().startsWith("sync barrier: "), later.describe());
    assertTrue(later.retryAfterMillis() > 0);
  }
}
