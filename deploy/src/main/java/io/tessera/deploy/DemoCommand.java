package io.tessera.deploy;

import akka.actor.Cancellable;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.AskPattern;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.SpecException;
import io.tessera.worker.data.DatasetException;
import java.io.IOException;
import java.io.InputStream;
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

/**
 * {@code bin/tessera demo}: one JVM with every role (the coordinator, parameter shards, two
 * workers) trains a ViT on Fashion-MNIST, printing progress every few seconds and the test
 * accuracy at the end.
 */
final class DemoCommand {
  private static final Duration POLL = Duration.ofSeconds(5);
  private static final Duration ASK = Duration.ofSeconds(60);
  /** The demo's journal: a fresh H2 file per run, so no earlier run's jobs come back. */
  private static final Path DEMO_STATE = Path.of("data", "demo");

  /** The job the demo trains, from deploy/jobs/ (packaged into the jar). */
  static final String DEMO_JOB = "/jobs/fashion-mnist-vit.conf";

  private DemoCommand() {}

  static int run(List<String> args) {
    if (System.getProperty("tessera.log.level") == null) {
      System.setProperty("tessera.log.level", "WARN");
    }
    CommandLine line =
        CommandLine.parse(
            args, Set.of("data-dir", "from", "workers", "epochs", "spec", "admin-port", "metrics-port"), Set.of());
    Path dataDir = Path.of(line.option("data-dir").orElse(DataCommand.DEFAULT_DATA_DIR));
    PipelineSpec spec;
    try {
      DataCommand.fetch(dataDir, line.option("from").map(Path::of));
      spec = jobSpec(line);
    } catch (DatasetException | SpecException e) {
      System.err.println("tessera: " + e.getMessage());
      return 1;
    }
    int workers = line.intOption("workers", 2);
    if (workers < 1) {
      throw new CommandLine.UsageException("--workers must be at least 1");
    }
    clearDemoState();
    Config config = nodeConfig(line, dataDir, workers);
    TesseraNode.initMetrics(config);
    ActorSystem<NodeGuardian.Command> system = TesseraNode.start(config);
    try {
      Cluster cluster = Cluster.get(system);
      cluster.manager().tell(Join.create(cluster.selfMember().address()));
      return train(system, spec, workers);
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().join();
    }
  }

  private static void clearDemoState() {
    try {
      if (Files.isDirectory(DEMO_STATE)) {
        try (var files = Files.walk(DEMO_STATE)) {
          for (Path file : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
            Files.delete(file);
          }
        }
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("cannot clear the demo's journal in " + DEMO_STATE, e);
    }
  }

  /** The job to train: {@code --spec FILE} (one stage or several) or the demo's, with {@code --epochs}. */
  static PipelineSpec jobSpec(CommandLine line) {
    String text;
    try {
      if (line.option("spec").isPresent()) {
        text = Files.readString(Path.of(line.option("spec").get()));
      } else {
        try (InputStream in = DemoCommand.class.getResourceAsStream(DEMO_JOB)) {
          text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
      }
    } catch (IOException e) {
      throw new SpecException("cannot read the job spec: " + e.getMessage());
    }
    Config spec = JobSpecParser.read(text);
    if (line.option("epochs").isPresent()) {
      spec = spec.withValue("epochs", ConfigValueFactory.fromAnyRef(line.intOption("epochs", 1)));
    }
    return JobSpecParser.parsePipeline(spec.resolve().root().render(com.typesafe.config.ConfigRenderOptions.concise()));
  }

  private static Config nodeConfig(CommandLine line, Path dataDir, int workers) {
    Map<String, Object> overrides = new HashMap<>();
    overrides.put("akka.cluster.roles", List.of("coordinator", "ps", "worker"));
    overrides.put("akka.remote.artery.canonical.port", 0);
    overrides.put("akka.coordinated-shutdown.exit-jvm", "off");
    overrides.put("tessera.worker.count", workers);
    overrides.put("tessera.worker.data-dir", dataDir.toString());
    overrides.put("tessera.persistence.database", "h2");
    overrides.put("tessera.persistence.h2.file", DEMO_STATE.resolve("journal").toString());
    overrides.put("tessera.admin.enabled", line.option("admin-port").isPresent());
    line.option("admin-port").ifPresent(p -> overrides.put("tessera.admin.port", line.intOption("admin-port", 0)));
    line.option("metrics-port")
        .ifPresent(p -> overrides.put("kamon.prometheus.embedded-server.port", line.intOption("metrics-port", 0)));
    return ConfigFactory.parseMap(overrides).withFallback(ConfigFactory.load());
  }

  /** Submits the job and follows its stages in turn, printing progress and each stage's results. */
  private static int train(ActorSystem<NodeGuardian.Command> system, PipelineSpec spec, int workers) {
    ActorRef<CoordinatorProtocol.Command> coordinator = TesseraNode.coordinator(system);
    long start = System.nanoTime();
    CoordinatorProtocol.PipelineAccepted accepted =
        AskPattern.<CoordinatorProtocol.Command, CoordinatorProtocol.PipelineAccepted>askWithStatus(
                coordinator, replyTo -> new AdminProtocol.SubmitPipeline(spec, replyTo), ASK, system.scheduler())
            .toCompletableFuture()
            .join();
    int exit = 0;
    List<JobStatus> finished = new ArrayList<>();
    for (int i = 0; i < accepted.jobIds().size(); i++) {
      String jobId = accepted.jobIds().get(i);
      JobSpec stage = spec.stages().get(i);
      System.out.printf(
          "demo: training %s (%s%s) with %d workers and %d parameter shards%n",
          jobId, spec.name(), spec.stages().size() > 1 ? ", stage " + stage.stage().name() : "", workers,
          stage.shards());
      long stageStart = System.nanoTime();
      CompletableFuture<JobStatus> done = new CompletableFuture<>();
      Cancellable polling =
          system
              .scheduler()
              .scheduleAtFixedRate(
                  POLL,
                  POLL,
                  () -> printProgress(system, coordinator, jobId, start, done),
                  system.executionContext());
      JobStatus last = done.join();
      polling.cancel();
      finished.add(last);
      exit = Math.max(exit, report(last, (System.nanoTime() - stageStart) / 1e9));
      if (exit != 0) {
        break;
      }
    }
    if (spec.stages().size() > 1) {
      System.out.print(summary(spec.name(), finished, (System.nanoTime() - start) / 1e9));
    }
    return exit;
  }

  /** One line per finished stage: its members' best and mean test accuracy, the ensemble's, the loss. */
  static String summary(String pipeline, List<JobStatus> stages, double seconds) {
    StringBuilder out = new StringBuilder();
    out.append(String.format("demo: %s in %.0f s%n", pipeline, seconds));
    out.append(String.format(
        "  %-14s %-13s %7s %8s %8s %9s %9s %9s %10s%n",
        "stage", "kind", "members", "best", "mean", "averaged", "majority", "re-voted", "test loss"));
    for (JobStatus status : stages) {
      double best = Double.NaN;
      double sum = 0;
      double loss = 0;
      for (MemberResult result : status.results()) {
        best = Double.isNaN(best) || result.testAccuracy() > best ? result.testAccuracy() : best;
        sum += result.testAccuracy();
        loss += result.testLoss();
      }
      int members = status.results().size();
      CoordinatorProtocol.EnsembleResult ensemble = status.ensemble();
      out.append(String.format(
          "  %-14s %-13s %7d %8s %8s %9s %9s %9s %10s%n",
          status.stage(), status.kind().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'), members,
          figure(best), figure(members == 0 ? Double.NaN : sum / members),
          figure(ensemble == null ? Double.NaN : ensemble.averaged()),
          figure(ensemble == null ? Double.NaN : ensemble.majority()),
          figure(ensemble == null ? Double.NaN : ensemble.revoted()),
          figure(members == 0 ? Double.NaN : loss / members)));
    }
    return out.toString();
  }

  private static String figure(double value) {
    return Double.isNaN(value) ? "-" : String.format("%.4f", value);
  }

  private static void printProgress(
      ActorSystem<?> system,
      ActorRef<CoordinatorProtocol.Command> coordinator,
      String jobId,
      long start,
      CompletableFuture<JobStatus> finished) {
    AskPattern.<CoordinatorProtocol.Command, JobStatus>askWithStatus(
            coordinator, replyTo -> new AdminProtocol.GetJobStatus(jobId, replyTo), ASK, system.scheduler())
        .whenComplete(
            (status, failure) -> {
              if (failure != null) {
                System.out.println("demo: no status yet (" + failure.getMessage() + ")");
              } else if (!finished.isDone()) {
                System.out.println(ProgressLine.format((System.nanoTime() - start) / 1e9, status));
                if (status.state().isFinished()) {
                  finished.complete(status);
                }
              }
            });
  }

  private static int report(JobStatus status, double seconds) {
    if (status.state() != CoordinatorProtocol.JobState.COMPLETED) {
      System.out.println("demo: the job " + status.state().name().toLowerCase() + ": " + status.failure());
      return 1;
    }
    System.out.printf(
        "demo: trained %d samples in %.0f s (%.0f samples/s overall)%n",
        status.samplesDone(), seconds, status.samplesDone() / seconds);
    for (MemberResult result : status.results()) {
      if (Double.isNaN(result.testAccuracy())) {
        System.out.printf(
            "Test loss: %.4f (%d Fashion-MNIST test images, member %s, stage %s)%n",
            result.testLoss(), result.testSamples(), result.name(), status.stage());
      } else {
        System.out.printf(
            "Test accuracy: %.4f (%d Fashion-MNIST test images, member %s%s)%s%n",
            result.testAccuracy(), result.testSamples(), result.name(),
            status.stage().equals("main") ? "" : ", stage " + status.stage(),
            Double.isNaN(result.validationAccuracy())
                ? ""
                : String.format("; validation accuracy %.4f", result.validationAccuracy()));
      }
    }
    for (int member = 0; member < status.stoppedAfterEpoch().size(); member++) {
      int epoch = status.stoppedAfterEpoch().get(member);
      if (epoch >= 0) {
        System.out.printf(
            "Early stopping: member %d stopped after epoch %d (counting from 0), its validation accuracy no longer rising%n",
            member, epoch);
      }
    }
    if (status.ensemble() != null) {
      System.out.printf(
          "Ensemble test accuracy (stage %s): averaged %.4f, majority vote %.4f, per-class re-voting %.4f%n",
          status.stage(), status.ensemble().averaged(), status.ensemble().majority(), status.ensemble().revoted());
    }
    return 0;
  }
}
