package io.tessera.coordinator.admin;

import com.typesafe.config.Config;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;

/**
 * Where the admin HTTP front listens and the bearer token it demands, from {@code tessera.admin}
 * (see reference.conf).
 *
 * @param token every request but {@code /health} must carry {@code Authorization: Bearer <token>}
 */
public record AdminSettings(boolean enabled, String host, int port, String token, Duration askTimeout) {

  /** The settings; the token is resolved (and a token file written) only when the front is on. */
  public static AdminSettings fromConfig(Config config) {
    Config c = config.getConfig("tessera.admin");
    boolean enabled = c.getBoolean("enabled");
    return new AdminSettings(
        enabled,
        c.getString("host"),
        c.getInt("port"),
        enabled ? resolveToken(c.getString("token"), Path.of(c.getString("token-file"))) : "",
        c.getDuration("ask-timeout"));
  }

  /**
   * The configured token; else the one in {@code tokenFile}; else a new random one, written to
   * {@code tokenFile} (owner-only) so the CLI on this machine can find it.
   */
  static String resolveToken(String configured, Path tokenFile) {
    if (!configured.isBlank()) {
      return configured.trim();
    }
    try {
      if (Files.isRegularFile(tokenFile)) {
        String stored = Files.readString(tokenFile, StandardCharsets.UTF_8).trim();
        if (!stored.isEmpty()) {
          return stored;
        }
      }
      byte[] random = new byte[24];
      new SecureRandom().nextBytes(random);
      String token = HexFormat.of().formatHex(random);
      Path parent = tokenFile.toAbsolutePath().getParent();
      Files.createDirectories(parent);
      Path temp = Files.createTempFile(parent, "admin", ".token");
      try {
        Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("rw-------"));
      } catch (UnsupportedOperationException notPosix) {
        // Best effort on file systems without POSIX permissions.
      }
      Files.writeString(temp, token + "\n", StandardCharsets.UTF_8);
      Files.move(temp, tokenFile, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
      return token;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read or write the admin token file " + tokenFile, e);
    }
  }
}
