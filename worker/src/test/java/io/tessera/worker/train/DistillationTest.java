package io.tessera.worker.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.tessera.protocol.spec.DistillSpec;
import org.junit.jupiter.api.Test;

/** The distillation loss against a case worked by hand. */
class DistillationTest {

  @Test
  void matchesAlphaCrossEntropyPlusTemperatureSquaredKl() {
    try (NDManager manager = NDManager.newBaseManager()) {
      // One sample, two classes; student logits (2, 0); teacher's softened probabilities (0.25, 0.75).
      NDArray logits = manager.create(new float[] {2, 0}, new Shape(1, 2));
      NDArray teacher = manager.create(new float[] {0.25f, 0.75f}, new Shape(1, 2));
      NDArray crossEntropy = manager.create(0.4f); // stands in for the student's CE on its label
      DistillSpec spec = new DistillSpec(0.3, 2.0);
      // Student at T = 2: softmax(1, 0) = (e/(e+1), 1/(e+1)).
      double s0 = Math.E / (Math.E + 1);
      double s1 = 1 / (Math.E + 1);
      double kl = 0.25 * Math.log(0.25 / s0) + 0.75 * Math.log(0.75 / s1);
      double expected = 0.3 * 0.4 + 0.7 * 4 * kl;

      float loss = Distillation.summedLoss(crossEntropy, logits, teacher, spec, 1).getFloat();

      assertEquals(expected, loss, 1e-5);
    }
  }

  @Test
  void alphaOneIsPlainCrossEntropySummedOverTheBatch() {
    try (NDManager manager = NDManager.newBaseManager()) {
      NDArray logits = manager.create(new float[] {2, 0, 0, 1}, new Shape(2, 2));
      NDArray teacher = manager.create(new float[] {0.5f, 0.5f, 0f, 1f}, new Shape(2, 2));
      float loss =
          Distillation.summedLoss(manager.create(0.25f), logits, teacher, new DistillSpec(1.0, 4.0), 2).getFloat();
      assertEquals(0.5f, loss, 1e-6f, "mean CE 0.25 times 2 samples; the soft term weighs nothing");
    }
  }
}
