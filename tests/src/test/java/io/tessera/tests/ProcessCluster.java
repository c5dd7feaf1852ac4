package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A cluster of real JVMs on loopback, started from the fat jar as the README says, sharing one H2
 * journal in a working directory. Nodes can be killed with SIGKILL, stopped, and started again on
 * the same ports.
 */
final class ProcessCluster implements AutoCloseable {
  static final String TOKEN = "process-cluster-test-token";
  private static final JsonMapper JSON = new JsonMapper();

  private final Path workDir;
  private final String logPrefix;
  private final Map<String, String> environment;
  private final int seedPort;
  private final Map<String, NodeSpec> specs = new LinkedHashMap<>();
  private final Map<String, NodeProcess> running = new LinkedHashMap<>();
  private final HttpClient http = HttpClient.newHttpClient();
  private final ActorTestKit waits = ActorTestKit.create();
  private int starts;

  /** How to start a node again, with the same ports. */
  private record NodeSpec(List<String> args, int port, int adminPort, int metricsPort) {}

  /** A cluster whose logs go to target/it-logs/{@code logPrefix}-NODE-N.log. */
  ProcessCluster(Path workDir, String logPrefix) {
    this(workDir, logPrefix, Map.of());
  }

  /** The same, every node started with {@code environment} set (say, to journal to PostgreSQL). */
  ProcessCluster(Path workDir, String logPrefix, Map<String, String> environment) {
    this.workDir = workDir;
    this.logPrefix = logPrefix;
    this.environment = new java.util.HashMap<>(environment);
    this.environment.put("TESSERA_ADMIN_TOKEN", TOKEN);
    this.seedPort = NodeProcess.freePort();
  }

  Path workDir() {
    return workDir;
  }

  /** Declares and starts a node; the first one declared is the seed. {@code adminPort} 0: none. */
  void start(String name, String roles, boolean admin) {
    start(name, roles, admin, List.of());
  }

  /** The same, with more {@code bin/tessera node} options (say {@code --workers 16 --simulated}). */
  void start(String name, String roles, boolean admin, List<String> extra) {
    declare(name, roles, admin, extra, true);
  }

  /**
   * A node that finds the others without seed nodes: {@code extra} must say how (say {@code
   * --bootstrap} with a discovery configuration).
   */
  void startWithoutSeeds(String name, String roles, boolean admin, List<String> extra) {
    declare(name, roles, admin, extra, false);
  }

  private void declare(String name, String roles, boolean admin, List<String> extra, boolean seeds) {
    int port = specs.isEmpty() ? seedPort : NodeProcess.freePort();
    int adminPort = admin ? NodeProcess.freePort() : 0;
    int metricsPort = NodeProcess.freePort();
    List<String> args = new ArrayList<>(List.of("node", "--roles", roles, "--port", String.valueOf(port),
        "--metrics-port", String.valueOf(metricsPort)));
    if (seeds) {
      args.addAll(List.of("--seed-nodes", "127.0.0.1:" + seedPort));
    }
    if (admin) {
      args.addAll(List.of("--admin-port", String.valueOf(adminPort)));
    }
    if (roles.contains("worker")) {
      args.addAll(List.of("--data-dir", TestJobs.subsetDir().toString()));
    }
    args.addAll(extra);
    specs.put(name, new NodeSpec(args, port, adminPort, metricsPort));
    restart(name);
  }

  /** Starts a declared node again (after a kill or a stop), on the same ports. */
  void restart(String name) {
    NodeSpec spec = specs.get(name);
    starts++;
    running.put(
        name,
        NodeProcess.start(
            logPrefix + "-" + name + "-" + starts, workDir, environment, spec.args()));
  }

  /** SIGKILL: the node gets no chance to leave the cluster or to save anything. */
  void kill9(String name) throws InterruptedException {
    NodeProcess node = running.remove(name);
    node.kill9();
    assertTrue(node.process().waitFor(30, TimeUnit.SECONDS), name + " did not die");
  }

  /** SIGTERM: the node leaves the cluster the way an operator stops it. */
  void stop(String name) throws InterruptedException {
    NodeProcess node = running.remove(name);
    node.process().destroy();
    assertTrue(node.process().waitFor(60, TimeUnit.SECONDS), name + " did not stop");
  }

  /** A node's cluster address as {@code host:port}, as {@code bin/tessera drain} takes it. */
  String address(String name) {
    return "127.0.0.1:" + specs.get(name).port();
  }

  /** Waits for a node's process to end by itself (a drained worker node leaves and exits). */
  void awaitExit(String name, Duration timeout) throws InterruptedException {
    NodeProcess node = running.get(name);
    assertTrue(node.process().waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS), name + " did not exit");
    running.remove(name);
  }

  /** What the node's current process has logged so far. */
  String log(String name) throws IOException {
    return Files.readString(running.get(name).logFile().toPath(), StandardCharsets.UTF_8);
  }

  /** Runs a {@code bin/tessera} admin command against the cluster; returns its output. */
  String cli(String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of(args));
    command.addAll(List.of("--admin", anyAdmin().toString(), "--token", TOKEN));
    NodeProcess cli = NodeProcess.start(logPrefix + "-cli-" + args[0], workDir, Map.of(), command);
    assertTrue(cli.process().waitFor(60, TimeUnit.SECONDS), args[0] + " did not finish");
    String output = Files.readString(cli.logFile().toPath(), StandardCharsets.UTF_8).trim();
    assertEquals(0, cli.process().exitValue(), args[0] + " failed: " + output);
    return output;
  }

  /** A GET of the admin API that must succeed, as JSON. */
  JsonNode get(String path) throws IOException, InterruptedException {
    HttpResponse<String> response = send(anyAdmin().resolve(path), null);
    assertEquals(200, response.statusCode(), path + ": " + response.body());
    return JSON.readTree(response.body());
  }

  /** The admin front of a running node with one. */
  URI admin(String name) {
    return URI.create("http://127.0.0.1:" + specs.get(name).adminPort() + "/");
  }

  /** The Prometheus endpoint of a node. */
  URI metrics(String name) {
    return URI.create("http://127.0.0.1:" + specs.get(name).metricsPort() + "/");
  }

  /** The admin front of any running node that has one. */
  URI anyAdmin() {
    return running.keySet().stream()
        .filter(n -> specs.get(n).adminPort() > 0)
        .findFirst()
        .map(this::admin)
        .orElseThrow(() -> new AssertionError("no running node serves the admin API"));
  }

  void awaitAdmin(Duration timeout) {
    await(timeout, "an admin front", () -> {
      for (String name : running.keySet()) {
        if (specs.get(name).adminPort() > 0 && send(admin(name).resolve("health"), null).statusCode() == 200) {
          return true;
        }
      }
      return false;
    });
  }

  /**
   * Waits until the admin API lists every running node as an {@code Up} cluster member. Submit
   * only then: parameter shards are placed on the nodes Up when a job starts, and a fault test
   * that kills a parameter-server node must find shards there.
   */
  void awaitAllUp(Duration timeout) {
    await(timeout, "every node Up", () -> {
      HttpResponse<String> response = send(anyAdmin().resolve("api/cluster"), null);
      if (response.statusCode() != 200) {
        return false;
      }
      JsonNode members = JSON.readTree(response.body()).get("members");
      int up = 0;
      for (JsonNode member : members) {
        up += member.get("status").asText().equals("Up") ? 1 : 0;
      }
      return up == running.size();
    });
  }

  /** Submits through the CLI, as an operator would; returns the job id it prints. */
  String submitWithCli(String specText) throws Exception {
    Path spec = workDir.resolve("job-" + (starts + 1) + ".conf");
    Files.writeString(spec, specText);
    NodeProcess cli =
        NodeProcess.start(logPrefix + "-submit", workDir, Map.of(),
            List.of("submit", spec.toString(), "--admin", anyAdmin().toString(), "--token", TOKEN));
    assertTrue(cli.process().waitFor(60, TimeUnit.SECONDS), "submit did not finish");
    String output = Files.readString(cli.logFile().toPath(), StandardCharsets.UTF_8).trim();
    assertEquals(0, cli.process().exitValue(), "submit failed: " + output);
    String[] lines = output.split("\n");
    return lines[lines.length - 1].trim();
  }

  /** The job's status from any running admin front, or null while none answers. */
  JsonNode status(String jobId) throws IOException, InterruptedException {
    for (String name : running.keySet()) {
      if (specs.get(name).adminPort() == 0) {
        continue;
      }
      try {
        HttpResponse<String> response = send(admin(name).resolve("api/jobs/" + jobId), null);
        if (response.statusCode() == 200) {
          return JSON.readTree(response.body());
        }
      } catch (IOException e) {
        // that front is down or not up yet; try the next
      }
    }
    return null;
  }

  JsonNode audit() throws IOException, InterruptedException {
    HttpResponse<String> response = send(anyAdmin().resolve("api/audit"), null);
    assertEquals(200, response.statusCode(), response.body());
    return JSON.readTree(response.body());
  }

  JsonNode awaitFinished(String jobId, Duration timeout) {
    return await(timeout, "job " + jobId + " to finish", () -> {
      JsonNode status = status(jobId);
      String state = status == null ? "" : status.get("state").asText();
      return state.equals("COMPLETED") || state.equals("FAILED") ? status : null;
    });
  }

  HttpResponse<String> send(URI uri, String postBody) throws IOException, InterruptedException {
    HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10))
        .header("Authorization", "Bearer " + TOKEN);
    if (postBody != null) {
      request.POST(HttpRequest.BodyPublishers.ofString(postBody));
    }
    return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** A condition that holds (true, or a value) or not yet (false, null, or an exception). */
  interface Condition<T> {
    T check() throws Exception;
  }

  <T> T await(Duration timeout, String what, Condition<T> condition) {
    TestProbe<Object> probe = waits.createTestProbe();
    return probe.awaitAssert(
        timeout,
        Duration.ofMillis(500),
        () -> {
          T value;
          try {
            value = condition.check();
          } catch (Exception e) {
            throw new AssertionError("waiting for " + what + ": " + e, e);
          }
          assertTrue(value != null && !Boolean.FALSE.equals(value), "waiting for " + what);
          return value;
        });
  }

  @Override
  public void close() {
    running.values().forEach(NodeProcess::close);
    running.clear();
    waits.shutdownTestKit();
  }
}
