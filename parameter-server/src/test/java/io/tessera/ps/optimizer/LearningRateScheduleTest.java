package io.tessera.ps.optimizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.spec.LearningRateSchedule;
import io.tessera.protocol.spec.OptimizerSpec;
import org.junit.jupiter.api.Test;

/** The schedule as the optimizers see it, through {@link OptimizerSpec#learningRateAt}. */
class LearningRateScheduleTest {

  private static final double TOLERANCE = 1e-12;

  /** Base 1.0, 4 warm-up steps, cosine down to 0.1 over a job of 14 steps (0 to 13). */
  private static final OptimizerSpec COSINE =
      OptimizerSpec.builder()
          .optLearningRate(1.0)
          .optWarmupSteps(4)
          .optSchedule(LearningRateSchedule.COSINE)
          .optMinLearningRate(0.1)
          .build();

  private static final long TOTAL_STEPS = 14;

  @Test
  void warmUpRisesLinearlyToTheBaseRate() {
    // base * (step + 1) / warmupSteps
    assertEquals(0.25, COSINE.learningRateAt(0, TOTAL_STEPS), TOLERANCE);
    assertEquals(0.50, COSINE.learningRateAt(1, TOTAL_STEPS), TOLERANCE);
    assertEquals(0.75, COSINE.learningRateAt(2, TOTAL_STEPS), TOLERANCE);
    assertEquals(1.00, COSINE.learningRateAt(3, TOTAL_STEPS), TOLERANCE);
  }

  @Test
  void cosineStartsAtTheBaseRateRightAfterWarmUp() {
    assertEquals(1.0, COSINE.learningRateAt(4, TOTAL_STEPS), TOLERANCE);
  }

  @Test
  void cosineReachesTheMinimumOnePastTheLastStep() {
    // Steps are numbered 0..total-1; the curve lands on the minimum at 'total', so the last real
    // step still learns something even when the minimum is zero.
    assertEquals(0.1, COSINE.learningRateAt(TOTAL_STEPS, TOTAL_STEPS), TOLERANCE);
    assertTrue(COSINE.learningRateAt(TOTAL_STEPS - 1, TOTAL_STEPS) > 0.1);
  }

  @Test
  void cosineFallsEveryStepAfterWarmUp() {
    double previous = COSINE.learningRateAt(4, TOTAL_STEPS);
    for (long step = 5; step < TOTAL_STEPS; step++) {
      double rate = COSINE.learningRateAt(step, TOTAL_STEPS);
      assertTrue(rate < previous, "rate at step " + step + " should fall, was " + rate);
      previous = rate;
    }
  }

  @Test
  void constantScheduleHoldsTheBaseRateAfterWarmUp() {
    OptimizerSpec constant =
        OptimizerSpec.builder()
            .optLearningRate(0.5)
            .optWarmupSteps(2)
            .optSchedule(LearningRateSchedule.CONSTANT)
            .build();

    assertEquals(0.25, constant.learningRateAt(0, 100), TOLERANCE);
    assertEquals(0.5, constant.learningRateAt(1, 100), TOLERANCE);
    assertEquals(0.5, constant.learningRateAt(99, 100), TOLERANCE);
  }
}
