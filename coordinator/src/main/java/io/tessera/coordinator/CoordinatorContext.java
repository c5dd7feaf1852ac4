package io.tessera.coordinator;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.javadsl.ActorContext;
import akka.persistence.typed.javadsl.EffectFactories;
import io.tessera.coordinator.CoordinatorEvent.OperatorCommandRecorded;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;

/**
 * What the pieces of the {@link Coordinator} share: the actor's context, the settings, the
 * metrics, the {@code Effect()} factory of the event-sourced behaviour, the lease batch and the
 * workers' failure counts, and a way to reach the coordinator and the other pieces. One instance
 * per coordinator incarnation; like the pieces, nothing in it survives a restart.
 */
final class CoordinatorContext {

  /** What the pieces ask of the coordinator itself. */
  interface Host {
    /** Has the state reconciled with what is in flight once the current command is done. */
    void scheduleReconcile();

    /** The shard fleet of a job, started on first use. */
    ActorRef<ShardFleet.Command> fleet(JobRun job);

    /** Answers lease asks held at the sync barrier for too long, and those of gone workers. */
    void releaseStaleParked(CoordinatorState state);

    /** Forgets the SSP rosters sent to the job's shards, so that they are sent again. */
    void forgetRosters(String jobId);
  }

  final ActorContext<Command> actor;
  final CoordinatorSettings settings;
  final CoordinatorMetrics metrics;
  /** Lease decisions waiting for their journal write (see {@link LeaseBatch}). */
  final LeaseBatch leases = new LeaseBatch();
  /** Lease failures in a row, per worker: leases and one-off tasks skip workers that keep failing. */
  final Map<String, Integer> consecutiveFailures = new HashMap<>();
  final Host host;
  private final ActorRefResolver resolver;
  private final EffectFactories<CoordinatorEvent, CoordinatorState> effects;

  // The pieces, set once by the coordinator as it builds them.
  CheckpointScheduler checkpoints;

  CoordinatorContext(
      ActorContext<Command> actor,
      CoordinatorSettings settings,
      CoordinatorMetrics metrics,
      EffectFactories<CoordinatorEvent, CoordinatorState> effects,
      Host host) {
    this.actor = actor;
    this.settings = settings;
    this.metrics = metrics;
    this.effects = effects;
    this.host = host;
    this.resolver = ActorRefResolver.get(actor.getSystem());
  }

  /** The behaviour's {@code Effect()}. */
  EffectFactories<CoordinatorEvent, CoordinatorState> effect() {
    return effects;
  }

  Logger log() {
    return actor.getLog();
  }

  void scheduleReconcile() {
    host.scheduleReconcile();
  }

  /** A worker's id: its actor reference in serialised form. */
  String workerId(ActorRef<?> worker) {
    return resolver.toSerializationFormat(worker);
  }

  static OperatorCommandRecorded audit(CoordinatorState state, String command, String detail) {
    return JobControl.audit(state, command, detail, System.currentTimeMillis());
  }
}
