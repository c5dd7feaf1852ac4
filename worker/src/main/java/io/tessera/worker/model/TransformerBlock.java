package io.tessera.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;

/**
 * A pre-norm transformer block: {@code x + attention(norm(x))}, then {@code x + mlp(norm(x))},
 * with multi-head self-attention over all tokens and a GELU MLP.
 */
public final class TransformerBlock {
  static final float NORM_EPSILON = 1e-6f;

  private final String prefix;
  private final int dim;
  private final int heads;
  private final float scale;
  private final Shape normShape;

  /** Declares the block's parameters in {@code table} under {@code prefix} (ending in '.'). */
  public TransformerBlock(String prefix, int dim, int heads, int mlpDim, ParameterTable table) {
    this.prefix = prefix;
    this.dim = dim;
    this.heads = heads;
    this.scale = (float) (1.0 / Math.sqrt(dim / heads));
    this.normShape = new Shape(dim);
    table.add(prefix + "norm1.gamma", Init.ONES, false, dim);
    table.add(prefix + "norm1.beta", Init.ZEROS, false, dim);
    table.add(prefix + "attn.qkv.weight", Init.XAVIER_UNIFORM, true, 3 * dim, dim);
    table.add(prefix + "attn.qkv.bias", Init.ZEROS, false, 3 * dim);
    table.add(prefix + "attn.proj.weight", Init.XAVIER_UNIFORM, true, dim, dim);
    table.add(prefix + "attn.proj.bias", Init.ZEROS, false, dim);
    table.add(prefix + "norm2.gamma", Init.ONES, false, dim);
    table.add(prefix + "norm2.beta", Init.ZEROS, false, dim);
    table.add(prefix + "mlp.fc1.weight", Init.XAVIER_UNIFORM, true, mlpDim, dim);
    table.add(prefix + "mlp.fc1.bias", Init.ZEROS, false, mlpDim);
    table.add(prefix + "mlp.fc2.weight", Init.XAVIER_UNIFORM, true, dim, mlpDim);
    table.add(prefix + "mlp.fc2.bias", Init.ZEROS, false, dim);
  }

  /** Maps tokens {@code (batch, tokens, dim)} to tokens of the same shape. */
  public NDArray forward(ModelParameters p, NDArray x) {
    NDArray attended = attention(p, norm(p, "norm1", x));
    x = x.add(attended);
    return x.add(mlp(p, norm(p, "norm2", x)));
  }

  private NDArray norm(ModelParameters p, String name, NDArray x) {
    return LayerNorm.layerNorm(
            x,
            normShape,
            p.get(prefix + name + ".gamma"),
            p.get(prefix + name + ".beta"),
            NORM_EPSILON)
        .singletonOrThrow();
  }

  private NDArray attention(ModelParameters p, NDArray x) {
    long batch = x.getShape().get(0);
    long tokens = x.getShape().get(1);
    NDArray qkv =
        Linear.linear(x, p.get(prefix + "attn.qkv.weight"), p.get(prefix + "attn.qkv.bias"))
            .singletonOrThrow()
            .reshape(batch, tokens, 3, heads, dim / heads)
            .transpose(2, 0, 3, 1, 4); // (3, batch, heads, tokens, headDim)
    NDArray q = qkv.get(0).mul(Scalars.of(qkv, scale));
    NDArray k = qkv.get(1);
    NDArray v = qkv.get(2);
    NDArray weights = q.matMul(k.transpose(0, 1, 3, 2)).softmax(-1);
    NDArray mixed = weights.matMul(v).transpose(0, 2, 1, 3).reshape(batch, tokens, dim);
    return Linear.linear(mixed, p.get(prefix + "attn.proj.weight"), p.get(prefix + "attn.proj.bias"))
        .singletonOrThrow();
  }

  private NDArray mlp(ModelParameters p, NDArray x) {
    NDArray hidden =
        Linear.linear(x, p.get(prefix + "mlp.fc1.weight"), p.get(prefix + "mlp.fc1.bias"))
            .singletonOrThrow();
    return Linear.linear(
            Activation.gelu(hidden), p.get(prefix + "mlp.fc2.weight"), p.get(prefix + "mlp.fc2.bias"))
        .singletonOrThrow();
  }
}
