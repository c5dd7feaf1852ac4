package io.tessera.worker;

import kamon.Kamon;
import kamon.metric.Counter;
import kamon.metric.Timer;

/** The Kamon instruments a worker reports to. */
final class WorkerMetrics {
  final Counter samples = Kamon.counter("tessera_worker_samples").withoutTags();
  final Timer windowCompute = Kamon.timer("tessera_worker_window_compute_time").withoutTags();
  final Timer pullLatency = Kamon.timer("tessera_worker_pull_latency").withoutTags();
  final Timer pushLatency = Kamon.timer("tessera_worker_push_latency").withoutTags();
  final Counter pullBytes = Kamon.counter("tessera_worker_pull_bytes").withoutTags();
  final Counter pushBytes = Kamon.counter("tessera_worker_push_bytes").withoutTags();
  final Counter stalePushes = Kamon.counter("tessera_worker_stale_pushes").withoutTags();
}
