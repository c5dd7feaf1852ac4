package io.tessera.protocol.tensor;

/**
 * The number format of tensors on the wire. Parameter shards always keep fp32 master weights;
 * this only decides how many bytes a pull or push costs and how much precision it keeps.
 */
public enum WirePrecision {
  /** IEEE 754 single precision, 4 bytes, exact. */
  FP32(4),
  /** bfloat16: fp32's exponent with 8 significant bits, 2 bytes; rounded to nearest even. */
  BF16(2),
  /** IEEE 754 half precision, 2 bytes; values beyond ±65504 become infinite. */
  FP16(2);

  private final int bytesPerValue;

  WirePrecision(int bytesPerValue) {
    this.bytesPerValue = bytesPerValue;
  }

  public int bytesPerValue() {
    return bytesPerValue;
  }
}
