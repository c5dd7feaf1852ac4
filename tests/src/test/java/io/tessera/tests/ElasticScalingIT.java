package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real JVMs on loopback, a {@code sync} job, and a worker pool that changes under it without a
 * restart: 1 worker, then 3 (two nodes join), then 1 again (one node drained by an operator, one
 * stopped). The job completes with every split acked, every accumulation plan adding up to the
 * global batch, and a test accuracy within one point of the same job on a fixed two workers. The
 * drained worker finishes its contribution and leaves without any of its work being done again.
 */
class ElasticScalingIT {
  private static final int EPOCHS = 8;
  private static final int TRAIN = 3000;
  private static final long TOTAL = (long) EPOCHS * TRAIN;
  private static final Pattern FIRST_PUSH = Pattern.compile("first push accepted (\\d+) ms after registering");

  @TempDir Path workDir;

  @Test
  void aSyncJobGoesFromOneToThreeToOneWorkerAndTrainsLikeOnAFixedTwo() throws Exception {
    String spec = TestJobs.subsetSpecText(EPOCHS, "sync", TRAIN, 1000);
    try (ProcessCluster cluster = new ProcessCluster(workDir, "scaling")) {
      cluster.start("core", "coordinator,ps", true);
      cluster.start("w1", "worker", false);
      cluster.start("w2", "worker", false);
      cluster.awaitAdmin(Duration.ofMinutes(2));
      awaitLiveWorkers(cluster, 2);

      // The yardstick: the same job on a fixed two workers.
      String fixed = cluster.submitWithCli(spec);
      JsonNode fixedDone = cluster.awaitFinished(fixed, Duration.ofMinutes(5));
      assertCompleted(fixedDone);
      double fixedAccuracy = accuracy(fixedDone);

      // 2 -> 1: drain w2's node; a worker-only node leaves the cluster and its process ends.
      cluster.cli("drain", cluster.address("w2"));
      cluster.awaitExit("w2", Duration.ofMinutes(1));
      awaitLiveWorkers(cluster, 1);

      String jobId = cluster.submitWithCli(spec);
      awaitSamples(cluster, jobId, TOTAL / 5);

      // 1 -> 3
      cluster.start("w3", "worker", false);
      cluster.start("w4", "worker", false);
      cluster.await(Duration.ofMinutes(2), "three workers", () -> cluster.status(jobId).get("liveWorkers").asInt() == 3);
      long atThree = cluster.status(jobId).get("samplesDone").asLong();
      awaitSamples(cluster, jobId, atThree + TOTAL / 5);
      for (String joined : List.of("w3", "w4")) {
        long millis = firstPushMillis(cluster, joined);
        System.out.printf("elastic timing: %s joined -> first accepted push after %d ms%n", joined, millis);
        assertTrue(millis <= 30_000, joined + " took " + millis + " ms to its first accepted push");
      }

      // 3 -> 2: an operator drains w3's node.
      JsonNode shardsBefore = cluster.get("api/jobs/" + jobId + "/shards");
      cluster.cli("drain", cluster.address("w3"));
      cluster.awaitExit("w3", Duration.ofMinutes(1));
      JsonNode drained = drainedWorker(cluster);
      long drainMillis = drained.get("drainMillis").asLong();
      System.out.printf("elastic timing: drain request -> departure %d ms%n", drainMillis);
      assertTrue(drainMillis >= 0 && drainMillis <= 10_000, "the drain took " + drainMillis + " ms");
      // Nothing the drained worker trained was pushed twice or thrown away.
      JsonNode shardsAfter = cluster.get("api/jobs/" + jobId + "/shards");
      assertEquals(counter(shardsBefore, "pushesDuplicate"), counter(shardsAfter, "pushesDuplicate"), "re-done parts");
      assertEquals(counter(shardsBefore, "pushesStale"), counter(shardsAfter, "pushesStale"), "discarded pushes");

      // 2 -> 1: w4's node is stopped the way an operator (or Kubernetes) stops a process, with
      // SIGTERM: its worker drains before the node leaves, so it is listed as drained, not lost,
      // and nothing it trained is pushed twice or thrown away.
      JsonNode beforeStop = cluster.get("api/jobs/" + jobId + "/shards");
      String w4 = cluster.address("w4");
      cluster.stop("w4");
      cluster.await(Duration.ofMinutes(1), "one worker", () -> cluster.status(jobId).get("liveWorkers").asInt() == 1);
      cluster.await(Duration.ofSeconds(30), "w4's worker listed as drained", () -> {
        for (JsonNode worker : cluster.get("api/workers")) {
          if (worker.get("workerId").asText().contains(w4) && worker.get("state").asText().equals("drained")) {
            return worker;
          }
        }
        return null;
      });
      JsonNode afterStop = cluster.get("api/jobs/" + jobId + "/shards");
      assertEquals(counter(beforeStop, "pushesDuplicate"), counter(afterStop, "pushesDuplicate"), "re-done parts");
      assertEquals(counter(beforeStop, "pushesStale"), counter(afterStop, "pushesStale"), "discarded pushes");

      JsonNode done = cluster.awaitFinished(jobId, Duration.ofMinutes(6));
      assertCompleted(done);
      double accuracy = accuracy(done);
      System.out.printf("elastic accuracy: 1->3->1 workers %.4f, fixed 2 workers %.4f%n", accuracy, fixedAccuracy);
      assertTrue(
          Math.abs(accuracy - fixedAccuracy) <= 0.01,
          "1->3->1 workers reached " + accuracy + ", a fixed two " + fixedAccuracy);

      JsonNode history = cluster.get("api/jobs/" + jobId + "/accumulation");
      int microBatches = history.get("globalBatch").asInt() / history.get("microBatch").asInt();
      List<Integer> poolSizes = new ArrayList<>();
      for (JsonNode plan : history.get("plans")) {
        int sum = 0;
        for (JsonNode share : plan.get("shares")) {
          sum += share.get("accumulationSteps").asInt();
        }
        assertEquals(microBatches, sum, "plan " + plan + " breaks the global batch");
        poolSizes.add(plan.get("shares").size());
      }
      assertTrue(poolSizes.contains(1) && poolSizes.contains(3), "pool sizes planned for: " + poolSizes);
    }
  }

  private static void assertCompleted(JsonNode done) {
    assertEquals("COMPLETED", done.get("state").asText(), () -> "job failed: " + done.get("failure"));
    assertEquals(done.get("splitsTotal").asInt(), done.get("splitsDone").asInt(), "every split must be acked");
    assertEquals(TOTAL, done.get("samplesDone").asLong(), "no split skipped");
  }

  private static double accuracy(JsonNode done) {
    return done.get("results").get(0).get("testAccuracy").asDouble();
  }

  private static void awaitLiveWorkers(ProcessCluster cluster, int count) {
    cluster.await(Duration.ofMinutes(2), count + " live workers", () -> {
      int live = 0;
      for (JsonNode worker : cluster.get("api/workers")) {
        live += worker.get("state").asText().equals("drained") ? 0 : 1;
      }
      return live == count;
    });
  }

  private static void awaitSamples(ProcessCluster cluster, String jobId, long samples) {
    cluster.await(Duration.ofMinutes(3), samples + " samples", () -> {
      JsonNode status = cluster.status(jobId);
      return status != null && status.get("samplesDone").asLong() >= samples;
    });
  }

  private static long firstPushMillis(ProcessCluster cluster, String node) {
    return cluster.await(Duration.ofMinutes(1), node + "'s first push", () -> {
      Matcher matcher = FIRST_PUSH.matcher(cluster.log(node));
      return matcher.find() ? Long.parseLong(matcher.group(1)) : null;
    });
  }

  private static JsonNode drainedWorker(ProcessCluster cluster) {
    return cluster.await(Duration.ofSeconds(30), "the drained worker in the listing", () -> {
      JsonNode found = null;
      for (JsonNode worker : cluster.get("api/workers")) {
        if (worker.get("state").asText().equals("drained") && worker.get("drainMillis").asLong() >= 0) {
          found = worker;
        }
      }
      return found;
    });
  }

  private static long counter(JsonNode shards, String field) {
    long sum = 0;
    for (JsonNode shard : shards) {
      sum += shard.get(field).asLong();
    }
    return sum;
  }
}
