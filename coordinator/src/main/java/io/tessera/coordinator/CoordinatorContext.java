package io.tessera.coordinator;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.javadsl.ActorContext;
import akka.persistence.typed.javadsl.EffectFactories;
import akka.persistence.typed.javadsl.ReplyEffect;
import io.tessera.coordinator.CoordinatorEvent.OperatorCommandRecorded;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;

/**
 * What the pieces of the {@link Coordinator} share: the actor's context, the settings, the
 * metrics, the {@code Effect()} factory of the event-sourced behaviour, the lease batch, the lease
 * watch and the workers' failure counts, and a way to reach the coordinator and the other pieces
 * ({@link CheckpointScheduler}, {@link Recovery}, {@link WorkerTasks}, {@link Membership},
 * {@link Barrier}). One instance
 * per coordinator incarnation; like the pieces, nothing in it survives a restart.
 */
final class CoordinatorContext {

  /** What the pieces ask of the coordinator itself. */
  interface Host {
    /** Has the state reconciled with what is in flight once the current command is done. */
    void scheduleReconcile();

    /** The next lease for a worker (a {@code Leased} event or a {@code NoLease}). */
    Object decide(CoordinatorState state, String workerId, int failures);

    /** Adds lease decisions to the lease batch; {@code then} runs once they are journaled. */
    ReplyEffect<CoordinatorEvent, CoordinatorState> batch(
        CoordinatorState journaled, List<CoordinatorEvent> events, Consumer<CoordinatorState> then);

    /** Tells the running job's shards which of its leases are still out. */
    void sendLeaseFences(CoordinatorState state);
  }

  final ActorContext<Command> actor;
  final CoordinatorSettings settings;
  final CoordinatorMetrics metrics;
  /** Lease decisions waiting for their journal write (see {@link LeaseBatch}). */
  final LeaseBatch leases = new LeaseBatch();
  /** Lease failures in a row, per worker: leases and one-off tasks skip workers that keep failing. */
  final Map<String, Integer> consecutiveFailures = new HashMap<>();
  /** The newest lease request or completion ({@code askId}) seen from each worker. */
  final Map<String, Long> newestAsks = new HashMap<>();
  /** When each lease out last showed a sign of life, and what its holder reported done. */
  final LeaseWatch watch = new LeaseWatch();
  final Host host;
  private final ActorRefResolver resolver;
  private final EffectFactories<CoordinatorEvent, CoordinatorState> effects;

  // The pieces, set once by the coordinator as it builds them.
  CheckpointScheduler checkpoints;
  Recovery recovery;
  WorkerTasks tasks;
  Membership membership;
  Barrier barrier;

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

  /** Runtime bookkeeping of a job that ended: answers still in flight are dropped on arrival. */
  void forgetJob(String jobId) {
    checkpoints.forget(jobId);
    recovery.forget(jobId);
    tasks.forget(jobId);
    membership.forgetRosters(jobId);
  }

  static OperatorCommandRecorded audit(CoordinatorState state, String command, String detail) {
    return JobControl.audit(state, command, detail, System.currentTimeMillis());
  }
}
