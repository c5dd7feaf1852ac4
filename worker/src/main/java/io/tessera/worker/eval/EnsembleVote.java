package io.tessera.worker.eval;

import java.util.Arrays;

/**
 * Scores an ensemble from its members' predicted class probabilities: each member alone, the
 * average of their probabilities, a plain majority vote, and a per-class re-vote in which a
 * member's vote for a class counts as much as that member could be trusted on that class on the
 * validation set (the question-type re-voting of VQA ensembles, with classes as the types).
 *
 * <p>Probabilities come one array per member, {@code samples x classes} row-major. A member's
 * prediction is its argmax, the lowest class index among equal maxima.
 */
public final class EnsembleVote {
  // Re-vote totals are sums of fractions such as 1/3 + 1/3 and 2/3; rounding must not break a tie
  // that is exact on paper.
  private static final double TIE_TOLERANCE = 1e-9;

  private EnsembleVote() {}

  /**
   * An ensemble's accuracies on the test set.
   *
   * @param memberAccuracy each member's own test accuracy
   * @param memberValidationAccuracy each member's validation accuracy; NaN without validation
   * @param averaged accuracy of the argmax of the members' mean probabilities
   * @param majority accuracy of the majority vote
   * @param revoted accuracy of the per-class re-vote
   * @param classWeights {@code [member][class]}: what a member's vote for a class counted in the
   *     re-vote
   */
  public record Scores(
      double[] memberAccuracy,
      double[] memberValidationAccuracy,
      double averaged,
      double majority,
      double revoted,
      double[][] classWeights) {}

  /**
   * Scores the ensemble.
   *
   * <p>Votes: each member votes its prediction; the class with the most votes wins, a tie going to
   * the tied class with the highest summed probability, then to the lowest class index. In the
   * re-vote, member {@code m}'s vote for class {@code c} counts {@code m}'s precision on {@code c}
   * over the validation set (correct over predicted-as-{@code c}), or {@code m}'s validation
   * accuracy if it never predicted {@code c} there. Without validation samples every vote counts 1,
   * so the re-vote is the majority vote.
   *
   * @param validationProbabilities one array per member, or no arrays at all when {@code
   *     validationLabels} is empty
   * @throws IllegalArgumentException if there are no members or test samples, if a member's arrays
   *     do not hold {@code samples x classes} values, or if a label is out of range
   */
  public static Scores score(
      float[][] testProbabilities,
      int[] testLabels,
      float[][] validationProbabilities,
      int[] validationLabels,
      int classes) {
    if (classes <= 0) {
      throw new IllegalArgumentException("classes must be positive, was " + classes);
    }
    if (testProbabilities.length == 0) {
      throw new IllegalArgumentException("an ensemble needs at least one member, got none");
    }
    if (testLabels.length == 0) {
      throw new IllegalArgumentException("no test samples: accuracy is undefined");
    }
    int members = testProbabilities.length;
    boolean validated = validationLabels.length > 0;
    if (validationProbabilities.length != members && (validated || validationProbabilities.length != 0)) {
      throw new IllegalArgumentException(
          "validation probabilities come from " + validationProbabilities.length + " members but test "
              + "probabilities from " + members);
    }
    checkShapes("test", testProbabilities, testLabels, classes);
    checkShapes("validation", validationProbabilities, validationLabels, classes);

    int[][] testPredictions = predictions(testProbabilities, testLabels.length, classes);
    int[][] validationPredictions = predictions(validationProbabilities, validationLabels.length, classes);
    double[] memberAccuracy = new double[members];
    double[] memberValidationAccuracy = new double[members];
    for (int m = 0; m < members; m++) {
      memberAccuracy[m] = accuracy(testPredictions[m], testLabels);
      memberValidationAccuracy[m] =
          validated ? accuracy(validationPredictions[m], validationLabels) : Double.NaN;
    }
    double[][] ones = new double[members][classes];
    for (double[] row : ones) {
      Arrays.fill(row, 1);
    }
    double[][] weights =
        validated
            ? classWeights(validationPredictions, validationLabels, memberValidationAccuracy, classes)
            : ones;
    return new Scores(
        memberAccuracy,
        memberValidationAccuracy,
        averagedAccuracy(testProbabilities, testLabels, classes),
        voteAccuracy(testProbabilities, testPredictions, testLabels, ones, classes),
        voteAccuracy(testProbabilities, testPredictions, testLabels, weights, classes),
        weights);
  }

  private static void checkShapes(String set, float[][] probabilities, int[] labels, int classes) {
    for (int m = 0; m < probabilities.length; m++) {
      if (probabilities[m].length != labels.length * classes) {
        throw new IllegalArgumentException(
            "member " + m + "'s " + set + " probabilities hold " + probabilities[m].length + " values, "
                + "expected " + labels.length + " samples x " + classes + " classes = "
                + labels.length * classes);
      }
    }
    for (int i = 0; i < labels.length; i++) {
      if (labels[i] < 0 || labels[i] >= classes) {
        throw new IllegalArgumentException(
            set + " label " + i + " is " + labels[i] + ", outside [0, " + classes + ")");
      }
    }
  }

  private static int[][] predictions(float[][] probabilities, int samples, int classes) {
    int[][] predictions = new int[probabilities.length][samples];
    for (int m = 0; m < probabilities.length; m++) {
      for (int i = 0; i < samples; i++) {
        int best = 0;
        for (int c = 1; c < classes; c++) {
          if (probabilities[m][i * classes + c] > probabilities[m][i * classes + best]) {
            best = c;
          }
        }
        predictions[m][i] = best;
      }
    }
    return predictions;
  }

  private static double accuracy(int[] predictions, int[] labels) {
    int correct = 0;
    for (int i = 0; i < labels.length; i++) {
      if (predictions[i] == labels[i]) {
        correct++;
      }
    }
    return (double) correct / labels.length;
  }

  private static double[][] classWeights(
      int[][] predictions, int[] labels, double[] validationAccuracy, int classes) {
    double[][] weights = new double[predictions.length][classes];
    for (int m = 0; m < predictions.length; m++) {
      int[] predicted = new int[classes];
      int[] correct = new int[classes];
      for (int i = 0; i < labels.length; i++) {
        predicted[predictions[m][i]]++;
        if (predictions[m][i] == labels[i]) {
          correct[labels[i]]++;
        }
      }
      for (int c = 0; c < classes; c++) {
        weights[m][c] = predicted[c] == 0 ? validationAccuracy[m] : (double) correct[c] / predicted[c];
      }
    }
    return weights;
  }

  private static double averagedAccuracy(float[][] probabilities, int[] labels, int classes) {
    int correct = 0;
    for (int i = 0; i < labels.length; i++) {
      double[] summed = summed(probabilities, i, classes);
      int best = 0;
      for (int c = 1; c < classes; c++) {
        if (summed[c] > summed[best]) {
          best = c;
        }
      }
      if (best == labels[i]) {
        correct++;
      }
    }
    return (double) correct / labels.length;
  }

  private static double voteAccuracy(
      float[][] probabilities, int[][] predictions, int[] labels, double[][] weights, int classes) {
    int correct = 0;
    for (int i = 0; i < labels.length; i++) {
      double[] totals = new double[classes];
      for (int m = 0; m < predictions.length; m++) {
        totals[predictions[m][i]] += weights[m][predictions[m][i]];
      }
      if (winner(totals, summed(probabilities, i, classes)) == labels[i]) {
        correct++;
      }
    }
    return (double) correct / labels.length;
  }

  private static int winner(double[] totals, double[] summedProbabilities) {
    double top = Arrays.stream(totals).max().orElseThrow();
    int winner = -1;
    for (int c = 0; c < totals.length; c++) {
      boolean tied = totals[c] >= top - TIE_TOLERANCE;
      if (tied && (winner < 0 || summedProbabilities[c] > summedProbabilities[winner])) {
        winner = c;
      }
    }
    return winner;
  }

  private static double[] summed(float[][] probabilities, int sample, int classes) {
    double[] summed = new double[classes];
    for (float[] member : probabilities) {
      for (int c = 0; c < classes; c++) {
        summed[c] += member[sample * classes + c];
      }
    }
    return summed;
  }
}
