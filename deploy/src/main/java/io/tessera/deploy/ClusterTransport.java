package io.tessera.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.LoggerFactory;

/**
 * Chooses the cluster transport from {@code tessera.tls}: Artery's {@code tls-tcp} with mutual
 * authentication (both ends present a certificate from the trust store) whenever the node is
 * reachable beyond loopback, plain {@code tcp} on loopback. A node that must use TLS and has no key
 * material refuses to start.
 */
final class ClusterTransport {
  private static final String SSL = "akka.remote.artery.ssl.config-ssl-engine.";

  private ClusterTransport() {}

  /** {@code config} with Artery's transport and, when TLS applies, its SSL engine filled in. */
  static Config configure(Config config) {
    TlsSettings tls = TlsSettings.fromConfig(config);
    List<String> hosts = hosts(config);
    if (!tls.cluster().appliesTo(hosts)) {
      if (!hosts.stream().allMatch(TlsSettings::isLoopback)) {
        LoggerFactory.getLogger(ClusterTransport.class)
            .warn("tessera.tls.enabled = off: the cluster transport on {} is not encrypted", hosts);
      }
      return config;
    }
    tls.requireKeyMaterial("the cluster transport on " + String.join(", ", hosts));
    Map<String, Object> settings = new HashMap<>();
    settings.put("akka.remote.artery.transport", "tls-tcp");
    settings.put("akka.remote.artery.ssl.ssl-engine-provider", "akka.remote.artery.tcp.ConfigSSLEngineProvider");
    settings.put(SSL + "key-store", Path.of(tls.keyStore()).toAbsolutePath().toString());
    settings.put(SSL + "trust-store", Path.of(tls.trustStore()).toAbsolutePath().toString());
    settings.put(SSL + "key-store-password", tls.password());
    settings.put(SSL + "key-password", tls.password());
    settings.put(SSL + "trust-store-password", tls.password());
    settings.put(SSL + "protocol", tls.protocol());
    settings.put(SSL + "enabled-algorithms", tls.enabledAlgorithms());
    // A peer is trusted for holding a certificate from the trust store, not for its name: pods
    // come and go under addresses nobody knows up front.
    settings.put(SSL + "require-mutual-authentication", "on");
    settings.put(SSL + "hostname-verification", "off");
    return ConfigFactory.parseMap(settings).withFallback(config);
  }

  /** The addresses the node is reachable at: its canonical host name, and its bind host if set. */
  static List<String> hosts(Config config) {
    List<String> hosts = new ArrayList<>();
    hosts.add(config.getString("akka.remote.artery.canonical.hostname"));
    String bind = config.getString("akka.remote.artery.bind.hostname");
    if (!bind.isBlank() && !hosts.contains(bind)) {
      hosts.add(bind);
    }
    return hosts;
  }

  /** Whether {@code configured} (after {@link #configure}) runs Artery over TLS. */
  static boolean encrypted(Config configured) {
    return configured.getString("akka.remote.artery.transport").equals("tls-tcp");
  }
}
