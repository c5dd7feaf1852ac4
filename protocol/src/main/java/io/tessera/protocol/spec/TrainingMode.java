package io.tessera.protocol.spec;

/** How parameter shards combine pushes from concurrent workers; spelled in lower case in specs. */
public enum TrainingMode {
  /**
   * Every push is accepted as it arrives unless it is based on parameters more than {@code
   * staleness} versions old (the worker then pulls again); an optimizer step is applied once a
   * global batch of samples has been pushed. With {@code staleness-damping}, a push's gradient is
   * scaled by {@code 1 / (1 + lag)}, its lag in versions.
   */
  ASYNC,
  /**
   * Stale synchronous parallel: pushes are applied as in {@code async}, but no worker runs more
   * than {@code staleness} windows (clock ticks) ahead of the slowest worker of its member; a pull
   * that would go further waits.
   */
  SSP,
  /**
   * An elastic barrier: each optimizer step is one global batch of consecutive sample positions,
   * divided among the member's workers of the current membership epoch; the shards apply it once
   * every contribution is in, and the next step's work is handed out after that. A worker that
   * leaves mid-step has its contribution handed to another; one that joins enters at the next step.
   */
  SYNC
}
