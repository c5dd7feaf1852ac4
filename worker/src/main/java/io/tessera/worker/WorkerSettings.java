package io.tessera.worker;

import com.typesafe.config.Config;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A node's worker settings, from {@code tessera.worker} (see reference.conf).
 *
 * @param count workers to start; 0 means one per GPU, or one on the CPU when there is none
 * @param useGpus whether to look for GPUs (which loads the PyTorch engine) at start
 * @param dataDir where the node's workers find their data
 * @param shardTimeout how long a pull or push may take before it is retried
 * @param coordinatorTimeout how long a lease request may take
 * @param maxWindowRetries failed pulls or pushes of one window before the lease is given back
 * @param retryBackoff pause before retrying a failed window (times the failures so far) or asking
 *     the coordinator again
 */
public record WorkerSettings(
    int count,
    boolean useGpus,
    Path dataDir,
    Duration shardTimeout,
    Duration coordinatorTimeout,
    int maxWindowRetries,
    Duration retryBackoff) {

  /** The dispatcher workers run on: one thread each, so training never blocks Akka's threads. */
  public static final String DISPATCHER = "tessera.worker.dispatcher";

  public static WorkerSettings fromConfig(Config config) {
    Config c = config.getConfig("tessera.worker");
    return new WorkerSettings(
        c.getInt("count"),
        c.getBoolean("use-gpus"),
        Path.of(c.getString("data-dir")),
        c.getDuration("shard-timeout"),
        c.getDuration("coordinator-timeout"),
        c.getInt("max-window-retries"),
        c.getDuration("retry-backoff"));
  }
}
