package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A four-process cluster journaling to PostgreSQL (three core nodes, one worker) survives
 * {@code kill -9} of the coordinator's process and then of a parameter-server process, finishes
 * its job with every split acknowledged, and still lists every operator command acknowledged
 * before the crashes. Runs when {@code TESSERA_TEST_POSTGRES_URL} names a database ({@code
 * .ci/run} sets it) and says that it skips otherwise.
 */
class PostgresFailoverIT {
  private static final int EPOCHS = 20;
  private static final long TOTAL = EPOCHS * 3000L;

  @TempDir Path workDir;

  @Test
  void killingTheCoordinatorThenAParameterServerLosesNothing() throws Exception {
    String url = System.getenv("TESSERA_TEST_POSTGRES_URL");
    assumeTrue(
        url != null && !url.isBlank(),
        "skipped: TESSERA_TEST_POSTGRES_URL is not set (e.g. jdbc:postgresql://127.0.0.1:5432/test?user=postgres)");
    try (Connection db = DriverManager.getConnection(url); Statement sql = db.createStatement()) {
      sql.execute("DROP TABLE IF EXISTS event_tag, event_journal, snapshot CASCADE");
    }
    // The nodes connect as TESSERA_TEST_POSTGRES_USER / _PASSWORD (default postgres, no password),
    // which must be the user the URL names, if it names one.
    Map<String, String> postgres =
        Map.of(
            "TESSERA_DATABASE", "postgres",
            "TESSERA_POSTGRES_URL", url,
            "TESSERA_POSTGRES_USER", envOr("TESSERA_TEST_POSTGRES_USER", "postgres"),
            "TESSERA_POSTGRES_PASSWORD", envOr("TESSERA_TEST_POSTGRES_PASSWORD", ""));
    try (ProcessCluster cluster = new ProcessCluster(workDir, "postgres-failover", postgres)) {
      cluster.start("core-a", "coordinator,ps", true);
      cluster.start("core-b", "coordinator,ps", true);
      cluster.start("core-c", "ps", false);
      cluster.start("worker", "worker", false);
      cluster.awaitAdmin(Duration.ofMinutes(2));
      cluster.awaitAllUp(Duration.ofMinutes(2));

      String jobId = cluster.submitWithCli(TestJobs.subsetSpecText(EPOCHS, "3s"));
      awaitProgress(cluster, jobId, TOTAL / 4, 1);
      String requested = cluster.cli("checkpoint", jobId).trim();
      java.util.regex.Matcher printed = java.util.regex.Pattern.compile("checkpoint (\\d+) of ").matcher(requested);
      assertTrue(printed.find(), "the checkpoint command prints the id it started: '" + requested + "'");
      long requestedId = Long.parseLong(printed.group(1));
      List<String> acknowledged = commands(cluster.audit());
      assertEquals(List.of("submit", "checkpoint"), acknowledged, "the two commands are on record before the crash");

      // core-a is the oldest node: the coordinator singleton runs there.
      cluster.kill9("core-a");
      long afterFirst = awaitTrainingAfterRewind(cluster, jobId, 1);
      JsonNode between = cluster.status(jobId);
      awaitProgress(cluster, jobId, afterFirst, between.get("lastCheckpointId").asLong() + 1);

      // core-c hosts parameter shards only.
      cluster.kill9("core-c");
      awaitTrainingAfterRewind(cluster, jobId, 2);

      JsonNode done = cluster.awaitFinished(jobId, Duration.ofMinutes(6));
      assertEquals("COMPLETED", done.get("state").asText(), () -> "job failed: " + done.get("failure"));
      assertEquals(done.get("splitsTotal").asInt(), done.get("splitsDone").asInt(), "every split must be acked");
      assertEquals(TOTAL, done.get("samplesDone").asLong());
      assertTrue(
          done.get("lastCheckpointId").asLong() > requestedId,
          "checkpoint ids go on increasing across both fail-overs: " + done);
      assertTrue(done.get("results").get(0).get("testAccuracy").asDouble() > 0.7, "test accuracy: " + done);

      JsonNode audit = cluster.audit();
      List<String> recorded = commands(audit);
      assertTrue(recorded.size() >= 2, "audit log after recovery lost commands: " + audit);
      assertEquals(acknowledged, recorded.subList(0, 2), "audit log after recovery: " + audit);
      assertTrue(audit.get(0).get("detail").asText().startsWith(jobId), audit.toString());
      assertTrue(audit.get(1).get("detail").asText().contains(jobId), audit.toString());
    }
  }

  private static String envOr(String name, String fallback) {
    String value = System.getenv(name);
    return value == null ? fallback : value;
  }

  private static List<String> commands(JsonNode audit) {
    List<String> commands = new ArrayList<>();
    audit.forEach(record -> commands.add(record.get("command").asText()));
    return commands;
  }

  private static void awaitProgress(ProcessCluster cluster, String jobId, long samples, long checkpoint) {
    cluster.await(Duration.ofMinutes(3), samples + " samples and checkpoint " + checkpoint, () -> {
      JsonNode status = cluster.status(jobId);
      return status != null
          && status.get("samplesDone").asLong() >= samples
          && status.get("lastCheckpointId").asLong() >= checkpoint;
    });
  }

  /** Waits for the job to rewind to recovery epoch {@code epoch} and ack again; returns samples then. */
  private static long awaitTrainingAfterRewind(ProcessCluster cluster, String jobId, long epoch) {
    long rewound =
        cluster.await(Duration.ofMinutes(2), "the job to rewind (recovery epoch " + epoch + ")", () -> {
          JsonNode status = cluster.status(jobId);
          return status != null && status.get("recoveryEpoch").asLong() >= epoch
              ? status.get("samplesDone").asLong()
              : null;
        });
    return cluster.await(Duration.ofMinutes(2), "training to go on after the rewind", () -> {
      JsonNode status = cluster.status(jobId);
      return status != null && status.get("state").asText().equals("RUNNING")
              && status.get("samplesDone").asLong() > rewound
          ? status.get("samplesDone").asLong()
          : null;
    });
  }
}
