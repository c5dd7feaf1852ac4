package io.tessera.protocol.spec;

/** How parameter shards combine pushes from concurrent workers. */
public enum TrainingMode {
  /**
   * Every push is accepted as it arrives unless it is based on parameters more than {@code
   * staleness} versions old; an optimizer step is applied once a global batch of samples has been
   * pushed.
   */
  ASYNC
}
