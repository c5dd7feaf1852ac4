package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.Address;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.AskPattern;
import akka.cluster.MemberStatus;
import akka.cluster.sharding.ShardRegion.CurrentShardRegionState;
import akka.cluster.sharding.typed.GetShardRegionState;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.tessera.deploy.NodeGuardian;
import io.tessera.deploy.TesseraNode;
import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.JobSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Several Tessera nodes, each its own ActorSystem, in this JVM on loopback: the first node is the
 * seed. Closing it terminates them all.
 */
final class TestCluster implements AutoCloseable {
  private static final Duration ASK = Duration.ofSeconds(30);

  private final List<ActorSystem<NodeGuardian.Command>> nodes = new ArrayList<>();
  private final Address seed;
  private final ActorRef<CoordinatorProtocol.Command> coordinator;

  private final Path journal;
  private final Map<String, Object> database;

  private TestCluster(ActorSystem<NodeGuardian.Command> first, Path journal, Map<String, Object> database) {
    this.journal = journal;
    this.database = database;
    nodes.add(first);
    Cluster cluster = Cluster.get(first);
    seed = cluster.selfMember().address();
    cluster.manager().tell(Join.create(seed));
    coordinator = TesseraNode.coordinator(first);
  }

  /** Starts the seed node with {@code roles}; every node shares one fresh H2 journal. */
  static TestCluster start(String... roles) {
    Path journal = freshJournal();
    return start(h2(journal), roles);
  }

  /**
   * Starts the seed node with {@code roles}, journaling to the database that {@code database}
   * configures (see {@link #h2} and {@link #postgres}); every node of the cluster shares it.
   */
  static TestCluster start(Map<String, Object> database, String... roles) {
    Object file = database.get("tessera.persistence.h2.file");
    Path journal = file == null ? null : Path.of(file.toString());
    return new TestCluster(TesseraNode.start(nodeConfig(List.of(roles), List.of(), database)), journal, database);
  }

  /** Settings for an H2 journal in {@code file}. */
  static Map<String, Object> h2(Path file) {
    return Map.of("tessera.persistence.database", "h2", "tessera.persistence.h2.file", file.toString());
  }

  /** Settings for a PostgreSQL journal at {@code jdbcUrl}. */
  static Map<String, Object> postgres(String jdbcUrl) {
    return Map.of(
        "tessera.persistence.database", "postgres",
        "tessera.persistence.postgres.url", jdbcUrl,
        "tessera.persistence.postgres.user", "postgres",
        "tessera.persistence.postgres.password", "");
  }

  /** A fresh H2 file under target/journals. */
  static Path freshJournal() {
    try {
      Path dir = Files.createDirectories(Path.of("target", "journals"));
      return Files.createTempDirectory(dir, "cluster").resolve("journal").toAbsolutePath();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }



  /** Starts another node that joins the seed, and waits until it is a member. */
  ActorSystem<NodeGuardian.Command> addNode(String... roles) {
    ActorSystem<NodeGuardian.Command> node =
        TesseraNode.start(nodeConfig(List.of(roles), List.of(seed.toString()), database));
    nodes.add(node);
    TestProbe<Object> probe = TestProbe.create(node);
    probe.awaitAssert(
        Duration.ofSeconds(30),
        () -> {
          assertTrue(Cluster.get(node).selfMember().status() == MemberStatus.up());
          return null;
        });
    return node;
  }

  /** Terminates one node (a graceful leave) and waits until it is gone. */
  void stopNode(ActorSystem<NodeGuardian.Command> node) {
    node.terminate();
    node.getWhenTerminated().toCompletableFuture().join();
    nodes.removeIf(n -> n == node); // identity: ActorSystem adapters may be equal to one another
  }

  ActorSystem<NodeGuardian.Command> seedNode() {
    return nodes.get(0);
  }

  List<ActorSystem<NodeGuardian.Command>> nodes() {
    return List.copyOf(nodes);
  }

  /** The H2 file every node of this cluster journals to (without its .mv.db suffix). */
  Path journal() {
    return journal;
  }

  /** Asks a parameter shard for its counters, through the seed's sharding proxy. */
  ShardProtocol.ShardStatus shardStatus(String jobId, int member, int shard) {
    return ClusterSharding.get(seedNode())
        .entityRefFor(ShardProtocol.ENTITY_TYPE_KEY, ShardProtocol.entityId(jobId, member, shard))
        .<ShardProtocol.ShardStatus>ask(ShardProtocol.GetStatus::new, ASK)
        .toCompletableFuture()
        .join();
  }

  /** The parameter-shard entities {@code node} hosts now. */
  Set<String> hostedShards(ActorSystem<NodeGuardian.Command> node) {
    TestProbe<CurrentShardRegionState> probe = TestProbe.create(node);
    ClusterSharding.get(node).shardState().tell(new GetShardRegionState(ShardProtocol.ENTITY_TYPE_KEY, probe.ref()));
    Set<String> entities = new HashSet<>();
    probe.receiveMessage(ASK).getShards().forEach(shard -> entities.addAll(shard.getEntityIds()));
    return entities;
  }

  /** The coordinator's audit log: every acknowledged operator command, oldest first. */
  List<CoordinatorProtocol.AuditRecord> auditLog() {
    return AskPattern.<CoordinatorProtocol.Command, CoordinatorProtocol.AuditLog>ask(
            coordinator, AdminProtocol.GetAuditLog::new, ASK, seedNode().scheduler())
        .toCompletableFuture()
        .join()
        .records();
  }

  /** Has the job take a checkpoint now; returns its id. */
  long requestCheckpoint(String jobId) {
    return AskPattern.<CoordinatorProtocol.Command, CoordinatorProtocol.CheckpointRequested>askWithStatus(
            coordinator, replyTo -> new AdminProtocol.RequestCheckpoint(jobId, replyTo), ASK, seedNode().scheduler())
        .toCompletableFuture()
        .join()
        .checkpointId();
  }

  String submit(JobSpec spec) {
    return AskPattern.<CoordinatorProtocol.Command, CoordinatorProtocol.JobAccepted>askWithStatus(
            coordinator, replyTo -> new AdminProtocol.SubmitJob(spec, replyTo), ASK, seedNode().scheduler())
        .toCompletableFuture()
        .join()
        .jobId();
  }

  /** Submits a pipeline; returns its stages' job ids, in order. */
  List<String> submit(io.tessera.protocol.spec.PipelineSpec pipeline) {
    return AskPattern.<CoordinatorProtocol.Command, CoordinatorProtocol.PipelineAccepted>askWithStatus(
            coordinator, replyTo -> new AdminProtocol.SubmitPipeline(pipeline, replyTo), ASK, seedNode().scheduler())
        .toCompletableFuture()
        .join()
        .jobIds();
  }

  /** Cancels a job (or every unfinished stage of a pipeline); returns the ids cancelled. */
  List<String> cancel(String jobId) {
    return AskPattern.<CoordinatorProtocol.Command, CoordinatorProtocol.JobCancelled>askWithStatus(
            coordinator, replyTo -> new AdminProtocol.CancelJob(jobId, replyTo), ASK, seedNode().scheduler())
        .toCompletableFuture()
        .join()
        .jobIds();
  }

  /** Asks the coordinator an operator command and returns its answer; a refusal throws. */
  <T> T admin(java.util.function.Function<ActorRef<akka.pattern.StatusReply<T>>, CoordinatorProtocol.Command> command) {
    return AskPattern.<CoordinatorProtocol.Command, T>askWithStatus(coordinator, command::apply, ASK, seedNode().scheduler())
        .toCompletableFuture()
        .join();
  }

  /** Every job the coordinator keeps, oldest first. */
  List<JobStatus> jobs() {
    return AskPattern.<CoordinatorProtocol.Command, CoordinatorProtocol.JobList>ask(
            coordinator, AdminProtocol.ListJobs::new, ASK, seedNode().scheduler())
        .toCompletableFuture()
        .join()
        .jobs();
  }

  JobStatus status(String jobId) {
    return AskPattern.<CoordinatorProtocol.Command, JobStatus>askWithStatus(
            coordinator, replyTo -> new AdminProtocol.GetJobStatus(jobId, replyTo), ASK, seedNode().scheduler())
        .toCompletableFuture()
        .join();
  }

  AccumulationHistory accumulationHistory(String jobId) {
    return AskPattern.<CoordinatorProtocol.Command, AccumulationHistory>askWithStatus(
            coordinator,
            replyTo -> new AdminProtocol.GetAccumulationHistory(jobId, replyTo),
            ASK,
            seedNode().scheduler())
        .toCompletableFuture()
        .join();
  }

  /** The mean training loss of every step of a sync job's member, in order. */
  List<Double> trainingCurve(String jobId, int member) {
    return AskPattern.<CoordinatorProtocol.Command, CoordinatorProtocol.TrainingCurve>askWithStatus(
            coordinator,
            replyTo -> new AdminProtocol.GetTrainingCurve(jobId, member, replyTo),
            ASK,
            seedNode().scheduler())
        .toCompletableFuture()
        .join()
        .stepLosses();
  }

  /** The coordinator's view of the workers, drained ones included. */
  List<CoordinatorProtocol.WorkerInfo> workers() {
    return AskPattern.<CoordinatorProtocol.Command, CoordinatorProtocol.WorkerList>ask(
            coordinator, AdminProtocol.ListWorkers::new, ASK, seedNode().scheduler())
        .toCompletableFuture()
        .join()
        .workers();
  }

  /** Polls the job's status until {@code condition} holds; fails after {@code timeout}. */
  JobStatus awaitStatus(String jobId, Duration timeout, String what, Predicate<JobStatus> condition) {
    TestProbe<Object> probe = TestProbe.create(seedNode());
    return probe.awaitAssert(
        timeout,
        Duration.ofMillis(500),
        () -> {
          JobStatus status = status(jobId);
          assertTrue(condition.test(status), "waiting for " + what + "; job is " + status);
          return status;
        });
  }

  JobStatus awaitFinished(String jobId, Duration timeout) {
    return awaitStatus(jobId, timeout, "the job to finish", s -> s.state().isFinished());
  }

  @Override
  public void close() {
    for (int i = nodes.size() - 1; i >= 0; i--) {
      nodes.get(i).terminate();
    }
    for (ActorSystem<NodeGuardian.Command> node : nodes) {
      node.getWhenTerminated().toCompletableFuture().join();
    }
    nodes.clear();
  }

  private static Config nodeConfig(List<String> roles, List<String> seeds, Map<String, Object> database) {
    Map<String, Object> overrides = new HashMap<>();
    overrides.put("akka.cluster.roles", roles);
    overrides.put("akka.cluster.seed-nodes", seeds);
    overrides.put("akka.remote.artery.canonical.port", 0);
    overrides.put("akka.cluster.jmx.multi-mbeans-in-same-jvm", "on");
    overrides.put("akka.coordinated-shutdown.exit-jvm", "off");
    overrides.put("tessera.worker.count", 1);
    overrides.put("tessera.worker.data-dir", TestJobs.subsetDir().toString());
    overrides.put("tessera.admin.enabled", "off");
    overrides.putAll(database);
    return ConfigFactory.parseMap(overrides).withFallback(ConfigFactory.load());
  }
}
