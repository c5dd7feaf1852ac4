package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code bin/tessera chaos}, as an operator runs it, for a few rounds: a four-process cluster on
 * loopback journaling to PostgreSQL survives kill -9 of the coordinator's node, a PostgreSQL
 * outage, dropped, duplicated and delayed worker messages and a damaged snapshot, with every split
 * applied exactly once at the shards, every acknowledged command in the audit log, no stuck job
 * and the accuracy of an undisturbed run. The full suite ({@code --rounds 30}, every fault) is run
 * by hand; see docs/BENCHMARKS.md. Runs when {@code TESSERA_TEST_POSTGRES_URL} names a database
 * ({@code .ci/run} sets it) and says that it skips otherwise.
 */
class ChaosIT {
  private static final Pattern SPLITS =
      Pattern.compile("splits checked at the shards: (\\d+); applied twice: (\\d+); never applied: (\\d+)");
  private static final Pattern COMMANDS = Pattern.compile("operator commands acknowledged: (\\d+); lost: (\\d+)");

  @Test
  void fourRoundsOfFaultsLoseNothing() throws Exception {
    String url = System.getenv("TESSERA_TEST_POSTGRES_URL");
    assumeTrue(
        url != null && !url.isBlank(),
        "skipped: TESSERA_TEST_POSTGRES_URL is not set (e.g. jdbc:postgresql://127.0.0.1:5432/test?user=postgres)");
    // Under target/, not a temporary directory, so that the nodes' logs outlive a failure.
    Path workDir = Path.of("target", "chaos-it").toAbsolutePath();
    deleteRecursively(workDir);
    Files.createDirectories(workDir);
    Path report = workDir.resolve("report.txt");
    NodeProcess chaos =
        NodeProcess.start(
            "chaos-it",
            workDir,
            Map.of(),
            List.of("chaos", "--rounds", "4", "--faults", "kill-coordinator,database-outage,message-faults,corrupt-snapshot",
                "--epochs", "8", "--postgres-url", url, "--schema", "tessera_chaos_it",
                "--data-dir", TestJobs.subsetDir().toString(), "--work-dir", workDir.resolve("chaos").toString(),
                "--tolerance", "3", "--yardstick-runs", "1", "--report", report.toString()));
    assertTrue(chaos.process().waitFor(15, TimeUnit.MINUTES), "chaos did not finish in 15 minutes");
    String output = Files.readString(chaos.logFile().toPath(), StandardCharsets.UTF_8);
    assertEquals(0, chaos.process().exitValue(), "chaos reported a loss or failed:\n" + output);

    String written = Files.readString(report);
    assertTrue(written.startsWith("chaos: 4 rounds"), written);
    for (String fault : List.of("kill_coordinator", "database_outage", "message_faults", "corrupt_snapshot")) {
      assertTrue(written.contains(fault), fault + " was not injected:\n" + written);
    }
    Matcher splits = SPLITS.matcher(written);
    assertTrue(splits.find(), written);
    assertTrue(Long.parseLong(splits.group(1)) > 0, "no split was checked at the shards:\n" + written);
    assertEquals("0", splits.group(2), written);
    assertEquals("0", splits.group(3), written);
    Matcher commands = COMMANDS.matcher(written);
    assertTrue(commands.find(), written);
    assertTrue(Integer.parseInt(commands.group(1)) >= 4, "too few commands were acknowledged:\n" + written);
    assertEquals("0", commands.group(2), written);
    assertTrue(written.contains("nothing lost"), written);
  }

  private static void deleteRecursively(Path dir) throws java.io.IOException {
    if (Files.exists(dir)) {
      try (var files = Files.walk(dir)) {
        for (Path file : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.delete(file);
        }
      }
    }
  }
}
