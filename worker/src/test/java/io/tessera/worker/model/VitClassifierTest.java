package io.tessera.worker.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.TensorSpec;
import io.tessera.worker.testing.TestFixtures;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class VitClassifierTest {

  /** What a ViT classifier must hold, counted from its definition rather than from the code. */
  private static long expectedParameters(ModelSpec s) {
    long d = s.dim();
    long patchEmbed = d * s.patchValues() + d;
    long clsToken = d;
    long positions = (s.patchCount() + 1L) * d;
    long norms = 2 * d; // gamma and beta
    long attention = 3 * d * d + 3 * d + d * d + d;
    long mlp = s.mlpDim() * d + s.mlpDim() + d * s.mlpDim() + d;
    long block = 2 * norms + attention + mlp;
    long head = s.classes() * d + s.classes();
    return patchEmbed + clsToken + positions + s.depth() * block + norms + head;
  }

  @Test
  void parameterCountFollowsTheArchitecture() {
    ModelSpec tiny = TestFixtures.tinyVit();
    ModelSpec wider =
        ModelSpec.builder().optPatchSize(4).optDim(24).optDepth(3).optHeads(3).optMlpDim(40).optClasses(7).build();

    assertEquals(3514, expectedParameters(tiny), "hand count of the tiny model");
    assertEquals(expectedParameters(tiny), new VitClassifier(tiny).layout().totalSize());
    assertEquals(expectedParameters(wider), new VitClassifier(wider).layout().totalSize());
    assertEquals(expectedParameters(wider), new VitClassifier(wider).initialValues(1).length);
  }

  @Test
  void layoutNamesTheEncoderFirstAndDecaysOnlyMatrices() {
    ParameterLayout layout = new VitClassifier(TestFixtures.tinyVit()).layout();
    List<String> names = layout.tensors().stream().map(TensorSpec::name).toList();

    assertEquals("encoder.patch_embed.weight", names.get(0));
    assertEquals(List.of("head.weight", "head.bias"), names.subList(names.size() - 2, names.size()));
    assertTrue(names.contains("encoder.blocks.0.attn.qkv.weight"));
    assertEquals(1 + 1 + 1 + 1 + 12 + 2 + 2, names.size());
    for (TensorSpec tensor : layout.tensors()) {
      assertEquals(
          tensor.name().endsWith(".weight"), tensor.decay(), tensor.name() + " decay flag");
    }
  }

  @Test
  void logitsHaveOneRowPerSampleAndOneColumnPerClass() {
    ModelSpec spec = TestFixtures.tinyVit();
    VitClassifier model = new VitClassifier(spec);
    try (NDManager manager = NDManager.newBaseManager();
        ModelParameters parameters = new ModelParameters(model.layout(), manager)) {
      parameters.load(model.initialValues(3));
      float[] pixels = new float[3 * spec.patchCount() * spec.patchValues()];
      SplittableRandom random = new SplittableRandom(1);
      for (int i = 0; i < pixels.length; i++) {
        pixels[i] = (float) random.nextDouble();
      }
      NDArray patches = manager.create(pixels, new Shape(3, spec.patchCount(), spec.patchValues()));

      NDArray logits = model.logits(parameters, patches);
      NDArray loss = model.loss(logits, manager.create(new long[] {0, 4, 9}));

      assertEquals(new Shape(3, 10), logits.getShape());
      assertArrayEquals(new long[0], loss.getShape().getShape());
      float value = loss.getFloat();
      // Near-uniform predictions at initialisation: cross-entropy close to ln 10.
      assertTrue(Float.isFinite(value) && Math.abs(value - Math.log(10)) < 1.0, "loss " + value);
    }
  }
}
