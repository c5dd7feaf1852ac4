package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.pattern.StatusReply;
import io.tessera.protocol.coordinator.AdminProtocol.CancelJob;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobCancelled;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.worker.WorkerProtocol.InitializeModel;
import io.tessera.protocol.worker.WorkerProtocol;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Cancelling jobs: a running job's leases end, its shards stop and the next job starts; a queued
 * job or a whole pipeline is cancelled before it runs; the cancel is journaled and audited, so it
 * survives a restart; what cannot be cancelled is refused with the reason.
 */
class CoordinatorCancelTest extends CoordinatorFixture {
  private static final Set<String> BOTH_SHARDS =
      Set.of(ShardProtocol.entityId(JOB, 0, 0), ShardProtocol.entityId(JOB, 0, 1));

  private StatusReply<JobCancelled> cancel(ActorRef<Command> coordinator, String jobId) {
    TestProbe<StatusReply<JobCancelled>> reply = testKit.createTestProbe();
    coordinator.tell(new CancelJob(jobId, reply.getRef()));
    return reply.receiveMessage(TIMEOUT);
  }

  @Test
  void aRunningJobIsCancelledItsLeasesEndItsShardsStopAndTheNextJobStarts() {
    ActorRef<Command> coordinator = spawnCoordinator();
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    startJob(coordinator, worker, spec(4, 2, 4, 50), 8);
    assertEquals("job-2", submit(coordinator, spec(4, 2, 4, 1)));
    Lease held = requestLease(coordinator, worker);

    assertEquals(List.of(JOB), cancel(coordinator, JOB).getValue().jobIds());

    WorkerProtocol.AbandonJob abandon = expectSkippingPlans(worker, WorkerProtocol.AbandonJob.class);
    assertEquals(JOB, abandon.jobId());
    JobStatus cancelled = status(coordinator, JOB);
    assertEquals(JobState.CANCELLED, cancelled.state());
    assertEquals("cancelled by an operator while RUNNING", cancelled.failure());
    awaitAssert(() -> assertEquals(BOTH_SHARDS, shards.shardsThatSaw(c -> c == ShardProtocol.StopShard.INSTANCE)));

    // The lease it held is void: its completion acks nothing of the cancelled job.
    NoLease late = assertInstanceOf(NoLease.class, complete(coordinator, worker, held.leaseId(), 4, 4.0));
    assertFalse(late.describe().isEmpty());
    assertTrue(journal.events(CoordinatorEvent.SplitCompleted.class).isEmpty(), journal.events().toString());

    // The queue moves on.
    InitializeModel next = expectSkippingPlans(worker, InitializeModel.class);
    assertEquals("job-2", next.jobId());

    AuditRecord audit = auditLog(coordinator).get(auditLog(coordinator).size() - 1);
    assertEquals("cancel", audit.command());
    assertEquals(JOB, audit.detail());
    awaitEvent(CoordinatorEvent.JobArchived.class, e -> e.jobId().equals(JOB));
    // Its shards, started again to be read, serve the last checkpoint read-only.
    ShardRecoveryPlan plan = resolveRecovery(coordinator, JOB, 0, 1);
    assertTrue(plan.finished(), plan.toString());
    assertEquals(0, plan.checkpointId());

    // Journaled: a respawned coordinator knows the job was cancelled.
    testKit.stop(coordinator, TIMEOUT);
    ActorRef<Command> respawned = spawnCoordinator();
    JobStatus recovered = status(respawned, JOB);
    assertEquals(JobState.CANCELLED, recovered.state());
    assertEquals(cancelled.samplesDone(), recovered.samplesDone());
  }

  @Test
  void aQueuedJobAndEveryUnfinishedStageOfAPipelineCanBeCancelledOnce() {
    ActorRef<Command> coordinator = spawnCoordinator(); // no worker: nothing leaves the queue
    assertEquals(JOB, submit(coordinator, spec(4, 2, 4, 1)));
    PipelineSpec pipeline =
        JobSpecParser.parsePipeline(
            "name = p, epochs = 1, stages = [ { name = pretrain, kind = mae-pretrain },"
                + " { name = probe, kind = linear-probe, from = pretrain } ]");
    List<String> stages = submitPipeline(coordinator, pipeline).jobIds();
    assertEquals(List.of("job-2.pretrain", "job-2.probe"), stages);

    assertEquals(List.of(JOB), cancel(coordinator, JOB).getValue().jobIds());
    assertEquals(JobState.CANCELLED, status(coordinator, JOB).state());
    assertEquals("cancelled by an operator while QUEUED", status(coordinator, JOB).failure());

    assertEquals(stages, cancel(coordinator, "job-2").getValue().jobIds(), "a pipeline's id cancels every stage");
    stages.forEach(id -> assertEquals(JobState.CANCELLED, status(coordinator, id).state()));

    StatusReply<JobCancelled> again = cancel(coordinator, JOB);
    assertTrue(again.isError());
    assertEquals(
        "nothing to cancel: job-1 is CANCELLED; only queued or running jobs can be", again.getError().getMessage());
    StatusReply<JobCancelled> unknown = cancel(coordinator, "job-9");
    assertTrue(unknown.isError());
    assertEquals("no job job-9", unknown.getError().getMessage());

    List<String> audited = auditLog(coordinator).stream().map(AuditRecord::command).toList();
    assertEquals(List.of("submit", "submit", "cancel", "cancel"), audited, "refusals are not audited");
  }

  @Test
  void aCancelledStageFailsTheStagesThatReadIt() {
    ActorRef<Command> coordinator = spawnCoordinator();
    PipelineSpec pipeline =
        JobSpecParser.parsePipeline(
            "name = p, epochs = 1, stages = [ { name = pretrain, kind = mae-pretrain },"
                + " { name = probe, kind = linear-probe, from = pretrain } ]");
    submitPipeline(coordinator, pipeline);
    cancel(coordinator, "job-1.pretrain");
    TestProbe<WorkerProtocol.Command> worker = registerWorker("worker-0");
    JobStatus probe = awaitState(coordinator, "job-1.probe", JobState.FAILED);
    assertTrue(probe.failure().contains("job-1.pretrain"), probe.failure());
    assertTrue(probe.failure().contains("CANCELLED"), probe.failure());
    worker.expectNoMessage(java.time.Duration.ofMillis(300)); // neither stage was set up
  }

  @Test
  void aJobThatNeverLeftTheQueueHasNoShardsToStop() {
    ActorRef<Command> coordinator = spawnCoordinator();
    JobSpec spec = spec(4, 2, 4, 1);
    submit(coordinator, spec);
    cancel(coordinator, JOB);
    awaitEvent(CoordinatorEvent.JobArchived.class, e -> e.jobId().equals(JOB));
    // Telling its shards to stop would start each of them only to stop again.
    TestProbe<Object> idle = testKit.createTestProbe();
    idle.expectNoMessage(java.time.Duration.ofMillis(300));
    assertEquals(Set.of(), shards.shardsThatSaw(c -> true));
  }
}
