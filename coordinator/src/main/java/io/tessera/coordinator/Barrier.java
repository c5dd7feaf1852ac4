package io.tessera.coordinator;

import akka.actor.typed.ActorRef;
import akka.persistence.typed.javadsl.ReplyEffect;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Local;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The sync barrier: lease asks of sync workers waiting for the next step are held here and
 * answered with a lease when it opens, which spares every worker a no-lease answer, a nudge and a
 * new ask at every step. An ask held longer than {@link #PARKED_LIMIT}, or of a worker that left,
 * is answered with why there is no lease (the worker asks again).
 *
 * <p>It owns the held asks (runtime only). It asks the coordinator for its lease decisions and
 * to add the leases it grants to the lease batch.
 */
final class Barrier {

  /** Longest a lease ask is held at the sync barrier: well inside a worker's ask timeout. */
  static final Duration PARKED_LIMIT = Duration.ofSeconds(2);

  private final CoordinatorContext ctx;
  // Sync workers waiting for the next step: their asks are answered with a lease when it opens,
  // which spares every worker a no-lease answer, a nudge and a new ask at every step.
  private final Map<String, ParkedAsk> parked = new java.util.TreeMap<>();
  private boolean serveParkedScheduled;

  Barrier(CoordinatorContext ctx) {
    this.ctx = ctx;
  }

  /** A lease ask held at the sync barrier, and the answer it gets if it is let go unserved. */
  record ParkedAsk(ActorRef<LeaseReply> replyTo, long sinceNanos, NoLease meanwhile) {}

  /** The step may have moved on: answer the asks held at the barrier that can be answered now. */
  enum ServeParked implements Local {
    INSTANCE
  }

  /** Answers held asks with leases of the step that opened, or with why not when that changed. */
  ReplyEffect<CoordinatorEvent, CoordinatorState> onServeParked(
      CoordinatorState journaled, ServeParked serve) {
    serveParkedScheduled = false;
    CoordinatorState state = ctx.leases.view(journaled);
    List<CoordinatorEvent> events = new ArrayList<>();
    List<java.util.function.Consumer<CoordinatorState>> answers = new ArrayList<>();
    for (var entry : List.copyOf(parked.entrySet())) {
      Object decision = ctx.host.decide(state, entry.getKey(), ctx.consecutiveFailures.getOrDefault(entry.getKey(), 0));
      if (decision instanceof NoLease none && LeaseDesk.isAtBarrier(none)) {
        continue;
      }
      parked.remove(entry.getKey());
      ActorRef<LeaseReply> replyTo = entry.getValue().replyTo();
      if (decision instanceof CoordinatorEvent.Leased leased) {
        events.add(leased);
        state = state.apply(leased);
        LeaseReply grant = LeaseDesk.grant(state, leased);
        answers.add(s -> {
          ctx.metrics.leasesGranted.increment();
          replyTo.tell(grant);
        });
      } else {
        replyTo.tell((NoLease) decision);
      }
    }
    if (events.isEmpty()) {
      return ctx.effect().noReply();
    }
    return ctx.host.batch(journaled, events, s -> answers.forEach(answer -> answer.accept(s)));
  }

  /** Holds a worker's ask at the barrier; an earlier ask of the same worker is answered first. */
  void park(String workerId, ActorRef<LeaseReply> replyTo, NoLease meanwhile) {
    ParkedAsk earlier = parked.put(workerId, new ParkedAsk(replyTo, System.nanoTime(), meanwhile));
    if (earlier != null && !earlier.replyTo().equals(replyTo)) {
      earlier.replyTo().tell(earlier.meanwhile());
    }
  }

  void scheduleServeParked() {
    if (!parked.isEmpty() && !serveParkedScheduled) {
      serveParkedScheduled = true;
      ctx.actor.getSelf().tell(ServeParked.INSTANCE);
    }
  }

  /** Answers asks held longer than {@code limit} (the worker re-asks), and those of gone workers. */
  void releaseStaleParked(CoordinatorState state, Duration limit) {
    long now = System.nanoTime();
    parked.entrySet().removeIf(entry -> {
      boolean gone = state.worker(entry.getKey()).isEmpty();
      if (gone || now - entry.getValue().sinceNanos() > limit.toNanos()) {
        entry.getValue().replyTo().tell(entry.getValue().meanwhile());
        return true;
      }
      return false;
    });
  }

//-----
}
