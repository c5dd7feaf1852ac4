package io.tessera.ps;

import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.ps.optimizer.Optimizer;
import java.util.HashMap;
import java.util.Map;

/**
 * A parameter shard's state as its event-sourced behavior sees it.
 *
 * <p>The wrapper is immutable and each journaled event yields a new one holding a fresh {@link
 * ShardImage}, which is what a snapshot stores. The numbers that pushes change ({@link Live}) are
 * one mutable object carried from wrapper to wrapper: the documented exception for large buffers
 * owned by one actor.
 *
 * @param setup the shard's rules; null until initialised
 * @param image the copy taken at the last event or restored from a snapshot; null before
 * @param corruption why the restored snapshot could not be read; null when it could
 */
record ShardState(ShardSetup setup, Live live, ShardImage image, String corruption) {

  static ShardState empty() {
    return new ShardState(null, null, null, null);
  }

  /** A state whose snapshot could not be read; the shard reports it and serves nothing. */
  static ShardState corrupt(String reason) {
    return new ShardState(null, null, null, reason);
  }

  /** A state restored from a snapshot. */
  static ShardState restored(ShardSetup setup, ShardImage image) {
    return new ShardState(setup, Live.from(setup, image), image, null);
  }

  boolean initialized() {
    return setup != null && live != null;
  }

  boolean isCorrupt() {
    return corruption != null;
  }

  long checkpointId() {
    return image == null ? -1 : image.checkpointId();
  }

  /** Applies {@code ShardInitialized}: checkpoint 0. */
  ShardState initialize(ShardSetup newSetup, TensorPayload values) {
    ShardImage initial =
        new ShardImage(
            0,
            0,
            values.decode(),
            new float[newSetup.range().size()],
            0,
            Optimizer.create(newSetup.optimizer(), newSetup.range().size(), newSetup.segments()).snapshot(),
            Map.of());
    return restored(newSetup, initial);
  }

  /** Applies {@code CheckpointTaken}: freezes a copy of the live numbers. */
  ShardState checkpoint(long checkpointId) {
    return new ShardState(setup, live, live.image(checkpointId), null);
  }

  /** The numbers pushes and optimizer steps change in place. Owned by the shard's actor. */
  static final class Live {
    final float[] parameters;
    final float[] pendingGradient;
    final float[] decoded;
    final Optimizer optimizer;
    final Map<String, Long> lastSeqByWorker;
    int pendingSamples;
    long version;
    long accepted;
    long stale;
    long duplicates;
    long rejected;

    private Live(
        float[] parameters,
        float[] pendingGradient,
        Optimizer optimizer,
        Map<String, Long> lastSeqByWorker,
        int pendingSamples,
        long version) {
      this.parameters = parameters;
      this.pendingGradient = pendingGradient;
      this.decoded = new float[parameters.length];
      this.optimizer = optimizer;
      this.lastSeqByWorker = lastSeqByWorker;
      this.pendingSamples = pendingSamples;
      this.version = version;
    }

    /** Live numbers that start as copies of {@code image}, which stays untouched. */
    static Live from(ShardSetup setup, ShardImage image) {
      return new Live(
          image.parameters().clone(),
          image.pendingGradient().clone(),
          Optimizer.restore(setup.optimizer(), setup.segments(), image.optimizer()),
          new HashMap<>(image.lastSeqByWorker()),
          image.pendingSamples(),
          image.version());
    }

    ShardImage image(long checkpointId) {
      return new ShardImage(
          checkpointId,
          version,
          parameters.clone(),
          pendingGradient.clone(),
          pendingSamples,
          optimizer.snapshot(),
          lastSeqByWorker);
    }
  }
}
