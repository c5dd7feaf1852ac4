package io.tessera.coordinator;

import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerInfo;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The coordinator's runtime record of drains: when each was asked for (to report how long a
 * worker took to leave), which nodes are being emptied, and the workers that drained recently.
 * Nothing here needs to survive a restart: the draining flags themselves are journaled.
 */
final class WorkerDrains {
  private static final int RECENT_KEPT = 100;

  private final Map<String, Long> requestedAt = new HashMap<>();
  private final Map<String, Set<String>> nodes = new HashMap<>();
  private final Deque<WorkerInfo> recent = new ArrayDeque<>();

  /**
   * The live workers {@code target} names: the worker with that id, or every worker on the node at
   * that address ({@code akka://system@host:port} or {@code host:port}).
   */
  static List<WorkerEntry> targets(CoordinatorState state, String target) {
    String trimmed = target.trim();
    if (trimmed.isEmpty()) {
      return List.of();
    }
    List<WorkerEntry> exact = state.workers().stream().filter(w -> w.workerId().equals(trimmed)).toList();
    if (!exact.isEmpty()) {
      return exact;
    }
    return state.workers().stream().filter(w -> nodeOf(w.workerId()).equals(nodeAddress(w.workerId(), trimmed))).toList();
  }

  /** The node part of a worker id: {@code akka://system@host:port}. */
  static String nodeOf(String workerId) {
    int path = workerId.indexOf('/', "akka://".length());
    return path < 0 ? workerId : workerId.substring(0, path);
  }

  /** {@code target} as a node address in the form of {@code workerId}'s. */
  private static String nodeAddress(String workerId, String target) {
    if (target.startsWith("akka://")) {
      return target.endsWith("/") ? target.substring(0, target.length() - 1) : target;
    }
    String node = nodeOf(workerId);
    int at = node.indexOf('@');
    return at < 0 ? target : node.substring(0, at + 1) + target;
  }

  void started(String target, List<String> workerIds, long nanos) {
    workerIds.forEach(id -> requestedAt.putIfAbsent(id, nanos));
    boolean wholeNode = workerIds.stream().noneMatch(id -> id.equals(target.trim()));
    if (wholeNode && !workerIds.isEmpty()) {
      nodes.computeIfAbsent(nodeOf(workerIds.get(0)), n -> new HashSet<>()).addAll(workerIds);
    }
  }

  /**
   * After a fail-over or restart: the drains the journal says are under way, asked for again. The
   * {@code Drain} sent before may have been lost with the coordinator that sent it; a worker takes
   * a second one as a no-op. A node all of whose workers are draining is taken to be emptied, so it
   * is asked to leave once they are gone. Returns the workers to send {@code Drain} again.
   */
  List<WorkerEntry> resumed(CoordinatorState state, long nanos) {
    List<WorkerEntry> draining = state.workers().stream().filter(WorkerEntry::draining).toList();
    Map<String, List<WorkerEntry>> byNode = new HashMap<>();
    for (WorkerEntry worker : state.workers()) {
      byNode.computeIfAbsent(nodeOf(worker.workerId()), n -> new ArrayList<>()).add(worker);
    }
    for (WorkerEntry worker : draining) {
      requestedAt.putIfAbsent(worker.workerId(), nanos);
      List<WorkerEntry> onNode = byNode.get(nodeOf(worker.workerId()));
      if (onNode.stream().allMatch(WorkerEntry::draining)) {
        nodes.computeIfAbsent(nodeOf(worker.workerId()), n -> new HashSet<>()).add(worker.workerId());
      }
    }
    return draining;
  }

  /** Whether a drain of {@code workerId} was asked for (by this coordinator) and is not done yet. */
  boolean isDraining(String workerId) {
    return requestedAt.containsKey(workerId);
  }

  /** Records a worker's departure; returns the milliseconds since its drain was asked, or -1. */
  long completed(String workerId, long nanos) {
    Long start = requestedAt.remove(workerId);
    long millis = start == null ? -1 : (nanos - start) / 1_000_000;
    recent.addLast(new WorkerInfo(workerId, "drained", -1, 0, 0, millis));
    while (recent.size() > RECENT_KEPT) {
      recent.removeFirst();
    }
    return millis;
  }

  /** Nodes being emptied whose workers have all left {@code state}; each is reported once. */
  List<String> nodesDrained(CoordinatorState state) {
    List<String> done = new ArrayList<>();
    nodes.entrySet().removeIf(
        entry -> {
          boolean empty = entry.getValue().stream().allMatch(id -> state.worker(id).isEmpty());
          if (empty) {
            done.add(entry.getKey());
          }
          return empty;
        });
    return done;
  }

  List<WorkerInfo> recentlyDrained() {
    return List.copyOf(recent);
  }
}
