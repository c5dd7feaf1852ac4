package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;

import io.tessera.protocol.TesseraSerializable;

/**
 * When a classifier stage stops before its last epoch: after every epoch but the last, each member
 * is scored on the validation split, and a member whose validation accuracy has not risen by more
 * than {@code minDelta} over its best for {@code patience} epochs in a row stops training (its
 * remaining splits are skipped; it keeps its last parameters). Other members train on.
 *
 * @param patience epochs without improvement before a member stops; 0 turns early stopping off
 * @param minDelta how much a validation accuracy must exceed the best so far to count as better
 */
public record EarlyStoppingSpec(int patience, double minDelta) implements TesseraSerializable {

  public EarlyStoppingSpec {
    require(
        patience >= 0 && patience <= SpecLimits.MAX_EPOCHS,
        "early-stopping.patience",
        "must be in 0.." + SpecLimits.MAX_EPOCHS + ", was " + patience);
    require(
        Double.isFinite(minDelta) && minDelta >= 0 && minDelta < 1,
        "early-stopping.min-delta",
        "must be in [0, 1) (an accuracy difference), was " + minDelta);
  }

  /** No early stopping: every epoch is trained. */
  public static EarlyStoppingSpec off() {
    return new EarlyStoppingSpec(0, 0.0);
  }

  public boolean enabled() {
    return patience > 0;
  }
}
