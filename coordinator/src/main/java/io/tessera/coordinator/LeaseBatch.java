package io.tessera.coordinator;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Lease decisions the coordinator has made but not yet journaled. Lease requests and split acks
 * come in bursts (at a sync barrier every worker asks at once), and journaling each on its own
 * makes the last worker wait for all the writes before its own. So they are decided against the
 * state as it will be, collected here, written by one journal write, and only then answered:
 * nothing is promised to a worker before it is durable.
 */
final class LeaseBatch {
  private final List<CoordinatorEvent> events = new ArrayList<>();
  private final List<Consumer<CoordinatorState>> answers = new ArrayList<>();
  private CoordinatorState projected;

  /** The decisions and answers of one write. */
  record Written(List<CoordinatorEvent> events, List<Consumer<CoordinatorState>> answers) {}

  boolean isEmpty() {
    return events.isEmpty();
  }

  /** The state decisions are made against: the journaled one with this batch applied. */
  CoordinatorState view(CoordinatorState journaled) {
    return projected == null ? journaled : projected;
  }

  /**
   * Adds decisions and what to do once they are written (answer the worker, count, nudge).
   *
   * @return whether this opened a new batch, so a write must be asked for
   */
  boolean add(CoordinatorState journaled, List<CoordinatorEvent> decided, Consumer<CoordinatorState> answer) {
    if (decided.isEmpty()) {
      throw new IllegalArgumentException("a batch entry needs at least one event");
    }
    boolean opened = events.isEmpty();
    CoordinatorState next = view(journaled);
    for (CoordinatorEvent event : decided) {
      next = next.apply(event);
    }
    events.addAll(decided);
    answers.add(answer);
    projected = next;
    return opened;
  }

  /** Everything collected, for one write; the batch is empty afterwards. */
  Written take() {
    Written written = new Written(List.copyOf(events), List.copyOf(answers));
    events.clear();
    answers.clear();
    projected = null;
    return written;
  }
}
