package io.tessera.worker.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.tessera.protocol.spec.ComputePrecision;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.data.ImageSet;
import io.tessera.worker.model.TrainableModel;
import io.tessera.worker.testing.TestFixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TrainingSessionTest {

  private static ImageSet train;
  private static NDManager manager;

  private final TrainableModel model = TrainableModel.of(TestFixtures.tinyVit());
  private final BatchAssembler assembler = new BatchAssembler(TestFixtures.tinyVit());
  private final int[] order = SampleOrder.forEpoch(42, 0, TestFixtures.SUBSET_TRAIN_SIZE);
  private TrainingSession session;

  @BeforeAll
  static void loadData() {
    train = FashionMnist.load(TestFixtures.SUBSET).train();
    manager = NDManager.newBaseManager();
  }

  @AfterAll
  static void closeManager() {
    manager.close();
  }

  @BeforeEach
  void openSession() {
    session = new TrainingSession(model, manager);
    session.load(model.initialValues(1));
  }

  @AfterEach
  void closeSession() {
    session.close();
  }

  private Batch batch(int from, int to) {
    return assembler.assemble(train, order, from, to);
  }

  private float[] drain() {
    float[] gradient = new float[session.parameterCount()];
    session.drainGradients(gradient);
    return gradient;
  }

  private static float[] sum(float[] a, float[] b) {
    float[] out = new float[a.length];
    for (int i = 0; i < a.length; i++) {
      out[i] = a[i] + b[i];
    }
    return out;
  }

  private static double norm(float[] v) {
    double s = 0;
    for (float x : v) {
      s += (double) x * x;
    }
    return Math.sqrt(s);
  }

  /** Cross-entropy summed over the batch, from the probabilities {@code score} reports. */
  private static double summedCrossEntropy(TrainingSession.BatchScore score, Batch batch) {
    double loss = 0;
    for (int i = 0; i < batch.size(); i++) {
      loss -= Math.log(score.probabilities()[i * 10 + (int) batch.labels()[i]]);
    }
    return loss;
  }

  @Test
  void twoMicroBatchesAccumulateTheGradientOfTheirUnion() {
    session.accumulate(batch(0, 4));
    session.accumulate(batch(4, 8));
    float[] accumulated = drain();

    session.accumulate(batch(0, 8));
    float[] whole = drain();

    session.accumulate(batch(0, 4));
    float[] firstHalf = drain();
    session.accumulate(batch(4, 8));
    float[] secondHalf = drain();

    assertTrue(norm(whole) > 1e-3, "a real gradient, norm " + norm(whole));
    assertTrue(
        TestFixtures.relativeDistance(accumulated, whole) < 1e-5,
        "4 + 4 vs 8: " + TestFixtures.relativeDistance(accumulated, whole));
    // Sums, not means: the whole batch's gradient is the sum of its halves' gradients.
    assertTrue(
        TestFixtures.relativeDistance(sum(firstHalf, secondHalf), whole) < 1e-5,
        "sum of halves vs 8: " + TestFixtures.relativeDistance(sum(firstHalf, secondHalf), whole));
  }

  @Test
  void accumulateReturnsTheSummedLoss() {
    Batch eight = batch(0, 8);

    double summed = session.accumulate(eight);
    double halves = session.accumulate(batch(0, 4)) + session.accumulate(batch(4, 8));
    drain();
    double byHand = summedCrossEntropy(session.score(eight), eight);

    assertEquals(byHand, summed, 1e-4 * byHand);
    assertEquals(summed, halves, 1e-4 * summed);
    // About ln 10 per sample at initialisation, so clearly the sum over 8 and not the mean.
    assertTrue(summed > 8 * 1.5 && summed < 8 * 3.5, "summed loss " + summed);
  }

  @Test
  void scoreCountsPredictionsThatAreTheMostProbableClass() {
    session.load(trainedParameters(30));
    Batch batch = assembler.assembleRange(train, 0, 200);

    TrainingSession.BatchScore score = session.score(batch);

    assertEquals(200, score.samples());
    assertEquals(200 * 10, score.probabilities().length);
    int correct = 0;
    for (int i = 0; i < batch.size(); i++) {
      int argmax = 0;
      double rowSum = 0;
      for (int c = 0; c < 10; c++) {
        float p = score.probabilities()[i * 10 + c];
        rowSum += p;
        if (p > score.probabilities()[i * 10 + argmax]) {
          argmax = c;
        }
      }
      assertEquals(1.0, rowSum, 1e-5, "row " + i);
      if (argmax == batch.labels()[i]) {
        correct++;
      }
    }
    assertEquals(correct, score.correct());
    assertTrue(correct > 40, "a few training steps already beat chance (20), got " + correct);
    assertEquals(summedCrossEntropy(score, batch), score.summedLoss(), 1e-4 * score.summedLoss());
  }

  @Test
  void gradientMatchesAFiniteDifferenceOfTheLoss() {
    float[] parameters = model.initialValues(1);
    Batch batch = batch(0, 8);
    session.accumulate(batch);
    float[] gradient = drain();
    float[] direction = new float[parameters.length];
    java.util.SplittableRandom random = new java.util.SplittableRandom(3);
    double analytic = 0;
    for (int i = 0; i < parameters.length; i++) {
      direction[i] = (float) (random.nextDouble() * 2 - 1);
      analytic += (double) gradient[i] * direction[i];
    }

    float eps = 1e-3f;
    float[] plus = parameters.clone();
    float[] minus = parameters.clone();
    for (int i = 0; i < parameters.length; i++) {
      plus[i] += eps * direction[i];
      minus[i] -= eps * direction[i];
    }
    session.load(plus);
    double lossPlus = session.score(batch).summedLoss();
    session.load(minus);
    double lossMinus = session.score(batch).summedLoss();
    double numeric = (lossPlus - lossMinus) / (2 * eps);

    assertTrue(Math.abs(analytic) > 1, "directional derivative " + analytic);
    assertEquals(analytic, numeric, 0.03 * Math.abs(analytic));
  }

  @Test
  void scoringLeavesNoGradientBehind() {
    session.score(batch(0, 8));

    session.accumulate(batch(0, 8));
    float[] afterScore = drain();
    session.accumulate(batch(0, 8));
    float[] alone = drain();

    assertArrayEquals(alone, afterScore);
  }

  @Test
  void sgdStepsByHandReduceTheLoss() {
    Batch probe = assembler.assembleRange(train, 0, 256);
    double before = session.score(probe).summedLoss();

    session.load(trainedParameters(30));
    double after = session.score(probe).summedLoss();

    assertTrue(after < 0.8 * before, "loss " + before + " -> " + after);
  }

  /** Plain SGD on the mean gradient of micro-batches of 32, starting from the initial values. */
  private float[] trainedParameters(int steps) {
    float learningRate = 0.05f;
    int micro = 32;
    float[] parameters = model.initialValues(1);
    for (int step = 0; step < steps; step++) {
      session.load(parameters);
      session.accumulate(batch(step * micro, (step + 1) * micro));
      float[] gradient = drain();
      for (int i = 0; i < parameters.length; i++) {
        parameters[i] -= learningRate * gradient[i] / micro;
      }
    }
    return parameters;
  }

  @Test
  void anFp16WindowThatOverflowsIsSkippedAndHalvesTheScale() {
    // A scale far beyond fp16's range (65504) makes the scaled backward pass overflow.
    LossScaler scaler = new LossScaler(1e9f, 2, 2f, 0.5f);
    try (TrainingSession fp16 = new TrainingSession(model, manager, ComputePrecision.FP16, scaler)) {
      fp16.load(model.initialValues(1));
      fp16.accumulate(batch(0, 8));
      float[] target = new float[fp16.parameterCount()];
      assertFalse(fp16.drainGradients(target), "an overflowed window is skipped");
      assertEquals(0.0, norm(target), "and contributes nothing");
      assertEquals(5e8f, scaler.scale(), "the scale halves");
      assertEquals(1, scaler.skipped());

      // Halve down to a scale fp16 can carry, then two clean windows grow it again.
      while (scaler.scale() > 1024) {
        fp16.accumulate(batch(0, 8));
        fp16.drainGradients(new float[fp16.parameterCount()]);
      }
      float settled = scaler.scale();
      float[] clean = new float[fp16.parameterCount()];
      fp16.accumulate(batch(0, 8));
      assertTrue(fp16.drainGradients(clean), "a window within range is used");
      fp16.accumulate(batch(0, 8));
      fp16.drainGradients(new float[fp16.parameterCount()]);
      assertEquals(settled * 2, scaler.scale(), "two clean windows grow the scale");

      session.accumulate(batch(0, 8));
      float[] exact = drain();
      double distance = TestFixtures.relativeDistance(exact, clean);
      assertTrue(distance < 0.05, "the unscaled fp16 gradient is " + distance + " away from fp32's");
    }
  }
}
