package io.tessera.worker.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.TensorSpec;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class ParameterTableTest {

  private static ParameterTable table() {
    ParameterTable table = new ParameterTable();
    table.add("embed.weight", Init.XAVIER_UNIFORM, true, 24, 40);
    table.add("embed.bias", Init.ZEROS, false, 24);
    table.add("norm.gamma", Init.ONES, false, 24);
    table.add("cls", Init.NORMAL, false, 1, 1, 2000);
    return table;
  }

  private static float[] slice(float[] values, ParameterLayout layout, String name) {
    int from = layout.offsetOf(name);
    int size =
        layout.tensors().stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow().size();
    return Arrays.copyOfRange(values, from, from + size);
  }

  @Test
  void layoutKeepsDeclarationOrderNamesShapesAndDecayFlags() {
    ParameterLayout layout = table().layout();

    List<TensorSpec> tensors = layout.tensors();
    assertEquals(
        List.of("embed.weight", "embed.bias", "norm.gamma", "cls"),
        tensors.stream().map(TensorSpec::name).toList());
    assertArrayEquals(new int[] {24, 40}, tensors.get(0).shape());
    assertArrayEquals(new int[] {1, 1, 2000}, tensors.get(3).shape());
    assertEquals(List.of(true, false, false, false), tensors.stream().map(TensorSpec::decay).toList());
    assertEquals(24 * 40 + 24 + 24 + 2000, layout.totalSize());
    assertEquals(0, layout.offsetOf("embed.weight"));
    assertEquals(960, layout.offsetOf("embed.bias"));
    assertEquals(984, layout.offsetOf("norm.gamma"));
    assertEquals(1008, layout.offsetOf("cls"));
  }

  @Test
  void aNameDeclaredTwiceIsRejected() {
    ParameterTable table = table();
    table.add("norm.gamma", Init.ONES, false, 3);

    assertThrows(IllegalArgumentException.class, table::layout);
  }

  @Test
  void initialValuesAreDeterministicPerSeed() {
    float[] first = table().initialValues(7);
    float[] again = table().initialValues(7);
    float[] other = table().initialValues(8);

    assertEquals(table().layout().totalSize(), first.length);
    assertArrayEquals(first, again);
    ParameterLayout layout = table().layout();
    for (String random : List.of("embed.weight", "cls")) {
      assertFalse(
          Arrays.equals(slice(first, layout, random), slice(other, layout, random)),
          random + " must change with the seed");
    }
  }

  @Test
  void eachTensorDrawsFromItsOwnGenerator() {
    ParameterTable longer = table();
    longer.add("head.weight", Init.XAVIER_UNIFORM, true, 10, 24);
    ParameterTable shifted = new ParameterTable();
    shifted.add("extra", Init.NORMAL, false, 33);
    shifted.add("cls", Init.NORMAL, false, 1, 1, 2000);

    float[] base = table().initialValues(3);
    float[] withTail = longer.initialValues(3);
    float[] withHead = shifted.initialValues(3);

    assertArrayEquals(base, Arrays.copyOf(withTail, base.length), "a tensor added at the end");
    assertArrayEquals(
        slice(base, table().layout(), "cls"),
        slice(withHead, shifted.layout(), "cls"),
        "a tensor added in front");
  }

  @Test
  void xavierUniformStaysWithinItsBoundAndUsesIt() {
    float[] values = table().initialValues(11);
    float[] weight = slice(values, table().layout(), "embed.weight");
    double bound = Math.sqrt(6.0 / (24 + 40));

    double max = 0;
    double sum = 0;
    for (float w : weight) {
      assertTrue(Math.abs(w) <= bound, w + " outside +-" + bound);
      max = Math.max(max, Math.abs(w));
      sum += w;
    }
    // 960 uniform draws: the largest is close to the bound, the mean close to zero.
    assertTrue(max > 0.95 * bound, "largest |w| " + max + " for bound " + bound);
    assertTrue(Math.abs(sum / weight.length) < 0.1 * bound, "mean " + sum / weight.length);
  }

  @Test
  void onesZerosAndNormalFillTheirTensors() {
    ParameterLayout layout = table().layout();
    float[] values = table().initialValues(5);

    for (float v : slice(values, layout, "embed.bias")) {
      assertEquals(0f, v);
    }
    for (float v : slice(values, layout, "norm.gamma")) {
      assertEquals(1f, v);
    }
    float[] normal = slice(values, layout, "cls");
    double mean = 0;
    for (float v : normal) {
      mean += v;
    }
    mean /= normal.length;
    double variance = 0;
    for (float v : normal) {
      variance += (v - mean) * (v - mean);
    }
    double std = Math.sqrt(variance / normal.length);
    assertEquals(0.0, mean, 0.003);
    assertEquals(0.02, std, 0.002);
  }
}
