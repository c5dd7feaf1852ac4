package io.tessera.protocol.serialization;

import com.typesafe.config.Config;

/**
 * Upper bounds checked before anything read off the wire is allocated, so a corrupt or hostile
 * message fails with a clear error instead of exhausting memory. Configured under {@code
 * tessera.serialization}.
 */
public record WireLimits(
    int maxMessageBytes, int maxTensorValues, int maxCollectionSize, int maxStringBytes) {

  public static WireLimits fromConfig(Config serialization) {
    return new WireLimits(
        Math.toIntExact(serialization.getBytes("max-message-bytes")),
        serialization.getInt("max-tensor-values"),
        serialization.getInt("max-collection-size"),
        Math.toIntExact(serialization.getBytes("max-string-bytes")));
  }
}
