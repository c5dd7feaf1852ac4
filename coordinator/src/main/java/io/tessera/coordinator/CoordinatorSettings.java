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
 */
public record CoordinatorSettings(
    Duration initializeTimeout, Duration evaluationTimeout, Duration checkpointTimeout, int checkpointsKept) {

  public static CoordinatorSettings fromConfig(Config config) {
    Config c = config.getConfig("tessera.coordinator");
    return new CoordinatorSettings(
        c.getDuration("initialize-timeout"),
        c.getDuration("evaluation-timeout"),
        c.getDuration("checkpoint-timeout"),
        c.getInt("checkpoints-kept"));
  }
}
