package io.tessera.ps.optimizer;

import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.tensor.Segment;
import java.util.List;

/**
 * Applies one job's optimizer to one parameter shard's slice, in place.
 *
 * <p>An optimizer keeps per-value state (moments, momentum) sized to the slice, allocated once, so
 * a step allocates nothing. Which values receive weight decay comes from the slice's {@link
 * Segment}s. Instances are not thread-safe: they belong to the actor that owns the slice.
 */
public interface Optimizer {

  /**
   * Takes one optimizer step over the whole slice.
   *
   * @param params the slice's parameters, updated in place
   * @param meanGradient the gradient averaged over the contributions of this step, one value per
   *     parameter; it is only read
   * @param learningRate the scheduled rate for this step, usually {@link
   *     OptimizerSpec#learningRateAt} of {@link #steps()}
   * @throws IllegalArgumentException if an array's length is not the slice size, or the rate is
   *     negative or not finite
   */
  void step(float[] params, float[] meanGradient, double learningRate);

  /** Steps taken so far, including those before a {@link #restore}. */
  long steps();

  /** A copy of the optimizer's state that later steps do not change. */
  OptimizerState snapshot();

  /**
   * A fresh optimizer, with zeroed state, for a slice of {@code size} values.
   *
   * @param segments the tensors in the slice, end to end from 0 to {@code size}; they say where
   *     weight decay applies
   * @throws IllegalArgumentException if the segments do not cover the slice exactly
   */
  static Optimizer create(OptimizerSpec spec, int size, List<Segment> segments) {
    DecayMask mask = DecayMask.of(segments, size);
    return switch (spec.kind()) {
      case ADAMW -> AdamW.create(spec, mask);
      case SGD -> SgdMomentum.create(spec, mask);
    };
  }

  /**
   * An optimizer that continues from {@code state}, for the slice that {@code segments} cover end
   * to end. The state's arrays are copied, so it can be restored again.
   *
   * @throws IllegalArgumentException if the state was produced by another kind of optimizer, or
   *     its buffers do not fit the slice or the spec
   */
  static Optimizer restore(OptimizerSpec spec, List<Segment> segments, OptimizerState state) {
    if (state.kind() != spec.kind()) {
      throw new IllegalArgumentException(
          "optimizer state is for " + state.kind() + " but the spec asks for " + spec.kind());
    }
    DecayMask mask = DecayMask.of(segments);
    return switch (spec.kind()) {
      case ADAMW -> AdamW.restore(spec, mask, state);
      case SGD -> SgdMomentum.restore(spec, mask, state);
    };
  }
}
