package io.tessera.ps;

import akka.actor.ActorRef;
import akka.cluster.sharding.ShardCoordinator;
import akka.dispatch.Futures;
import java.util.Collections;
import java.util.Map;
import java.util.Set;
import scala.collection.immutable.IndexedSeq;
import scala.concurrent.Future;

/**
 * Where parameter shards live: a new one goes to the ps node holding the fewest, and a live one is
 * never moved to balance the nodes.
 *
 * <p>A parameter shard's numbers change in memory between checkpoints. Moving a live shard would
 * stop it and restart it from the last complete checkpoint, and then every shard of its job would
 * have to rewind with it: a ps node joining mid-job would cost the job its recent progress. So a
 * node that joins takes shards of jobs set up after it joined, and shards move only when their
 * node is gone (then Cluster Sharding allocates them again through {@link #allocateShard}).
 */
final class StayPutAllocation extends ShardCoordinator.AbstractShardAllocationStrategy {
  @Override
  public Future<ActorRef> allocateShard(
      ActorRef requester, String shardId, Map<ActorRef, IndexedSeq<String>> currentShardAllocations) {
    return Futures.successful(leastLoaded(requester, currentShardAllocations));
  }

  @Override
  public Future<Set<String>> rebalance(
      Map<ActorRef, IndexedSeq<String>> currentShardAllocations, Set<String> rebalanceInProgress) {
    return Futures.successful(Collections.emptySet());
  }

  /** The region with the fewest shards; the requester wins a tie, so one node alone is stable. */
  static ActorRef leastLoaded(ActorRef requester, Map<ActorRef, IndexedSeq<String>> allocations) {
    ActorRef best = allocations.containsKey(requester) ? requester : null;
    int fewest = best == null ? Integer.MAX_VALUE : allocations.get(requester).size();
    for (Map.Entry<ActorRef, IndexedSeq<String>> region : allocations.entrySet()) {
      if (region.getValue().size() < fewest) {
        best = region.getKey();
        fewest = region.getValue().size();
      }
    }
    if (best == null) {
      throw new IllegalStateException("no ps node has registered a shard region yet");
    }
    return best;
  }
}
