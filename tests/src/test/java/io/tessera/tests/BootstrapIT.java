package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three JVMs from the jar, none given seed nodes, form one cluster through akka-management's
 * Cluster Bootstrap, finding each other's management endpoints with Akka Discovery's {@code config}
 * method (in Kubernetes the same code asks the Kubernetes API); each answers {@code /alive} and,
 * once it is an Up member whose journal answers, {@code /ready}; and the cluster trains a job.
 */
class BootstrapIT {
  @TempDir Path workDir;

  private final HttpClient http = HttpClient.newHttpClient();

  private int status(int port, String path) throws Exception {
    HttpResponse<String> response =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(10)).build(),
            HttpResponse.BodyHandlers.ofString());
    return response.statusCode();
  }

  @Test
  void threeNodesWithoutSeedsFormAClusterByBootstrapAndTrain() throws Exception {
    Map<String, String> roles = new LinkedHashMap<>();
    roles.put("core", "coordinator,ps");
    roles.put("ps", "ps");
    roles.put("worker", "worker");
    Map<String, Integer> management = new LinkedHashMap<>();
    List<String> endpoints = new ArrayList<>();
    for (String name : roles.keySet()) {
      int port = NodeProcess.freePort();
      management.put(name, port);
      endpoints.add("{ host = \"127.0.0.1\", port = " + port + " }");
    }
    Path discovery = workDir.resolve("discovery.conf");
    Files.writeString(
        discovery,
        String.join(
            "\n",
            "akka.discovery.method = config",
            "akka.discovery.config.services.tessera.endpoints = [ " + String.join(", ", endpoints) + " ]",
            "akka.management.cluster.bootstrap.contact-point-discovery {",
            "  required-contact-point-nr = 3",
            "  stable-margin = 1s",
            "  interval = 500ms",
            "}",
            // Every node's management port differs here (one host): keep them all as contact points.
            "akka.management.cluster.bootstrap.contact-point.filter-on-fallback-port = false"));

    try (ProcessCluster cluster = new ProcessCluster(workDir, "bootstrap")) {
      for (Map.Entry<String, String> node : roles.entrySet()) {
        List<String> extra =
            new ArrayList<>(
                List.of(
                    "--bootstrap",
                    "--management-port", String.valueOf(management.get(node.getKey())),
                    "--config", discovery.toString()));
        if (node.getValue().equals("worker")) {
          extra.add("--simulated");
        }
        cluster.startWithoutSeeds(node.getKey(), node.getValue(), node.getKey().equals("core"), extra);
      }
      cluster.awaitAdmin(Duration.ofMinutes(2));
      cluster.awaitAllUp(Duration.ofMinutes(2));
      JsonNode members = cluster.get("api/cluster").get("members");
      assertEquals(3, members.size(), members::toString);

      for (Map.Entry<String, Integer> node : management.entrySet()) {
        assertEquals(200, status(node.getValue(), "/alive"), node.getKey() + " /alive");
        cluster.await(Duration.ofMinutes(1), node.getKey() + " /ready", () -> status(node.getValue(), "/ready") == 200);
      }

      String jobId = cluster.submitWithCli(TestJobs.syntheticSpecText("bootstrapped", 512, 0));
      JsonNode done = cluster.awaitFinished(jobId, Duration.ofMinutes(2));
      assertEquals("COMPLETED", done.get("state").asText(), done::toString);
    }
  }
}
