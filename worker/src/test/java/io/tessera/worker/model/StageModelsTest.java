package io.tessera.worker.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.tessera.protocol.spec.FlipSpec;
import io.tessera.protocol.spec.MaeSpec;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.TensorSpec;
import io.tessera.worker.testing.TestFixtures;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Shapes and losses of the masked autoencoder and the image-text model, against hand-computed cases. */
class StageModelsTest {
  private static final ModelSpec VIT = TestFixtures.tinyVit(); // 16 patches of 49 values, width 16
  private static final MaeSpec MAE = new MaeSpec(0.75, 8, 1, 2, 16, true);

  private NDManager manager;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager();
  }

  @AfterEach
  void close() {
    manager.close();
  }

  private NDArray randomPatches(int batch, long seed) {
    Random random = new Random(seed);
    float[] values = new float[batch * VIT.patchCount() * VIT.patchValues()];
    for (int i = 0; i < values.length; i++) {
      values[i] = random.nextFloat();
    }
    return manager.create(values, new Shape(batch, VIT.patchCount(), VIT.patchValues()));
  }

  @Test
  void theDecoderIsNarrowerAndPredictsEveryPatchOfEveryImage() {
    MaeModel mae = new MaeModel(VIT, MAE);
    ParameterLayout layout = mae.layout();
    ParameterLayout classifier = new VitClassifier(VIT).layout();
    for (TensorSpec tensor : classifier.tensors()) {
      if (tensor.name().startsWith("encoder.")) {
        TensorSpec same = layout.tensors().stream().filter(t -> t.name().equals(tensor.name())).findFirst().orElseThrow();
        assertArrayEquals(tensor.shape(), same.shape(), tensor.name() + " has the classifier's shape");
      }
    }
    assertArrayEquals(new int[] {1, 1, 8}, shapeOf(layout, "decoder.mask_token"));
    assertArrayEquals(new int[] {1, VIT.patchCount() + 1, 8}, shapeOf(layout, "decoder.pos_embed"));
    assertArrayEquals(new int[] {VIT.patchValues(), 8}, shapeOf(layout, "decoder.pred.weight"));

    try (ModelParameters p = new ModelParameters(layout, manager)) {
      p.load(mae.initialValues(1));
      PatchMasking.Mask mask = PatchMasking.draw(7, 0, new int[] {0, 1, 2}, VIT.patchCount(), 0.75);
      assertEquals(4, mask.keep(), "16 patches at 0.75: 4 stay visible");
      NDArray[] indices = MaeModel.indices(manager, mask);
      NDArray predicted = mae.predict(p, randomPatches(3, 1), indices[0], indices[1]);
      assertEquals(new Shape(3, VIT.patchCount(), VIT.patchValues()), predicted.getShape());
    }
  }

  private static int[] shapeOf(ParameterLayout layout, String name) {
    return layout.tensors().stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow().shape();
  }

  @Test
  void theMaeLossCountsOnlyTheHiddenPatches() {
    MaeModel mae = new MaeModel(VIT, new MaeSpec(0.75, 8, 1, 2, 16, false));
    // Two images of two patches of two values; image 0 hides patch 1, image 1 hides patch 0.
    NDArray target = manager.create(new float[] {0, 0, 0, 0, 1, 1, 1, 1}, new Shape(2, 2, 2));
    NDArray predicted = manager.create(new float[] {9, 9, 1, 3, 2, 0, 5, 5}, new Shape(2, 2, 2));
    NDArray hidden = manager.create(new float[] {0, 1, 1, 0}, new Shape(2, 2));
    // image 0, patch 1: ((1-0)^2 + (3-0)^2) / 2 = 5; image 1, patch 0: ((2-1)^2 + (0-1)^2) / 2 = 1.
    float loss = mae.summedLoss(predicted, target, hidden, 1).getFloat();
    assertEquals(6f, loss, 1e-6f, "per-sample masked MSE, summed over the batch; visible errors ignored");
  }

  @Test
  void normalisedPixelTargetsHaveZeroMeanAndUnitVariancePerPatch() {
    MaeModel mae = new MaeModel(VIT, MAE);
    float[] target = mae.target(randomPatches(2, 3)).toFloatArray();
    for (int patch = 0; patch < 2 * VIT.patchCount(); patch++) {
      double mean = 0;
      double square = 0;
      for (int v = 0; v < VIT.patchValues(); v++) {
        float x = target[patch * VIT.patchValues() + v];
        mean += x;
        square += x * x;
      }
      mean /= VIT.patchValues();
      assertEquals(0, mean, 1e-5);
      assertEquals(1, square / VIT.patchValues() - mean * mean, 1e-3);
    }
  }

  @Test
  void symmetricInfoNceMatchesAHandComputedCase() {
    // Two unit image embeddings and two unit text embeddings in 2-D; inverse temperature 2.
    NDArray images = manager.create(new float[] {1, 0, 0, 1}, new Shape(2, 2));
    float c = (float) Math.sqrt(0.5);
    NDArray texts = manager.create(new float[] {1, 0, c, c}, new Shape(2, 2));
    NDArray scale = manager.create(new float[] {2f}, new Shape(1));
    // logits = 2 * [[1, c], [0, c]]
    double l00 = 2;
    double l01 = 2 * c;
    double l10 = 0;
    double l11 = 2 * c;
    double rows =
        -(l00 - Math.log(Math.exp(l00) + Math.exp(l01))) - (l11 - Math.log(Math.exp(l10) + Math.exp(l11)));
    double columns =
        -(l00 - Math.log(Math.exp(l00) + Math.exp(l10))) - (l11 - Math.log(Math.exp(l01) + Math.exp(l11)));
    double expected = (rows + columns) / 2;

    float loss = FlipModel.summedInfoNce(images, texts, scale, manager.eye(2)).getFloat();

    assertEquals(expected, loss, 1e-5);
  }

  @Test
  void flipEmbeddingsAreUnitVectorsAndTheTemperatureStartsAtClipsValue() {
    FlipModel flip = new FlipModel(VIT, new FlipSpec(0.5, 16, 1, 2, 32, 12, 0), 22, 10);
    try (ModelParameters p = new ModelParameters(flip.layout(), manager)) {
      p.load(flip.initialValues(1));
      PatchMasking.Mask mask = PatchMasking.draw(1, 0, new int[] {0, 1}, VIT.patchCount(), 0.5);
      NDArray images = flip.images(p, randomPatches(2, 5), MaeModel.indices(manager, mask)[0]);
      assertEquals(new Shape(2, 12), images.getShape());
      float[] norms = images.norm(new int[] {1}).toFloatArray();
      assertEquals(1f, norms[0], 1e-5f);
      assertEquals(1f, norms[1], 1e-5f);

      float[] oneHot = new float[2 * 10 * 22];
      float[] present = new float[2 * 10];
      for (int i = 0; i < 2; i++) {
        for (int t = 0; t < 3; t++) {
          oneHot[(i * 10 + t) * 22 + 1 + i + t] = 1;
          present[i * 10 + t] = 1;
        }
      }
      NDArray texts =
          flip.texts(p, manager.create(oneHot, new Shape(2, 10, 22)), manager.create(present, new Shape(2, 10)));
      assertEquals(new Shape(2, 12), texts.getShape());
      assertEquals(1f, texts.norm(new int[] {1}).toFloatArray()[1], 1e-5f);
      assertEquals(1 / 0.07, flip.inverseTemperature(p).getFloat(), 1e-3);
    }
  }
}
