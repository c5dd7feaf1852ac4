package io.tessera.deploy;

import akka.actor.typed.ActorSystem;
import com.typesafe.config.Config;
import java.util.List;
import java.util.Set;

/** {@code bin/tessera node}: one long-running cluster node. */
final class NodeCommand {
  private NodeCommand() {}

  static int run(List<String> args) {
    CommandLine line = CommandLine.parse(args, NodeOptions.VALUED, NodeOptions.FLAGS);
    if (line.option("roles").isEmpty()) {
      throw new CommandLine.UsageException("node needs --roles, e.g. --roles coordinator,ps,worker");
    }
    if (!line.positional().isEmpty()) {
      throw new CommandLine.UsageException("unexpected argument " + line.positional().get(0));
    }
    Config config = NodeOptions.toConfig(line);
    boolean seeds = !config.getStringList("akka.cluster.seed-nodes").isEmpty();
    if (!seeds && !Management.bootstraps(config)) {
      throw new CommandLine.UsageException(
          "node needs --seed-nodes host:port,... (list this node itself to start a new cluster), or --bootstrap"
              + " to find the others through Akka Discovery (Cluster Bootstrap)");
    }
    if (seeds && Management.bootstraps(config)) {
      throw new CommandLine.UsageException("give either --seed-nodes or --bootstrap, not both");
    }
    TesseraNode.initMetrics(config);
    ActorSystem<NodeGuardian.Command> system = TesseraNode.start(config);
    system.getWhenTerminated().toCompletableFuture().join();
    return 0;
  }
}
