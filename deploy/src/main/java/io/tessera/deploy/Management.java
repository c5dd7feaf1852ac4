package io.tessera.deploy;

import akka.actor.typed.ActorSystem;
import akka.management.javadsl.AkkaManagement;

/**
 * akka-management on a node, when {@code tessera.management.enabled}: the health checks {@code
 * /ready} (member Up, journal reachable) and {@code /alive} that Kubernetes probes ask, and the
 * read-only cluster routes. Cluster Bootstrap is not started here.
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
  }
}
