package io.tessera.deploy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * {@code bin/tessera certs --out DIR}: a cluster's key material, made with the JDK's {@code keytool}.
 * One self-signed certificate (no CA) that every node presents, in {@code keystore.p12} with its
 * private key; {@code truststore.p12} holds the certificate alone, so a peer is accepted exactly
 * when it holds the same key.
 */
final class CertsCommand {
  static final String KEY_STORE = "keystore.p12";
  static final String TRUST_STORE = "truststore.p12";
  static final String CERTIFICATE = "tessera.crt";
  static final String PASSWORD_FILE = "password";
  private static final String ALIAS = "tessera";
  private static final String PASSWORD_ENV = "TESSERA_CERTS_STOREPASS";

  private CertsCommand() {}

  static int run(List<String> args) {
    CommandLine line = CommandLine.parse(args, Set.of("out", "hosts", "password", "days", "name"), Set.of());
    if (line.option("out").isEmpty()) {
      throw new CommandLine.UsageException("certs needs --out DIR");
    }
    if (!line.positional().isEmpty()) {
      throw new CommandLine.UsageException("unexpected argument " + line.positional().get(0));
    }
    Path out = Path.of(line.option("out").get());
    List<String> hosts = List.of(line.option("hosts").orElse("localhost,127.0.0.1").split(","));
    int days = line.intOption("days", 825);
    if (days < 1) {
      throw new CommandLine.UsageException("--days must be at least 1");
    }
    String given = line.option("password").orElse(System.getenv().getOrDefault("TESSERA_TLS_PASSWORD", ""));
    String password = given.isEmpty() ? randomPassword() : given;
    create(out, line.option("name").orElse("tessera"), hosts, days, password);
    if (given.isEmpty()) {
      writeOwnerOnly(out.resolve(PASSWORD_FILE), password);
    }
    Path abs = out.toAbsolutePath();
    System.out.printf(
        """
        Created in %1$s:
          %2$-15s the cluster's private key and certificate: every node gets it; keep it secret
          %3$-15s the certificate nodes accept
          %4$-15s the same certificate, PEM (curl --cacert, browsers)
        %5$s
        Every node (and the CLI, for an https admin URL) needs:
          export TESSERA_TLS_KEYSTORE=%1$s/%2$s
          export TESSERA_TLS_TRUSTSTORE=%1$s/%3$s
          export TESSERA_TLS_PASSWORD=%6$s
        On Kubernetes:
          kubectl create secret generic tessera-tls --from-file=%1$s/%2$s --from-file=%1$s/%3$s \\
            --from-file=password=%1$s/password   (or --from-literal=password=... with yours)
        """,
        abs, KEY_STORE, TRUST_STORE, CERTIFICATE,
        given.isEmpty() ? "  " + String.format("%-15s", PASSWORD_FILE) + " the stores' password (owner-only)\n" : "",
        given.isEmpty() ? "\"$(cat " + abs.resolve(PASSWORD_FILE) + ")\"" : "<the password you gave>");
    return 0;
  }

  /**
   * Writes {@code keystore.p12}, {@code truststore.p12} and {@code tessera.crt} into {@code out}: an
   * EC P-256 key and a self-signed certificate for {@code name}, valid {@code days} days, whose
   * subject alternative names are {@code hosts} (names and IP addresses the admin front is reached
   * at; the cluster transport does not check them).
   *
   * @throws CommandLine.UsageException if the files exist already or keytool fails
   */
  static void create(Path out, String name, List<String> hosts, int days, String password) {
    if (password.length() < 6) {
      throw new CommandLine.UsageException("the password must have at least 6 characters (a PKCS12 rule)");
    }
    try {
      Files.createDirectories(out);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + out, e);
    }
    for (String file : List.of(KEY_STORE, TRUST_STORE, CERTIFICATE)) {
      if (Files.exists(out.resolve(file))) {
        throw new CommandLine.UsageException(out.resolve(file) + " exists already; remove it or choose another --out");
      }
    }
    Path keyStore = out.resolve(KEY_STORE);
    keytool(password,
        "-genkeypair", "-alias", ALIAS, "-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA",
        "-dname", "CN=" + name, "-validity", String.valueOf(days), "-ext", "SAN=" + subjectAltNames(hosts),
        "-keystore", keyStore.toString(), "-storetype", "PKCS12",
        "-storepass:env", PASSWORD_ENV, "-keypass:env", PASSWORD_ENV);
    keytool(password,
        "-exportcert", "-rfc", "-alias", ALIAS, "-keystore", keyStore.toString(), "-storepass:env", PASSWORD_ENV,
        "-file", out.resolve(CERTIFICATE).toString());
    keytool(password,
        "-importcert", "-noprompt", "-alias", ALIAS, "-file", out.resolve(CERTIFICATE).toString(),
        "-keystore", out.resolve(TRUST_STORE).toString(), "-storetype", "PKCS12", "-storepass:env", PASSWORD_ENV);
  }

  /** {@code dns:name} or {@code ip:address} for each host, comma-separated, as keytool's -ext wants. */
  static String subjectAltNames(List<String> hosts) {
    List<String> names = new ArrayList<>();
    for (String host : hosts) {
      String h = host.trim();
      if (h.isEmpty()) {
        continue;
      }
      boolean ip = h.matches("\\d{1,3}(\\.\\d{1,3}){3}") || h.contains(":");
      names.add((ip ? "ip:" : "dns:") + h);
    }
    if (names.isEmpty()) {
      throw new CommandLine.UsageException("--hosts names no host");
    }
    return String.join(",", names);
  }

  /** Runs the JDK's keytool; the password travels in the environment, not on the command line. */
  private static void keytool(String password, String... args) {
    Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
    if (!Files.isExecutable(keytool)) {
      throw new CommandLine.UsageException("keytool not found at " + keytool + "; run with a full JDK or JRE");
    }
    List<String> command = new ArrayList<>();
    command.add(keytool.toString());
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put(PASSWORD_ENV, password);
    try {
      Process process = builder.start();
      String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new CommandLine.UsageException("keytool " + args[0] + " did not finish");
      }
      if (process.exitValue() != 0) {
        throw new CommandLine.UsageException("keytool " + args[0] + " failed: " + output.trim());
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run " + keytool, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running keytool", e);
    }
  }

  private static String randomPassword() {
    byte[] random = new byte[18];
    new SecureRandom().nextBytes(random);
    return HexFormat.of().formatHex(random);
  }

  /** Writes {@code text} without a line end (a Secret made from the file holds just the password). */
  private static void writeOwnerOnly(Path file, String text) {
    try {
      try {
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      } catch (UnsupportedOperationException notPosix) {
        // Best effort on file systems without POSIX permissions.
      }
      Files.writeString(file, text, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
