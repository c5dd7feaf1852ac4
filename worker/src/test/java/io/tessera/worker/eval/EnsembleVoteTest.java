package io.tessera.worker.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class EnsembleVoteTest {

  private static final double EXACT = 1e-12;

  /** Rows laid end to end, as one member's {@code samples x classes} array. */
  private static float[] rows(float[]... rows) {
    int classes = rows[0].length;
    float[] flat = new float[rows.length * classes];
    for (int i = 0; i < rows.length; i++) {
      System.arraycopy(rows[i], 0, flat, i * classes, classes);
    }
    return flat;
  }

  /** A plain three-class row predicting {@code label}. */
  private static float[] says(int label) {
    float[] row = {0.2f, 0.2f, 0.2f};
    row[label] = 0.6f;
    return row;
  }

  private static float[] row(float... values) {
    return values;
  }

  // Test set of three members A, B, C over classes 0..2; labels 2, 1, 0, 1, 2, 2.
  //   sample   A   B   C   majority      re-vote (weights below)     average
  //   T0       2   1   1   1 wrong       2: 1.0 vs 1: 0.5+0.4  right  2 right (A is sure)
  //   T1       1   1   0   1 right       1: 1+0.5 vs 0: 1      right  1 right
  //   T2       0   0   0   0 right       0                     right  0 right
  //   T3       0   1   1   1 right       1: 0.9 vs 0: 2/3      right  1 right
  //   T4       2   1   2   2 right       2: 1+0.5 vs 1: 0.5    right  2 right
  //   T5       2   1   1   1 wrong       2: 1.0 vs 1: 0.9      right  1 wrong (B and C lean 1)
  // So majority 4/6, re-vote 6/6, average 5/6. Members: A 5/6 (misses T3), B 3/6, C 3/6.
  private static final int[] TEST_LABELS = {2, 1, 0, 1, 2, 2};

  private static final float[] TEST_A =
      rows(row(0.0f, 0.1f, 0.9f), says(1), says(0), says(0), says(2), row(0.1f, 0.3f, 0.6f));
  private static final float[] TEST_B =
      rows(row(0.2f, 0.5f, 0.3f), says(1), says(0), says(1), says(1), row(0.1f, 0.7f, 0.2f));
  private static final float[] TEST_C =
      rows(row(0.3f, 0.4f, 0.3f), says(0), says(0), says(1), says(2), row(0.1f, 0.6f, 0.3f));

  // Validation labels 0, 0, 1, 1, 2, 2.
  //   A predicts 0 0 1 0 2 2: as-0 right 2 of 3, as-1 1 of 1, as-2 2 of 2; accuracy 5/6.
  //   B predicts 0 1 1 1 1 2: as-0 1 of 1, as-1 2 of 4, as-2 1 of 1; accuracy 4/6.
  //   C predicts 0 1 1 1 1 1: as-0 1 of 1, as-1 2 of 5, never 2 so its accuracy 3/6.
  private static final int[] VALIDATION_LABELS = {0, 0, 1, 1, 2, 2};
  private static final float[] VALIDATION_A = rows(says(0), says(0), says(1), says(0), says(2), says(2));
  private static final float[] VALIDATION_B = rows(says(0), says(1), says(1), says(1), says(1), says(2));
  private static final float[] VALIDATION_C = rows(says(0), says(1), says(1), says(1), says(1), says(1));

  @Test
  void reVotingByPerClassPrecisionBeatsTheMajorityOnTheHandBuiltTable() {
    EnsembleVote.Scores scores =
        EnsembleVote.score(
            new float[][] {TEST_A, TEST_B, TEST_C},
            TEST_LABELS,
            new float[][] {VALIDATION_A, VALIDATION_B, VALIDATION_C},
            VALIDATION_LABELS,
            3);

    assertArrayEquals(new double[] {5 / 6.0, 3 / 6.0, 3 / 6.0}, scores.memberAccuracy(), EXACT);
    assertArrayEquals(new double[] {5 / 6.0, 4 / 6.0, 3 / 6.0}, scores.memberValidationAccuracy(), EXACT);
    assertArrayEquals(new double[] {2 / 3.0, 1, 1}, scores.classWeights()[0], EXACT);
    assertArrayEquals(new double[] {1, 0.5, 1}, scores.classWeights()[1], EXACT);
    assertArrayEquals(new double[] {1, 0.4, 0.5}, scores.classWeights()[2], EXACT, "C never said 2");
    assertEquals(4 / 6.0, scores.majority(), EXACT);
    assertEquals(6 / 6.0, scores.revoted(), EXACT);
    assertEquals(5 / 6.0, scores.averaged(), EXACT);
  }

  @Test
  void aMajorityTieGoesToTheHighestSummedProbability() {
    // Votes 0, 1 (B's own 0.45/0.45 tie goes to the lower class), 2: one each.
    // Summed probabilities 0.9, 0.95, 1.15, so class 2 wins.
    float[][] members = {row(0.5f, 0.3f, 0.2f), row(0.1f, 0.45f, 0.45f), row(0.3f, 0.2f, 0.5f)};

    EnsembleVote.Scores scores = EnsembleVote.score(members, new int[] {2}, new float[0][], new int[0], 3);

    assertArrayEquals(new double[] {0, 0, 1}, scores.memberAccuracy(), EXACT);
    assertEquals(1.0, scores.majority(), EXACT);
    assertEquals(1.0, scores.revoted(), EXACT);
    assertEquals(1.0, scores.averaged(), EXACT);
  }

  @Test
  void aFullTieGoesToTheLowestClass() {
    // One vote each and summed probabilities 1.0 and 1.0.
    float[][] members = {row(0.6f, 0.4f), row(0.4f, 0.6f)};

    EnsembleVote.Scores saysZero = EnsembleVote.score(members, new int[] {0}, new float[0][], new int[0], 2);
    EnsembleVote.Scores saysOne = EnsembleVote.score(members, new int[] {1}, new float[0][], new int[0], 2);

    assertEquals(1.0, saysZero.majority(), EXACT);
    assertEquals(0.0, saysOne.majority(), EXACT);
    assertEquals(1.0, saysZero.averaged(), EXACT);
  }

  @Test
  void withoutValidationEveryVoteCountsOnceSoReVotingIsMajorityVoting() {
    float[][] test = {TEST_A, TEST_B, TEST_C};
    float[][] noMembers = new float[0][];
    float[][] emptyMembers = {new float[0], new float[0], new float[0]};
    for (float[][] validation : new float[][][] {noMembers, emptyMembers}) {
      EnsembleVote.Scores scores = EnsembleVote.score(test, TEST_LABELS, validation, new int[0], 3);

      assertEquals(4 / 6.0, scores.majority(), EXACT);
      assertEquals(4 / 6.0, scores.revoted(), EXACT);
      assertEquals(5 / 6.0, scores.averaged(), EXACT);
      for (int m = 0; m < 3; m++) {
        assertTrue(Double.isNaN(scores.memberValidationAccuracy()[m]), "member " + m);
        assertArrayEquals(new double[] {1, 1, 1}, scores.classWeights()[m]);
      }
    }
  }

  @Test
  void aSingleMemberIsItsOwnEnsemble() {
    // On validation A says 0 for a 1 (precision 0 on class 0), never says 1, and rightly says 2:
    // weights 0, 1/2, 1. A zero-weight vote leaves every class at 0, and the tie then goes to A's
    // own most probable class, so the re-vote still follows A.
    float[] validation = rows(says(0), says(2));

    EnsembleVote.Scores scores =
        EnsembleVote.score(
            new float[][] {TEST_A}, TEST_LABELS, new float[][] {validation}, new int[] {1, 2}, 3);

    assertArrayEquals(new double[] {0, 0.5, 1}, scores.classWeights()[0], EXACT);
    assertArrayEquals(new double[] {5 / 6.0}, scores.memberAccuracy(), EXACT);
    assertEquals(5 / 6.0, scores.averaged(), EXACT);
    assertEquals(5 / 6.0, scores.majority(), EXACT);
    assertEquals(5 / 6.0, scores.revoted(), EXACT);
  }

  @Test
  void refusesArraysThatDoNotFitTheSamplesAndClasses() {
    float[][] noValidation = new float[0][];
    int[] none = new int[0];

    IllegalArgumentException shortMember =
        assertThrows(
            IllegalArgumentException.class,
            () -> EnsembleVote.score(
                new float[][] {TEST_A, new float[17]}, TEST_LABELS, noValidation, none, 3));
    IllegalArgumentException badLabel =
        assertThrows(
            IllegalArgumentException.class,
            () -> EnsembleVote.score(
                new float[][] {TEST_A}, new int[] {2, 1, 0, 3, 2, 2}, noValidation, none, 3));
    IllegalArgumentException badValidation =
        assertThrows(
            IllegalArgumentException.class,
            () -> EnsembleVote.score(
                new float[][] {TEST_A}, TEST_LABELS, new float[][] {new float[5]}, new int[] {0, 1}, 3));
    IllegalArgumentException memberCount =
        assertThrows(
            IllegalArgumentException.class,
            () -> EnsembleVote.score(
                new float[][] {TEST_A, TEST_B},
                TEST_LABELS,
                new float[][] {VALIDATION_A},
                VALIDATION_LABELS,
                3));
    IllegalArgumentException noMembers =
        assertThrows(
            IllegalArgumentException.class,
            () -> EnsembleVote.score(new float[0][], TEST_LABELS, noValidation, none, 3));
    IllegalArgumentException noSamples =
        assertThrows(
            IllegalArgumentException.class,
            () -> EnsembleVote.score(new float[][] {new float[0]}, none, noValidation, none, 3));

    assertTrue(
        shortMember.getMessage().contains("member 1's test probabilities hold 17"), shortMember.getMessage());
    assertTrue(shortMember.getMessage().contains("6 samples x 3 classes = 18"), shortMember.getMessage());
    assertTrue(badLabel.getMessage().contains("test label 3 is 3, outside [0, 3)"), badLabel.getMessage());
    assertTrue(
        badValidation.getMessage().contains("validation probabilities hold 5"), badValidation.getMessage());
    assertTrue(memberCount.getMessage().contains("1 members"), memberCount.getMessage());
    assertTrue(noMembers.getMessage().contains("member"), noMembers.getMessage());
    assertTrue(noSamples.getMessage().contains("no test samples"), noSamples.getMessage());
  }
}
