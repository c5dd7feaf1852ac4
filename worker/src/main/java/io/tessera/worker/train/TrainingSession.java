package io.tessera.worker.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.tessera.protocol.spec.ComputePrecision;
import io.tessera.protocol.spec.DistillSpec;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.worker.model.ModelParameters;
import io.tessera.worker.model.Scalars;
import io.tessera.worker.model.TrainableModel;

/**
 * One classifier's arrays on one worker thread: loads pulled parameters, runs micro-batches
 * forward and backward while gradients accumulate (delayed updates), hands the accumulated
 * gradient sum over, and scores batches for evaluation. Optionally computes in reduced precision
 * (fp16, with dynamic loss scaling) while the parameters and gradients stay fp32, and
 * optionally learns from a teacher's softened probabilities (distillation). Not thread-safe: it
 * belongs to the thread that created it.
 */
public final class TrainingSession implements AutoCloseable {
  private final TrainableModel model;
  private final NDManager manager;
  private final ModelParameters parameters;
  private final Shape patchShape;
  private final DataType computeType;
  private final LossScaler scaler;

  public TrainingSession(TrainableModel model, NDManager parent) {
    this(model, parent, ComputePrecision.FP32);
  }

  public TrainingSession(TrainableModel model, NDManager parent, ComputePrecision precision) {
    this(model, parent, precision, precision == ComputePrecision.FP16 ? LossScaler.standard() : null);
  }

  /** With the loss scaler an fp16 session uses (tests inject overflows through its scale). */
  TrainingSession(TrainableModel model, NDManager parent, ComputePrecision precision, LossScaler scaler) {
    this.model = model;
    this.manager = parent.newSubManager();
    this.parameters = new ModelParameters(model.layout(), manager);
    ModelSpec spec = model.spec();
    this.patchShape = new Shape(spec.patchCount(), spec.patchValues());
    this.computeType =
        switch (precision) {
          case FP32 -> DataType.FLOAT32;
          case FP16 -> DataType.FLOAT16;
        };
    parameters.computeIn(computeType);
    this.scaler = precision == ComputePrecision.FP16 ? scaler : null;
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

  /** The fp16 loss scaler, or null when not computing in fp16. */
  LossScaler scaler() {
    return scaler;
  }

  /**
   * Forward and backward over one micro-batch. The gradient of the batch's summed loss is added to
   * what earlier micro-batches left, so after {@code k} calls the parameters hold the sum of
   * per-sample gradients over all {@code k} batches.
   *
   * @return the batch's summed loss
   */
  public double accumulate(Batch batch) {
    return accumulate(batch, null, null);
  }

  /**
   * The same with a teacher: {@code teacher} holds the teacher's softened probabilities {@code
   * (batch, classes)} row-major, and the loss is {@code alpha * CE(labels) + (1 - alpha) * T^2 *
   * KL(teacher || softmax(logits / T))}.
   */
  public double accumulate(Batch batch, float[] teacher, DistillSpec distill) {
    try (NDScope scope = new NDScope()) {
      parameters.beginPass();
      Autograd.record(true);
      // The loss (and its scaling) in fp32, whatever the passes compute in.
      NDArray logits = Scalars.float32(logits(batch));
      NDArray labels = manager.create(batch.labels());
      NDArray summedLoss;
      if (teacher == null) {
        NDArray meanLoss = model.loss(logits, labels);
        summedLoss = meanLoss.mul(Scalars.of(meanLoss, batch.size()));
      } else {
        NDArray soft = manager.create(teacher, logits.getShape());
        summedLoss = Distillation.summedLoss(model.loss(logits, labels), logits, soft, distill, batch.size());
      }
      if (scaler != null) {
        summedLoss = summedLoss.mul(Scalars.of(summedLoss, scaler.scale()));
      }
      Autograd.backward(summedLoss);
      parameters.endPass();
      return scaler == null ? summedLoss.getFloat() : summedLoss.getFloat() / (double) scaler.scale();
    } finally {
      Autograd.record(false);
    }
  }

  /**
   * Adds the accumulated gradient sum to {@code target} and clears it for the next window. In fp16
   * the sum is unscaled; a window whose gradients overflowed contributes nothing (its samples still
   * count, so a sync step is not left waiting) and the loss scale is halved.
   *
   * @return whether the window's gradients were used
   */
  public boolean drainGradients(float[] target) {
    try (NDScope scope = new NDScope()) {
      if (scaler == null) {
        parameters.drainGradientsInto(target);
        return true;
      }
      float[] window = new float[target.length];
      parameters.drainGradientsInto(window);
      boolean overflow = LossScaler.overflowed(window);
      if (!overflow) {
        scaler.unscale(window);
        for (int i = 0; i < target.length; i++) {
          target[i] += window[i];
        }
      }
      return scaler.update(overflow);
    }
  }

  /** Scores one batch without recording gradients. */
  public BatchScore score(Batch batch) {
    try (NDScope scope = new NDScope()) {
      parameters.beginPass();
      Autograd.record(false);
      NDArray logits = logits(batch).toType(DataType.FLOAT32, false);
      NDArray labels = manager.create(batch.labels());
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

  /** Softened probabilities {@code softmax(logits / temperature)} of one batch, no gradients. */
  public float[] softened(Batch batch, double temperature) {
    try (NDScope scope = new NDScope()) {
      parameters.beginPass();
      Autograd.record(false);
      NDArray logits = logits(batch).toType(DataType.FLOAT32, false);
      return logits.div(Scalars.of(logits, (float) temperature)).softmax(1).toFloatArray();
    }
  }

  private NDArray logits(Batch batch) {
    NDArray patches =
        manager.create(batch.patches(), new Shape(batch.size()).addAll(patchShape)).toType(computeType, false);
    return model.logits(parameters, patches);
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
