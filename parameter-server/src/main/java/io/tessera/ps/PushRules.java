package io.tessera.ps;

import akka.pattern.StatusReply;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Push;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import io.tessera.protocol.ps.ShardProtocol.Window;
import io.tessera.protocol.spec.SpecLimits;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.ps.ShardState.Live;
import java.util.Arrays;
import org.slf4j.Logger;

/**
 * How a shard judges and applies a push: refuse what is malformed; in {@code async} and {@code
 * ssp} mode refuse a push whose lease the coordinator has fenced off ({@code Revoked}); answer a
 * repeated {@code (workerId, seq)} as a duplicate; in {@code async} and {@code ssp} mode answer a
 * window whose every split this shard applied before as a duplicate, and one of which it applied
 * some splits as an {@code Overlap}; refuse a push from another recovery epoch as stale; then per
 * mode:
 *
 * <ul>
 *   <li>{@code async}: refuse a push based more than {@code staleness} versions back as stale
 *       (optionally damp the others by their lag);
 *   <li>{@code ssp}: accept any push of this epoch (the bound is kept at pull time) and advance the
 *       worker's clock;
 *   <li>{@code sync}: accept only pushes based on the current version, and each part of a step
 *       once, whoever sends it: a backup's copy, a re-leased contribution, or any copy of a part
 *       of a step already taken is answered as a duplicate (its samples are in).
 * </ul>
 *
 * The accepted gradient sum is added to the pending step, and one optimizer step is applied once
 * the push's {@link StepRule} says the step has all its samples.
 */
final class PushRules {
  private PushRules() {}

  /** Checks an {@code Initialize}; null when it is acceptable. */
  static String checkSetup(String entityId, ShardSetup setup, TensorPayload values) {
    int size = setup.range().size();
    if (values.length() != size) {
      return "shard " + entityId + " covers " + size + " values but was given " + values.length();
    }
    if (setup.globalBatch() <= 0 || setup.staleness() < 0) {
      return "shard " + entityId + " needs a positive global batch and a staleness >= 0";
    }
    try {
      io.tessera.ps.optimizer.Optimizer.create(setup.optimizer(), size, setup.segments());
    } catch (IllegalArgumentException e) {
      return "shard " + entityId + ": " + e.getMessage();
    }
    return null;
  }

  static StatusReply<PushOutcome> apply(
      String entityId,
      ShardSetup setup,
      Live live,
      Push push,
      long epoch,
      ShardSettings settings,
      ShardMetrics metrics,
      Logger log) {
    String problem = malformed(push, live, settings);
    if (problem != null) {
      live.rejected++;
      metrics.rejected.increment();
      log.warn("Shard {} refused a push from {}: {}", entityId, push.workerId(), problem);
      return StatusReply.error("shard " + entityId + " refused the push: " + problem);
    }
    boolean bySplit = setup.mode() != TrainingMode.SYNC;
    Window window = push.window();
    if (bySplit && window.namesLease() && live.isRevoked(window.leaseId())) {
      live.revoked++;
      metrics.revoked.increment();
      log.debug("Shard {} refused a push of revoked lease {} from {}", entityId, window.leaseId(), push.workerId());
      return StatusReply.success(
          new ShardProtocol.Revoked(
              live.version,
              "lease " + window.leaseId() + " is no longer current at shard " + entityId
                  + ": the coordinator took it back (given back, its worker left or went silent past the lease"
                  + " timeout, or a rewind voided it) and its splits were or will be trained under another lease"));
    }
    Long lastSeq = live.lastSeqByWorker.get(push.workerId());
    if (lastSeq != null && push.seq() <= lastSeq) {
      live.duplicates++;
      metrics.duplicate.increment();
      return StatusReply.success(new ShardProtocol.Duplicate(live.version));
    }
    if (bySplit && window.namesSplits()) {
      // Each split once, whoever pushes it: an earlier holder of the work (its lease given back,
      // expired or taken from a worker that left) may have pushed some of it already.
      long applied = countApplied(live, window);
      if (applied == window.splits()) {
        live.duplicates++;
        metrics.duplicate.increment();
        live.clocks.merge(push.workerId(), 1L, Long::sum); // the worker did finish a window
        return StatusReply.success(new ShardProtocol.Duplicate(live.version));
      }
      if (applied > 0) {
        metrics.overlap.increment();
        return StatusReply.success(new ShardProtocol.Overlap(live.version, uniformUntil(live, window)));
      }
    }
    StepRule rule = push.rule();
    if (setup.mode() == TrainingMode.SYNC && push.epoch() == epoch && rule.step() >= 0 && rule.step() <= live.lastStep) {
      // A contribution to a step this shard has already taken. A step is taken only once every
      // one of its parts is in, so this part was counted from another copy (a backup's, or the
      // lease's before it was re-leased): the sender's work is done, not lost. Answering Stale
      // here would make the coordinator lease the part again, and every copy would be refused
      // for ever.
      live.duplicates++;
      metrics.duplicate.increment();
      return StatusReply.success(new ShardProtocol.Duplicate(live.version));
    }
    long lag = live.version - push.baseVersion();
    // Another epoch, or a base from the future (the shard was rewound after the worker pulled):
    // the gradient belongs to parameters that no longer exist.
    boolean stale =
        push.epoch() != epoch
            || lag < 0
            || switch (setup.mode()) {
              case ASYNC -> lag > setup.staleness();
              case SSP -> false;
              case SYNC -> lag != 0;
            };
    if (stale) {
      live.stale++;
      metrics.stale.increment();
      return StatusReply.success(new ShardProtocol.Stale(live.version));
    }
    if (setup.mode() == TrainingMode.SYNC && rule.step() >= 0
        && live.pendingSamples > 0 && rule.step() != live.pendingStep) {
      // A contribution to another step than the one this shard is collecting: it was computed
      // for parameters that are not the current step's.
      live.stale++;
      metrics.stale.increment();
      return StatusReply.success(new ShardProtocol.Stale(live.version));
    }
    if (setup.mode() == TrainingMode.SYNC && rule.part() >= 0 && !live.pendingParts.add(rule.part())) {
      live.lastSeqByWorker.put(push.workerId(), push.seq());
      live.duplicates++;
      metrics.duplicate.increment();
      return StatusReply.success(new ShardProtocol.Duplicate(live.version));
    }
    float weight = setup.stalenessDamping() ? 1.0f / (1 + lag) : 1.0f;
    for (int i = 0; i < live.decoded.length; i++) {
      live.pendingGradient[i] += weight * live.decoded[i];
    }
    live.pendingSamples += push.samples();
    if (rule.step() >= 0) {
      live.pendingStep = rule.step();
    }
    live.lastSeqByWorker.put(push.workerId(), push.seq());
    if (bySplit && window.namesSplits()) {
      live.appliedSplits.set((int) window.firstSplit(), (int) window.endSplit());
      live.splitApplications += window.splits(); // the audit: counted whatever the bit set says
    }
    live.clocks.merge(push.workerId(), 1L, Long::sum);
    live.pushers.add(push.workerId());
    live.accepted++;
    metrics.accepted.increment();
    metrics.pushBytes.increment(push.gradientSum().bytes().length);
    if (live.pendingSamples >= rule.stepSamples()) {
      step(setup, live, rule, metrics);
    }
    return StatusReply.success(new ShardProtocol.Accepted(live.version));
  }

  /** Splits of {@code window} this shard has applied. */
  private static long countApplied(Live live, Window window) {
    int from = (int) window.firstSplit();
    int to = (int) window.endSplit();
    int next = live.appliedSplits.nextSetBit(from);
    if (next < 0 || next >= to) {
      return 0;
    }
    return live.appliedSplits.get(from, to).cardinality();
  }

  /** The first split of {@code window} applied here if its first is not, or not if it is. */
  private static long uniformUntil(Live live, Window window) {
    int from = (int) window.firstSplit();
    int change = live.appliedSplits.get(from) ? live.appliedSplits.nextClearBit(from) : live.appliedSplits.nextSetBit(from);
    return Math.min(change, window.endSplit());
  }

  /** Decodes the gradient into {@code live.decoded} and returns null, or says what is wrong. */
  private static String malformed(Push push, Live live, ShardSettings settings) {
    if (push.samples() <= 0) {
      return "it covers " + push.samples() + " samples";
    }
    Window window = push.window();
    if (window.firstSplit() >= 0 || window.splits() != 0) {
      if (window.firstSplit() < 0 || window.splits() <= 0 || window.endSplit() > SpecLimits.MAX_MICRO_BATCHES) {
        return "its window names splits [" + window.firstSplit() + ", " + window.endSplit() + "), outside 0.."
            + SpecLimits.MAX_MICRO_BATCHES;
      }
    }
    TensorPayload gradient = push.gradientSum();
    if (gradient.length() != live.decoded.length) {
      return "gradient has " + gradient.length() + " values, the shard holds " + live.decoded.length;
    }
    gradient.decodeInto(live.decoded, 0);
    double squares = 0;
    for (int i = 0; i < live.decoded.length; i++) {
      if (!Float.isFinite(live.decoded[i])) {
        return "gradient value " + i + " is " + live.decoded[i];
      }
      squares += (double) live.decoded[i] * live.decoded[i];
    }
    double perSample = Math.sqrt(squares) / push.samples();
    if (perSample > settings.maxGradientNormPerSample()) {
      return String.format(
          "gradient norm per sample %.3g exceeds tessera.ps.max-gradient-norm-per-sample (%.3g)",
          perSample, settings.maxGradientNormPerSample());
    }
    return null;
  }

  /**
   * The schedule's position: steps of the planned global batch applied so far. With the batch as
   * planned this is the version; after an operator changed the batch it still measures progress
   * through the data, so the schedule ends where the job does.
   */
  static long scheduleStep(ShardSetup setup, long samplesApplied) {
    return samplesApplied / setup.globalBatch();
  }

  private static void step(ShardSetup setup, Live live, StepRule rule, ShardMetrics metrics) {
    long start = System.nanoTime();
    float scale = 1.0f / live.pendingSamples;
    for (int i = 0; i < live.pendingGradient.length; i++) {
      live.pendingGradient[i] *= scale;
    }
    double learningRate =
        setup.optimizer().learningRateAt(scheduleStep(setup, live.samplesApplied), setup.totalSteps())
            * rule.learningRateScale();
    live.optimizer.step(live.parameters, live.pendingGradient, learningRate);
    Arrays.fill(live.pendingGradient, 0f);
    live.samplesApplied += live.pendingSamples;
    live.pendingSamples = 0;
    live.pendingParts.clear();
    if (live.pendingStep >= 0) {
      live.lastStep = live.pendingStep;
    }
    live.version++;
    metrics.steps.increment();
    metrics.stepTime.record(System.nanoTime() - start);
  }
}
