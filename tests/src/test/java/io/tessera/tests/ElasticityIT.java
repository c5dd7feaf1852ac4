package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import io.tessera.deploy.NodeGuardian;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Workers leave and join while a job runs, without a restart: a worker's ActorSystem is
 * terminated mid-run and a new one joins later. The job completes, every split is acknowledged,
 * and every accumulation plan kept the global batch.
 */
class ElasticityIT {

  @Test
  void aJobSurvivesAWorkerLeavingAndAnotherJoining() {
    try (TestCluster cluster = TestCluster.start("coordinator", "ps")) {
      cluster.addNode("worker");
      ActorSystem<NodeGuardian.Command> leaving = cluster.addNode("worker");
      String jobId = cluster.submit(TestJobs.subset(16));
      long total = 16L * 3000;

      cluster.awaitStatus(jobId, Duration.ofMinutes(2), "a quarter of the samples", s -> s.samplesDone() >= total / 4);
      cluster.stopNode(leaving);
      cluster.awaitStatus(jobId, Duration.ofMinutes(1), "one live worker", s -> s.liveWorkers() == 1);

      cluster.awaitStatus(jobId, Duration.ofMinutes(2), "half of the samples", s -> s.samplesDone() >= total / 2);
      cluster.addNode("worker");
      cluster.awaitStatus(jobId, Duration.ofMinutes(1), "two live workers", s -> s.liveWorkers() == 2);

      JobStatus done = cluster.awaitFinished(jobId, Duration.ofMinutes(5));
      assertEquals(JobState.COMPLETED, done.state(), () -> "job failed: " + done.failure());
      assertEquals(done.splitsTotal(), done.splitsDone(), "every split must be acknowledged");
      assertEquals(total, done.samplesDone());

      AccumulationHistory history = cluster.accumulationHistory(jobId);
      List<AccumulationPlan> plans = history.plans();
      for (AccumulationPlan plan : plans) {
        assertEquals(
            history.globalBatch(),
            plan.totalMicroBatches() * history.microBatch(),
            "plan of membership epoch " + plan.membershipEpoch() + " breaks the global batch: " + plan);
      }
      // The plans followed the pool: two workers (k=2 each), one (k=4), two again.
      List<Integer> poolSizes = plans.stream().map(p -> p.shares().size()).distinct().toList();
      assertTrue(plans.stream().anyMatch(p -> p.shares().size() == 1 && p.shares().get(0).accumulationSteps() == 4),
          "no plan for a single worker: " + plans);
      assertEquals(2, plans.get(plans.size() - 1).shares().size(), "last plan: " + plans.get(plans.size() - 1));
      assertTrue(poolSizes.contains(2) && poolSizes.contains(1), "pool sizes seen: " + poolSizes);
    }
  }
}
