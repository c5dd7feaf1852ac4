package io.tessera.coordinator;

import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Decides which workers train which member, and each worker's accumulation count {@code k}, so
 * that the workers of a member together run exactly one global batch of micro-batches per round.
 * Pure functions: the coordinator's state calls them whenever membership or members change.
 */
final class AccumulationPlanner {
  private AccumulationPlanner() {}

  /**
   * Deals workers (in id order) to active members in turn, so members get equal shares of the pool
   * (fair share). With fewer workers than members, the later members wait.
   */
  static Map<Integer, List<String>> divide(List<String> workerIds, List<Integer> activeMembers) {
    Map<Integer, List<String>> division = new LinkedHashMap<>();
    for (int member : activeMembers) {
      division.put(member, new ArrayList<>());
    }
    if (activeMembers.isEmpty()) {
      return division;
    }
    for (int i = 0; i < workerIds.size(); i++) {
      division.get(activeMembers.get(i % activeMembers.size())).add(workerIds.get(i));
    }
    return division;
  }

  /**
   * Splits {@code microBatchesPerStep} as evenly as possible over {@code workerIds}: the first
   * {@code microBatchesPerStep % n} workers run one more micro-batch. The counts always add up to
   * {@code microBatchesPerStep}; a worker beyond that many gets 0 and is left idle.
   */
  static List<WorkerShare> shares(int microBatchesPerStep, List<String> workerIds) {
    List<WorkerShare> shares = new ArrayList<>();
    int n = workerIds.size();
    if (n == 0) {
      return shares;
    }
    int base = microBatchesPerStep / n;
    int extra = microBatchesPerStep % n;
    for (int i = 0; i < n; i++) {
      shares.add(new WorkerShare(workerIds.get(i), base + (i < extra ? 1 : 0)));
    }
    return shares;
  }
}
