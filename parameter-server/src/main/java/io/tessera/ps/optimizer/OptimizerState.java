package io.tessera.ps.optimizer;

import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.spec.OptimizerKind;
import java.util.Arrays;
import java.util.Objects;

/**
 * Everything an {@link Optimizer} carries from one step to the next, as plain data so that a
 * parameter shard can persist it in its snapshots and restore it with {@link
 * Optimizer#restore}.
 *
 * <p>The record holds the arrays it is given rather than copies: {@link Optimizer#snapshot()}
 * already hands over fresh arrays, and a second copy of tens of millions of values per snapshot
 * would be waste. Treat the arrays as read-only; {@link Optimizer#restore} copies them in.
 *
 * @param kind the optimizer that produced this state
 * @param steps optimizer steps taken; AdamW's bias correction depends on it
 * @param first AdamW's first moment, or SGD's momentum buffer (empty for SGD without momentum)
 * @param second AdamW's second moment; empty for SGD
 */
public record OptimizerState(OptimizerKind kind, long steps, float[] first, float[] second)
    implements TesseraSerializable {

  public OptimizerState {
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(first, "first");
    Objects.requireNonNull(second, "second");
    if (steps < 0) {
      throw new IllegalArgumentException("steps must be >= 0, was " + steps);
    }
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof OptimizerState that
        && kind == that.kind
        && steps == that.steps
        && Arrays.equals(first, that.first)
        && Arrays.equals(second, that.second);
  }

  @Override
  public int hashCode() {
    int hash = kind.hashCode();
    hash = 31 * hash + Long.hashCode(steps);
    hash = 31 * hash + Arrays.hashCode(first);
    return 31 * hash + Arrays.hashCode(second);
  }

  /** Sizes only: the buffers can hold millions of values. */
  @Override
  public String toString() {
    return "OptimizerState["
        + kind
        + ", steps="
        + steps
        + ", first="
        + first.length
        + " values, second="
        + second.length
        + " values]";
  }
}
