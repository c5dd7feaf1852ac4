package io.tessera.worker;

import kamon.Kamon;
import kamon.metric.Counter;
import kamon.metric.Gauge;
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
  /** Leases dropped because a shard refused their push: the coordinator had taken them back. */
  final Counter revokedLeases = Kamon.counter("tessera_worker_revoked_leases").withoutTags();
  /** Lease requests and completions, from asking the coordinator to its answer. */
  final Timer leaseRoundTrip = Kamon.timer("tessera_worker_lease_round_trip").withoutTags();
  /** Coordinator messages dropped because a newer membership epoch had been seen. */
  final Counter fencedMessages = Kamon.counter("tessera_worker_fenced_messages").withoutTags();
  /** From registering with the Receptionist to the first accepted push. */
  final Gauge firstPushMillis = Kamon.gauge("tessera_worker_first_push_after_join_ms").withoutTags();
}
