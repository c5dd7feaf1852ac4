package io.tessera.coordinator;

import io.tessera.coordinator.MemberRun.Validation;
import io.tessera.protocol.spec.EarlyStoppingSpec;
import java.util.List;

/**
 * The early-stopping rule: a member stops once {@code patience} epochs have passed since the
 * epoch of its best validation accuracy, where an epoch counts as the new best only if it beats
 * the best before it by more than {@code min-delta}.
 */
final class EarlyStopping {
  private EarlyStopping() {}

  /**
   * What the scores so far say.
   *
   * @param bestEpoch the epoch of the best accuracy; -1 without scores
   */
  record Verdict(boolean stop, int bestEpoch, double bestAccuracy) {}

  /** Judges {@code scores} (in epoch order) by {@code rule}. */
  static Verdict judge(List<Validation> scores, EarlyStoppingSpec rule) {
    int bestEpoch = -1;
    double best = Double.NaN;
    for (Validation score : scores) {
      if (bestEpoch < 0 || score.accuracy() > best + rule.minDelta()) {
        bestEpoch = score.epoch();
        best = score.accuracy();
      }
    }
    boolean stop =
        rule.enabled() && bestEpoch >= 0 && scores.get(scores.size() - 1).epoch() - bestEpoch >= rule.patience();
    return new Verdict(stop, bestEpoch, best);
  }
}
