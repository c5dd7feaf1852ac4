package io.tessera.coordinator;

import kamon.Kamon;
import kamon.metric.Counter;
import kamon.metric.Gauge;

/** The Kamon instruments the coordinator reports to. */
final class CoordinatorMetrics {
  final Gauge liveWorkers = Kamon.gauge("tessera_coordinator_live_workers").withoutTags();
  final Gauge samplesPerSecond = Kamon.gauge("tessera_coordinator_samples_per_second").withoutTags();
  final Counter leasesGranted = Kamon.counter("tessera_coordinator_leases_granted").withoutTags();
  final Counter splitsAcked = Kamon.counter("tessera_coordinator_splits_acked").withoutTags();
  final Counter leasesReleased = Kamon.counter("tessera_coordinator_leases_released").withoutTags();
  final Counter lateAcks = Kamon.counter("tessera_coordinator_late_acks").withoutTags();
}
