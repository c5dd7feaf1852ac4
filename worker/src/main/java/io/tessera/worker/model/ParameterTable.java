package io.tessera.worker.model;

import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.TensorSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The parameters a model declares, in declaration order, with how each starts out. The order is
 * the flat layout that parameter shards slice, so every worker must build it identically.
 */
public final class ParameterTable {
  private final List<TensorSpec> tensors = new ArrayList<>();
  private final List<Init> inits = new ArrayList<>();

  /** Declares a tensor; {@code decay} says whether weight decay applies to it. */
  public void add(String name, Init init, boolean decay, int... shape) {
    tensors.add(new TensorSpec(name, shape, decay));
    inits.add(init);
  }

  public ParameterLayout layout() {
    return new ParameterLayout(tensors);
  }

  /**
   * Initial values of all tensors, laid end to end. Each tensor draws from its own generator,
   * seeded by {@code seed} and its name, so a tensor's start does not depend on what was declared
   * before it.
   */
  public float[] initialValues(long seed) {
    ParameterLayout layout = layout();
    float[] values = new float[layout.totalSize()];
    int offset = 0;
    for (int i = 0; i < tensors.size(); i++) {
      TensorSpec tensor = tensors.get(i);
      SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ tensor.name().hashCode());
      inits.get(i).fill(values, offset, tensor.shape(), random);
      offset += tensor.size();
    }
    return values;
  }
}
