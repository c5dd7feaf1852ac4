package io.tessera.deploy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Key material for tests, made with the JDK's keytool in a temporary directory: the cluster's pair
 * (through {@link CertsCommand}, as operators make it) and a foreign pair with its own self-signed
 * certificate whose trust store also holds the cluster's certificate, so that only the cluster's
 * check of the client certificate can keep it out.
 */
final class TestKeys {
  static final String PASSWORD = "test-secret";

  /** Where one node's key store and trust store are. */
  record Pair(Path keyStore, Path trustStore, Path certificate) {
    /** The {@code tessera.tls} settings that use this pair. */
    Map<String, Object> settings() {
      return Map.of(
          "tessera.tls.key-store", keyStore.toString(),
          "tessera.tls.trust-store", trustStore.toString(),
          "tessera.tls.password", PASSWORD);
    }
  }

  private TestKeys() {}

  /** The cluster's key store and trust store, as {@code bin/tessera certs} writes them. */
  static Pair cluster(Path dir) {
    CertsCommand.create(dir, "tessera", List.of("localhost", "127.0.0.1"), 2, PASSWORD);
    return new Pair(
        dir.resolve(CertsCommand.KEY_STORE), dir.resolve(CertsCommand.TRUST_STORE), dir.resolve(CertsCommand.CERTIFICATE));
  }

  /** Another self-signed key (CN=intruder) whose trust store holds its own and the cluster's certificate. */
  static Pair foreign(Path dir, Pair cluster) {
    Path keyStore = dir.resolve("intruder-keystore.p12");
    Path trustStore = dir.resolve("intruder-truststore.p12");
    Path certificate = dir.resolve("intruder.crt");
    keytool("-genkeypair", "-alias", "intruder", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=intruder",
        "-validity", "2", "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-keystore", keyStore.toString(),
        "-storetype", "PKCS12", "-storepass", PASSWORD, "-keypass", PASSWORD);
    keytool("-exportcert", "-rfc", "-alias", "intruder", "-keystore", keyStore.toString(), "-storepass", PASSWORD,
        "-file", certificate.toString());
    keytool("-importcert", "-noprompt", "-alias", "intruder", "-file", certificate.toString(),
        "-keystore", trustStore.toString(), "-storetype", "PKCS12", "-storepass", PASSWORD);
    keytool("-importcert", "-noprompt", "-alias", "tessera", "-file", cluster.certificate().toString(),
        "-keystore", trustStore.toString(), "-storetype", "PKCS12", "-storepass", PASSWORD);
    return new Pair(keyStore, trustStore, certificate);
  }

  private static void keytool(String... args) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    command.addAll(List.of(args));
    try {
      Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
      String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
        throw new IllegalStateException("keytool " + String.join(" ", args) + " failed: " + output);
      }
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
