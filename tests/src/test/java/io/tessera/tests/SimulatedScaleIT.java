package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The coordinator and the shards under many workers: 64 simulated workers (synthetic model, no
 * DJL) in four JVMs train a {@code sync} job for about two minutes. Every step needs all 64
 * contributions, so a lost lease would stall the barrier: the job must keep moving in every
 * interval and complete with every split acked. The workers' lease round trips are read from
 * their Prometheus endpoints (the benchmark's figure).
 */
class SimulatedScaleIT {
  private static final int NODES = 4;
  private static final int WORKERS_PER_NODE = 16;
  private static final int WORKERS = NODES * WORKERS_PER_NODE;
  private static final int STEP = 512; // 64 workers x 1 micro-batch of 8
  private static final int TRAIN = 20 * STEP;
  private static final int ASYNC_EPOCHS = 3;
  private static final int SYNC_EPOCHS = Integer.getInteger("tessera.test.simulated-epochs", 10);
  private static final Duration STALL = Duration.ofSeconds(20);
  private static final Pattern BUCKET =
      Pattern.compile("tessera_worker_lease_round_trip_seconds_bucket\\{le=\"([0-9.+Inf]+)\"\\} ([0-9.eE+]+)");

  @TempDir Path workDir;

  @Test
  void sixtyFourSimulatedWorkersKeepASyncBarrierMovingAndLoseNoLease() throws Exception {
    try (ProcessCluster cluster = new ProcessCluster(workDir, "simulated")) {
      cluster.start("core", "coordinator,ps", true);
      for (int n = 1; n <= NODES; n++) {
        cluster.start("sim-" + n, "worker", false, List.of("--workers", String.valueOf(WORKERS_PER_NODE), "--simulated"));
      }
      cluster.awaitAdmin(Duration.ofMinutes(2));
      cluster.await(Duration.ofMinutes(2), WORKERS + " workers", () -> cluster.get("api/workers").size() == WORKERS);

      // An async job first: every ask finds work, so the workers' lease round trips measure the
      // coordinator itself (in sync mode an ask may wait at the barrier by design).
      RunResult async = run(cluster, spec("async", ASYNC_EPOCHS, 64));
      double[] buckets = settledLeaseRoundTrips(cluster);
      System.out.printf(
          "simulated scale: async, %d workers: %d samples in %.0f s; lease round trips %.0f, %.2f%% within 50 ms,"
              + " %.2f%% within 100 ms%n",
          WORKERS, async.samples(), async.seconds(), buckets[2], 100 * buckets[0] / buckets[2],
          100 * buckets[1] / buckets[2]);
      assertTrue(buckets[2] > 0, "no lease round trip was recorded");
      String core = cluster.send(cluster.metrics("core").resolve("metrics"), null).body();
      System.out.printf(
          "simulated scale: coordinator journal writes of lease decisions: mean %.1f ms, %.1f events each%n",
          1000 * mean(core, "tessera_coordinator_lease_batch_write_time_seconds"),
          mean(core, "tessera_coordinator_lease_batch_events"));

      RunResult sync = run(cluster, spec("sync", SYNC_EPOCHS, 8));
      System.out.printf(
          "simulated scale: sync, %d workers: %d steps in %.0f s (%.1f steps/s), every step with all %d contributions%n",
          WORKERS, sync.samples() / STEP, sync.seconds(), sync.samples() / STEP / sync.seconds(), WORKERS);
      JsonNode history = cluster.get("api/jobs/" + sync.jobId() + "/accumulation");
      JsonNode lastPlan = history.get("plans").get(history.get("plans").size() - 1);
      assertEquals(WORKERS, lastPlan.get("shares").size(), "every worker had a share");
      for (JsonNode share : lastPlan.get("shares")) {
        assertEquals(1, share.get("accumulationSteps").asInt(), "one micro-batch each per step: " + share);
      }
    }
  }

  private record RunResult(String jobId, long samples, double seconds) {}

  private static String spec(String mode, int epochs, int splitSize) {
    return """
        name = simulated-64-%s
        mode = %s
        epochs = %d
        global-batch = %d
        micro-batch = 8
        split-size = %d
        shards = 2
        dataset { name = synthetic, train-limit = %d }
        model { kind = synthetic, parameters = 1000, compute-micros-per-sample = 40000 }
        optimizer { kind = sgd, learning-rate = 0.1, momentum = 0, weight-decay = 0, schedule = constant }
        checkpoint.interval = 10s
        """.formatted(mode, mode, epochs, STEP, splitSize, TRAIN);
  }

  /**
   * Runs a job to the end, failing if it ever makes no progress for {@link #STALL} (a stuck
   * barrier or a lost lease), and checks that every split was acked and no lease is left out.
   */
  private static RunResult run(ProcessCluster cluster, String spec) throws Exception {
    String jobId = cluster.submitWithCli(spec);
    long started = System.nanoTime();
    long last = -1;
    while (true) {
      long seen = last;
      JsonNode status =
          cluster.await(STALL, "progress beyond " + seen + " samples (a stuck barrier?)", () -> {
            JsonNode s = cluster.status(jobId);
            return s != null && (s.get("samplesDone").asLong() > seen || s.get("state").asText().endsWith("ED")) ? s : null;
          });
      last = status.get("samplesDone").asLong();
      if (status.get("state").asText().equals("COMPLETED") || status.get("state").asText().equals("FAILED")) {
        break;
      }
    }
    double seconds = (System.nanoTime() - started) / 1e9;
    JsonNode done = cluster.status(jobId);
    assertEquals("COMPLETED", done.get("state").asText(), () -> "job failed: " + done.get("failure"));
    assertEquals(done.get("splitsTotal").asInt(), done.get("splitsDone").asInt(), "every split acked");
    assertEquals(done.get("samplesTotal").asLong(), done.get("samplesDone").asLong());
    for (JsonNode worker : cluster.get("api/workers")) {
      assertEquals(0, worker.get("leasesHeld").asInt(), "a lease left outstanding: " + worker);
    }
    return new RunResult(jobId, done.get("samplesDone").asLong(), seconds);
  }

  /**
   * The workers' lease round trips so far, summed over the nodes, as Kamon last published them
   * (every 10 s): within 50 ms, within 100 ms, and in all.
   */
  private static double[] settledLeaseRoundTrips(ProcessCluster cluster) {
    return cluster.await(Duration.ofSeconds(30), "published lease round trips", () -> {
      double[] sums = leaseRoundTripBuckets(cluster);
      return sums[2] > 0 ? sums : null;
    });
  }

  /** A Prometheus summary's or histogram's mean: its _sum over its _count (NaN when absent). */
  private static double mean(String metrics, String name) {
    Matcher sum = Pattern.compile(name + "_sum(?:\\{[^}]*\\})? ([0-9.eE+-]+)").matcher(metrics);
    Matcher count = Pattern.compile(name + "_count(?:\\{[^}]*\\})? ([0-9.eE+-]+)").matcher(metrics);
    return sum.find() && count.find() ? Double.parseDouble(sum.group(1)) / Double.parseDouble(count.group(1)) : Double.NaN;
  }

  /** Summed over the worker nodes: round trips within 50 ms, within 100 ms, and in all. */
  private static double[] leaseRoundTripBuckets(ProcessCluster cluster) throws Exception {
    double[] sums = new double[3];
    for (int n = 1; n <= NODES; n++) {
      String body = cluster.send(cluster.metrics("sim-" + n).resolve("metrics"), null).body();
      Matcher matcher = BUCKET.matcher(body);
      while (matcher.find()) {
        double count = Double.parseDouble(matcher.group(2));
        switch (matcher.group(1)) {
          case "0.05" -> sums[0] += count;
          case "0.1" -> sums[1] += count;
          case "+Inf" -> sums[2] += count;
          default -> {}
        }
      }
    }
    return sums;
  }
}
