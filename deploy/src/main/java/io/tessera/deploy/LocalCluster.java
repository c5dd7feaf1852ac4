package io.tessera.deploy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Tessera nodes on loopback, each a JVM of its own started from this jar with {@code node}, that
 * can be killed with SIGKILL, frozen with SIGSTOP and thawed with SIGCONT, and started again on
 * the same ports. A node's seeds are the nodes running when it starts, so a restarted node joins
 * the cluster that is there instead of forming one of its own. Logs go to
 * {@code logDir/NAME-N.log}, N counting the node's starts.
 */
final class LocalCluster implements AutoCloseable {
  /** How a node is started, again and again on the same ports. */
  record NodeSpec(String name, String roles, int port, int adminPort, List<String> jvmOptions, List<String> extra) {
    String address() {
      return "127.0.0.1:" + port;
    }
  }

  private final Path jar;
  private final Path workDir;
  private final Path logDir;
  private final Map<String, String> environment;
  private final Map<String, NodeSpec> specs = new LinkedHashMap<>();
  private final Map<String, Process> running = new LinkedHashMap<>();
  private final Map<String, Integer> starts = new LinkedHashMap<>();
  /** Nodes in the order they last became members: the first is the oldest, the singleton's host. */
  private final List<String> age = new ArrayList<>();

  LocalCluster(Path jar, Path workDir, Map<String, String> environment) {
    this.jar = jar;
    this.workDir = workDir;
    this.logDir = workDir.resolve("logs");
    this.environment = Map.copyOf(environment);
    try {
      Files.createDirectories(logDir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + logDir, e);
    }
  }

  /** The jar this class was loaded from (the fat jar {@code bin/tessera} runs). */
  static Path ownJar() {
    try {
      return Path.of(LocalCluster.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException("cannot locate the Tessera jar", e);
    }
  }

  /** A TCP port that was free a moment ago on loopback. */
  static int freePort() {
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Declares a node (admin front if {@code admin}) and starts it. */
  NodeSpec declare(String name, String roles, boolean admin, List<String> jvmOptions, List<String> extra) {
    NodeSpec spec =
        new NodeSpec(name, roles, freePort(), admin ? freePort() : 0, List.copyOf(jvmOptions), List.copyOf(extra));
    specs.put(name, spec);
    start(name);
    return spec;
  }

  /** Starts a declared node that is not running, on its ports. */
  void start(String name) {
    NodeSpec spec = specs.get(name);
    if (running.containsKey(name)) {
      throw new IllegalStateException(name + " is running");
    }
    // Seeds: every other running node. A node lists itself only when none runs: a node that is
    // the first of its own seed list forms a new cluster when the others do not answer at once
    // (say, the other coordinator node is still rejoining), and the cluster splits in two.
    List<String> seeds = new ArrayList<>();
    for (String other : running.keySet()) {
      seeds.add(specs.get(other).address());
    }
    if (seeds.isEmpty()) {
      seeds.add(spec.address());
    }
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(spec.jvmOptions());
    command.addAll(List.of("-Dai.djl.offline=true", "-jar", jar.toString(), "node", "--roles", spec.roles(),
        "--port", String.valueOf(spec.port()), "--metrics-port", String.valueOf(freePort()),
        "--seed-nodes", String.join(",", seeds)));
    if (spec.adminPort() > 0) {
      command.addAll(List.of("--admin-port", String.valueOf(spec.adminPort())));
    }
    command.addAll(spec.extra());
    int n = starts.merge(name, 1, Integer::sum);
    Path log = logDir.resolve(name + "-" + n + ".log");
    ProcessBuilder builder =
        new ProcessBuilder(command).directory(workDir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
    builder.environment().putAll(environment);
    try {
      running.put(name, builder.start());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start node " + name, e);
    }
    age.remove(name);
    age.add(name);
  }

  /** SIGKILL, and waits for the process to be gone. */
  void kill9(String name) throws InterruptedException {
    Process process = running.remove(name);
    if (process == null) {
      throw new IllegalStateException(name + " is not running");
    }
    process.destroyForcibly();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      throw new IllegalStateException(name + " (pid " + process.pid() + ") did not die of SIGKILL");
    }
    age.remove(name);
  }

  /** SIGSTOP: the JVM stops dead, as in a long GC pause, and keeps its sockets. */
  void freeze(String name) throws IOException, InterruptedException {
    signal(name, "STOP");
  }

  /** SIGCONT after {@link #freeze}. */
  void thaw(String name) throws IOException, InterruptedException {
    signal(name, "CONT");
  }

  private void signal(String name, String signal) throws IOException, InterruptedException {
    Process process = running.get(name);
    if (process == null) {
      throw new IllegalStateException(name + " is not running");
    }
    Process kill = new ProcessBuilder("kill", "-" + signal, String.valueOf(process.pid())).inheritIO().start();
    if (kill.waitFor() != 0) {
      throw new IOException("kill -" + signal + " " + process.pid() + " failed");
    }
  }

  /**
   * A line per declared node: running, or how it ended, and the last lines of its newest log
   * (for a message that says why a cluster did not come together).
   */
  String describe(int logLines) {
    StringBuilder out = new StringBuilder();
    for (NodeSpec spec : specs.values()) {
      Process process = running.get(spec.name());
      String state =
          process == null ? "not running" : process.isAlive() ? "running (pid " + process.pid() + ")" : "exited " + process.exitValue();
      out.append(spec.name()).append(" (").append(spec.address()).append("): ").append(state).append('\n');
      Path log = logDir.resolve(spec.name() + "-" + starts.get(spec.name()) + ".log");
      try {
        List<String> lines = Files.readAllLines(log);
        lines.subList(Math.max(0, lines.size() - logLines), lines.size()).forEach(l -> out.append("    ").append(l).append('\n'));
      } catch (IOException e) {
        out.append("    (no log: ").append(e.getMessage()).append(")\n");
      }
    }
    return out.toString();
  }

  /** Whether the node's process is running (a crashed or exited one is not). */
  boolean isRunning(String name) {
    Process process = running.get(name);
    return process != null && process.isAlive();
  }

  /** The oldest running node with {@code role}: for the coordinator role, the singleton's host. */
  String oldest(String role) {
    return age.stream()
        .filter(n -> specs.get(n).roles().contains(role))
        .findFirst()
        .orElseThrow(() -> new IllegalStateException("no running node has role " + role));
  }

  /** Declared nodes with {@code role}, in declaration order. */
  List<String> withRole(String role) {
    return specs.values().stream().filter(s -> s.roles().contains(role)).map(NodeSpec::name).toList();
  }

  NodeSpec spec(String name) {
    return specs.get(name);
  }

  int runningCount() {
    return running.size();
  }

  /** Admin fronts of the running nodes that serve one. */
  List<java.net.URI> adminFronts() {
    return running.keySet().stream()
        .filter(n -> specs.get(n).adminPort() > 0)
        .map(n -> java.net.URI.create("http://127.0.0.1:" + specs.get(n).adminPort() + "/"))
        .toList();
  }

  Path logDir() {
    return logDir;
  }

  @Override
  public void close() {
    for (Process process : running.values()) {
      try {
        // A frozen JVM ignores SIGTERM until thawed; SIGKILL ends it either way.
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    running.clear();
  }
}
