package io.tessera.worker.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.TensorSpec;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class WeightTransferTest {

  private static final String WHAT = "stage 'finetune' from 'pretrain'";

  // Source: encoder.w [2,3] at 0..5, encoder.b [3] at 6..8, decoder.x [4] at 9..12.
  private static final ParameterLayout PRETRAIN =
      new ParameterLayout(
          List.of(
              new TensorSpec("encoder.w", new int[] {2, 3}, true),
              new TensorSpec("encoder.b", new int[] {3}, false),
              new TensorSpec("decoder.x", new int[] {4}, true)));

  // Target, in another order: head.w [2,2] at 0..3, encoder.b [3] at 4..6, encoder.w [2,3] at 7..12.
  private static final ParameterLayout FINETUNE =
      new ParameterLayout(
          List.of(
              new TensorSpec("head.w", new int[] {2, 2}, true),
              new TensorSpec("encoder.b", new int[] {3}, false),
              new TensorSpec("encoder.w", new int[] {2, 3}, true)));

  private static float[] pretrainValues() {
    // Value = 1 + flat index, so every position is recognisable after the copy.
    float[] values = new float[13];
    for (int i = 0; i < values.length; i++) {
      values[i] = i + 1;
    }
    return values;
  }

  private static float[] filled(int size, float value) {
    float[] values = new float[size];
    Arrays.fill(values, value);
    return values;
  }

  /** Carries from the pre-training layout. */
  private static int carry(float[] source, ParameterLayout target, float[] targetValues, String... prefixes) {
    return WeightTransfer.carryOver(PRETRAIN, source, target, targetValues, List.of(prefixes), WHAT);
  }

  @Test
  void copiesMatchingTensorsByNameAcrossLayouts() {
    float[] target = filled(13, -1f);

    int copied = carry(pretrainValues(), FINETUNE, target, "encoder.");

    assertEquals(9, copied, "encoder.b (3) + encoder.w (6)");
    assertArrayEquals(
        new float[] {
          -1, -1, -1, -1, // head.w untouched
          7, 8, 9, // encoder.b: source values 6..8 + 1
          1, 2, 3, 4, 5, 6 // encoder.w: source values 0..5 + 1
        },
        target);
  }

  @Test
  void severalPrefixesCopyEachTensorOnce() {
    float[] target = filled(13, 0f);

    int copied =
        carry(pretrainValues(), FINETUNE, target, "encoder.w", "encoder.");

    assertEquals(9, copied);
    assertArrayEquals(new float[] {7, 8, 9}, WeightTransfer.extract(FINETUNE, target, "encoder.b"));
    assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, WeightTransfer.extract(FINETUNE, target, "encoder.w"));
  }

  @Test
  void extractReturnsACopyOfOneTensor() {
    float[] values = pretrainValues();

    float[] decoder = WeightTransfer.extract(PRETRAIN, values, "decoder.x");
    decoder[0] = 99;

    assertArrayEquals(new float[] {99, 11, 12, 13}, decoder);
    assertEquals(10f, values[9], "the vector itself is not changed");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> WeightTransfer.extract(PRETRAIN, values, "head.w"));
    assertTrue(e.getMessage().contains("head.w"), e.getMessage());
  }

  @Test
  void refusesAShapeMismatchNamingBothShapes() {
    ParameterLayout transposed =
        new ParameterLayout(
            List.of(
                new TensorSpec("encoder.b", new int[] {3}, false),
                new TensorSpec("encoder.w", new int[] {3, 2}, true)));
    float[] target = filled(9, -1f);

    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> carry(pretrainValues(), transposed, target, "encoder."));

    assertTrue(e.getMessage().contains(WHAT), e.getMessage());
    assertTrue(e.getMessage().contains("encoder.w"), e.getMessage());
    assertTrue(e.getMessage().contains("[2, 3]"), e.getMessage());
    assertTrue(e.getMessage().contains("[3, 2]"), e.getMessage());
    assertArrayEquals(filled(9, -1f), target, "encoder.b, checked first, was not copied either");
  }

  @Test
  void refusesATensorMissingInTheSource() {
    float[] target = filled(13, 0f);

    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> carry(pretrainValues(), FINETUNE, target, "head."));

    assertTrue(e.getMessage().contains(WHAT), e.getMessage());
    assertTrue(e.getMessage().contains("head.w"), e.getMessage());
    assertTrue(e.getMessage().contains("missing"), e.getMessage());
  }

  @Test
  void refusesPrefixesThatMatchNothing() {
    float[] target = filled(13, 0f);

    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> carry(pretrainValues(), FINETUNE, target, "decoder."));

    // decoder.x exists in the source, but the target has no decoder to receive it.
    assertTrue(e.getMessage().contains(WHAT), e.getMessage());
    assertTrue(e.getMessage().contains("decoder."), e.getMessage());
  }

  @Test
  void refusesValueArraysThatDoNotFitTheirLayout() {
    IllegalArgumentException shortSource =
        assertThrows(
            IllegalArgumentException.class,
            () -> carry(new float[12], FINETUNE, new float[13], "encoder."));
    IllegalArgumentException longTarget =
        assertThrows(
            IllegalArgumentException.class,
            () -> carry(new float[13], FINETUNE, new float[14], "encoder."));
    IllegalArgumentException extract =
        assertThrows(
            IllegalArgumentException.class,
            () -> WeightTransfer.extract(PRETRAIN, new float[5], "encoder.b"));

    assertTrue(shortSource.getMessage().contains("source holds 12 values"), shortSource.getMessage());
    assertTrue(shortSource.getMessage().contains("13"), shortSource.getMessage());
    assertTrue(longTarget.getMessage().contains("target holds 14 values"), longTarget.getMessage());
    assertTrue(extract.getMessage().contains("5"), extract.getMessage());
  }
}
