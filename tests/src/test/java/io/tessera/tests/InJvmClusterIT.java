package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.spec.JobSpecParser;
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

  @Test
  void aMemberThatStopsImprovingOnTheValidationSplitStopsEarlyAndIsEvaluated() {
    // A gain of up to 50 points does not count, so the member stops after its second epoch.
    String spec = TestJobs.with(TestJobs.subsetSpecText(20), "dataset.validation", 1000);
    spec = TestJobs.with(spec, "early-stopping.patience", 1);
    spec = TestJobs.with(spec, "early-stopping.min-delta", 0.5);
    try (TestCluster cluster = TestCluster.start("coordinator", "ps")) {
      cluster.addNode("worker");
      String jobId = cluster.submit(JobSpecParser.parse(spec));

      JobStatus done = cluster.awaitFinished(jobId, Duration.ofMinutes(5));

      assertEquals(JobState.COMPLETED, done.state(), () -> "job failed: " + done.failure());
      // Training goes on while a validation is scored, so it stops a few epochs after the second.
      assertTrue(
          done.samplesDone() >= 2L * 2000 && done.samplesDone() <= 10L * 2000,
          "stopped after two to ten epochs of the 2,000 training images left: " + done.samplesDone());
      assertEquals(done.samplesTotal(), done.samplesDone(), "the skipped samples are not in the total");
      assertEquals(done.splitsTotal(), done.splitsDone(), "the rest is skipped, so done");
      int stoppedAfter = done.stoppedAfterEpoch().get(0);
      assertTrue(stoppedAfter >= 1 && stoppedAfter < 19, "stopped after epoch " + stoppedAfter);
      assertTrue(
          done.samplesDone() >= (stoppedAfter + 1L) * 2000,
          "every epoch up to the stop is trained: " + done.samplesDone() + " after epoch " + stoppedAfter);
      double accuracy = done.results().get(0).testAccuracy();
      assertTrue(accuracy > 0.3, "two epochs train the member well past chance (0.1): " + accuracy);
      assertTrue(done.results().get(0).validationAccuracy() > 0.3, "" + done.results().get(0).validationAccuracy());
    }
  }
}
