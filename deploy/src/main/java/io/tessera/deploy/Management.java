package io.tessera.deploy;

import akka.actor.typed.ActorSystem;
import akka.management.cluster.bootstrap.ClusterBootstrap;
import akka.management.javadsl.AkkaManagement;

/**
 * akka-management on a node, when {@code tessera.management.enabled}: the health checks {@code
 * /ready} (member Up, journal reachable) and {@code /alive} that Kubernetes probes ask, and the
 * read-only cluster routes; and, when {@code tessera.management.bootstrap}, Cluster Bootstrap: a
 * node without seed nodes finds the others through Akka Discovery ({@code kubernetes-api} in
 * Kubernetes, {@code config} for a fixed list) and they form or join the cluster by asking each
 * other's management endpoints.
 */
final class Management {
  private Management() {}

  static void start(ActorSystem<?> system) {
    if (!system.settings().config().getBoolean("tessera.management.enabled")) {
      return;
    }
    AkkaManagement.get(system)
        .start()
        .whenComplete(
            (uri, failure) -> {
              if (failure != null) {
                system.log().error("akka-management could not start: {}", failure.getMessage());
              } else {
                system.log().info("akka-management listening on {}", uri);
              }
            });
    if (bootstraps(system.settings().config())) {
      system.log().info(
          "Cluster Bootstrap: looking for contact points of '{}' with discovery '{}'",
          system.settings().config().getString("akka.management.cluster.bootstrap.contact-point-discovery.service-name"),
          system.settings().config().getString("akka.discovery.method"));
      ClusterBootstrap.get(system).start();
    }
  }

  /** Whether the node joins by Cluster Bootstrap (which needs akka-management on) instead of seeds. */
  static boolean bootstraps(com.typesafe.config.Config config) {
    return config.getBoolean("tessera.management.enabled") && config.getBoolean("tessera.management.bootstrap");
  }
}
