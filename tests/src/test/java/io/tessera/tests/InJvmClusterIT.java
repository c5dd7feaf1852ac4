package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Three ActorSystems on loopback (coordinator + parameter shards, worker, worker) train a ViT on
 * the shipped subset through the real sharded parameter server.
 */
class InJvmClusterIT {

  @Test
  void trainsTheSubsetToAtLeast75PercentTestAccuracy() {
    try (TestCluster cluster = TestCluster.start("coordinator", "ps")) {
      cluster.addNode("worker");
      cluster.addNode("worker");
      String jobId = cluster.submit(TestJobs.subset(12));

      JobStatus done = cluster.awaitFinished(jobId, Duration.ofMinutes(5));

      assertEquals(JobState.COMPLETED, done.state(), () -> "job failed: " + done.failure());
      assertEquals(done.splitsTotal(), done.splitsDone());
      assertEquals(12L * 3000, done.samplesDone());
      double accuracy = done.results().get(0).testAccuracy();
      assertTrue(accuracy >= 0.75, "test accuracy " + accuracy + " is below 0.75");

      // Both workers trained, each with half of the global batch's micro-batches.
      AccumulationHistory history = cluster.accumulationHistory(jobId);
      AccumulationPlan last = history.plans().get(history.plans().size() - 1);
      assertEquals(2, last.shares().size());
      last.shares().forEach(share -> assertEquals(2, share.accumulationSteps()));
    }
  }
}
