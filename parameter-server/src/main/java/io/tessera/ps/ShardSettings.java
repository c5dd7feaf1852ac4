package io.tessera.ps;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * Parameter-shard settings, from {@code tessera.ps} (see reference.conf).
 *
 * @param maxGradientNormPerSample pushes whose gradient sum, divided by their sample count, has a
 *     larger L2 norm over the shard's slice are refused as corrupt
 * @param snapshotsKept checkpoints (snapshots) a shard keeps
 * @param resolveTimeout how long a starting shard waits for the coordinator before asking again
 * @param stashCapacity messages a starting shard holds meanwhile
 */
public record ShardSettings(
    double maxGradientNormPerSample, int snapshotsKept, Duration resolveTimeout, int stashCapacity) {

  public static ShardSettings fromConfig(Config config) {
    Config c = config.getConfig("tessera.ps");
    return new ShardSettings(
        c.getDouble("max-gradient-norm-per-sample"),
        c.getInt("snapshots-kept"),
        c.getDuration("resolve-timeout"),
        c.getInt("stash-capacity"));
  }
}
