package io.tessera.deploy;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.AskPattern;
import com.typesafe.config.Config;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import java.time.Duration;
import kamon.Kamon;

/**
 * Starts Tessera nodes: an actor system whose guardian brings up the roles in its configuration.
 * Commands call {@link #initMetrics} once per JVM first; tests that run several nodes in one JVM
 * skip it (Kamon's instruments work without reporters).
 */
public final class TesseraNode {
  public static final String SYSTEM_NAME = "tessera";

  private TesseraNode() {}

  /**
   * Starts a node. PyTorch's thread counts are fixed before DJL loads: each worker gets an equal
   * share of the cores unless {@code ai.djl.pytorch.num_threads} is set already. The cluster
   * transport is TLS when the node's address is not loopback (see {@link ClusterTransport}); a node
   * that needs TLS and has no key material throws before anything listens.
   */
  public static ActorSystem<NodeGuardian.Command> start(Config config) {
    Config configured = Persistence.configure(ClusterTransport.configure(config));
    AdminTransport.check(configured);
    configureTorchThreads(config);
    Persistence.createTables(configured);
    ActorSystem<NodeGuardian.Command> system = ActorSystem.create(NodeGuardian.create(configured), SYSTEM_NAME, configured);
    Management.start(system);
    return system;
  }

  /** Starts Kamon and its Prometheus reporter; once per JVM. */
  static void initMetrics(Config config) {
    Kamon.init(config);
  }

  static void configureTorchThreads(Config config) {
    int workers = Math.max(1, config.getInt("tessera.worker.count"));
    int cores = Runtime.getRuntime().availableProcessors();
    if (System.getProperty("ai.djl.pytorch.num_threads") == null) {
      System.setProperty("ai.djl.pytorch.num_threads", String.valueOf(Math.max(1, cores / workers)));
    }
    if (System.getProperty("ai.djl.pytorch.num_interop_threads") == null) {
      System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
    }
    System.setProperty("ai.djl.offline", "true");
  }

  /** The node's proxy to the coordinator singleton. */
  public static ActorRef<CoordinatorProtocol.Command> coordinator(ActorSystem<NodeGuardian.Command> system) {
    return AskPattern.<NodeGuardian.Command, ActorRef<CoordinatorProtocol.Command>>ask(
            system, NodeGuardian.GetCoordinator::new, Duration.ofSeconds(10), system.scheduler())
        .toCompletableFuture()
        .join();
  }
}
