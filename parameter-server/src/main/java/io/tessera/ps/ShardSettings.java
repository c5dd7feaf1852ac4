package io.tessera.ps;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * Parameter-shard settings, from {@code tessera.ps} (see reference.conf).
 *
 * @param maxGradientNormPerSample pushes whose gradient sum, divided by their sample count, has a
 *     larger L2 norm over the shard's slice are refused as corrupt
 * @param snapshotsKept snapshots at the newest journal positions a shard keeps whatever the
 *     checkpoints (at least 1); older ones stay only while a complete checkpoint the coordinator
 *     keeps needs them (see {@link ShardSnapshotRetention})
 * @param resolveTimeout how long a starting shard waits for the coordinator before asking again
 * @param stashCapacity messages a starting shard holds meanwhile
 * @param finishedIdleTimeout how long a shard of a finished job, started again to be read (by a
 *     later stage), stays without a message before it stops
 */
public record ShardSettings(
    double maxGradientNormPerSample,
    int snapshotsKept,
    Duration resolveTimeout,
    int stashCapacity,
    Duration finishedIdleTimeout) {

  public ShardSettings {
    if (snapshotsKept < 1) {
      throw new IllegalArgumentException(
          "tessera.ps.snapshots-kept must be at least 1 (the snapshot just taken), got " + snapshotsKept);
    }
  }

  /** Settings whose shards of finished jobs stop after two idle minutes. */
  public ShardSettings(double maxGradientNormPerSample, int snapshotsKept, Duration resolveTimeout, int stashCapacity) {
    this(maxGradientNormPerSample, snapshotsKept, resolveTimeout, stashCapacity, Duration.ofMinutes(2));
  }

  public static ShardSettings fromConfig(Config config) {
    Config c = config.getConfig("tessera.ps");
    return new ShardSettings(
        c.getDouble("max-gradient-norm-per-sample"),
        c.getInt("snapshots-kept"),
        c.getDuration("resolve-timeout"),
        c.getInt("stash-capacity"),
        c.getDuration("finished-idle-timeout"));
  }
}
