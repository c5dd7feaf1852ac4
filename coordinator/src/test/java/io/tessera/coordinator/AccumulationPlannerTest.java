package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.IntSummaryStatistics;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Each worker's k, and the division of workers over ensemble members. */
class AccumulationPlannerTest {

  private static List<String> workers(int n) {
    return IntStream.range(0, n).mapToObj(i -> "worker-" + (char) ('a' + i)).toList();
  }

  private static int sum(List<WorkerShare> shares) {
    return shares.stream().mapToInt(WorkerShare::accumulationSteps).sum();
  }

  @ParameterizedTest(name = "{0} micro-batches per step")
  @ValueSource(ints = {1, 2, 3, 4, 5, 7, 8, 12, 16, 64, 1000})
  void sharesAlwaysAddUpToOneGlobalBatch(int microBatchesPerStep) {
    for (int count = 1; count <= 10; count++) {
      int n = count;
      List<String> ids = workers(n);
      List<WorkerShare> shares = AccumulationPlanner.shares(microBatchesPerStep, ids);

      assertEquals(n, shares.size(), "one share per worker");
      assertEquals(
          ids, shares.stream().map(WorkerShare::workerId).toList(), "shares follow the worker order");
      assertEquals(microBatchesPerStep, sum(shares), () -> n + " workers");
      assertTrue(shares.stream().allMatch(s -> s.accumulationSteps() >= 0));
    }
  }

  @ParameterizedTest(name = "{0} micro-batches per step")
  @ValueSource(ints = {1, 3, 4, 7, 10, 16, 33})
  void sharesAreAsEvenAsPossible(int microBatchesPerStep) {
    for (int count = 1; count <= 10; count++) {
      int n = count;
      List<WorkerShare> shares = AccumulationPlanner.shares(microBatchesPerStep, workers(n));
      IntSummaryStatistics k =
          shares.stream().mapToInt(WorkerShare::accumulationSteps).summaryStatistics();

      assertTrue(k.getMax() - k.getMin() <= 1, () -> n + " workers got " + shares);
      assertEquals(microBatchesPerStep / n, k.getMin(), () -> n + " workers got " + shares);
      // The larger shares come first, so the plan is deterministic.
      for (int i = 1; i < shares.size(); i++) {
        assertTrue(
            shares.get(i - 1).accumulationSteps() >= shares.get(i).accumulationSteps(),
            () -> "not front-loaded: " + shares);
      }
    }
  }

  @Test
  void unevenStepsGiveTheRemainderToTheFirstWorkers() {
    assertEquals(
        List.of(new WorkerShare("worker-a", 3), new WorkerShare("worker-b", 2), new WorkerShare("worker-c", 2)),
        AccumulationPlanner.shares(7, workers(3)));
    assertEquals(
        List.of(new WorkerShare("worker-a", 4), new WorkerShare("worker-b", 4)),
        AccumulationPlanner.shares(8, workers(2)));
  }

  @Test
  void workersBeyondTheStepSizeGetNothing() {
    List<WorkerShare> shares = AccumulationPlanner.shares(3, workers(5));

    assertEquals(List.of(1, 1, 1, 0, 0), shares.stream().map(WorkerShare::accumulationSteps).toList());
    assertEquals(3, sum(shares));
  }

  @Test
  void noWorkersNoShares() {
    assertEquals(List.of(), AccumulationPlanner.shares(8, List.of()));
  }

  @Test
  void divideDealsWorkersToMembersInTurn() {
    Map<Integer, List<String>> division = AccumulationPlanner.divide(workers(5), List.of(0, 1));

    assertEquals(List.of(0, 1), new ArrayList<>(division.keySet()));
    assertEquals(List.of("worker-a", "worker-c", "worker-e"), division.get(0));
    assertEquals(List.of("worker-b", "worker-d"), division.get(1));
  }

  @Test
  void divideIsFairAndUsesEveryWorkerOnce() {
    for (int members = 1; members <= 4; members++) {
      List<Integer> active = IntStream.range(0, members).boxed().toList();
      for (int n = 0; n <= 10; n++) {
        Map<Integer, List<String>> division = AccumulationPlanner.divide(workers(n), active);

        assertEquals(Set.copyOf(active), division.keySet(), "every active member has an entry");
        IntSummaryStatistics sizes =
            division.values().stream().mapToInt(List::size).summaryStatistics();
        assertTrue(sizes.getMax() - sizes.getMin() <= 1, division::toString);
        List<String> dealt = division.values().stream().flatMap(List::stream).toList();
        assertEquals(n, dealt.size(), division::toString);
        assertEquals(Set.copyOf(workers(n)), new HashSet<>(dealt), division::toString);
      }
    }
  }

  @Test
  void withFewerWorkersThanMembersTheLaterMembersWait() {
    Map<Integer, List<String>> division = AccumulationPlanner.divide(workers(2), List.of(0, 1, 2));

    assertEquals(List.of("worker-a"), division.get(0));
    assertEquals(List.of("worker-b"), division.get(1));
    assertEquals(List.of(), division.get(2));
  }

  @Test
  void divideKeepsTheMemberNumbersItWasGiven() {
    // Member 0 finished training; only 1 and 3 are still active.
    Map<Integer, List<String>> division = AccumulationPlanner.divide(workers(3), List.of(1, 3));

    assertEquals(Set.of(1, 3), division.keySet());
    assertEquals(List.of("worker-a", "worker-c"), division.get(1));
    assertEquals(List.of("worker-b"), division.get(3));
  }

  @Test
  void divideWithoutActiveMembersIsEmpty() {
    assertTrue(AccumulationPlanner.divide(workers(3), List.of()).isEmpty());
  }
}
