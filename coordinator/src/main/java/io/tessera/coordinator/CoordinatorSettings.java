package io.tessera.coordinator;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * The coordinator's tunables, read from {@code tessera.coordinator} (see reference.conf).
 *
 * @param initializeTimeout how long a worker may take to build a member and set up its shards
 * @param evaluationTimeout how long a worker may take to evaluate a member on the test set
 * @param checkpointTimeout how long every shard of a job has to save a checkpoint (and to confirm
 *     a recovery epoch, per attempt)
 * @param checkpointsKept complete checkpoints kept per job
 * @param retention how many finished jobs (with and without their plans and loss curves) and
 *     audit records the coordinator's state keeps
 * @param leaseTimeout how long a lease may go without a sign of life from its holder (its grant, a
 *     window's progress report) before the coordinator takes it back: the splits its holder
 *     reported done are acknowledged, the rest leased again, and its pushes refused from then on
 */
public record CoordinatorSettings(
    Duration initializeTimeout,
    Duration evaluationTimeout,
    Duration checkpointTimeout,
    int checkpointsKept,
    CoordinatorEvent.Retention retention,
    Duration leaseTimeout) {

  /** The default of {@code tessera.coordinator.lease-timeout}. */
  public static final Duration DEFAULT_LEASE_TIMEOUT = Duration.ofMinutes(2);

  public CoordinatorSettings {
    if (leaseTimeout.isNegative() || leaseTimeout.isZero()) {
      throw new IllegalArgumentException("tessera.coordinator.lease-timeout must be positive, was " + leaseTimeout);
    }
  }

  /** Settings that keep the default history: 100 finished jobs, 3 in detail, 1,000 audit records. */
  public CoordinatorSettings(
      Duration initializeTimeout, Duration evaluationTimeout, Duration checkpointTimeout, int checkpointsKept) {
    this(initializeTimeout, evaluationTimeout, checkpointTimeout, checkpointsKept,
        new CoordinatorEvent.Retention(100, 3, 1000));
  }

  /** Settings with the default lease timeout. */
  public CoordinatorSettings(
      Duration initializeTimeout,
      Duration evaluationTimeout,
      Duration checkpointTimeout,
      int checkpointsKept,
      CoordinatorEvent.Retention retention) {
    this(initializeTimeout, evaluationTimeout, checkpointTimeout, checkpointsKept, retention, DEFAULT_LEASE_TIMEOUT);
  }

  /** These settings with another lease timeout. */
  public CoordinatorSettings withLeaseTimeout(Duration timeout) {
    return new CoordinatorSettings(
        initializeTimeout, evaluationTimeout, checkpointTimeout, checkpointsKept, retention, timeout);
  }

  public static CoordinatorSettings fromConfig(Config config) {
    Config c = config.getConfig("tessera.coordinator");
    return new CoordinatorSettings(
        c.getDuration("initialize-timeout"),
        c.getDuration("evaluation-timeout"),
        c.getDuration("checkpoint-timeout"),
        c.getInt("checkpoints-kept"),
        new CoordinatorEvent.Retention(
            c.getInt("finished-jobs-kept"), c.getInt("finished-jobs-detailed"), c.getInt("audit-kept")),
        c.getDuration("lease-timeout"));
  }
}
