package io.tessera.protocol.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Encoding and decoding of tensor payloads in each wire precision. */
class TensorPayloadTest {
  private static final double BF16_RELATIVE = 0x1p-8;
  private static final double FP16_RELATIVE = 0x1p-11;
  private static final float FP16_MIN_NORMAL = 0x1p-14f;
  private static final float FP16_MAX = 65504f;

  @Test
  void fp32IsBitExact() {
    Random random = new Random(32L);
    float[] values = new float[4096];
    for (int i = 0; i < values.length; i++) {
      values[i] =
          Float.intBitsToFloat(random.nextInt()); // every bit pattern, NaN payloads included
    }
    values[0] = -0f;
    values[1] = Float.MIN_VALUE;
    values[2] = Float.NEGATIVE_INFINITY;

    TensorPayload payload = TensorPayload.encode(values, WirePrecision.FP32);
    float[] decoded = payload.decode();

    assertEquals(values.length * 4, payload.bytes().length);
    for (int i = 0; i < values.length; i++) {
      assertEquals(
          Float.floatToRawIntBits(values[i]), Float.floatToRawIntBits(decoded[i]), "index " + i);
    }
  }

  @Test
  void bf16KeepsRelativeErrorWithinHalfAnUlpOfEightBits() {
    float[] values = normals(new Random(16L), 100_000, -30, 30);
    float[] decoded = TensorPayload.encode(values, WirePrecision.BF16).decode();

    double worst = worstRelativeError(values, decoded, 0f, Float.MAX_VALUE);
    assertTrue(worst <= BF16_RELATIVE, "worst relative error " + worst);
    assertTrue(worst > BF16_RELATIVE / 2, "bf16 must actually round, worst was " + worst);
  }

  @Test
  void fp16KeepsRelativeErrorWithinHalfAnUlpOfElevenBitsInTheNormalRange() {
    float[] values = normals(new Random(11L), 100_000, -13, 15);
    float[] decoded = TensorPayload.encode(values, WirePrecision.FP16).decode();

    double worst = worstRelativeError(values, decoded, FP16_MIN_NORMAL, FP16_MAX);
    assertTrue(worst <= FP16_RELATIVE, "worst relative error " + worst);
    assertTrue(worst > FP16_RELATIVE / 2, "fp16 must actually round, worst was " + worst);
  }

  @Test
  void wireLayoutIsLittleEndian() {
    float[] one = {1f};
    assertArrayEquals(
        new byte[] {0, 0, (byte) 0x80, 0x3f},
        TensorPayload.encode(one, WirePrecision.FP32).bytes());
    assertArrayEquals(
        new byte[] {(byte) 0x80, 0x3f}, TensorPayload.encode(one, WirePrecision.BF16).bytes());
    assertArrayEquals(
        new byte[] {0x00, 0x3c}, TensorPayload.encode(one, WirePrecision.FP16).bytes());
  }

  @Test
  void encodesASliceAndDecodesIntoAnOffset() {
    float[] source = {9f, 1.5f, -2.5f, 3.25f, 9f};
    for (WirePrecision precision : WirePrecision.values()) {
      TensorPayload payload = TensorPayload.encode(source, 1, 3, precision);
      assertEquals(3, payload.length());
      assertEquals(3 * precision.bytesPerValue(), payload.bytes().length);

      float[] target = {7f, 7f, 7f, 7f, 7f, 7f};
      payload.decodeInto(target, 2);
      // These values are exact in every precision, so nothing else may differ.
      assertArrayEquals(new float[] {7f, 7f, 1.5f, -2.5f, 3.25f, 7f}, target, precision.name());
    }
  }

  @Test
  void specialValuesSurviveEveryPrecision() {
    float[] specials = {0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};
    for (WirePrecision precision : WirePrecision.values()) {
      float[] decoded = TensorPayload.encode(specials, precision).decode();
      assertEquals(
          Float.floatToRawIntBits(0f), Float.floatToRawIntBits(decoded[0]), precision.name());
      assertEquals(
          Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(decoded[1]), precision.name());
      assertEquals(Float.POSITIVE_INFINITY, decoded[2], precision.name());
      assertEquals(Float.NEGATIVE_INFINITY, decoded[3], precision.name());
      assertTrue(Float.isNaN(decoded[4]), precision.name());
    }
  }

  @Test
  void equalityIsByContent() {
    float[] values = {1f, 2f, 3f};
    TensorPayload a = TensorPayload.encode(values, WirePrecision.FP16);
    TensorPayload b = TensorPayload.encode(values.clone(), WirePrecision.FP16);

    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    assertNotEquals(a, TensorPayload.encode(values, WirePrecision.BF16));
    assertNotEquals(a, TensorPayload.encode(new float[] {1f, 2f, 4f}, WirePrecision.FP16));
    assertEquals("TensorPayload[3 x FP16]", a.toString());
  }

  /** Gaussian mantissas scaled by powers of two across {@code [minExp, maxExp]}. */
  private static float[] normals(Random random, int count, int minExp, int maxExp) {
    float[] values = new float[count];
    for (int i = 0; i < count; i++) {
      double scale = Math.scalb(1.0, minExp + random.nextInt(maxExp - minExp + 1));
      values[i] = (float) (random.nextGaussian() * scale);
    }
    return values;
  }

  /** The largest relative error over values whose magnitude lies in {@code [min, max]}. */
  private static double worstRelativeError(float[] values, float[] decoded, float min, float max) {
    double worst = 0;
    int counted = 0;
    for (int i = 0; i < values.length; i++) {
      float magnitude = Math.abs(values[i]);
      if (magnitude < min || magnitude > max || magnitude == 0f) {
        continue;
      }
      counted++;
      worst = Math.max(worst, Math.abs((double) decoded[i] - values[i]) / magnitude);
    }
    assertTrue(counted > values.length / 2, "too few values in range: " + counted);
    return worst;
  }
}
