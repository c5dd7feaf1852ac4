package io.tessera.worker.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.zip.GZIPInputStream;

/**
 * Checksums of what a gzip file decompresses to. The Debian package and the upstream site compress
 * the same IDX bytes with different gzip settings, so only the decompressed content can be
 * compared against one published value.
 */
final class GzipContent {

  private static final int BUFFER_BYTES = 1 << 16;

  private GzipContent() {}

  /**
   * The SHA-256 of the decompressed content, as 64 lowercase hex digits.
   *
   * @throws IOException if the file is missing, not gzip, truncated or otherwise damaged
   */
  static String sha256(Path gzipFile) throws IOException {
    MessageDigest digest = FashionMnist.sha256();
    byte[] buffer = new byte[BUFFER_BYTES];
    try (InputStream raw = Files.newInputStream(gzipFile);
        InputStream in = new GZIPInputStream(raw, BUFFER_BYTES)) {
      for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
        digest.update(buffer, 0, n);
      }
    }
    return HexFormat.of().formatHex(digest.digest());
  }
}
