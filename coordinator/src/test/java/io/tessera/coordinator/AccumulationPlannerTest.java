package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IntSummaryStatistics;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Each worker's k (even, or by measured speed), and the division of workers over ensemble members. */
class AccumulationPlannerTest {

  private static List<String> workers(int n) {
    return IntStream.range(0, n).mapToObj(i -> "worker-" + (char) ('a' + i)).toList();
  }

  /** Shares with no speed known: the even split. */
  private static List<WorkerShare> even(int microBatchesPerStep, List<String> workerIds) {
    return AccumulationPlanner.shares(microBatchesPerStep, workerIds, Collections.nCopies(workerIds.size(), 0.0));
  }

  private static List<Integer> ks(List<WorkerShare> shares) {
    return shares.stream().map(WorkerShare::accumulationSteps).toList();
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
      List<WorkerShare> shares = even(microBatchesPerStep, ids);

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
      List<WorkerShare> shares = even(microBatchesPerStep, workers(n));
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
        even(7, workers(3)));
    assertEquals(
        List.of(new WorkerShare("worker-a", 4), new WorkerShare("worker-b", 4)),
        even(8, workers(2)));
  }

  @Test
  void workersBeyondTheStepSizeGetNothing() {
    List<WorkerShare> shares = even(3, workers(5));

    assertEquals(List.of(1, 1, 1, 0, 0), shares.stream().map(WorkerShare::accumulationSteps).toList());
    assertEquals(3, sum(shares));
  }

  @Test
  void noWorkersNoShares() {
    assertEquals(List.of(), even(8, List.of()));
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

  // ---------------------------------------------------------------- weights

  @Test
  void weightsTwoToOneGiveTheHeavierMemberTwiceTheWorkers() {
    List<Double> weights = List.of(2.0, 1.0);

    Map<Integer, List<String>> three = AccumulationPlanner.divide(workers(3), List.of(0, 1), weights);
    assertEquals(List.of("worker-a", "worker-c"), three.get(0));
    assertEquals(List.of("worker-b"), three.get(1));

    Map<Integer, List<String>> six = AccumulationPlanner.divide(workers(6), List.of(0, 1), weights);
    assertEquals(4, six.get(0).size());
    assertEquals(2, six.get(1).size());
    // Dealt in turn while both take more, then the rest to the heavier member.
    assertEquals(List.of("worker-a", "worker-c", "worker-e", "worker-f"), six.get(0));
    assertEquals(List.of("worker-b", "worker-d"), six.get(1));
  }

  @Test
  void everyMemberKeepsOneWorkerHoweverLightWhileThereAreEnough() {
    Map<Integer, List<String>> division =
        AccumulationPlanner.divide(workers(4), List.of(0, 1, 2), List.of(100.0, 1.0, 1.0));

    assertEquals(List.of(2, 1, 1), division.values().stream().map(List::size).toList());
    assertEquals(List.of("worker-a", "worker-d"), division.get(0));
  }

  @Test
  void weightedDivisionUsesEveryWorkerOnce() {
    List<Double> weights = List.of(3.0, 1.0, 2.0);
    for (int n = 0; n <= 12; n++) {
      Map<Integer, List<String>> division = AccumulationPlanner.divide(workers(n), List.of(0, 1, 2), weights);

      List<String> dealt = division.values().stream().flatMap(List::stream).toList();
      assertEquals(n, dealt.size(), division::toString);
      assertEquals(Set.copyOf(workers(n)), new HashSet<>(dealt), division::toString);
      if (n >= 3) {
        assertTrue(division.values().stream().allMatch(w -> !w.isEmpty()), division::toString);
        assertTrue(division.get(0).size() >= division.get(2).size(), division::toString);
        assertTrue(division.get(2).size() >= division.get(1).size(), division::toString);
      }
    }
  }

  @Test
  void withFewerWorkersThanMembersTheHeaviestGetOne() {
    Map<Integer, List<String>> division =
        AccumulationPlanner.divide(workers(2), List.of(0, 1, 2), List.of(1.0, 3.0, 2.0));

    assertEquals(List.of(), division.get(0), "the lightest member waits");
    assertEquals(List.of("worker-a"), division.get(1));
    assertEquals(List.of("worker-b"), division.get(2));

    Map<Integer, List<String>> tie =
        AccumulationPlanner.divide(workers(1), List.of(0, 1, 2), List.of(2.0, 1.0, 2.0));
    assertEquals(List.of("worker-a"), tie.get(0), "of equal weights the first wins");
    assertEquals(List.of(), tie.get(2));
  }

  @Test
  void weightsMustMatchTheMembers() {
    assertThrows(
        IllegalArgumentException.class, () -> AccumulationPlanner.divide(workers(3), List.of(0, 1), List.of(1.0)));
  }

  // ---------------------------------------------------------------- speeds

  @Test
  void theFasterWorkerGetsTheLargerShare() {
    List<WorkerShare> shares = AccumulationPlanner.shares(8, workers(2), List.of(100.0, 300.0));

    assertEquals(List.of(3, 5), ks(shares));
    assertEquals(workers(2), shares.stream().map(WorkerShare::workerId).toList());
    assertEquals(List.of(1, 2, 1), ks(AccumulationPlanner.shares(4, workers(3), List.of(100.0, 300.0, 200.0))));
  }

  @Test
  void anUnknownSpeedCountsAsTheMeanOfTheKnownOnes() {
    // Known: 100 and 300, so the newcomer counts as 200.
    List<WorkerShare> shares = AccumulationPlanner.shares(9, workers(3), List.of(100.0, 0.0, 300.0));

    assertEquals(List.of(2, 3, 4), ks(shares));
  }

  @Test
  void withNoSpeedKnownTheSharesAreEven() {
    assertEquals(List.of(3, 2, 2), ks(AccumulationPlanner.shares(7, workers(3), List.of(0.0, 0.0, 0.0))));
  }

  @Test
  void aStepOfNoMoreMicroBatchesThanWorkersIsDealtOneEach() {
    assertEquals(List.of(1, 1, 0), ks(AccumulationPlanner.shares(2, workers(3), List.of(10.0, 20.0, 30.0))));
    assertEquals(List.of(1, 1, 1), ks(AccumulationPlanner.shares(3, workers(3), List.of(1.0, 1.0, 1_000.0))));
  }

  @Test
  void speedSharesAlwaysAddUpToOneGlobalBatchWithOneEach() {
    double[] pattern = {120.5, 0.0, 33.0, 980.0, 1.0, 0.0, 250.0, 64.0, 500.0, 7.5};
    for (int perStep : new int[] {1, 3, 4, 7, 16, 64, 1000}) {
      for (int n = 1; n <= 10; n++) {
        List<Double> speeds = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          speeds.add(pattern[(i + perStep) % pattern.length]);
        }
        List<WorkerShare> shares = AccumulationPlanner.shares(perStep, workers(n), speeds);
        int count = n;
        assertEquals(perStep, sum(shares), () -> count + " workers at " + speeds);
        if (perStep >= n) {
          assertTrue(shares.stream().allMatch(s -> s.accumulationSteps() >= 1), shares::toString);
        }
      }
    }
  }

  @Test
  void speedsMustMatchTheWorkers() {
    assertThrows(IllegalArgumentException.class, () -> AccumulationPlanner.shares(4, workers(2), List.of(1.0)));
  }
}
