package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorSystem;
import akka.cluster.MemberStatus;
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
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A coordinator node whose admin front must serve HTTPS (forced here on loopback, as it is beyond
 * loopback by default) answers a client that trusts the cluster's trust store, and nothing that
 * speaks plain HTTP or trusts only the JDK's authorities.
 */
class AdminHttpsTest {
  private static final String TOKEN = "admin-test-token";
  private static final Duration REQUEST = Duration.ofSeconds(10);

  @TempDir Path keys;
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

  @Test
  void theAdminFrontAnswersOverHttpsToClientsThatTrustTheClusterCertificateOnly() throws Exception {
    TestKeys.Pair cluster = TestKeys.cluster(keys);
    int port = freePort();
    Map<String, Object> settings = new HashMap<>(cluster.settings());
    settings.put("tessera.tls.enabled", "on");
    settings.put("tessera.tls.admin", "on");
    settings.put("tessera.admin.enabled", "on");
    settings.put("tessera.admin.host", "127.0.0.1");
    settings.put("tessera.admin.port", port);
    settings.put("tessera.admin.token", TOKEN);
    settings.put("akka.cluster.roles", List.of("coordinator"));
    settings.put("akka.remote.artery.canonical.port", 0);
    settings.put("akka.coordinated-shutdown.exit-jvm", "off");
    settings.put("tessera.persistence.database", "memory");
    node = TesseraNode.start(ConfigFactory.parseMap(settings).withFallback(ConfigFactory.load()).resolve());
    Cluster cluster1 = Cluster.get(node);
    cluster1.manager().tell(Join.create(cluster1.selfMember().address()));

    HttpClient trusting =
        HttpClient.newBuilder().sslContext(TlsSettings.trusting(cluster.trustStore(), TestKeys.PASSWORD)).build();
    URI clusterView = URI.create("https://127.0.0.1:" + port + "/api/cluster");
    TestProbe<Object> probe = TestProbe.create(node);
    HttpResponse<String> response =
        probe.awaitAssert(
            Duration.ofSeconds(30),
            () -> {
              HttpResponse<String> r =
                  trusting.send(
                      HttpRequest.newBuilder(clusterView).timeout(REQUEST).header("Authorization", "Bearer " + TOKEN).build(),
                      HttpResponse.BodyHandlers.ofString());
              assertEquals(200, r.statusCode(), r.body());
              assertTrue(cluster1.selfMember().status() == MemberStatus.up());
              return r;
            });
    assertTrue(response.body().contains(cluster1.selfMember().address().toString()), response.body());

    HttpResponse<String> noToken =
        trusting.send(HttpRequest.newBuilder(clusterView).timeout(REQUEST).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(401, noToken.statusCode(), "HTTPS does not replace the token");

    HttpClient plain = HttpClient.newBuilder().connectTimeout(REQUEST).build();
    assertThrows(
        IOException.class,
        () ->
            plain.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).timeout(REQUEST).build(),
                HttpResponse.BodyHandlers.ofString()),
        "plain HTTP gets no answer");
    assertThrows(
        SSLHandshakeException.class,
        () ->
            plain.send(
                HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/health")).timeout(REQUEST).build(),
                HttpResponse.BodyHandlers.ofString()),
        "a client that does not trust the cluster's certificate refuses it");
  }
}
