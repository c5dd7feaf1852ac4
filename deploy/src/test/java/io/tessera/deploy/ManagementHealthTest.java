package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorSystem;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * akka-management's health checks on a node with {@code tessera.management.enabled}: alive from the
 * start, ready only once the node is an Up member (and its journal answers); and the journal check
 * fails for a database that does not answer.
 */
class ManagementHealthTest {
  private static final Duration AWAIT = Duration.ofSeconds(30);
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  @TempDir Path data;
  private ActorSystem<?> node;

  @AfterEach
  void terminate() {
    if (node != null) {
      node.terminate();
      node.getWhenTerminated().toCompletableFuture().join();
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  private int get(URI uri) {
    try {
      return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString())
          .statusCode();
    } catch (IOException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  @Test
  void aNodeIsAliveAtOnceAndReadyOnceItIsAnUpMemberWithItsJournal() throws IOException {
    int port = freePort();
    Map<String, Object> settings = new HashMap<>();
    settings.put("tessera.management.enabled", "on");
    settings.put("akka.management.http.hostname", "127.0.0.1");
    settings.put("akka.management.http.port", port);
    settings.put("akka.cluster.roles", List.of("coordinator", "ps"));
    settings.put("akka.remote.artery.canonical.port", 0);
    settings.put("akka.coordinated-shutdown.exit-jvm", "off");
    settings.put("tessera.admin.enabled", "off");
    settings.put("tessera.persistence.database", "h2");
    settings.put("tessera.persistence.h2.file", data.resolve("journal").toString());
    node = TesseraNode.start(ConfigFactory.parseMap(settings).withFallback(ConfigFactory.load()).resolve());
    URI alive = URI.create("http://127.0.0.1:" + port + "/alive");
    URI ready = URI.create("http://127.0.0.1:" + port + "/ready");
    TestProbe<Object> probe = TestProbe.create(node);

    probe.awaitAssert(AWAIT, () -> {
      assertEquals(200, get(alive));
      return null;
    });
    assertEquals(500, get(ready), "not ready before it has joined");

    Cluster cluster = Cluster.get(node);
    cluster.manager().tell(Join.create(cluster.selfMember().address()));
    probe.awaitAssert(AWAIT, () -> {
      assertEquals(200, get(ready));
      return null;
    });
    assertEquals(200, get(alive));
  }

  @Test
  void theJournalCheckFailsForADatabaseThatDoesNotAnswer() throws IOException {
    int closed = freePort();
    assertFalse(
        JournalHealthCheck.reachable("jdbc:postgresql://127.0.0.1:" + closed + "/tessera", "tessera", "", Duration.ofSeconds(2)));
    assertTrue(
        JournalHealthCheck.reachable("jdbc:h2:mem:health", "sa", "", Duration.ofSeconds(2)));
  }
}
