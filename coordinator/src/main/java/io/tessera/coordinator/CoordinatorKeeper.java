package io.tessera.coordinator;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.Terminated;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.StashBuffer;
import akka.actor.typed.javadsl.TimerScheduler;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Local;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * The coordinator singleton's outer actor. It runs the event-sourced coordinator as a child,
 * forwards every message to it, and when the child stops, starts a new one after a back-off.
 *
 * <p>An event-sourced actor stops when its journal fails a write (PostgreSQL is down, a
 * connection broke mid-write), since it cannot know whether the event was stored. A singleton
 * that stopped stays stopped until its node leaves the cluster, so without a keeper every job
 * would stall for good after one journal hiccup. The new child is a new coordinator: it recovers
 * from the journal exactly as one does on another node after a fail-over. Messages that arrive
 * while no child runs are stashed (up to {@code stashCapacity}) and handed to the next one; past
 * that they are dropped, as if the node had been unreachable, and their senders retry.
 */
final class CoordinatorKeeper {
  private static final int STASH_CAPACITY = 10_000;

  /** Timer: start the next child. */
  private enum Respawn implements Local {
    INSTANCE
  }

  private final ActorContext<Command> context;
  private final TimerScheduler<Command> timers;
  private final StashBuffer<Command> stash;
  private final Supplier<Behavior<Command>> coordinator;
  private final Duration minBackoff;
  private final Duration maxBackoff;
  private Duration backoff;
  private long generation;
  private long startedNanos;

  private CoordinatorKeeper(
      ActorContext<Command> context,
      TimerScheduler<Command> timers,
      StashBuffer<Command> stash,
      Supplier<Behavior<Command>> coordinator,
      Duration minBackoff,
      Duration maxBackoff) {
    this.context = context;
    this.timers = timers;
    this.stash = stash;
    this.coordinator = coordinator;
    this.minBackoff = minBackoff;
    this.maxBackoff = maxBackoff;
    this.backoff = minBackoff;
  }

  /**
   * Keeps {@code coordinator} running: a child stopped is replaced after {@code minBackoff},
   * doubling up to {@code maxBackoff} while replacements keep stopping within {@code maxBackoff}
   * of their start.
   */
  static Behavior<Command> create(Supplier<Behavior<Command>> coordinator, Duration minBackoff, Duration maxBackoff) {
    return Behaviors.setup(
        context ->
            Behaviors.withTimers(
                timers ->
                    Behaviors.withStash(
                        STASH_CAPACITY,
                        stash -> new CoordinatorKeeper(context, timers, stash, coordinator, minBackoff, maxBackoff).start())));
  }

  private Behavior<Command> start() {
    generation++;
    startedNanos = System.nanoTime();
    ActorRef<Command> child = context.spawn(coordinator.get(), "coordinator-" + generation);
    context.watch(child);
    return stash.unstashAll(running(child));
  }

  private Behavior<Command> running(ActorRef<Command> child) {
    return Behaviors.receive(Command.class)
        .onMessage(Command.class, message -> {
          child.tell(message);
          return Behaviors.same();
        })
        .onSignal(Terminated.class, stopped -> {
          if (System.nanoTime() - startedNanos >= maxBackoff.toNanos()) {
            backoff = minBackoff; // it ran a good while: this is a new failure, not the same one again
          }
          Duration wait = backoff;
          backoff = min(backoff.multipliedBy(2), maxBackoff);
          context.getLog().warn(
              "The coordinator stopped (its journal failed a write or could not be replayed); a new one starts in {} ms"
                  + " and recovers from the journal", wait.toMillis());
          timers.startSingleTimer(Respawn.INSTANCE, wait);
          return waiting();
        })
        .build();
  }

  private Behavior<Command> waiting() {
    return Behaviors.receive(Command.class)
        .onMessageEquals(Respawn.INSTANCE, this::start)
        .onMessage(Command.class, message -> {
          if (stash.isFull()) {
            context.getLog().debug("No coordinator running and the stash is full: dropped {}", message.getClass().getSimpleName());
          } else {
            stash.stash(message);
          }
          return Behaviors.same();
        })
        .build();
  }

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }
}
