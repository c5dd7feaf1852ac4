package io.tessera.tests;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A Tessera node in a JVM of its own, started from the fat jar the way the README says; its output
 * goes to a log file under {@code target/it-logs}.
 */
final class NodeProcess implements AutoCloseable {
  private final String name;
  private final Process process;
  private final Path log;

  private NodeProcess(String name, Process process, Path log) {
    this.name = name;
    this.process = process;
    this.log = log;
  }

  /** The jar {@code mvn package} built in the deploy module. */
  static Path jar() {
    Path jar =
        Path.of(System.getProperty("tessera.test.jar", "../deploy/target/tessera.jar")).toAbsolutePath();
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException("no " + jar + "; build it with mvn package first");
    }
    return jar;
  }

  /** Runs {@code bin/tessera}-style arguments in a new JVM, in {@code workDir}. */
  static NodeProcess start(String name, Path workDir, Map<String, String> env, List<String> args) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Xmx512m");
    command.add("-Dai.djl.offline=true");
    command.add("-Dai.djl.pytorch.num_threads=1");
    command.add("-Dai.djl.pytorch.num_interop_threads=1");
    command.add("-jar");
    command.add(jar().toString());
    command.addAll(args);
    try {
      Path logs = Files.createDirectories(Path.of("target", "it-logs"));
      Path log = logs.resolve(name + ".log");
      ProcessBuilder builder =
          new ProcessBuilder(command)
              .directory(workDir.toFile())
              .redirectErrorStream(true)
              .redirectOutput(log.toFile());
      builder.environment().putAll(env);
      return new NodeProcess(name, builder.start(), log);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + name, e);
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

  /** SIGKILL: the JVM gets no chance to leave the cluster or clean up. */
  void kill9() {
    process.destroyForcibly();
  }

  boolean isAlive() {
    return process.isAlive();
  }

  Process process() {
    return process;
  }

  File logFile() {
    return log.toFile();
  }

  @Override
  public void close() {
    process.destroyForcibly();
  }
}
