package io.tessera.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.core.Linear;
import ai.djl.training.loss.Loss;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.tensor.ParameterLayout;

/** A {@link VitEncoder} with a linear head on the cls token. */
public final class VitClassifier implements TrainableModel {
  private static final NDIndex CLS_TOKEN = new NDIndex(":, 0, :");

  private final ModelSpec spec;
  private final ParameterTable table = new ParameterTable();
  private final VitEncoder encoder;
  private final Loss crossEntropy = Loss.softmaxCrossEntropyLoss();

  public VitClassifier(ModelSpec spec) {
    this.spec = spec;
    this.encoder = new VitEncoder(spec, table);
    table.add("head.weight", Init.XAVIER_UNIFORM, true, spec.classes(), spec.dim());
    table.add("head.bias", Init.ZEROS, false, spec.classes());
  }

  @Override
  public ModelSpec spec() {
    return spec;
  }

  @Override
  public ParameterLayout layout() {
    return table.layout();
  }

  @Override
  public float[] initialValues(long seed) {
    return table.initialValues(seed);
  }

  @Override
  public NDArray logits(ModelParameters p, NDArray patches) {
    NDArray cls = encoder.forward(p, patches).get(CLS_TOKEN);
    return Linear.linear(cls, p.get("head.weight"), p.get("head.bias")).singletonOrThrow();
  }

  @Override
  public NDArray loss(NDArray logits, NDArray labels) {
    return crossEntropy.evaluate(new NDList(labels), new NDList(logits));
  }
}
