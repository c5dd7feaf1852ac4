package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real JVMs started from the fat jar on loopback: a coordinator+ps node, a second ps node and two
 * workers. One worker is killed with SIGKILL mid-run; the Split Brain Resolver downs it, its
 * leases go back to the pool, and the job completes on the survivor.
 */
class MultiProcessIT {
  @TempDir Path workDir;

  @Test
  void aFourNodeClusterFinishesItsJobAfterAWorkerIsKilled() throws Exception {
    try (ProcessCluster cluster = new ProcessCluster(workDir, "kill-worker")) {
      cluster.start("coordinator", "coordinator,ps", true);
      cluster.start("ps", "ps", false);
      cluster.start("worker-1", "worker", false);
      cluster.start("worker-2", "worker", false);
      cluster.awaitAdmin(Duration.ofMinutes(2));

      String jobId = cluster.submitWithCli(TestJobs.subsetSpecText(16));
      long total = 16L * 3000;
      cluster.await(Duration.ofMinutes(2), "two workers and a quarter of the samples", () -> {
        JsonNode status = cluster.status(jobId);
        return status != null
            && status.get("liveWorkers").asInt() == 2
            && status.get("samplesDone").asLong() >= total / 4;
      });

      // Every node reports to Prometheus (Kamon ticks every 10 s).
      cluster.await(Duration.ofSeconds(60), "the worker's metrics", () -> {
        String body = cluster.send(cluster.metrics("worker-1").resolve("metrics"), null).body();
        return body.contains("tessera_worker_samples_total") && body.contains("tessera_worker_push_latency_seconds");
      });

      cluster.kill9("worker-2");

      JsonNode done = cluster.awaitFinished(jobId, Duration.ofMinutes(5));
      assertEquals("COMPLETED", done.get("state").asText(), () -> "job failed: " + done.get("failure"));
      assertEquals(done.get("splitsTotal").asInt(), done.get("splitsDone").asInt());
      assertEquals(total, done.get("samplesDone").asLong());
      assertEquals(1, done.get("liveWorkers").asInt(), "the killed worker was not removed");
    }
  }
}
