package io.tessera.ps;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.ActorRef;
import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.typed.javadsl.Adapter;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import scala.collection.immutable.IndexedSeq;
import scala.concurrent.Await;
import scala.jdk.javaapi.CollectionConverters;

class StayPutAllocationTest {
  private static final ActorTestKit testKit = ActorTestKit.create();
  private final ActorRef a = region();
  private final ActorRef b = region();
  private final ActorRef c = region();
  private final StayPutAllocation strategy = new StayPutAllocation();

  @AfterAll
  static void shutDown() {
    testKit.shutdownTestKit();
  }

  private static ActorRef region() {
    return Adapter.toClassic(testKit.createTestProbe().ref());
  }

  private static IndexedSeq<String> shards(String... ids) {
    return CollectionConverters.asScala(List.of(ids)).toIndexedSeq();
  }

  @Test
  void aNewShardGoesToTheNodeWithTheFewest() throws Exception {
    Map<ActorRef, IndexedSeq<String>> allocations = new LinkedHashMap<>();
    allocations.put(a, shards("s0", "s1"));
    allocations.put(b, shards("s2"));
    allocations.put(c, shards());
    assertEquals(c, Await.result(strategy.allocateShard(a, "s3", allocations), scala.concurrent.duration.Duration.Inf()));
  }

  @Test
  void theRequesterWinsATie() {
    Map<ActorRef, IndexedSeq<String>> allocations = new LinkedHashMap<>();
    allocations.put(a, shards("s0"));
    allocations.put(b, shards("s1"));
    assertEquals(b, StayPutAllocation.leastLoaded(b, allocations));
    assertEquals(a, StayPutAllocation.leastLoaded(a, allocations));
  }

  @Test
  void liveShardsAreNeverMovedToBalanceANodeThatJoined() throws Exception {
    Map<ActorRef, IndexedSeq<String>> allocations = new LinkedHashMap<>();
    allocations.put(a, shards("s0", "s1", "s2", "s3"));
    allocations.put(b, shards());
    Set<String> moved =
        Await.result(
            strategy.rebalance(allocations, Set.of()),
            scala.concurrent.duration.Duration.fromNanos(Duration.ofSeconds(5).toNanos()));
    assertTrue(moved.isEmpty(), "moved: " + moved);
  }
}
