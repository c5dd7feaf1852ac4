package io.tessera.coordinator;

import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import java.util.ArrayList;
import java.util.Collections;
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

  /** {@link #divide(List, List, List)} with equal weights (fair share). */
  static Map<Integer, List<String>> divide(List<String> workerIds, List<Integer> activeMembers) {
    return divide(workerIds, activeMembers, Collections.nCopies(activeMembers.size(), 1.0));
  }

  /**
   * Gives each active member a number of workers in proportion to its weight (largest
   * remainder), at least one each while there are enough workers, and deals the workers (in id
   * order) out in turn. With fewer workers than members, the heaviest members (then the
   * first) get one each and the others wait for a member to finish.
   */
  static Map<Integer, List<String>> divide(List<String> workerIds, List<Integer> activeMembers, List<Double> weights) {
    if (weights.size() != activeMembers.size()) {
      throw new IllegalArgumentException(activeMembers.size() + " members but " + weights.size() + " weights");
    }
    Map<Integer, List<String>> division = new LinkedHashMap<>();
    for (int member : activeMembers) {
      division.put(member, new ArrayList<>());
    }
    int n = activeMembers.size();
    if (n == 0 || workerIds.isEmpty()) {
      return division;
    }
    int[] counts = new int[n];
    if (workerIds.size() < n) {
      List<Integer> byWeight = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        byWeight.add(i);
      }
      byWeight.sort((a, b) -> Double.compare(weights.get(b), weights.get(a))); // stable: first wins ties
      for (int i = 0; i < workerIds.size(); i++) {
        counts[byWeight.get(i)] = 1;
      }
    } else {
      // One each first, then the rest by weight.
      java.util.Arrays.fill(counts, 1);
      counts = addByWeight(counts, workerIds.size() - n, weights);
    }
    // Deal in turn, skipping members that have their count, so a member's workers interleave with
    // the others' (workers started together on one node spread over the members).
    int member = 0;
    for (String worker : workerIds) {
      while (division.get(activeMembers.get(member)).size() >= counts[member]) {
        member = (member + 1) % n;
      }
      division.get(activeMembers.get(member)).add(worker);
      member = (member + 1) % n;
    }
    return division;
  }

  /**
   * Splits {@code microBatchesPerStep} over {@code workerIds} in proportion to their measured
   * speeds (samples per second; 0 when unknown, which counts as the mean of the known ones), by
   * largest remainder with at least one micro-batch each while there are enough; with no speeds
   * known, as evenly as possible (the first {@code microBatchesPerStep % n} workers run one more).
   * The counts always add up to {@code microBatchesPerStep}; a worker beyond that many gets 0 and
   * is left idle.
   */
  static List<WorkerShare> shares(int microBatchesPerStep, List<String> workerIds, List<Double> speeds) {
    if (speeds.size() != workerIds.size()) {
      throw new IllegalArgumentException(workerIds.size() + " workers but " + speeds.size() + " speeds");
    }
    List<WorkerShare> shares = new ArrayList<>();
    int n = workerIds.size();
    if (n == 0) {
      return shares;
    }
    double known = speeds.stream().filter(s -> s > 0).mapToDouble(Double::doubleValue).average().orElse(0);
    int[] counts = new int[n];
    if (known == 0 || microBatchesPerStep <= n) {
      int base = microBatchesPerStep / n;
      int extra = microBatchesPerStep % n;
      for (int i = 0; i < n; i++) {
        counts[i] = base + (i < extra ? 1 : 0);
      }
    } else {
      List<Double> weights = speeds.stream().map(s -> s > 0 ? s : known).toList();
      int[] ones = new int[n];
      java.util.Arrays.fill(ones, 1);
      counts = addByWeight(ones, microBatchesPerStep - n, weights);
    }
    for (int i = 0; i < n; i++) {
      shares.add(new WorkerShare(workerIds.get(i), counts[i]));
    }
    return shares;
  }

  /** {@code base} plus {@code extra} units dealt in proportion to {@code weights}, largest remainder. */
  private static int[] addByWeight(int[] base, int extra, List<Double> weights) {
    int n = base.length;
    int[] counts = base.clone();
    double total = weights.stream().mapToDouble(Double::doubleValue).sum();
    double[] remainders = new double[n];
    int dealt = 0;
    for (int i = 0; i < n; i++) {
      double exact = extra * weights.get(i) / total;
      int whole = (int) Math.floor(exact);
      counts[i] += whole;
      dealt += whole;
      remainders[i] = exact - whole;
    }
    while (dealt < extra) {
      int best = 0;
      for (int i = 1; i < n; i++) {
        if (remainders[i] > remainders[best] + 1e-12) {
          best = i;
        }
      }
      counts[best]++;
      remainders[best] = -1;
      dealt++;
    }
    return counts;
  }
}
