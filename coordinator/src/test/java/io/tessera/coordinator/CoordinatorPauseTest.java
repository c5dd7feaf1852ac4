package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.pattern.StatusReply;
import io.tessera.protocol.coordinator.AdminProtocol.CancelJob;
import io.tessera.protocol.coordinator.AdminProtocol.CheckpointInfo;
import io.tessera.protocol.coordinator.AdminProtocol.CheckpointRestored;
import io.tessera.protocol.coordinator.AdminProtocol.JobsChanged;
import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol.RewindTo;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.worker.WorkerProtocol.InitializeModel;
import io.tessera.protocol.worker.WorkerProtocol;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The operators' job commands of {@link AdminProtocol}: a paused job gives up its turn (leases
 * end, shards stop, the next job runs) and, resumed, goes on from its newest checkpoint; a running
 * job goes back to a chosen checkpoint; what a job's state does not allow is refused with the
 * reason. Each acknowledged command is journaled and audited.
 */
class CoordinatorPauseTest extends CoordinatorFixture {
  private static final Set<String> BOTH_SHARDS =
      Set.of(ShardProtocol.entityId(JOB, 0, 0), ShardProtocol.entityId(JOB, 0, 1));

  private <T> StatusReply<T> ask(ActorRef<Command> coordinator, Function<ActorRef<StatusReply<T>>, Command> command) {
    TestProbe<StatusReply<T>> reply = testKit.createTestProbe();
    coordinator.tell(command.apply(reply.getRef()));
    return reply.receiveMessage(TIMEOUT);
  }

  private StatusReply<JobsChanged> pause(ActorRef<Command> coordinator, String jobId) {
    return ask(coordinator, replyTo -> new AdminProtocol.PauseJob(jobId, replyTo));
  }

  private StatusReply<JobsChanged> resume(ActorRef<Command> coordinator, String jobId) {
    return ask(coordinator, replyTo -> new AdminProtocol.ResumeJob(jobId, replyTo));
  }

  private StatusReply<CheckpointRestored> restore(ActorRef<Command> coordinator, String jobId, long checkpointId) {
    return ask(coordinator, replyTo -> new AdminProtocol.RestoreCheckpoint(jobId, checkpointId, replyTo));
  }

  private List<CheckpointInfo> checkpoints(ActorRef<Command> coordinator, String jobId) {
    StatusReply<AdminProtocol.CheckpointList> reply =
        ask(coordinator, replyTo -> new AdminProtocol.ListCheckpoints(jobId, replyTo));
    return reply.getValue().checkpoints();
  }

  /** Acks {@code lease} and returns the next one. */
  private Lease next(ActorRef<Command> coordinator, TestProbe<WorkerProtocol.Command> worker, Lease lease) {
    return grantedLease(complete(coordinator, worker, lease.leaseId(), 4, 4.0));
  }

  @Test
  void aPausedJobGivesUpItsTurnAndResumedGoesOnFromItsNewestCheckpoint() {
    ActorRef<Command> coordinator = spawnCoordinator();
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    startJob(coordinator, worker, spec(4, 2, 4, 1), 16);
    Lease first = requestLease(coordinator, worker);
    Lease second = next(coordinator, worker, first);
    assertEquals(1, requestCheckpoint(coordinator));
    Lease third = next(coordinator, worker, second);
    assertEquals(4, awaitCheckpoint(coordinator, 1).splitsDone());
    Lease fourth = next(coordinator, worker, third);
    assertEquals(12, status(coordinator, JOB).samplesDone());
    assertEquals("job-2", submit(coordinator, spec(4, 2, 4, 1)));

    assertEquals(List.of(JOB), pause(coordinator, JOB).getValue().jobIds());

    assertEquals(JOB, expectSkippingPlans(worker, WorkerProtocol.AbandonJob.class).jobId());
    JobStatus paused = status(coordinator, JOB);
    assertEquals(JobState.PAUSED, paused.state());
    assertEquals(12, paused.samplesDone(), "the ledgers are kept as they were");
    awaitAssert(() -> assertEquals(BOTH_SHARDS, shards.shardsThatSaw(c -> c == ShardProtocol.StopShard.INSTANCE)));
    // A shard woken meanwhile (by a push that was on its way) serves its newest checkpoint read-only.
    ShardRecoveryPlan whilePaused = resolveRecovery(coordinator, JOB, 0, 1);
    assertTrue(whilePaused.finished(), whilePaused.toString());
    assertEquals(1, whilePaused.checkpointId());
    // The lease it held is void.
    assertInstanceOf(NoLease.class, complete(coordinator, worker, fourth.leaseId(), 4, 4.0));
    assertEquals(12, status(coordinator, JOB).samplesDone());
    // The queue moves on while it is paused.
    InitializeModel other = expectSkippingPlans(worker, InitializeModel.class);
    assertEquals("job-2", other.jobId());

    assertEquals(List.of(JOB), resume(coordinator, JOB).getValue().jobIds());
    assertEquals(JobState.QUEUED, status(coordinator, JOB).state(), "it waits for the job that has the turn");
    assertEquals(
        List.of("job-2"),
        this.<io.tessera.protocol.coordinator.CoordinatorProtocol.JobCancelled>ask(
                coordinator, replyTo -> new CancelJob("job-2", replyTo))
            .getValue()
            .jobIds());

    // Its turn: every shard goes back to checkpoint 1 in a new epoch, then training goes on.
    awaitAssert(() -> assertEquals(BOTH_SHARDS, shards.shardsThatSaw(c -> c.equals(new RewindTo(1)))));
    JobStatus running = awaitState(coordinator, JOB, JobState.RUNNING);
    assertEquals(1, running.recoveryEpoch());
    assertEquals(8, running.samplesDone(), "what was trained after the checkpoint is trained again");
    assertEquals(1, running.lastCheckpointId());
    Lease again = requestLease(coordinator, worker);
    assertEquals(4, again.split().index());

    List<String> audited = auditLog(coordinator).stream().map(AuditRecord::command).toList();
    assertEquals(List.of("submit", "checkpoint", "submit", "pause", "resume", "cancel"), audited);

    // Journaled: a respawned coordinator is where this one was.
    testKit.stop(coordinator, TIMEOUT);
    JobStatus recovered = status(spawnCoordinator(), JOB);
    assertEquals(JobState.RUNNING, recovered.state());
    assertEquals(1, recovered.recoveryEpoch());
  }

  @Test
  void aRunningJobIsRestoredToAnEarlierCheckpointAndTheNewerOnesAreDropped() {
    ActorRef<Command> coordinator = spawnCoordinator();
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    startJob(coordinator, worker, spec(4, 2, 4, 1), 32);
    Lease lease = next(coordinator, worker, requestLease(coordinator, worker));
    assertEquals(1, requestCheckpoint(coordinator));
    lease = next(coordinator, worker, lease);
    awaitCheckpoint(coordinator, 1);
    lease = next(coordinator, worker, lease);
    assertEquals(2, requestCheckpoint(coordinator));
    lease = next(coordinator, worker, lease);
    assertEquals(8, awaitCheckpoint(coordinator, 2).splitsDone());

    List<CheckpointInfo> listed = checkpoints(coordinator, JOB);
    assertEquals(List.of(0L, 1L, 2L), listed.stream().map(CheckpointInfo::checkpointId).toList());
    assertEquals(List.of(0L, 4L, 8L), listed.stream().map(CheckpointInfo::splitsDone).toList());
    listed.forEach(c -> assertEquals(16, c.splitsTotal()));
    listed.forEach(c -> assertEquals(2, c.shards()));
    assertTrue(listed.get(1).startedAtMillis() <= listed.get(2).startedAtMillis(), listed::toString);

    shards.holdEpochConfirmations();
    CheckpointRestored restored = restore(coordinator, JOB, 1).getValue();
    assertEquals(new CheckpointRestored(JOB, 1, List.of(2L)), restored);
    JobStatus recovering = status(coordinator, JOB);
    assertEquals(JobState.RECOVERING, recovering.state());
    assertEquals(1, recovering.recoveryEpoch());
    assertEquals(8, recovering.samplesDone(), "back to checkpoint 1's cut: 4 splits of 2 samples");
    assertEquals(1, recovering.lastCheckpointId());
    assertInstanceOf(NoLease.class, complete(coordinator, worker, lease.leaseId(), 4, 4.0), "leases out are void");
    awaitAssert(() -> assertEquals(BOTH_SHARDS, shards.shardsThatSaw(c -> c.equals(new RewindTo(1)))));
    shards.release();
    awaitState(coordinator, JOB, JobState.RUNNING);
    assertEquals(List.of(0L, 1L), checkpoints(coordinator, JOB).stream().map(CheckpointInfo::checkpointId).toList());
    assertEquals(4, requestLease(coordinator, worker).split().index());

    StatusReply<CheckpointRestored> missing = restore(coordinator, JOB, 2);
    assertEquals("job-1 has no checkpoint 2; it has [0, 1]", missing.getError().getMessage());
    AuditRecord audit = auditLog(coordinator).get(auditLog(coordinator).size() - 1);
    assertEquals("restore", audit.command());
    assertEquals("job-1 to checkpoint 1", audit.detail());
  }

  @Test
  void aMembersLearningRateIsSetFromItsNextLeaseAndKeptAcrossARestart() {
    ActorRef<Command> coordinator = spawnCoordinator();
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    io.tessera.protocol.spec.JobSpec spec = spec(4, 2, 4, 1);
    startJob(coordinator, worker, spec, 32);
    Lease before = requestLease(coordinator, worker);
    assertEquals(1.0, before.rule().learningRateScale());
    double specified = spec.optimizerOf(0).learningRate();

    StatusReply<AdminProtocol.LearningRateSet> set =
        ask(coordinator, replyTo -> new AdminProtocol.SetLearningRate(JOB, 0, specified / 4, replyTo));
    assertEquals(new AdminProtocol.LearningRateSet(JOB, 0, specified / 4, 0.25), set.getValue());
    assertEquals(0.25, next(coordinator, worker, before).rule().learningRateScale(), 1e-12);

    for (double bad : new double[] {0, -1e-3, Double.NaN, Double.POSITIVE_INFINITY, specified * 5_000}) {
      StatusReply<AdminProtocol.LearningRateSet> refused =
          ask(coordinator, replyTo -> new AdminProtocol.SetLearningRate(JOB, 0, bad, replyTo));
      assertTrue(refused.getError().getMessage().startsWith("learning rate must be a positive number"), () -> "" + bad);
    }
    StatusReply<AdminProtocol.LearningRateSet> noMember =
        ask(coordinator, replyTo -> new AdminProtocol.SetLearningRate(JOB, 3, specified, replyTo));
    assertEquals("job-1 has no member 3; its members are 0..0", noMember.getError().getMessage());
    AuditRecord audit = auditLog(coordinator).get(auditLog(coordinator).size() - 1);
    assertEquals("learning-rate", audit.command());
    assertEquals("job-1 member 0: " + specified / 4, audit.detail());

    testKit.stop(coordinator, TIMEOUT);
    ActorRef<Command> respawned = spawnCoordinator();
    assertEquals(0.25, requestLease(respawned, worker).rule().learningRateScale(), 1e-12, "journaled");
  }

  @Test
  void whatAJobsStateDoesNotAllowIsRefusedWithTheReason() {
    ActorRef<Command> coordinator = spawnCoordinator();
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    assertEquals(JOB, submit(coordinator, spec(4, 2, 4, 1)));
    expectWorkerMessage(worker, InitializeModel.class); // not answered: the job stays initialising

    assertEquals(
        "nothing to pause: job-1 is INITIALIZING; only queued, running or recovering jobs can be",
        pause(coordinator, JOB).getError().getMessage());
    assertEquals(
        "nothing to resume: job-1 is INITIALIZING; only paused jobs can be",
        resume(coordinator, JOB).getError().getMessage());
    assertEquals(
        "cannot restore job-1 while it is INITIALIZING; only a running, recovering or paused job can go back to a"
            + " checkpoint",
        restore(coordinator, JOB, 0).getError().getMessage());
    assertEquals("no job job-9", pause(coordinator, "job-9").getError().getMessage());
    StatusReply<AdminProtocol.CheckpointList> unknown =
        ask(coordinator, replyTo -> new AdminProtocol.ListCheckpoints("job-9", replyTo));
    assertEquals("no job job-9", unknown.getError().getMessage());
    assertEquals(List.of(), checkpoints(coordinator, JOB), "none before it runs");
    assertEquals(
        List.of("submit"), auditLog(coordinator).stream().map(AuditRecord::command).toList(),
        "refusals are not audited");
  }

  @Test
  void aStageWaitsForAPausedStageItReadsInsteadOfFailing() {
    ActorRef<Command> coordinator = spawnCoordinator(); // no worker yet: nothing leaves the queue
    PipelineSpec pipeline =
        JobSpecParser.parsePipeline(
            "name = p, epochs = 1, stages = [ { name = pretrain, kind = mae-pretrain },"
                + " { name = probe, kind = linear-probe, from = pretrain } ]");
    List<String> stages = submitPipeline(coordinator, pipeline).jobIds();
    assertEquals(List.of("job-1.pretrain"), pause(coordinator, "job-1.pretrain").getValue().jobIds());

    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    // Neither stage starts: the probe waits for the stage it reads.
    worker.expectNoMessage(Duration.ofMillis(500));
    assertEquals(JobState.QUEUED, status(coordinator, "job-1.probe").state());

    assertEquals(List.of("job-1.pretrain"), resume(coordinator, "job-1").getValue().jobIds(), "only the paused one");
    assertEquals("job-1.pretrain", expectSkippingPlans(worker, InitializeModel.class).jobId());
    assertEquals(stages, List.of("job-1.pretrain", "job-1.probe"));
  }
}
