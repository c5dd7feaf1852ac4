package io.tessera.deploy;

import akka.http.javadsl.ConnectionContext;
import akka.http.javadsl.HttpsConnectionContext;
import com.typesafe.config.Config;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * HTTP or HTTPS for the admin front: HTTPS with the node's key store (see {@link TlsSettings})
 * whenever it binds beyond loopback, so the bearer token never crosses a network in the clear; and
 * the matching client for the CLI.
 */
final class AdminTransport {
  private AdminTransport() {}

  /** Whether the front of a node with {@code config} serves HTTPS. */
  static boolean https(Config config) {
    return TlsSettings.fromConfig(config).admin().appliesTo(List.of(config.getString("tessera.admin.host")));
  }

  /**
   * Checks, before the node starts, that a coordinator node whose front must serve HTTPS has the key
   * material for it.
   *
   * @throws CommandLine.UsageException naming what is missing
   */
  static void check(Config config) {
    boolean serves =
        config.getBoolean("tessera.admin.enabled") && config.getStringList("akka.cluster.roles").contains("coordinator");
    if (serves && https(config)) {
      TlsSettings.fromConfig(config)
          .requireKeyMaterial(
              "the admin front on " + config.getString("tessera.admin.host") + ":" + config.getInt("tessera.admin.port"));
    }
  }

  /** The HTTPS context the front serves with, or empty for plain HTTP (on loopback). */
  static Optional<HttpsConnectionContext> serverContext(Config config) {
    if (!https(config)) {
      return Optional.empty();
    }
    TlsSettings tls = TlsSettings.fromConfig(config);
    tls.requireKeyMaterial("the admin front on " + config.getString("tessera.admin.host"));
    return Optional.of(ConnectionContext.httpsServer(tls.sslContext()));
  }

  /**
   * The CLI's client for {@code base}: for an {@code https} URL it trusts the certificates in
   * {@code TESSERA_TLS_TRUSTSTORE} (opened with {@code TESSERA_TLS_PASSWORD}), else the JDK's.
   */
  static HttpClient client(URI base) {
    HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5));
    String trustStore = System.getenv("TESSERA_TLS_TRUSTSTORE");
    if ("https".equalsIgnoreCase(base.getScheme()) && trustStore != null && !trustStore.isBlank()) {
      String password = System.getenv().getOrDefault("TESSERA_TLS_PASSWORD", "");
      builder.sslContext(TlsSettings.trusting(Path.of(trustStore), password));
    }
    return builder.build();
  }
}
