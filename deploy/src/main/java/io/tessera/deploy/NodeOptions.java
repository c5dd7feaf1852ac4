package io.tessera.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What {@code bin/tessera node} accepts, turned into configuration overrides on top of {@code
 * application.conf}.
 */
final class NodeOptions {
  static final Set<String> VALUED =
      Set.of(
          "roles", "host", "port", "seed-nodes", "data-dir", "workers", "admin-port", "metrics-port", "management-port",
          "config");
  /**
   * Flags without a value: {@code --simulated} workers use no GPU and load no DJL until needed;
   * {@code --bootstrap} joins by akka-management's Cluster Bootstrap instead of seed nodes.
   */
  static final Set<String> FLAGS = Set.of("simulated", "bootstrap");
  static final Set<String> KNOWN_ROLES = Set.of("coordinator", "ps", "worker");

  private NodeOptions() {}

  /** The node's configuration: command-line values over {@code --config FILE} over defaults. */
  static Config toConfig(CommandLine line) {
    Map<String, Object> overrides = new HashMap<>();
    line.option("roles").ifPresent(roles -> overrides.put("akka.cluster.roles", roles(roles)));
    line.option("host").ifPresent(host -> overrides.put("akka.remote.artery.canonical.hostname", host));
    line.option("host").ifPresent(host -> overrides.put("akka.management.http.hostname", host));
    line.option("port").ifPresent(port -> overrides.put("akka.remote.artery.canonical.port", line.intOption("port", 0)));
    line.option("seed-nodes").ifPresent(seeds -> overrides.put("akka.cluster.seed-nodes", seedNodes(seeds)));
    line.option("data-dir").ifPresent(dir -> overrides.put("tessera.worker.data-dir", dir));
    line.option("workers").ifPresent(n -> overrides.put("tessera.worker.count", line.intOption("workers", 0)));
    if (line.flag("simulated")) {
      overrides.put("tessera.worker.use-gpus", false);
    }
    if (line.flag("bootstrap")) {
      overrides.put("tessera.management.enabled", true);
      overrides.put("tessera.management.bootstrap", true);
    }
    line.option("management-port")
        .ifPresent(p -> overrides.put("akka.management.http.port", line.intOption("management-port", 0)));
    line.option("admin-port").ifPresent(p -> overrides.put("tessera.admin.port", line.intOption("admin-port", 0)));
    line.option("metrics-port")
        .ifPresent(p -> overrides.put("kamon.prometheus.embedded-server.port", line.intOption("metrics-port", 0)));
    Config base = ConfigFactory.load();
    if (line.option("config").isPresent()) {
      base =
          ConfigFactory.parseFile(new java.io.File(line.option("config").get()))
              .withFallback(base)
              .resolve();
    }
    return ConfigFactory.parseMap(overrides).withFallback(base);
  }

  private static List<String> roles(String roles) {
    List<String> parsed = new ArrayList<>();
    for (String role : roles.split(",")) {
      String trimmed = role.trim();
      if (!KNOWN_ROLES.contains(trimmed)) {
        throw new CommandLine.UsageException(
            "unknown role '" + trimmed + "'; roles are coordinator, ps and worker");
      }
      parsed.add(trimmed);
    }
    return parsed;
  }

  /** {@code host:port,host:port} to Akka addresses of the {@code tessera} system. */
  static List<String> seedNodes(String seeds) {
    List<String> addresses = new ArrayList<>();
    for (String seed : seeds.split(",")) {
      String trimmed = seed.trim();
      if (trimmed.startsWith("akka://")) {
        addresses.add(trimmed);
      } else if (trimmed.matches("[^:/]+:\\d+")) {
        addresses.add("akka://" + TesseraNode.SYSTEM_NAME + "@" + trimmed);
      } else {
        throw new CommandLine.UsageException("seed node '" + trimmed + "' is not host:port");
      }
    }
    return addresses;
  }
}
