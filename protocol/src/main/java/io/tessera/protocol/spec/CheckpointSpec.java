package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;
import static io.tessera.protocol.spec.SpecException.requireAtMost;

import io.tessera.protocol.TesseraSerializable;

/**
 * When a job's parameter shards take a consistent checkpoint: every {@code intervalMillis}, and
 * (if positive) every {@code everyPushes} accepted pushes, whichever comes first. A checkpoint is
 * also taken when training ends and on an operator's request.
 *
 * @param intervalMillis time between checkpoints; 0 turns the timer off
 * @param everyPushes pushes between checkpoints; 0 turns the count off
 */
public record CheckpointSpec(long intervalMillis, long everyPushes) implements TesseraSerializable {

  public CheckpointSpec {
    require(intervalMillis >= 0, "checkpoint.interval", "must be >= 0, was " + intervalMillis + " ms");
    require(
        intervalMillis == 0 || intervalMillis >= 1000,
        "checkpoint.interval",
        "must be 0 (off) or at least 1 s, was " + intervalMillis + " ms");
    require(everyPushes >= 0, "checkpoint.every-pushes", "must be >= 0, was " + everyPushes);
    requireAtMost(everyPushes, SpecLimits.MAX_CHECKPOINT_EVERY_PUSHES, "checkpoint.every-pushes");
  }

  /** Every 30 seconds. */
  public static CheckpointSpec defaults() {
    return new CheckpointSpec(30_000, 0);
  }
}
