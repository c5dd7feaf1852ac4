package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.tessera.protocol.spec.SpecException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The configuration a node starts with, as the command line and application.conf make it. */
class NodeConfigurationTest {

  @Test
  void remoteFramesHoldTheLargestMessageTheSerializerMayProduce() {
    // Without this, pulls and pushes above Akka's default 256 KiB frame fail to serialize.
    Config config = ConfigFactory.load();
    assertEquals(
        config.getBytes("tessera.serialization.max-message-bytes"),
        config.getBytes("akka.remote.artery.advanced.maximum-frame-size"));
  }

  @Test
  void unreachableNodesAreDownedByTheSplitBrainResolverKeepingTheMajority() {
    Config config = ConfigFactory.load();
    assertEquals("akka.cluster.sbr.SplitBrainResolverProvider", config.getString("akka.cluster.downing-provider-class"));
    assertEquals("keep-majority", config.getString("akka.cluster.split-brain-resolver.active-strategy"));
  }

  @Test
  void commandLineOptionsBecomeConfiguration() {
    CommandLine line =
        CommandLine.parse(
            List.of("--roles", "coordinator,ps", "--port", "2600", "--seed-nodes", "127.0.0.1:2600,host-b:2601",
                "--workers", "3", "--data-dir", "/data/fm", "--admin-port", "7400", "--metrics-port", "9300"),
            NodeOptions.VALUED,
            Set.of());
    Config config = NodeOptions.toConfig(line);
    assertEquals(List.of("coordinator", "ps"), config.getStringList("akka.cluster.roles"));
    assertEquals(2600, config.getInt("akka.remote.artery.canonical.port"));
    assertEquals(
        List.of("akka://tessera@127.0.0.1:2600", "akka://tessera@host-b:2601"),
        config.getStringList("akka.cluster.seed-nodes"));
    assertEquals(3, config.getInt("tessera.worker.count"));
    assertEquals("/data/fm", config.getString("tessera.worker.data-dir"));
    assertEquals(7400, config.getInt("tessera.admin.port"));
    assertEquals(9300, config.getInt("kamon.prometheus.embedded-server.port"));
  }

  @Test
  void bootstrapJoinsThroughDiscoveryInsteadOfSeedsAndNeedsOneOfThem() {
    CommandLine line =
        CommandLine.parse(List.of("--roles", "ps", "--bootstrap", "--management-port", "8600"), NodeOptions.VALUED,
            NodeOptions.FLAGS);
    Config config = NodeOptions.toConfig(line);
    assertTrue(Management.bootstraps(config), "--bootstrap turns akka-management and Cluster Bootstrap on");
    assertEquals(8600, config.getInt("akka.management.http.port"));
    assertEquals("tessera", config.getString("akka.management.cluster.bootstrap.contact-point-discovery.service-name"));
    assertFalse(Management.bootstraps(ConfigFactory.load()), "off by default");

    CommandLine.UsageException neither =
        assertThrows(CommandLine.UsageException.class, () -> NodeCommand.run(List.of("--roles", "ps")));
    assertTrue(neither.getMessage().contains("--seed-nodes") && neither.getMessage().contains("--bootstrap"),
        neither.getMessage());
    CommandLine.UsageException both =
        assertThrows(
            CommandLine.UsageException.class,
            () -> NodeCommand.run(List.of("--roles", "ps", "--bootstrap", "--seed-nodes", "127.0.0.1:2552")));
    assertEquals("give either --seed-nodes or --bootstrap, not both", both.getMessage());
  }

  @Test
  void badOptionsAreRefusedWithAMessageThatSaysWhy() {
    CommandLine.UsageException unknownRole =
        assertThrows(
            CommandLine.UsageException.class,
            () -> NodeOptions.toConfig(CommandLine.parse(List.of("--roles", "wroker"), NodeOptions.VALUED, Set.of())));
    assertTrue(unknownRole.getMessage().contains("wroker"), unknownRole.getMessage());
    CommandLine.UsageException badSeed =
        assertThrows(
            CommandLine.UsageException.class,
            () -> NodeOptions.toConfig(CommandLine.parse(List.of("--seed-nodes", "nohost"), NodeOptions.VALUED, Set.of())));
    assertTrue(badSeed.getMessage().contains("host:port"), badSeed.getMessage());
    CommandLine.UsageException unknownOption =
        assertThrows(
            CommandLine.UsageException.class, () -> CommandLine.parse(List.of("--prot", "1"), NodeOptions.VALUED, Set.of()));
    assertTrue(unknownOption.getMessage().contains("--prot"));
  }

  @Test
  void theDemoJobIsPackagedAndValidAndEpochsCanBeOverridden() {
    var spec = DemoCommand.jobSpec(CommandLine.parse(List.of("--epochs", "2"), Set.of("epochs", "spec"), Set.of()));
    assertEquals("fashion-mnist-vit", spec.name());
    assertEquals(1, spec.stages().size(), "the demo is one stage");
    assertEquals(2, spec.stages().get(0).epochs());
    assertEquals(2, spec.stages().get(0).shards());
  }

  @Test
  void theDemoReadsASpecFileAsTheAdminApiDoesWithoutIncludesOrSubstitutions(@TempDir Path dir) throws IOException {
    Path spec = dir.resolve("job.conf");
    Files.writeString(spec, "name = demo\nepochs = ${?PATH}\n");
    CommandLine line = CommandLine.parse(List.of("--spec", spec.toString()), Set.of("epochs", "spec"), Set.of());
    SpecException error = assertThrows(SpecException.class, () -> DemoCommand.jobSpec(line));
    assertEquals("substitutions (${...}) are not allowed in a job spec: at key epochs", error.getMessage());
  }
}
