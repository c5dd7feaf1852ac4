package io.tessera.ps;

import akka.pattern.StatusReply;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Push;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.ps.ShardState.Live;
import java.util.Arrays;
import org.slf4j.Logger;

/**
 * How a shard judges and applies a push: refuse what is malformed, answer a repeated {@code
 * (workerId, seq)} as a duplicate, refuse a push from another epoch or too many versions back as
 * stale, else add the gradient sum to the pending step and apply one optimizer step once a global
 * batch of samples has arrived.
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
    Long lastSeq = live.lastSeqByWorker.get(push.workerId());
    if (lastSeq != null && push.seq() <= lastSeq) {
      live.duplicates++;
      metrics.duplicate.increment();
      return StatusReply.success(new ShardProtocol.Duplicate(live.version));
    }
    // Another epoch, or a base from the future (the shard was rewound after the worker pulled):
    // the gradient belongs to parameters that no longer exist.
    if (push.epoch() != epoch
        || live.version - push.baseVersion() > setup.staleness()
        || push.baseVersion() > live.version) {
      live.stale++;
      metrics.stale.increment();
      return StatusReply.success(new ShardProtocol.Stale(live.version));
    }
    for (int i = 0; i < live.decoded.length; i++) {
      live.pendingGradient[i] += live.decoded[i];
    }
    live.pendingSamples += push.samples();
    live.lastSeqByWorker.put(push.workerId(), push.seq());
    live.accepted++;
    metrics.accepted.increment();
    metrics.pushBytes.increment(push.gradientSum().bytes().length);
    if (live.pendingSamples >= setup.globalBatch()) {
      step(setup, live, metrics);
    }
    return StatusReply.success(new ShardProtocol.Accepted(live.version));
  }

  /** Decodes the gradient into {@code live.decoded} and returns null, or says what is wrong. */
  private static String malformed(Push push, Live live, ShardSettings settings) {
    if (push.samples() <= 0) {
      return "it covers " + push.samples() + " samples";
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

  private static void step(ShardSetup setup, Live live, ShardMetrics metrics) {
    long start = System.nanoTime();
    float scale = 1.0f / live.pendingSamples;
    for (int i = 0; i < live.pendingGradient.length; i++) {
      live.pendingGradient[i] *= scale;
    }
    double learningRate = setup.optimizer().learningRateAt(live.version, setup.totalSteps());
    live.optimizer.step(live.parameters, live.pendingGradient, learningRate);
    Arrays.fill(live.pendingGradient, 0f);
    live.pendingSamples = 0;
    live.version++;
    metrics.steps.increment();
    metrics.stepTime.record(System.nanoTime() - start);
  }
}
