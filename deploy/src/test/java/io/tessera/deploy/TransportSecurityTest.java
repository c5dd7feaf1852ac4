package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * When a node uses TLS: beyond loopback always (unless switched off explicitly), on loopback only
 * when asked; and a node that needs TLS without key material refuses to start, saying what to set.
 */
class TransportSecurityTest {
  @TempDir static Path keys;
  private static TestKeys.Pair cluster;

  @BeforeAll
  static void createKeys() {
    cluster = TestKeys.cluster(keys.resolve("cluster"));
  }

  private static Config node(Map<String, Object> overrides) {
    Map<String, Object> settings = new HashMap<>(overrides);
    settings.putIfAbsent("tessera.persistence.database", "memory");
    settings.putIfAbsent("akka.coordinated-shutdown.exit-jvm", "off");
    return ConfigFactory.parseMap(settings).withFallback(ConfigFactory.load()).resolve();
  }

  @Test
  void loopbackIsLocalhostOrALoopbackLiteralAndNothingElse() {
    for (String host : List.of("127.0.0.1", "127.3.2.1", "localhost", "LOCALHOST", "::1", "[::1]")) {
      assertTrue(TlsSettings.isLoopback(host), host);
    }
    for (String host : List.of("10.0.0.7", "0.0.0.0", "::", "192.168.1.20", "tessera-0.tessera", "<getHostAddress>", "")) {
      assertFalse(TlsSettings.isLoopback(host), host);
    }
  }

  @Test
  void aLoopbackNodeKeepsPlainTcpByDefault() {
    Config configured = ClusterTransport.configure(node(Map.of()));
    assertEquals("127.0.0.1", configured.getString("akka.remote.artery.canonical.hostname"));
    assertEquals("auto", configured.getString("tessera.tls.enabled"));
    assertEquals("tcp", configured.getString("akka.remote.artery.transport"));
    assertFalse(ClusterTransport.encrypted(configured));
  }

  @Test
  void aNodeBeyondLoopbackWithoutKeyMaterialRefusesToStartAndSaysWhatToSet() {
    CommandLine.UsageException refused =
        assertThrows(
            CommandLine.UsageException.class,
            () -> TesseraNode.start(node(Map.of("akka.remote.artery.canonical.hostname", "10.0.0.7"))));
    assertTrue(refused.getMessage().contains("10.0.0.7"), refused.getMessage());
    assertTrue(refused.getMessage().contains("TESSERA_TLS_KEYSTORE"), refused.getMessage());
    assertTrue(refused.getMessage().contains("bin/tessera certs"), refused.getMessage());

    // Binding every interface counts too, even with a loopback canonical name.
    assertThrows(
        CommandLine.UsageException.class,
        () -> ClusterTransport.configure(node(Map.of("akka.remote.artery.bind.hostname", "0.0.0.0"))));

    Map<String, Object> noPassword = new HashMap<>(cluster.settings());
    noPassword.put("tessera.tls.password", "");
    noPassword.put("akka.remote.artery.canonical.hostname", "10.0.0.7");
    CommandLine.UsageException withoutPassword =
        assertThrows(CommandLine.UsageException.class, () -> ClusterTransport.configure(node(noPassword)));
    assertTrue(withoutPassword.getMessage().contains("TESSERA_TLS_PASSWORD"), withoutPassword.getMessage());
  }

  @Test
  void aNodeBeyondLoopbackWithKeyMaterialRunsTlsWithMutualAuthentication() {
    Map<String, Object> settings = new HashMap<>(cluster.settings());
    settings.put("akka.remote.artery.canonical.hostname", "10.0.0.7");
    Config configured = ClusterTransport.configure(node(settings));
    assertTrue(ClusterTransport.encrypted(configured));
    Config ssl = configured.getConfig("akka.remote.artery.ssl.config-ssl-engine");
    assertTrue(ssl.getBoolean("require-mutual-authentication"));
    assertEquals(cluster.keyStore().toAbsolutePath().toString(), ssl.getString("key-store"));
    assertEquals(cluster.trustStore().toAbsolutePath().toString(), ssl.getString("trust-store"));
    assertEquals("TLSv1.3", ssl.getString("protocol"));
  }

  @Test
  void tlsCanBeForcedOnLoopbackAndSwitchedOffExplicitly() {
    Map<String, Object> forced = new HashMap<>(cluster.settings());
    forced.put("tessera.tls.enabled", "on");
    assertTrue(ClusterTransport.encrypted(ClusterTransport.configure(node(forced))));

    Config off =
        ClusterTransport.configure(
            node(Map.of("tessera.tls.enabled", "off", "akka.remote.artery.canonical.hostname", "10.0.0.7")));
    assertFalse(ClusterTransport.encrypted(off));

    CommandLine.UsageException bad =
        assertThrows(
            CommandLine.UsageException.class, () -> ClusterTransport.configure(node(Map.of("tessera.tls.enabled", "maybe"))));
    assertTrue(bad.getMessage().contains("tessera.tls.enabled"), bad.getMessage());
  }

  @Test
  void keyMaterialThatCannotBeUsedIsRefusedWithTheReason() {
    Map<String, Object> wrongPassword = new HashMap<>(cluster.settings());
    wrongPassword.put("tessera.tls.enabled", "on");
    wrongPassword.put("tessera.tls.password", "not-the-password");
    CommandLine.UsageException wrong =
        assertThrows(CommandLine.UsageException.class, () -> ClusterTransport.configure(node(wrongPassword)));
    assertTrue(wrong.getMessage().contains("tessera.tls.password"), wrong.getMessage());

    Map<String, Object> swapped = new HashMap<>(cluster.settings());
    swapped.put("tessera.tls.enabled", "on");
    swapped.put("tessera.tls.key-store", cluster.trustStore().toString());
    CommandLine.UsageException noKey =
        assertThrows(CommandLine.UsageException.class, () -> ClusterTransport.configure(node(swapped)));
    assertTrue(noKey.getMessage().contains("no private key"), noKey.getMessage());

    Map<String, Object> missing = new HashMap<>(cluster.settings());
    missing.put("tessera.tls.enabled", "on");
    missing.put("tessera.tls.trust-store", keys.resolve("nowhere.p12").toString());
    CommandLine.UsageException unreadable =
        assertThrows(CommandLine.UsageException.class, () -> ClusterTransport.configure(node(missing)));
    assertTrue(unreadable.getMessage().contains("nowhere.p12"), unreadable.getMessage());
  }

  @Test
  void theAdminFrontServesHttpsBeyondLoopbackAndACoordinatorWithoutKeysRefusesToStart() {
    assertFalse(AdminTransport.https(node(Map.of())));
    assertTrue(AdminTransport.https(node(Map.of("tessera.admin.host", "0.0.0.0"))));
    assertFalse(AdminTransport.https(node(Map.of("tessera.admin.host", "0.0.0.0", "tessera.tls.admin", "off"))));

    Config coordinator =
        node(Map.of("tessera.admin.host", "0.0.0.0", "akka.cluster.roles", List.of("coordinator")));
    CommandLine.UsageException refused =
        assertThrows(CommandLine.UsageException.class, () -> AdminTransport.check(coordinator));
    assertTrue(refused.getMessage().contains("admin front"), refused.getMessage());
    // A worker node serves no admin front, so it needs no key for one.
    AdminTransport.check(node(Map.of("tessera.admin.host", "0.0.0.0", "akka.cluster.roles", List.of("worker"))));
  }

  @Test
  void certsWritesAKeyStoreATrustStoreAndAPasswordAndNeverOverwrites() throws Exception {
    Path out = keys.resolve("operator");
    assertEquals(0, Main.run(List.of("certs", "--out", out.toString(), "--hosts", "tessera-admin,10.1.2.3")));
    for (String file : List.of("keystore.p12", "truststore.p12", "tessera.crt", "password")) {
      assertTrue(Files.isRegularFile(out.resolve(file)), file);
    }
    String password = Files.readString(out.resolve("password"));
    assertEquals(password.strip(), password, "no line end in the password file");
    Map<String, Object> settings =
        Map.of(
            "tessera.tls.enabled", "on",
            "tessera.tls.key-store", out.resolve("keystore.p12").toString(),
            "tessera.tls.trust-store", out.resolve("truststore.p12").toString(),
            "tessera.tls.password", password);
    assertTrue(ClusterTransport.encrypted(ClusterTransport.configure(node(settings))));

    assertEquals(2, Main.run(List.of("certs", "--out", out.toString())), "refuses to overwrite");
    assertEquals("dns:tessera-admin,ip:10.1.2.3,ip:::1", CertsCommand.subjectAltNames(List.of("tessera-admin", "10.1.2.3", "::1")));
  }
}
