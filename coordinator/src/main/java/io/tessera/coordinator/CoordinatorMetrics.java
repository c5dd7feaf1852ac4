package io.tessera.coordinator;

import kamon.Kamon;
import kamon.metric.Counter;
import kamon.metric.Gauge;
import kamon.metric.Histogram;
import kamon.metric.Timer;

/** The Kamon instruments the coordinator reports to. */
final class CoordinatorMetrics {
  final Gauge liveWorkers = Kamon.gauge("tessera_coordinator_live_workers").withoutTags();
  final Gauge samplesPerSecond = Kamon.gauge("tessera_coordinator_samples_per_second").withoutTags();
  /** The running job's recent mean training loss (a moving average over acknowledged splits). */
  final Gauge trainingLoss = Kamon.gauge("tessera_coordinator_training_loss").withoutTags();
  final Counter leasesGranted = Kamon.counter("tessera_coordinator_leases_granted").withoutTags();
  final Counter splitsAcked = Kamon.counter("tessera_coordinator_splits_acked").withoutTags();
  final Counter leasesReleased = Kamon.counter("tessera_coordinator_leases_released").withoutTags();
  final Counter lateAcks = Kamon.counter("tessera_coordinator_late_acks").withoutTags();
  /** Lease requests and completions not answered: copies of an ask, or asks overtaken by a newer one. */
  final Counter asksIgnored = Kamon.counter("tessera_coordinator_asks_ignored").withoutTags();
  /** Leases taken back because their worker asked again without having received them. */
  final Counter leasesUnknownToHolder = Kamon.counter("tessera_coordinator_leases_unknown_to_holder").withoutTags();
  /** Leases taken back because their holder was silent for longer than the lease timeout. */
  final Counter leasesExpired = Kamon.counter("tessera_coordinator_leases_expired").withoutTags();
  /** One journal write of lease decisions, from asking for it to its completion. */
  final Timer leaseBatchWrite = Kamon.timer("tessera_coordinator_lease_batch_write_time").withoutTags();
  /** From a checkpoint falling due to the job being quiescent, when it is started. */
  final Timer checkpointQuiesce = Kamon.timer("tessera_coordinator_checkpoint_quiesce_time").withoutTags();
  /** From a checkpoint's start to every shard having saved it (a complete checkpoint). */
  final Timer checkpointTime = Kamon.timer("tessera_coordinator_checkpoint_time").withoutTags();
  /** Snapshots of the coordinator's state that could not be saved. */
  final Counter snapshotFailures = Kamon.counter("tessera_coordinator_snapshot_failures").withoutTags();
  /** From the coordinator starting to its state being recovered, in milliseconds. */
  final Gauge recoveryMillis = Kamon.gauge("tessera_coordinator_recovery_ms").withoutTags();
  /** Lease decisions (events) per journal write. */
  final Histogram leaseBatchSize = Kamon.histogram("tessera_coordinator_lease_batch_events").withoutTags();
}
