package io.tessera.worker.train;

import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;

/**
 * What a worker needs to train and evaluate one member, whatever the model: its parameter layout
 * and initial values, the forward and backward passes over a window of micro-batches, and the
 * test-set score. One implementation per family of models; each belongs to the worker thread that
 * built it.
 */
public interface MemberTrainer extends AutoCloseable {

  ParameterLayout layout();

  /** The data this worker found for the member's dataset spec. */
  DatasetInfo dataset();

  /** Initial parameter values for {@code seed}, in {@link #layout()} order. */
  float[] initialValues(long seed);

  /**
   * Loads {@code parameters}, runs the micro-batches of positions {@code [from, to)} of epoch
   * {@code epoch}'s sample order forward and backward, and adds the sum of per-sample gradients to
   * {@code gradientSum}.
   *
   * @return the summed training loss of those samples
   */
  double trainWindow(float[] parameters, int epoch, int from, int to, float[] gradientSum);

  /**
   * How long {@code samples} samples would take on the device this trainer stands in for, when it
   * simulates one; the worker waits that long (without blocking) before pushing. 0 for real ones.
   */
  default long simulatedNanos(int samples) {
    return 0;
  }

  /** Scores {@code parameters} on the test set (and the validation split, if the stage has one). */
  Score evaluate(float[] parameters);

  /**
   * Scores {@code parameters} on the validation split alone (test figures 0): what early stopping
   * asks between epochs. Stages that judge no validation accuracy refuse.
   */
  default Score validate(float[] parameters) {
    throw new UnsupportedOperationException("this stage kind reports no validation accuracy to stop early by");
  }

  /**
   * Results: test samples scored, correctly answered, their summed loss; and the same count for
   * the validation split (0 and 0 without one, or for a stage that answers nothing).
   */
  record Score(int samples, int correct, double summedLoss, int validationSamples, int validationCorrect) {}

  @Override
  void close();
}
