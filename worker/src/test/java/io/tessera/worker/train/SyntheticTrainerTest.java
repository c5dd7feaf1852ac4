package io.tessera.worker.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.spec.DatasetSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.ModelKind;
import io.tessera.protocol.spec.ModelSpec;
import org.junit.jupiter.api.Test;

/** The simulated workers' stand-in model: no DJL, a real (quadratic) loss that training lowers. */
class SyntheticTrainerTest {
  private static final JobSpec SPEC =
      JobSpec.builder()
          .setName("simulated")
          .optDataset(new DatasetSpec(DatasetSpec.SYNTHETIC, 1000, 0))
          .optModel(ModelSpec.builder().optKind(ModelKind.SYNTHETIC).optParameters(500).optComputeMicrosPerSample(250).build())
          .build();

  @Test
  void describesItsLayoutAndData() {
    try (SyntheticTrainer trainer = new SyntheticTrainer(SPEC)) {
      assertEquals(500, trainer.layout().totalSize());
      assertEquals(1000, trainer.dataset().trainSize());
      assertEquals(500, trainer.initialValues(3).length);
      assertEquals(64 * 250_000L, trainer.simulatedNanos(64), "the compute time it stands for");
    }
  }

  @Test
  void gradientStepsLowerTheLossAndTheScore() {
    try (SyntheticTrainer trainer = new SyntheticTrainer(SPEC)) {
      float[] theta = trainer.initialValues(1);
      double first = Double.NaN;
      double last = Double.NaN;
      for (int step = 0; step < 20; step++) {
        float[] gradient = new float[theta.length];
        double loss = trainer.trainWindow(theta, 0, step * 50, step * 50 + 50, gradient) / 50;
        for (int i = 0; i < theta.length; i++) {
          theta[i] -= 0.2f * gradient[i] / 50;
        }
        first = step == 0 ? loss : first;
        last = loss;
      }
      assertTrue(last < first * 0.01, "loss " + first + " -> " + last);
      assertTrue(trainer.evaluate(theta).summedLoss() < last, "the score follows the training loss");
      assertEquals(0, trainer.evaluate(theta).samples(), "a synthetic member scores no samples");
    }
  }
}
