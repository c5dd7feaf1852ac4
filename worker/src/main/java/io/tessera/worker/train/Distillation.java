package io.tessera.worker.train;

import ai.djl.ndarray.NDArray;
import io.tessera.protocol.spec.DistillSpec;
import io.tessera.worker.model.Scalars;

/**
 * The knowledge-distillation loss (Hinton et al., 2015): {@code alpha * CE(labels) + (1 - alpha) *
 * T^2 * KL(teacher || softmax(student / T))}, where the teacher's probabilities are already
 * softened by the same temperature {@code T}. The {@code T^2} keeps the soft term's gradients on
 * the scale of the hard one's as {@code T} grows.
 */
final class Distillation {
  /** Keeps {@code p log p} finite where a teacher's probability underflowed to 0. */
  private static final float EPSILON = 1e-12f;

  private Distillation() {}

  /**
   * The loss summed over the batch's samples.
   *
   * @param meanCrossEntropy the student's mean cross-entropy against the labels
   * @param logits the student's logits {@code (batch, classes)}
   * @param teacher the teacher's softened probabilities {@code (batch, classes)}
   */
  static NDArray summedLoss(
      NDArray meanCrossEntropy, NDArray logits, NDArray teacher, DistillSpec spec, int batchSize) {
    float t = (float) spec.temperature();
    NDArray studentLog = logits.div(Scalars.of(logits, t)).logSoftmax(1);
    NDArray teacherLog = teacher.add(Scalars.of(teacher, EPSILON)).log();
    NDArray summedKl = teacher.mul(teacherLog.sub(studentLog)).sum();
    NDArray hard = meanCrossEntropy.mul(Scalars.of(meanCrossEntropy, (float) (spec.alpha() * batchSize)));
    NDArray soft = summedKl.mul(Scalars.of(summedKl, (float) ((1 - spec.alpha()) * t * t)));
    return hard.add(soft);
  }
}
