package io.tessera.protocol.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.function.IntToDoubleFunction;
import org.junit.jupiter.api.Test;

/**
 * The fp32 to bf16/fp16 conversions, checked bit by bit. Rounding is checked against an oracle that
 * needs only the decoders: the chosen 16-bit value must be at least as close as both neighbours,
 * and on a tie it must be the even one.
 */
class HalfFloatsTest {
  private static final int FP16_MAX_FINITE = 0x7bff;
  private static final int FP16_INFINITY = 0x7c00;
  private static final int BF16_MAX_FINITE = 0x7f7f;
  private static final int BF16_INFINITY = 0x7f80;

  // ---------------------------------------------------------------- exhaustive

  @Test
  void everyFp16ValueSurvivesAnFp32RoundTrip() {
    for (int bits = 0; bits <= 0xffff; bits++) {
      float value = HalfFloats.fromFloat16((short) bits);
      if (isFp16NaN(bits)) {
        assertTrue(Float.isNaN(value), hex(bits));
        assertTrue(isFp16NaN(fp16(value)), "NaN must stay NaN: " + hex(bits));
      } else {
        assertEquals(bits, fp16(value), "fp16 " + hex(bits));
      }
    }
  }

  @Test
  void everyBf16ValueSurvivesAnFp32RoundTrip() {
    for (int bits = 0; bits <= 0xffff; bits++) {
      float value = HalfFloats.fromBfloat16((short) bits);
      if (isBf16NaN(bits)) {
        assertTrue(Float.isNaN(value), hex(bits));
        assertTrue(isBf16NaN(bf16(value)), "NaN must stay NaN: " + hex(bits));
      } else {
        assertEquals(bits, bf16(value), "bf16 " + hex(bits));
      }
    }
  }

  // ---------------------------------------------------------------- rounding oracle

  @Test
  void fp16IsTheNearestValueTiesToEven() {
    Random random = new Random(16L);
    for (int trial = 0; trial < 200_000; trial++) {
      // exponents from below half the smallest subnormal (2^-26) to beyond the largest finite
      float value = randomFloat(random, -27, 16);
      assertNearestEven(
          value,
          fp16(value),
          FP16_MAX_FINITE,
          65536.0,
          bits -> HalfFloats.fromFloat16((short) bits));
    }
  }

  @Test
  void bf16IsTheNearestValueTiesToEven() {
    Random random = new Random(8L);
    for (int trial = 0; trial < 200_000; trial++) {
      float value = randomFloat(random, -126, 126);
      assertNearestEven(
          value,
          bf16(value),
          BF16_MAX_FINITE,
          0x1p128,
          bits -> HalfFloats.fromBfloat16((short) bits));
    }
  }

  @Test
  void tiesAreExercisedByTheOracle() {
    // Random mantissas hardly ever land on a tie, so feed the oracle constructed halfway points:
    // the fp32 value exactly between each fp16 (bf16) value and the next.
    for (int bits = 0; bits < FP16_MAX_FINITE; bits++) {
      double low = HalfFloats.fromFloat16((short) bits);
      double high = HalfFloats.fromFloat16((short) (bits + 1));
      float tie = (float) ((low + high) / 2);
      assertEquals((low + high) / 2, tie, 0.0, "fp16 halfway point must be exact in fp32");
      assertNearestEven(
          tie, fp16(tie), FP16_MAX_FINITE, 65536.0, b -> HalfFloats.fromFloat16((short) b));
      assertNearestEven(
          -tie, fp16(-tie), FP16_MAX_FINITE, 65536.0, b -> HalfFloats.fromFloat16((short) b));
    }
    for (int bits = 0; bits < BF16_MAX_FINITE; bits++) {
      float tie = Float.intBitsToFloat((bits << 16) | 0x8000);
      assertNearestEven(
          tie, bf16(tie), BF16_MAX_FINITE, 0x1p128, b -> HalfFloats.fromBfloat16((short) b));
    }
  }

  // ---------------------------------------------------------------- round to nearest even

  @Test
  void fp16HalfwayCasesRoundToEven() {
    assertEquals(0x3c00, fp16(1f + 0x1p-11f), "1 + half an ulp: down to even 1.0");
    assertEquals(0x3c02, fp16(1f + 3 * 0x1p-11f), "1 + 1.5 ulp: up to even mantissa 2");
    assertEquals(0x3c01, fp16(Math.nextUp(1f + 0x1p-11f)), "just above halfway: up");
    assertEquals(0x3c00, fp16(Math.nextDown(1f + 0x1p-11f)), "just below halfway: down");
    assertEquals(0x4000, fp16(2f - 0x1p-11f), "halfway below 2 carries into the exponent");
    assertEquals(0xbc00, fp16(-(1f + 0x1p-11f)), "ties to even for negatives too");
    assertEquals(0xbc02, fp16(-(1f + 3 * 0x1p-11f)));
  }

  @Test
  void bf16HalfwayCasesRoundToEven() {
    assertEquals(0x3f80, bf16(bitsToFloat(0x3f808000)), "1 + half an ulp: down to even 1.0");
    assertEquals(0x3f82, bf16(bitsToFloat(0x3f818000)), "1 + 1.5 ulp: up to even");
    assertEquals(0x3f81, bf16(bitsToFloat(0x3f808001)), "just above halfway: up");
    assertEquals(0x3f80, bf16(bitsToFloat(0x3f807fff)), "just below halfway: down");
    assertEquals(
        0x3f80, bf16(bitsToFloat(0x3f7f8000)), "halfway below 1 carries into the exponent");
    assertEquals(0xbf80, bf16(bitsToFloat(0xbf808000)), "ties to even for negatives too");
    assertEquals(0xbf82, bf16(bitsToFloat(0xbf818000)));
    assertEquals(0x0000, bf16(bitsToFloat(0x00008000)), "fp32 subnormal tie rounds to +0");
    assertEquals(0x0002, bf16(bitsToFloat(0x00018000)), "fp32 subnormal tie rounds to even");
  }

  // ---------------------------------------------------------------- zeros, infinities, NaN

  @Test
  void signedZerosKeepTheirSign() {
    assertEquals(0x0000, fp16(0f));
    assertEquals(0x8000, fp16(-0f));
    assertEquals(0x0000, bf16(0f));
    assertEquals(0x8000, bf16(-0f));
    assertEquals(
        Float.floatToRawIntBits(-0f),
        Float.floatToRawIntBits(HalfFloats.fromFloat16((short) 0x8000)));
    assertEquals(
        Float.floatToRawIntBits(-0f),
        Float.floatToRawIntBits(HalfFloats.fromBfloat16((short) 0x8000)));
  }

  @Test
  void infinitiesStayInfinite() {
    assertEquals(FP16_INFINITY, fp16(Float.POSITIVE_INFINITY));
    assertEquals(0xfc00, fp16(Float.NEGATIVE_INFINITY));
    assertEquals(BF16_INFINITY, bf16(Float.POSITIVE_INFINITY));
    assertEquals(0xff80, bf16(Float.NEGATIVE_INFINITY));
    assertEquals(Float.POSITIVE_INFINITY, HalfFloats.fromFloat16((short) FP16_INFINITY));
    assertEquals(Float.NEGATIVE_INFINITY, HalfFloats.fromFloat16((short) 0xfc00));
    assertEquals(Float.POSITIVE_INFINITY, HalfFloats.fromBfloat16((short) BF16_INFINITY));
    assertEquals(Float.NEGATIVE_INFINITY, HalfFloats.fromBfloat16((short) 0xff80));
  }

  @Test
  void everyKindOfNaNStaysNaN() {
    // Quiet, signalling with only the lowest payload bit (which plain truncation would turn into
    // infinity), and negative NaNs.
    for (int bits :
        new int[] {0x7fc00000, 0x7f800001, 0x7f801000, 0x7fffffff, 0xffc00000, 0xff800001}) {
      float nan = bitsToFloat(bits);
      assertTrue(isFp16NaN(fp16(nan)), () -> "fp16 of " + hex(bits) + " = " + hex(fp16(nan)));
      assertTrue(isBf16NaN(bf16(nan)), () -> "bf16 of " + hex(bits) + " = " + hex(bf16(nan)));
      assertTrue(Float.isNaN(HalfFloats.fromFloat16((short) fp16(nan))));
      assertTrue(Float.isNaN(HalfFloats.fromBfloat16((short) bf16(nan))));
    }
  }

  // ---------------------------------------------------------------- fp16 range

  @Test
  void fp16OverflowBecomesInfinity() {
    assertEquals(FP16_MAX_FINITE, fp16(65504f), "largest finite fp16");
    assertEquals(FP16_MAX_FINITE, fp16(Math.nextDown(65520f)), "below the halfway point to 2^16");
    assertEquals(FP16_INFINITY, fp16(65520f), "halfway to 2^16 rounds to even, which is infinity");
    assertEquals(FP16_INFINITY, fp16(65536f));
    assertEquals(FP16_INFINITY, fp16(1e6f));
    assertEquals(FP16_INFINITY, fp16(Float.MAX_VALUE));
    assertEquals(0xfc00, fp16(-70_000f));
    assertEquals(0xfbff, fp16(-65504f));
  }

  @Test
  void bf16OverflowBecomesInfinity() {
    assertEquals(BF16_MAX_FINITE, bf16(bitsToFloat(0x7f7f7fff)));
    assertEquals(
        BF16_INFINITY, bf16(bitsToFloat(0x7f7f8000)), "halfway to 2^128 rounds to infinity");
    assertEquals(BF16_INFINITY, bf16(Float.MAX_VALUE));
    assertEquals(0xff80, bf16(-Float.MAX_VALUE));
  }

  @Test
  void fp16SubnormalsAreEncodedAndDecoded() {
    assertEquals(0x0001, fp16(0x1p-24f), "smallest subnormal");
    assertEquals(0x0003, fp16(3 * 0x1p-24f));
    assertEquals(0x03ff, fp16(1023 * 0x1p-24f), "largest subnormal");
    assertEquals(0x0400, fp16(0x1p-14f), "smallest normal");
    assertEquals(
        0x0400, fp16(1023.5f * 0x1p-24f), "halfway to the smallest normal rounds up to even");
    assertEquals(0x8001, fp16(-0x1p-24f));

    assertEquals(0x0000, fp16(0x1p-25f), "half the smallest subnormal ties to zero");
    assertEquals(0x0001, fp16(Math.nextUp(0x1p-25f)), "just above half rounds up");
    assertEquals(0x0002, fp16(3 * 0x1p-25f), "1.5 subnormal steps: up to even 2");
    assertEquals(0x0002, fp16(5 * 0x1p-25f), "2.5 subnormal steps: down to even 2");
    assertEquals(0x0004, fp16(7 * 0x1p-25f), "3.5 subnormal steps: up to even 4");
    assertEquals(0x0000, fp16(0x1p-26f), "far below: zero");
    assertEquals(0x0000, fp16(1e-40f), "fp32 subnormals are below fp16's range");
    assertEquals(0x8000, fp16(-1e-40f), "and keep their sign");

    assertEquals(0x1p-24f, HalfFloats.fromFloat16((short) 0x0001));
    assertEquals(1023 * 0x1p-24f, HalfFloats.fromFloat16((short) 0x03ff));
    assertEquals(-0x1p-24f, HalfFloats.fromFloat16((short) 0x8001));
    assertEquals(0x1p-14f, HalfFloats.fromFloat16((short) 0x0400));
  }

  // ---------------------------------------------------------------- helpers

  /**
   * {@code chosen} must be at least as close to {@code value} as its neighbours, and even on a tie.
   * Beyond the largest finite value the next step up is {@code overflowAt}, which stands for
   * infinity.
   */
  private static void assertNearestEven(
      float value, int chosen, int maxFinite, double overflowAt, IntToDoubleFunction decode) {
    int sign = Float.floatToRawIntBits(value) < 0 ? 0x8000 : 0;
    assertEquals(sign, chosen & 0x8000, () -> "sign of " + value);
    double target = Math.abs((double) value);
    int magnitude = chosen & 0x7fff;
    double picked = magnitude > maxFinite ? overflowAt : decode.applyAsDouble(magnitude);
    assertTrue(magnitude <= maxFinite + 1, () -> value + " became NaN: " + hex(chosen));
    double error = Math.abs(target - picked);
    if (magnitude > 0) {
      double below = Math.abs(target - decode.applyAsDouble(magnitude - 1));
      assertTrue(
          error < below || (error == below && magnitude % 2 == 0),
          () ->
              value
                  + " -> "
                  + hex(chosen)
                  + " but "
                  + hex(magnitude - 1)
                  + " is nearer or the even tie");
    }
    if (magnitude <= maxFinite) {
      double next = magnitude == maxFinite ? overflowAt : decode.applyAsDouble(magnitude + 1);
      double above = Math.abs(target - next);
      assertTrue(
          error < above || (error == above && magnitude % 2 == 0),
          () ->
              value
                  + " -> "
                  + hex(chosen)
                  + " but "
                  + hex(magnitude + 1)
                  + " is nearer or the even tie");
    }
  }

  private static float randomFloat(Random random, int minExponent, int maxExponent) {
    float mantissa = 1f + random.nextFloat();
    float value =
        mantissa
            * (float) Math.scalb(1.0, minExponent + random.nextInt(maxExponent - minExponent + 1));
    return random.nextBoolean() ? value : -value;
  }

  private static int fp16(float value) {
    return HalfFloats.toFloat16(value) & 0xffff;
  }

  private static int bf16(float value) {
    return HalfFloats.toBfloat16(value) & 0xffff;
  }

  private static boolean isFp16NaN(int bits) {
    return (bits & 0x7c00) == 0x7c00 && (bits & 0x03ff) != 0;
  }

  private static boolean isBf16NaN(int bits) {
    return (bits & 0x7f80) == 0x7f80 && (bits & 0x007f) != 0;
  }

  private static float bitsToFloat(int bits) {
    return Float.intBitsToFloat(bits);
  }

  private static String hex(int bits) {
    return String.format("0x%04x", bits);
  }
}
