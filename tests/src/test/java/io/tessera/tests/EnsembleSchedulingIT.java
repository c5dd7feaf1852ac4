package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Ensemble members train concurrently on one worker pool: a stage of three members on two workers
 * completes every member; the coordinator gives each active member a share of the workers and
 * re-divides when a member completes; and each member's shards only ever see pushes from workers
 * the member's plans assigned to it.
 */
class EnsembleSchedulingIT {
  private static final int MEMBERS = 3;

  @Test
  void threeMembersOnTwoWorkersAllCompleteAndKeepToTheirWorkers() {
    JobSpec spec =
        JobSpecParser.parse(TestJobs.with(TestJobs.subsetSpecText(2, "async", 1536, 300), "ensemble-size", MEMBERS));
    assertEquals(MEMBERS, spec.members().size());

    try (TestCluster cluster = TestCluster.start("coordinator", "ps")) {
      cluster.addNode("worker");
      cluster.addNode("worker");
      String jobId = cluster.submit(spec);
      JobStatus done = cluster.awaitFinished(jobId, Duration.ofMinutes(5));

      assertEquals(JobState.COMPLETED, done.state(), () -> "job failed: " + done.failure());
      assertEquals(done.splitsTotal(), done.splitsDone());
      assertEquals(MEMBERS * 2L * 1536, done.samplesDone(), "every member trained every sample of its epochs");
      assertEquals(MEMBERS, done.results().size());
      for (MemberResult result : done.results()) {
        assertTrue(result.testAccuracy() > 0.3, "member " + result.name() + " learned nothing: " + result);
      }

      AccumulationHistory history = cluster.accumulationHistory(jobId);
      // Two workers, three members: at first two members train and the third waits; once one
      // finishes, the third gets a worker.
      AccumulationPlan firstOfLast = firstPlanWithWorkers(history, MEMBERS - 1);
      assertFalse(firstOfLast == null, "the third member never got a worker: " + history.plans());
      for (int member = 0; member < MEMBERS; member++) {
        Set<String> assigned = assignedTo(history, member);
        assertFalse(assigned.isEmpty(), "member " + member + " never had a worker");
        for (int shard = 0; shard < spec.shards(); shard++) {
          ShardStatus status = cluster.shardStatus(jobId, member, shard);
          assertFalse(status.pushers().isEmpty(), "member " + member + " shard " + shard + " saw no push");
          assertTrue(
              assigned.containsAll(status.pushers()),
              "member " + member + " shard " + shard + " took pushes from " + status.pushers()
                  + " but only " + assigned + " were assigned to it");
        }
        for (AccumulationPlan plan : history.plans()) {
          if (plan.member() == member && !plan.shares().isEmpty()) {
            assertEquals(history.globalBatch(), plan.totalMicroBatches() * history.microBatch(), "plan " + plan);
          }
        }
      }
    }
  }

  private static AccumulationPlan firstPlanWithWorkers(AccumulationHistory history, int member) {
    for (AccumulationPlan plan : history.plans()) {
      if (plan.member() == member && !plan.shares().isEmpty()) {
        return plan;
      }
    }
    return null;
  }

  private static Set<String> assignedTo(AccumulationHistory history, int member) {
    Set<String> workers = new HashSet<>();
    for (AccumulationPlan plan : history.plans()) {
      if (plan.member() == member) {
        plan.shares().stream().filter(s -> s.accumulationSteps() > 0).map(WorkerShare::workerId).forEach(workers::add);
      }
    }
    return workers;
  }
}
