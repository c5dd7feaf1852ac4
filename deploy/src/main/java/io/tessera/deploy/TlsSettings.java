package io.tessera.deploy;

import com.typesafe.config.Config;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The key material that secures a node's cluster transport and admin front, from {@code tessera.tls}
 * (see application.conf): a key store holding the node's private key and certificate, a trust
 * store holding the certificates of the peers it accepts, and their password.
 *
 * @param cluster whether Artery runs over TLS: {@code AUTO} does when the node's address is not
 *     loopback
 * @param admin whether the admin front serves HTTPS: {@code AUTO} does when it binds beyond
 *     loopback
 */
record TlsSettings(
    Mode cluster,
    Mode admin,
    String keyStore,
    String trustStore,
    String password,
    String protocol,
    List<String> enabledAlgorithms) {

  /** {@code on}, {@code off}, or {@code auto}: on exactly when the address is not loopback. */
  enum Mode {
    ON,
    OFF,
    AUTO;

    static Mode parse(String value, String key) {
      return switch (value.trim().toLowerCase(Locale.ROOT)) {
        case "on", "true", "yes" -> ON;
        case "off", "false", "no" -> OFF;
        case "auto" -> AUTO;
        default ->
            throw new CommandLine.UsageException(key + " must be on, off or auto, was '" + value + "'");
      };
    }

    /** Whether TLS is used for a transport reachable at {@code hosts}. */
    boolean appliesTo(List<String> hosts) {
      return switch (this) {
        case ON -> true;
        case OFF -> false;
        case AUTO -> !hosts.stream().allMatch(TlsSettings::isLoopback);
      };
    }
  }

  static TlsSettings fromConfig(Config config) {
    Config c = config.getConfig("tessera.tls");
    return new TlsSettings(
        Mode.parse(c.getString("enabled"), "tessera.tls.enabled"),
        Mode.parse(c.getString("admin"), "tessera.tls.admin"),
        c.getString("key-store").trim(),
        c.getString("trust-store").trim(),
        c.getString("password"),
        c.getString("protocol"),
        Collections.unmodifiableList(c.getStringList("enabled-algorithms")));
  }

  /**
   * Whether {@code host} names only this machine: {@code localhost} or a loopback address literal.
   * Other names are not resolved (start-up should not depend on DNS), so they count as reachable
   * from elsewhere, as do the wildcard address and Akka's {@code <getHostAddress>}.
   */
  static boolean isLoopback(String host) {
    String h = host.trim();
    if (h.startsWith("[") && h.endsWith("]")) {
      h = h.substring(1, h.length() - 1);
    }
    if (h.equalsIgnoreCase("localhost")) {
      return true;
    }
    boolean literal = h.matches("\\d{1,3}(\\.\\d{1,3}){3}") || (h.contains(":") && h.matches("[0-9a-fA-F:.%\\w]+"));
    if (!literal) {
      return false;
    }
    try {
      return InetAddress.getByName(h).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  /**
   * Checks that the key store, trust store and password are set and can be read, before anything
   * listens: a node that must use TLS never falls back to plaintext.
   *
   * @param what the transport that needs them, for the message, e.g. "the cluster transport on
   *     10.0.0.7"
   * @throws CommandLine.UsageException naming what is missing and how to provide it
   */
  void requireKeyMaterial(String what) {
    String missing =
        keyStore.isEmpty()
            ? "tessera.tls.key-store (env TESSERA_TLS_KEYSTORE)"
            : trustStore.isEmpty()
                ? "tessera.tls.trust-store (env TESSERA_TLS_TRUSTSTORE)"
                : password.isEmpty() ? "tessera.tls.password (env TESSERA_TLS_PASSWORD)" : null;
    if (missing != null) {
      throw new CommandLine.UsageException(
          what + " must use TLS, but " + missing + " is not set. Create a key store and trust store with"
              + " 'bin/tessera certs --out DIR' and set TESSERA_TLS_KEYSTORE, TESSERA_TLS_TRUSTSTORE and"
              + " TESSERA_TLS_PASSWORD; or set tessera.tls.enabled = off (TESSERA_TLS_ENABLED=off) to run"
              + " unencrypted on a network you trust");
    }
    KeyStore keys = load(keyStore, "key store");
    KeyStore trusted = load(trustStore, "trust store");
    try {
      if (Collections.list(keys.aliases()).stream().noneMatch(alias -> isKeyEntry(keys, alias))) {
        throw new CommandLine.UsageException(
            "the TLS key store " + keyStore + " holds no private key (is it the trust store?)");
      }
      if (trusted.size() == 0) {
        throw new CommandLine.UsageException("the TLS trust store " + trustStore + " holds no certificate");
      }
    } catch (GeneralSecurityException e) {
      throw new CommandLine.UsageException("cannot read the TLS key material: " + e.getMessage());
    }
  }

  private static boolean isKeyEntry(KeyStore store, String alias) {
    try {
      return store.isKeyEntry(alias);
    } catch (GeneralSecurityException e) {
      return false;
    }
  }

  /**
   * An SSL context over this key material: it presents the key store's certificate and trusts the
   * trust store's. Call {@link #requireKeyMaterial} first for a clear message when it is missing.
   */
  SSLContext sslContext() {
    try {
      KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      keys.init(load(keyStore, "key store"), password.toCharArray());
      TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      trust.init(load(trustStore, "trust store"));
      SSLContext context = SSLContext.getInstance(protocol);
      context.init(keys.getKeyManagers(), trust.getTrustManagers(), null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new CommandLine.UsageException("cannot set up TLS with " + keyStore + ": " + e.getMessage());
    }
  }

  /** An SSL context that trusts {@code trustStore}'s certificates and presents none (for clients). */
  static SSLContext trusting(Path trustStore, String password) {
    try {
      TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      trust.init(load(trustStore.toString(), password, "trust store"));
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(null, trust.getTrustManagers(), null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new CommandLine.UsageException("cannot use the trust store " + trustStore + ": " + e.getMessage());
    }
  }

  private KeyStore load(String file, String what) {
    return load(file, password, what);
  }

  private static KeyStore load(String file, String password, String what) {
    Path path = Path.of(file);
    if (!Files.isReadable(path)) {
      throw new CommandLine.UsageException("the TLS " + what + " " + path.toAbsolutePath() + " cannot be read");
    }
    try (InputStream in = Files.newInputStream(path)) {
      // PKCS12 is the JDK's default type; its loader reads JKS files too.
      KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
      store.load(in, password.toCharArray());
      return store;
    } catch (IOException | GeneralSecurityException e) {
      throw new CommandLine.UsageException(
          "cannot open the TLS " + what + " " + path.toAbsolutePath() + " (is tessera.tls.password right?): "
              + e.getMessage());
    }
  }
}
