package io.tessera.protocol.tensor;

/**
 * Conversions between fp32 and the two 16-bit formats, with round-to-nearest-even. Java 17 has no
 * {@code Float.floatToFloat16}, so the bit manipulation is spelled out here.
 */
final class HalfFloats {
  private HalfFloats() {}

  /** fp32 to bfloat16 bits: keep the upper 16 bits, rounded to nearest even; NaN stays NaN. */
  static short toBfloat16(float value) {
    int bits = Float.floatToRawIntBits(value);
    if ((bits & 0x7fffffff) > 0x7f800000) {
      return (short) ((bits >>> 16) | 0x0040); // quiet NaN, sign kept
    }
    int roundingBias = 0x7fff + ((bits >>> 16) & 1);
    return (short) ((bits + roundingBias) >>> 16);
  }

  static float fromBfloat16(short bits) {
    return Float.intBitsToFloat((bits & 0xffff) << 16);
  }

  /** fp32 to IEEE half bits; overflow becomes infinity, tiny values become subnormal or zero. */
  static short toFloat16(float value) {
    int bits = Float.floatToRawIntBits(value);
    int sign = (bits >>> 16) & 0x8000;
    int exponent = (bits >>> 23) & 0xff;
    int mantissa = bits & 0x7fffff;
    if (exponent == 0xff) { // infinity or NaN
      return (short) (sign | 0x7c00 | (mantissa != 0 ? 0x200 : 0));
    }
    int halfExponent = exponent - 127 + 15;
    if (halfExponent >= 0x1f) {
      return (short) (sign | 0x7c00);
    }
    if (halfExponent <= 0) {
      if (halfExponent < -10) {
        return (short) sign; // below half of the smallest subnormal
      }
      int full = mantissa | 0x800000; // restore the implicit bit
      int shift = 14 - halfExponent;
      int half = full >>> shift;
      int remainder = full & ((1 << shift) - 1);
      int halfway = 1 << (shift - 1);
      if (remainder > halfway || (remainder == halfway && (half & 1) != 0)) {
        half++;
      }
      return (short) (sign | half);
    }
    int half = (halfExponent << 10) | (mantissa >>> 13);
    int remainder = mantissa & 0x1fff;
    if (remainder > 0x1000 || (remainder == 0x1000 && (half & 1) != 0)) {
      half++; // may carry into the exponent, and up to infinity, which is right
    }
    return (short) (sign | half);
  }

  static float fromFloat16(short value) {
    int bits = value & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exponent = (bits >>> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    if (exponent == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
    }
    if (exponent == 0) {
      if (mantissa == 0) {
        return Float.intBitsToFloat(sign);
      }
      float magnitude = mantissa * 0x1p-24f; // subnormal: mantissa * 2^-24
      return sign == 0 ? magnitude : -magnitude;
    }
    return Float.intBitsToFloat(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
  }
}
