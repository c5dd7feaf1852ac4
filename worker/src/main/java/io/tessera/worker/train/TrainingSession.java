package io.tessera.worker.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.worker.model.ModelParameters;
import io.tessera.worker.model.Scalars;
import io.tessera.worker.model.TrainableModel;

/**
 * One model's arrays on one worker thread: loads pulled parameters, runs micro-batches forward and
 * backward while gradients accumulate (delayed updates), hands the accumulated gradient sum over,
 * and scores batches for evaluation. Not thread-safe: it belongs to the thread that created it.
 */
public final class TrainingSession implements AutoCloseable {
  private final TrainableModel model;
  private final NDManager manager;
  private final ModelParameters parameters;
  private final Shape patchShape;

  public TrainingSession(TrainableModel model, NDManager parent) {
    this.model = model;
    this.manager = parent.newSubManager();
    this.parameters = new ModelParameters(model.layout(), manager);
    ModelSpec spec = model.spec();
    this.patchShape = new Shape(spec.patchCount(), spec.patchValues());
  }

  public TrainableModel model() {
    return model;
  }

  public int parameterCount() {
    return parameters.totalSize();
  }

  /** Replaces the parameters with {@code flat} (layout order). */
  public void load(float[] flat) {
    parameters.load(flat);
  }

  /** The current parameters, flat. */
  public float[] parameters() {
    return parameters.toFlat();
  }

  /**
   * Forward and backward over one micro-batch. The gradient of the batch's summed loss is added to
   * what earlier micro-batches left, so after {@code k} calls the parameters hold the sum of
   * per-sample gradients over all {@code k} batches.
   *
   * @return the batch's summed loss
   */
  public double accumulate(Batch batch) {
    try (NDScope scope = new NDScope()) {
      Autograd.record(true);
      NDArray patches = manager.create(batch.patches(), new Shape(batch.size()).addAll(patchShape));
      NDArray labels = manager.create(batch.labels());
      NDArray meanLoss = model.loss(model.logits(parameters, patches), labels);
      NDArray summedLoss = meanLoss.mul(Scalars.of(meanLoss, batch.size()));
      Autograd.backward(summedLoss);
      return summedLoss.getFloat();
    } finally {
      Autograd.record(false);
    }
  }

  /** Adds the accumulated gradient sum to {@code target} and clears it for the next window. */
  public void drainGradients(float[] target) {
    try (NDScope scope = new NDScope()) {
      parameters.drainGradientsInto(target);
    }
  }

  /** Scores one batch without recording gradients. */
  public BatchScore score(Batch batch) {
    try (NDScope scope = new NDScope()) {
      Autograd.record(false);
      NDArray patches = manager.create(batch.patches(), new Shape(batch.size()).addAll(patchShape));
      NDArray labels = manager.create(batch.labels());
      NDArray logits = model.logits(parameters, patches);
      double summedLoss = model.loss(logits, labels).getFloat() * (double) batch.size();
      long[] predicted = logits.argMax(1).toLongArray();
      int correct = 0;
      for (int i = 0; i < batch.size(); i++) {
        if (predicted[i] == batch.labels()[i]) {
          correct++;
        }
      }
      return new BatchScore(batch.size(), correct, summedLoss, logits.softmax(1).toFloatArray());
    }
  }

  /**
   * What scoring one batch found.
   *
   * @param probabilities class probabilities, {@code (samples, classes)} row-major
   */
  public record BatchScore(int samples, int correct, double summedLoss, float[] probabilities) {}

  @Override
  public void close() {
    parameters.close();
    manager.close();
  }
}
