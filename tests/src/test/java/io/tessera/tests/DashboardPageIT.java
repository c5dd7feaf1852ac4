package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.spec.JobSpecParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The live page the admin front serves, in headless Chromium against a real cluster that trained a
 * sync job: once its scripts have run, the page lists the job with its state and result, draws a
 * loss curve per member, lists the job's checkpoints, the workers and the cluster's members; a
 * screenshot is kept in {@code target/it-logs/dashboard.png}. Skips, saying so, where no Chromium
 * is installed ({@code apt-get install chromium}; {@code .ci/run} installs it).
 */
class DashboardPageIT {
  private static final String TOKEN = "dashboard-test-token";
  private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

  @TempDir Path browserProfile;

  private static Path chromium() {
    String configured = System.getenv("TESSERA_CHROMIUM");
    for (String candidate : Arrays.asList(configured, "/usr/bin/chromium", "/usr/bin/chromium-browser")) {
      if (candidate != null && Files.isExecutable(Path.of(candidate))) {
        return Path.of(candidate);
      }
    }
    return null;
  }

  @Test
  void thePageShowsTheJobItsLossCurveCheckpointsWorkersAndCluster() throws Exception {
    Path chromium = chromium();
    if (chromium == null) {
      System.out.println("DashboardPageIT skipped: no Chromium (install Debian's chromium, or set TESSERA_CHROMIUM)");
    }
    Assumptions.assumeTrue(chromium != null, "no Chromium: apt-get install chromium, or set TESSERA_CHROMIUM");

    int adminPort = NodeProcess.freePort();
    Map<String, Object> settings = new HashMap<>(TestCluster.h2(TestCluster.freshJournal()));
    settings.put("tessera.worker.use-gpus", false);
    settings.put("tessera.admin.enabled", "on");
    settings.put("tessera.admin.port", adminPort);
    settings.put("tessera.admin.token", TOKEN);
    try (TestCluster cluster = TestCluster.start(settings, "coordinator", "ps", "worker")) {
      String jobId =
          cluster.submit(
              JobSpecParser.parse(
                  TestJobs.with(
                      TestJobs.with(
                          TestJobs.with(TestJobs.syntheticSpecText("dashboard-sync", 2048, 200), "mode", "sync"),
                          "epochs", 2),
                      "checkpoint.every-pushes", 40)));
      JobStatus done = cluster.awaitFinished(jobId, Duration.ofMinutes(2));
      assertEquals(JobState.COMPLETED, done.state(), done::toString);

      assertJobEventsListed(adminPort, jobId);

      String url = "http://127.0.0.1:" + adminPort + "/#token=" + TOKEN;
      Path logs = Files.createDirectories(Path.of("target", "it-logs"));
      Path screenshot = logs.resolve("dashboard.png");
      Files.deleteIfExists(screenshot);
      String dom = runChromium(chromium, List.of("--dump-dom", url));
      runChromium(chromium, List.of("--screenshot=" + screenshot.toAbsolutePath(), "--window-size=1280,1100", url));

      assertTrue(dom.contains("data-loaded=\"true\""), () -> "the page's scripts did not finish: " + dom);
      assertTrue(dom.contains("data-job=\"" + jobId + "\""), () -> "no row for " + jobId + ": " + dom);
      assertTrue(dom.contains("state-COMPLETED"), dom);
      assertTrue(dom.contains("Loss: " + jobId), dom);
      Matcher curve = Pattern.compile("<polyline points=\"([^\"]+)\"[^>]*data-label=\"member 0\"").matcher(dom);
      assertTrue(curve.find(), () -> "no loss curve of member 0: " + dom);
      int points = curve.group(1).trim().split(" ").length;
      assertTrue(points >= 2 * 2048 / 32 - 1, "one point per optimizer step, found " + points);
      // A finished job keeps its checkpoints' places in the shards' journals, not their cuts.
      Matcher rows =
          Pattern.compile("<tr><td>(\\d+)</td><td>[^<]+</td><td>(\\d+ / \\d+|\\(finished job\\))</td><td>2</td></tr>")
              .matcher(dom);
      List<Long> checkpoints = new ArrayList<>();
      while (rows.find()) {
        checkpoints.add(Long.parseLong(rows.group(1)));
      }
      assertTrue(!checkpoints.isEmpty(), () -> "no checkpoint rows: " + dom);
      assertEquals(done.lastCheckpointId(), checkpoints.get(checkpoints.size() - 1), () -> "newest last: " + checkpoints);
      int checkpointRows = checkpoints.size();
      assertTrue(dom.contains("/user/worker-0"), () -> "no worker listed: " + dom);
      assertTrue(dom.contains("coordinator, ps, worker") || dom.contains("coordinator,ps,worker")
          || Pattern.compile("<td>[a-z, ]*coordinator[a-z, ]*</td>").matcher(dom).find(), () -> "no cluster member: " + dom);

      byte[] png = Files.readAllBytes(screenshot);
      assertArrayEquals(PNG_SIGNATURE, Arrays.copyOf(png, PNG_SIGNATURE.length), "not a PNG");
      assertTrue(png.length > 20_000, "a near-empty screenshot: " + png.length + " bytes");
      System.out.printf("dashboard: %d checkpoints, %d loss points; screenshot %s (%d bytes)%n",
          checkpointRows, points, screenshot, png.length);
    }
  }

  /**
   * The job's events as the admin front reads them from the journal: its life without the lease
   * bookkeeping, or with it, in pages.
   */
  private static void assertJobEventsListed(int adminPort, String jobId) throws Exception {
    com.fasterxml.jackson.databind.JsonNode life = adminGet(adminPort, "api/jobs/" + jobId + "/events?limit=5000");
    List<String> types = new ArrayList<>();
    life.forEach(event -> types.add(event.get("type").asText()));
    assertTrue(
        types.containsAll(
            List.of("OperatorCommandRecorded", "JobSubmitted", "MemberInitialized", "CheckpointCompleted",
                "MemberEvaluated", "JobArchived")),
        () -> "events of " + jobId + ": " + types);
    assertTrue(types.stream().noneMatch(t -> t.equals("SplitLeased") || t.equals("SplitCompleted")), types::toString);

    com.fasterxml.jackson.databind.JsonNode withLeases =
        adminGet(adminPort, "api/jobs/" + jobId + "/events?limit=5000&leases=true");
    long leases = 0;
    for (com.fasterxml.jackson.databind.JsonNode event : withLeases) {
      leases += event.get("type").asText().equals("SplitLeased") ? 1 : 0;
    }
    assertTrue(leases > 0 && withLeases.size() > life.size(), "with leases: " + withLeases.size() + " events");

    com.fasterxml.jackson.databind.JsonNode first = adminGet(adminPort, "api/jobs/" + jobId + "/events?limit=2");
    assertEquals(2, first.size());
    long next = first.get(1).get("sequenceNr").asLong() + 1;
    com.fasterxml.jackson.databind.JsonNode page = adminGet(adminPort, "api/jobs/" + jobId + "/events?limit=2&from=" + next);
    assertEquals(life.get(2).get("sequenceNr").asLong(), page.get(0).get("sequenceNr").asLong(), "the next page");
  }

  private static com.fasterxml.jackson.databind.JsonNode adminGet(int port, String path) throws Exception {
    java.net.http.HttpResponse<String> response =
        java.net.http.HttpClient.newHttpClient()
            .send(
                java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + "/" + path))
                    .header("Authorization", "Bearer " + TOKEN)
                    .build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
    assertEquals(200, response.statusCode(), () -> path + ": " + response.body());
    return new com.fasterxml.jackson.databind.json.JsonMapper().readTree(response.body());
  }

  /** Runs headless Chromium on the page (its scripts get virtual time to poll); returns stdout. */
  private String runChromium(Path chromium, List<String> what) throws Exception {
    List<String> command =
        new ArrayList<>(
            List.of(
                chromium.toString(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--user-data-dir=" + browserProfile.resolve("profile-" + what.size() + "-" + System.nanoTime()),
                "--virtual-time-budget=6000"));
    command.addAll(what);
    Path out = browserProfile.resolve("stdout-" + System.nanoTime());
    Process process =
        new ProcessBuilder(command)
            .redirectOutput(out.toFile())
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    assertTrue(process.waitFor(90, TimeUnit.SECONDS), "Chromium did not finish in 90 s");
    assertEquals(0, process.exitValue(), "Chromium failed: " + command);
    return Files.readString(out, StandardCharsets.UTF_8);
  }
}
