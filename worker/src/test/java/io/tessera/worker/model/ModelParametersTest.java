package io.tessera.worker.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.tessera.protocol.tensor.ParameterLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ModelParametersTest {

  private NDManager manager;
  private ModelParameters parameters;
  private ParameterLayout layout;

  @BeforeEach
  void setUp() {
    ParameterTable table = new ParameterTable();
    table.add("w", Init.XAVIER_UNIFORM, true, 5, 3);
    table.add("b", Init.ZEROS, false, 5);
    table.add("t", Init.NORMAL, false, 2, 2, 4);
    layout = table.layout();
    manager = NDManager.newBaseManager();
    parameters = new ModelParameters(layout, manager);
  }

  @AfterEach
  void tearDown() {
    parameters.close();
    manager.close();
  }

  private float[] randomValues(long seed) {
    float[] values = new float[layout.totalSize()];
    SplittableRandom random = new SplittableRandom(seed);
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) (random.nextDouble() * 4 - 2);
    }
    return values;
  }

  /** Back-propagates {@code sum over tensors of sum(p * p)}, whose gradient is exactly {@code 2p}. */
  private void backwardSumOfSquares() {
    JniUtils.setGradMode(true);
    try {
      NDArray loss = null;
      for (String name : new String[] {"w", "b", "t"}) {
        NDArray p = parameters.get(name);
        NDArray term = p.mul(p).sum();
        loss = loss == null ? term : loss.add(term);
      }
      try (NDArray seed = loss.onesLike()) {
        JniUtils.backward((PtNDArray) loss, (PtNDArray) seed, false, false);
      }
    } finally {
      JniUtils.setGradMode(false);
    }
  }

  @Test
  void loadThenToFlatGivesTheSameValuesBack() {
    float[] values = randomValues(1);

    parameters.load(values);

    assertArrayEquals(values, parameters.toFlat());
    assertArrayEquals(
        Arrays.copyOfRange(values, layout.offsetOf("b"), layout.offsetOf("b") + 5),
        parameters.get("b").toFloatArray());
    float[] next = randomValues(2);
    parameters.load(next);
    assertArrayEquals(next, parameters.toFlat(), "a second load replaces every value");
  }

  @Test
  void loadRejectsAVectorOfTheWrongLength() {
    assertThrows(IllegalArgumentException.class, () -> parameters.load(new float[layout.totalSize() - 1]));
    assertThrows(IllegalArgumentException.class, () -> parameters.get("nope"));
  }

  @Test
  void drainAddsTheGradientToTheTargetAndClearsIt() {
    float[] values = randomValues(3);
    parameters.load(values);
    backwardSumOfSquares();

    float[] target = new float[layout.totalSize()];
    Arrays.fill(target, 1f);
    parameters.drainGradientsInto(target);

    for (int i = 0; i < values.length; i++) {
      assertEquals(1f + 2f * values[i], target[i], 1e-6f, "element " + i);
    }
    float[] afterFirst = target.clone();
    parameters.drainGradientsInto(target);
    assertArrayEquals(afterFirst, target, "a second drain adds nothing");

    backwardSumOfSquares();
    backwardSumOfSquares();
    float[] twice = new float[layout.totalSize()];
    parameters.drainGradientsInto(twice);
    for (int i = 0; i < values.length; i++) {
      assertEquals(4f * values[i], twice[i], 1e-6f, "gradients of two passes add up, element " + i);
    }
  }

  @Test
  void drainRejectsATargetOfTheWrongLength() {
    assertThrows(IllegalArgumentException.class, () -> parameters.drainGradientsInto(new float[3]));
  }
}
