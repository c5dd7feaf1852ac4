package io.tessera.deploy;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.AskPattern;
import akka.cluster.typed.Cluster;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tessera.deploy.reference.ReferenceTrainer;
import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.worker.data.FashionMnist;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code bin/tessera bench throughput}: trains the same job twice on this machine, once with the
 * single-process reference trainer and once through the cluster (this JVM runs the coordinator and
 * one worker, a second JVM hosts the parameter shards), and prints the throughput ratio.
 */
final class BenchCommand {
  private static final Duration ASK = Duration.ofSeconds(60);
  private static final long POLL_MILLIS = 200;

  private BenchCommand() {}

  static int run(List<String> args) {
    CommandLine line =
        CommandLine.parse(
            args,
            Set.of("data-dir", "spec", "epochs", "threads", "megabytes", "shards", "dir", "interval", "workers", "rounds", "windows", "window", "mae-spec", "flip-spec"),
            Set.of());
    String which = line.positional().isEmpty() ? "" : line.positional().get(0);
    switch (which) {
      case "sync" -> {
        return syncThroughput(line);
      }
      case "throughput" -> {
        return throughput(line);
      }
      case "checkpoints" -> {
        return checkpointOverhead(line);
      }
      case "checkpoint-write" -> {
        try {
          return CheckpointBench.run(
              line.intOption("megabytes", 100),
              line.intOption("shards", 16),
              line.intOption("rounds", 5),
              Path.of(line.option("dir").orElse("data/bench")).toAbsolutePath());
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
      case "masking" -> {
        int threads = line.intOption("threads", 1);
        System.setProperty("ai.djl.pytorch.num_threads", String.valueOf(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Path dataDir = Path.of(line.option("data-dir").orElse(DataCommand.DEFAULT_DATA_DIR));
        DataCommand.fetch(dataDir, java.util.Optional.empty());
        return MaskingBench.run(
            FashionMnist.load(dataDir), line.intOption("windows", 20), line.intOption("window", 256),
            line.option("mae-spec").map(Path::of), line.option("flip-spec").map(Path::of));
      }
      default ->
          throw new CommandLine.UsageException(
              "usage: bin/tessera bench throughput|sync|checkpoints|checkpoint-write|masking [options]");
    }
  }

  private static int throughput(CommandLine line) {
    int threads = line.intOption("threads", Runtime.getRuntime().availableProcessors());
    System.setProperty("ai.djl.pytorch.num_threads", String.valueOf(threads));
    System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
    System.setProperty("ai.djl.offline", "true");
    if (System.getProperty("tessera.log.level") == null) {
      System.setProperty("tessera.log.level", "WARN");
    }
    Path dataDir = Path.of(line.option("data-dir").orElse(DataCommand.DEFAULT_DATA_DIR));
    JobSpec spec = spec(line);
    FashionMnist data = FashionMnist.load(dataDir);

    System.out.printf(
        "bench: %s, %d epoch(s), global batch %d, micro-batch %d, %d PyTorch threads%n",
        spec.name(), spec.epochs(), spec.globalBatch(), spec.microBatch(), threads);
    ReferenceTrainer.Result reference = ReferenceTrainer.train(spec, 0, data, m -> System.out.println("reference: " + m));
    System.out.printf("reference: %.0f samples/s, test accuracy %.4f%n", reference.samplesPerSecond(), reference.testAccuracy());

    double cluster = clusterThroughput(spec, dataDir);
    System.out.printf("cluster:   %.0f samples/s (coordinator + 1 worker here, parameter shards in a second JVM)%n", cluster);
    System.out.printf("ratio cluster/reference: %.3f%n", cluster / reference.samplesPerSecond());
    return 0;
  }

  /**
   * The demo's job in {@code sync} mode: the reference trainer in a JVM of its own with one
   * PyTorch thread per core, then the cluster in this JVM with {@code --workers} (2) workers of one
   * thread each, the same global batch; prints the throughput ratio.
   */
  private static int syncThroughput(CommandLine line) {
    int workers = line.intOption("workers", 2);
    int cores = Runtime.getRuntime().availableProcessors();
    System.setProperty("ai.djl.pytorch.num_threads", "1");
    System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
    System.setProperty("ai.djl.offline", "true");
    if (System.getProperty("tessera.log.level") == null) {
      System.setProperty("tessera.log.level", "WARN");
    }
    Path dataDir = Path.of(line.option("data-dir").orElse(DataCommand.DEFAULT_DATA_DIR)).toAbsolutePath();
    Config config = specConfig(line, 1).withValue("mode", ConfigValueFactory.fromAnyRef("sync")).resolve();
    JobSpec spec = JobSpecParser.parse(config);
    System.out.printf(
        "bench sync: %s, %d epoch(s), global batch %d, micro-batch %d; reference with %d threads, cluster with %d"
            + " workers of 1 thread%n",
        spec.name(), spec.epochs(), spec.globalBatch(), spec.microBatch(), cores, workers);
    double reference = referenceInItsOwnJvm(config, dataDir, cores);
    System.out.printf("reference: %.0f samples/s%n", reference);
    double cluster = inOneJvm(spec, dataDir, workers);
    System.out.printf("cluster:   %.0f samples/s (sync, %d workers)%n", cluster, workers);
    System.out.printf("ratio cluster/reference: %.3f%n", cluster / reference);
    return 0;
  }

  /** Runs {@code bin/tessera reference} on {@code spec} in a new JVM and reads its samples/s. */
  private static double referenceInItsOwnJvm(Config spec, Path dataDir, int threads) {
    try {
      Path specFile = Files.createTempFile("tessera-bench", ".conf");
      Files.writeString(specFile, spec.root().render(com.typesafe.config.ConfigRenderOptions.concise()));
      Path jar = Path.of(BenchCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      List<String> command =
          List.of(
              Path.of(System.getProperty("java.home"), "bin", "java").toString(),
              "-Dai.djl.pytorch.num_threads=" + threads,
              "-Dai.djl.pytorch.num_interop_threads=1",
              "-jar", jar.toString(), "reference", specFile.toString(), "--data-dir", dataDir.toString());
      Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
      String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (process.waitFor() != 0) {
        throw new IllegalStateException("the reference run failed:\n" + output);
      }
      java.util.regex.Matcher rate = java.util.regex.Pattern.compile("reference: .* ([0-9]+) samples/s").matcher(output);
      if (!rate.find()) {
        throw new IllegalStateException("no throughput in the reference run's output:\n" + output);
      }
      return Double.parseDouble(rate.group(1));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /**
   * The demo's job in one JVM with every role and two workers, once with checkpoints off and once
   * every {@code --interval} (30 s), each on a fresh H2 journal.
   */
  private static int checkpointOverhead(CommandLine line) {
    System.setProperty("ai.djl.pytorch.num_threads", "1");
    System.setProperty("ai.djl.offline", "true");
    if (System.getProperty("tessera.log.level") == null) {
      System.setProperty("tessera.log.level", "WARN");
    }
    Path dataDir = Path.of(line.option("data-dir").orElse(DataCommand.DEFAULT_DATA_DIR));
    String interval = line.option("interval").orElse("30s");
    JobSpec base = spec(line, 4);
    double off = inOneJvm(withCheckpointInterval(base, "0s"), dataDir);
    System.out.printf("checkpoints off:          %.0f samples/s%n", off);
    double on = inOneJvm(withCheckpointInterval(base, interval), dataDir);
    System.out.printf("checkpoints every %s:    %.0f samples/s%n", interval, on);
    System.out.printf("ratio on/off: %.3f%n", on / off);
    return 0;
  }

  private static JobSpec withCheckpointInterval(JobSpec spec, String interval) {
    Config config =
        ConfigFactory.parseString("checkpoint.interval = " + interval)
            .withFallback(ConfigFactory.parseResources(DemoCommand.DEMO_JOB.substring(1)))
            .withValue("epochs", ConfigValueFactory.fromAnyRef(spec.epochs()));
    return JobSpecParser.parse(config.resolve());
  }

  private static double inOneJvm(JobSpec spec, Path dataDir) {
    return inOneJvm(spec, dataDir, 2);
  }

  private static double inOneJvm(JobSpec spec, Path dataDir, int workers) {
    Path journal;
    try {
      journal = Files.createTempDirectory("tessera-bench").resolve("journal");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Map<String, Object> overrides = new HashMap<>();
    overrides.put("akka.cluster.roles", List.of("coordinator", "ps", "worker"));
    overrides.put("akka.remote.artery.canonical.port", 0);
    overrides.put("akka.coordinated-shutdown.exit-jvm", "off");
    overrides.put("tessera.worker.count", workers);
    overrides.put("tessera.worker.data-dir", dataDir.toString());
    overrides.put("tessera.admin.enabled", "off");
    overrides.put("tessera.persistence.h2.file", journal.toString());
    ActorSystem<NodeGuardian.Command> system =
        TesseraNode.start(ConfigFactory.parseMap(overrides).withFallback(ConfigFactory.load()));
    try {
      Cluster cluster = Cluster.get(system);
      cluster.manager().tell(akka.cluster.typed.Join.create(cluster.selfMember().address()));
      return measure(system, spec);
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().join();
    }
  }

  private static JobSpec spec(CommandLine line) {
    return spec(line, 1);
  }

  private static JobSpec spec(CommandLine line, int defaultEpochs) {
    return JobSpecParser.parse(specConfig(line, defaultEpochs).resolve());
  }

  /** {@code --spec FILE} (else the demo's job) with {@code --epochs}. */
  private static Config specConfig(CommandLine line, int defaultEpochs) {
    try {
      String text;
      if (line.option("spec").isPresent()) {
        text = Files.readString(Path.of(line.option("spec").get()));
      } else {
        try (InputStream in = BenchCommand.class.getResourceAsStream(DemoCommand.DEMO_JOB)) {
          text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
      }
      return JobSpecParser.read(text)
          .withValue("epochs", ConfigValueFactory.fromAnyRef(line.intOption("epochs", defaultEpochs)));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static double clusterThroughput(JobSpec spec, Path dataDir) {
    int seedPort = freePort();
    Path journal;
    try {
      journal = Files.createTempDirectory("tessera-bench").resolve("journal");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Process shards = startShardNode(seedPort, journal);
    try {
      Map<String, Object> overrides = new HashMap<>();
      overrides.put("akka.cluster.roles", List.of("coordinator", "worker"));
      overrides.put("akka.remote.artery.canonical.port", 0);
      overrides.put("akka.cluster.seed-nodes", List.of("akka://" + TesseraNode.SYSTEM_NAME + "@127.0.0.1:" + seedPort));
      overrides.put("akka.coordinated-shutdown.exit-jvm", "off");
      overrides.put("tessera.worker.count", 1);
      overrides.put("tessera.worker.data-dir", dataDir.toString());
      overrides.put("tessera.admin.enabled", "off");
      overrides.put("tessera.persistence.h2.file", journal.toString());
      ActorSystem<NodeGuardian.Command> system =
          TesseraNode.start(ConfigFactory.parseMap(overrides).withFallback(ConfigFactory.load()));
      try {
        awaitMembers(system, 2);
        return measure(system, spec);
      } finally {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().join();
      }
    } finally {
      shards.destroy();
    }
  }

  /** Training throughput from the first acknowledged split to the last, sampled every 200 ms. */
  private static double measure(ActorSystem<NodeGuardian.Command> system, JobSpec spec) {
    ActorRef<CoordinatorProtocol.Command> coordinator = TesseraNode.coordinator(system);
    String jobId =
        AskPattern.<CoordinatorProtocol.Command, CoordinatorProtocol.JobAccepted>askWithStatus(
                coordinator, replyTo -> new AdminProtocol.SubmitJob(spec, replyTo), ASK, system.scheduler())
            .toCompletableFuture()
            .join()
            .jobId();
    long firstSamples = -1;
    long firstNanos = 0;
    while (true) {
      pause(POLL_MILLIS);
      JobStatus status =
          AskPattern.<CoordinatorProtocol.Command, JobStatus>askWithStatus(
                  coordinator, replyTo -> new AdminProtocol.GetJobStatus(jobId, replyTo), ASK, system.scheduler())
              .toCompletableFuture()
              .join();
      if (firstSamples < 0 && status.samplesDone() > 0) {
        firstSamples = status.samplesDone();
        firstNanos = System.nanoTime();
      }
      if (status.state().isFinished() || (status.samplesTotal() > 0 && status.samplesDone() == status.samplesTotal())) {
        if (status.state() == CoordinatorProtocol.JobState.FAILED
            || status.state() == CoordinatorProtocol.JobState.CANCELLED) {
          throw new IllegalStateException("benchmark job " + status.state() + ": " + status.failure());
        }
        return (status.samplesDone() - firstSamples) * 1e9 / (System.nanoTime() - firstNanos);
      }
    }
  }

  private static void pause(long millis) {
    CompletableFuture.runAsync(() -> {}, CompletableFuture.delayedExecutor(millis, TimeUnit.MILLISECONDS)).join();
  }

  private static void awaitMembers(ActorSystem<?> system, int count) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (java.util.stream.StreamSupport.stream(Cluster.get(system).state().getMembers().spliterator(), false).count() < count) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the parameter-shard JVM did not join within 60 s");
      }
      pause(POLL_MILLIS);
    }
  }

  private static Process startShardNode(int port, Path journal) {
    try {
      Path jar = Path.of(BenchCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      List<String> command = new ArrayList<>();
      command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      command.addAll(List.of("-jar", jar.toString(), "node", "--roles", "ps", "--port", String.valueOf(port),
          "--seed-nodes", "127.0.0.1:" + port, "--metrics-port", String.valueOf(freePort())));
      ProcessBuilder builder =
          new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD);
      builder.environment().put("TESSERA_H2_FILE", journal.toString());
      return builder.start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start the parameter-shard JVM", e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  private static int freePort() {
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
