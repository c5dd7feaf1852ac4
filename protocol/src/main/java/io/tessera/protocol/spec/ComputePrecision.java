package io.tessera.protocol.spec;

/**
 * The number format of a worker's forward and backward passes. The parameter shards keep fp32
 * master weights whatever it is; fp16 uses dynamic loss scaling and is meant for GPUs. There is no
 * bf16: DJL 0.36's PyTorch bindings abort the JVM when asked for a bfloat16 tensor, so the spec
 * parser refuses it with that reason.
 */
public enum ComputePrecision {
  FP32,
  FP16
}
