package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.coordinator.MemberRun.Validation;
import io.tessera.protocol.spec.EarlyStoppingSpec;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The early-stopping rule against hand-built score sequences. */
class EarlyStoppingTest {

  private static List<Validation> scores(double... accuracies) {
    List<Validation> scores = new ArrayList<>();
    for (int epoch = 0; epoch < accuracies.length; epoch++) {
      scores.add(new Validation(epoch, accuracies[epoch]));
    }
    return scores;
  }

  @Test
  void stopsOncePatienceEpochsPassedWithoutABetterScore() {
    EarlyStoppingSpec rule = new EarlyStoppingSpec(2, 0.0);
    assertFalse(EarlyStopping.judge(scores(0.80, 0.82), rule).stop());
    assertFalse(EarlyStopping.judge(scores(0.80, 0.82, 0.81), rule).stop(), "one epoch without improvement");
    EarlyStopping.Verdict verdict = EarlyStopping.judge(scores(0.80, 0.82, 0.81, 0.82), rule);
    assertTrue(verdict.stop(), "a tie is not an improvement");
    assertEquals(1, verdict.bestEpoch());
    assertEquals(0.82, verdict.bestAccuracy());
  }

  @Test
  void anImprovementResetsThePatience() {
    EarlyStoppingSpec rule = new EarlyStoppingSpec(2, 0.0);
    EarlyStopping.Verdict verdict = EarlyStopping.judge(scores(0.80, 0.79, 0.83, 0.82), rule);
    assertFalse(verdict.stop());
    assertEquals(2, verdict.bestEpoch());
  }

  @Test
  void gainsNoLargerThanMinDeltaDoNotCount() {
    EarlyStoppingSpec rule = new EarlyStoppingSpec(2, 0.005);
    EarlyStopping.Verdict verdict = EarlyStopping.judge(scores(0.800, 0.804, 0.8049), rule);
    assertTrue(verdict.stop(), "0.004 and 0.0049 above the best are within min-delta");
    assertEquals(0, verdict.bestEpoch());
    assertFalse(EarlyStopping.judge(scores(0.800, 0.806, 0.804), rule).stop(), "0.006 counts");
  }

  @Test
  void epochsAreCountedByNumberNotByScore() {
    // Epoch 1 was never scored (a worker was busy): patience runs from the best epoch's number.
    List<Validation> gappy = List.of(new Validation(0, 0.85), new Validation(2, 0.84));
    assertTrue(EarlyStopping.judge(gappy, new EarlyStoppingSpec(2, 0.0)).stop());
    assertFalse(EarlyStopping.judge(gappy, new EarlyStoppingSpec(3, 0.0)).stop());
  }

  @Test
  void neverStopsWhenOffOrWithoutScores() {
    assertFalse(EarlyStopping.judge(scores(0.9, 0.1, 0.1, 0.1), EarlyStoppingSpec.off()).stop());
    EarlyStopping.Verdict none = EarlyStopping.judge(List.of(), new EarlyStoppingSpec(1, 0.0));
    assertFalse(none.stop());
    assertEquals(-1, none.bestEpoch());
  }
}
