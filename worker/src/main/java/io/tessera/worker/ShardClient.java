package io.tessera.worker;

import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.EntityRef;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.WirePrecision;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Talks to all parameter shards of one member at once: pulls the slices into one flat vector and
 * pushes the slices of one gradient vector, in parallel. The futures complete on Akka's threads;
 * callers bring results back into their actor with {@code pipeToSelf}. Pulls and pushes go through
 * the node's {@link MessageFaults} (a no-op unless a chaos test turned it on).
 */
final class ShardClient {
  private final String jobId;
  private final int member;
  private final List<ShardRange> ranges;
  private final List<EntityRef<ShardProtocol.Command>> shards = new ArrayList<>();
  private final int totalSize;
  private final Duration timeout;
  private final MessageFaults faults;

  ShardClient(
      ClusterSharding sharding,
      String jobId,
      int member,
      ParameterLayout layout,
      int shardCount,
      Duration timeout,
      MessageFaults faults) {
    this.jobId = jobId;
    this.faults = faults;
    this.member = member;
    this.ranges = layout.shardRanges(shardCount);
    this.totalSize = layout.totalSize();
    this.timeout = timeout;
    for (ShardRange range : ranges) {
      shards.add(
          sharding.entityRefFor(
              ShardProtocol.ENTITY_TYPE_KEY, ShardProtocol.entityId(jobId, member, range.index())));
    }
  }

  List<ShardRange> ranges() {
    return ranges;
  }

  /**
   * Parameters gathered from every shard, with each shard's version, all of one recovery epoch.
   */
  record PulledParameters(float[] values, long epoch, long[] versions, long bytes) {}

  /**
   * Pulls every slice. {@code workerId} names a training worker (whose pull an {@code ssp} shard
   * may hold back while it is too far ahead); empty for a pull that only reads, like evaluation.
   */
  CompletionStage<PulledParameters> pull(WirePrecision precision, String workerId) {
    List<CompletableFuture<ShardProtocol.Pulled>> replies = new ArrayList<>();
    for (EntityRef<ShardProtocol.Command> shard : shards) {
      replies.add(
          faults
              .ask(
                  () ->
                      shard.<ShardProtocol.Pulled>askWithStatus(
                          replyTo -> new ShardProtocol.Pull(precision, workerId, replyTo), timeout),
                  timeout)
              .toCompletableFuture());
    }
    return CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new))
        .thenApply(
            done -> {
              float[] values = new float[totalSize];
              long[] versions = new long[ranges.size()];
              long bytes = 0;
              long epoch = replies.get(0).join().epoch();
              for (int i = 0; i < replies.size(); i++) {
                ShardProtocol.Pulled pulled = replies.get(i).join();
                if (pulled.epoch() != epoch) {
                  // Mid-rewind: some shards already restarted from the checkpoint, others not yet.
                  throw new IllegalStateException(
                      "shards are between recovery epochs (" + epoch + " and " + pulled.epoch() + ")");
                }
                ShardRange range = ranges.get(i);
                if (pulled.values().length() != range.size()) {
                  throw new IllegalStateException(
                      "shard " + i + " sent " + pulled.values().length() + " values, expected " + range.size());
                }
                pulled.values().decodeInto(values, range.from());
                versions[i] = pulled.version();
                bytes += pulled.values().bytes().length;
              }
              return new PulledParameters(values, epoch, versions, bytes);
            });
  }

  /**
   * One push, slice by slice; a retry must reuse {@code seq} so shards apply it once. {@code
   * targets[i]} says whether shard {@code i} is sent its slice: a window recomputed after some
   * shards answered Stale (or Overlap) goes only to those, since the others already applied it.
   * Slices of shards left out are not encoded ({@code null}). {@code window} names the lease and
   * the splits the push covers.
   */
  record PushRequest(
      String workerId,
      long seq,
      long epoch,
      long[] baseVersions,
      int samples,
      List<TensorPayload> slices,
      boolean[] targets,
      ShardProtocol.StepRule rule,
      ShardProtocol.Window window) {
    long bytes() {
      long bytes = 0;
      for (int i = 0; i < slices.size(); i++) {
        if (targets[i]) {
          bytes += slices.get(i).bytes().length;
        }
      }
      return bytes;
    }
  }

  /** A push to the shards {@code targets} marks (one flag per shard, in shard order). */
  PushRequest encodePush(
      String workerId,
      long seq,
      PulledParameters base,
      int samples,
      float[] gradientSum,
      WirePrecision precision,
      ShardProtocol.StepRule rule,
      ShardProtocol.Window window,
      boolean[] targets) {
    if (targets.length != ranges.size()) {
      throw new IllegalArgumentException("targets has " + targets.length + " flags for " + ranges.size() + " shards");
    }
    List<TensorPayload> slices = new ArrayList<>();
    for (ShardRange range : ranges) {
      slices.add(
          targets[range.index()] ? TensorPayload.encode(gradientSum, range.from(), range.size(), precision) : null);
    }
    return new PushRequest(
        workerId, seq, base.epoch(), base.versions().clone(), samples, slices, targets.clone(), rule, window);
  }

  /**
   * Sends each targeted shard its slice, in parallel. The outcomes are in shard order, one per
   * shard; a shard the request leaves out has {@code null}.
   */
  CompletionStage<List<PushOutcome>> push(PushRequest request) {
    List<CompletableFuture<PushOutcome>> replies = new ArrayList<>();
    for (int i = 0; i < shards.size(); i++) {
      int index = i;
      if (!request.targets()[i]) {
        replies.add(CompletableFuture.completedFuture(null));
        continue;
      }
      EntityRef<ShardProtocol.Command> shard = shards.get(i);
      replies.add(
          faults
              .ask(
                  () ->
                      shard.<PushOutcome>askWithStatus(
                          replyTo ->
                              new ShardProtocol.Push(
                                  request.workerId(),
                                  request.seq(),
                                  request.epoch(),
                                  request.baseVersions()[index],
                                  request.samples(),
                                  request.slices().get(index),
                                  request.rule(),
                                  request.window(),
                                  replyTo),
                          timeout),
                  timeout)
              .toCompletableFuture());
    }
    return CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new))
        .thenApply(done -> replies.stream().map(CompletableFuture::join).toList());
  }

  /** Hands every shard its rules and initial slice; completes when all acknowledged. */
  CompletionStage<Void> initialize(JobSpec spec, ParameterLayout layout, long totalSteps, float[] values) {
    List<CompletableFuture<ShardProtocol.Initialized>> replies = new ArrayList<>();
    for (int i = 0; i < shards.size(); i++) {
      ShardRange range = ranges.get(i);
      ShardSetup setup =
          new ShardSetup(
              jobId,
              member,
              range,
              layout.segments(range),
              spec.optimizerOf(member),
              spec.globalBatch(),
              spec.staleness(),
              totalSteps,
              spec.mode(),
              spec.stalenessDamping());
      TensorPayload slice = TensorPayload.encode(values, range.from(), range.size(), WirePrecision.FP32);
      replies.add(
          shards
              .get(i)
              .<ShardProtocol.Initialized>askWithStatus(
                  replyTo -> new ShardProtocol.Initialize(setup, slice, replyTo), timeout)
              .toCompletableFuture());
    }
    return CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new));
  }
}
