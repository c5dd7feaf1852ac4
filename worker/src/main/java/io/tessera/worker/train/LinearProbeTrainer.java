package io.tessera.worker.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.training.loss.Loss;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.worker.data.ImageSet;
import io.tessera.worker.data.StageData;
import io.tessera.worker.model.Init;
import io.tessera.worker.model.ModelParameters;
import io.tessera.worker.model.ParameterTable;
import io.tessera.worker.model.Scalars;
import io.tessera.worker.model.VitEncoder;
import io.tessera.worker.model.WeightTransfer;
import java.util.ArrayList;
import java.util.List;

/**
 * A linear probe ({@code linear-probe}): a linear head on the features of an earlier stage's
 * encoder, which stays frozen. Only the head is the member's parameters (what the shards hold and
 * the optimizer moves); the encoder is read once from the source stage's final parameters.
 *
 * <p>The features are the encoder's patch tokens averaged, then standardised per feature with
 * statistics fixed from the first training images (a batch norm without affine parameters, as MAE
 * probes do): an MAE's loss never reads its cls token, and unnormalised features leave a linear
 * head badly conditioned. Every worker computes the same statistics from the same images.
 */
public final class LinearProbeTrainer implements MemberTrainer, Classifies {
  private static final int EVALUATION_BATCH = 256;
  /** Training images the feature statistics are computed from. */
  static final int STATISTICS_SAMPLES = 1024;
  private static final float STD_EPSILON = 1e-5f;

  private final JobSpec spec;
  private final StageData data;
  private final NDManager manager;
  private final VitEncoder encoder;
  private final ModelParameters frozen;
  private final ParameterTable head = new ParameterTable();
  private final ModelParameters trained;
  private final BatchAssembler assembler;
  private final Shape patchShape;
  private final Loss crossEntropy = Loss.softmaxCrossEntropyLoss();
  private final NDArray featureMean;
  private final NDArray featureScale;
  private int orderEpoch = -1;
  private int[] order;

  /**
   * @param source the spec of the stage whose encoder is probed
   * @param sourceLayout and {@code sourceValues}: that stage's final parameters
   */
  public LinearProbeTrainer(
      JobSpec spec, StageData data, NDManager parent, JobSpec source, ParameterLayout sourceLayout, float[] sourceValues) {
    this.spec = spec;
    this.data = data;
    ModelSpec encoderSpec = source.model();
    BatchAssembler.checkCompatible(encoderSpec, data.train());
    this.manager = parent.newSubManager();
    ParameterTable encoderTable = new ParameterTable();
    this.encoder = new VitEncoder(encoderSpec, encoderTable);
    float[] encoderValues = new float[encoderTable.layout().totalSize()];
    WeightTransfer.carryOver(
        sourceLayout, sourceValues, encoderTable.layout(), encoderValues, List.of("encoder."),
        "linear probe '" + spec.stage().name() + "' of stage '" + spec.stage().from() + "'");
    this.frozen = new ModelParameters(encoderTable.layout(), manager);
    frozen.load(encoderValues);
    head.add("head.weight", Init.XAVIER_UNIFORM, true, spec.model().classes(), encoderSpec.dim());
    head.add("head.bias", Init.ZEROS, false, spec.model().classes());
    this.trained = new ModelParameters(head.layout(), manager);
    this.assembler = new BatchAssembler(encoderSpec);
    this.patchShape = new Shape(encoderSpec.patchCount(), encoderSpec.patchValues());
    float[][] statistics = featureStatistics(encoderSpec.dim());
    this.featureMean = manager.create(statistics[0]);
    this.featureScale = manager.create(statistics[1]);
  }

  /** Per-feature mean and inverse standard deviation of the pooled features of the first images. */
  private float[][] featureStatistics(int dim) {
    int n = Math.min(STATISTICS_SAMPLES, data.train().size());
    double[] sum = new double[dim];
    double[] squares = new double[dim];
    for (int from = 0; from < n; from += EVALUATION_BATCH) {
      Batch batch = assembler.assembleRange(data.train(), from, Math.min(from + EVALUATION_BATCH, n));
      float[] pooled;
      try (NDScope scope = new NDScope()) {
        pooled = pooled(batch).toFloatArray();
      }
      for (int i = 0; i < pooled.length; i++) {
        sum[i % dim] += pooled[i];
        squares[i % dim] += (double) pooled[i] * pooled[i];
      }
    }
    float[] mean = new float[dim];
    float[] scale = new float[dim];
    for (int d = 0; d < dim; d++) {
      double m = sum[d] / n;
      mean[d] = (float) m;
      scale[d] = (float) (1 / Math.sqrt(Math.max(0, squares[d] / n - m * m) + STD_EPSILON));
    }
    return new float[][] {mean, scale};
  }

  @Override
  public ParameterLayout layout() {
    return head.layout();
  }

  @Override
  public DatasetInfo dataset() {
    return data.info();
  }

  @Override
  public StageData data() {
    return data;
  }

  @Override
  public float[] initialValues(long seed) {
    return head.initialValues(seed);
  }

  @Override
  public double trainWindow(float[] parameters, int epoch, int from, int to, float[] gradientSum) {
    trained.load(parameters);
    int[] samples = order(epoch);
    double loss = 0;
    for (int micro = from; micro < to; micro += spec.microBatch()) {
      Batch batch = assembler.assemble(data.train(), samples, micro, Math.min(micro + spec.microBatch(), to));
      try (NDScope scope = new NDScope()) {
        NDArray features = features(batch);
        Autograd.record(true);
        NDArray mean = crossEntropy.evaluate(new NDList(manager.create(batch.labels())), new NDList(logits(features)));
        NDArray summed = mean.mul(Scalars.of(mean, batch.size()));
        Autograd.backward(summed);
        loss += summed.getFloat();
      } finally {
        Autograd.record(false);
      }
    }
    try (NDScope scope = new NDScope()) {
      trained.drainGradientsInto(gradientSum);
    }
    return loss;
  }

  /** The frozen encoder's patch tokens, averaged; computed without gradients. */
  private NDArray pooled(Batch batch) {
    Autograd.record(false);
    NDArray patches = manager.create(batch.patches(), new Shape(batch.size()).addAll(patchShape));
    return encoder.forward(frozen, patches).get(":, 1:, :").mean(new int[] {1});
  }

  /** The standardised features the head reads. */
  private NDArray features(Batch batch) {
    return pooled(batch).sub(featureMean).mul(featureScale);
  }

  private NDArray logits(NDArray features) {
    return Linear.linear(features, trained.get("head.weight"), trained.get("head.bias")).singletonOrThrow();
  }

  @Override
  public Score evaluate(float[] parameters) {
    trained.load(parameters);
    return new Score(data.test().size(), correct(data.test()), Double.NaN, data.validation().size(), correct(data.validation()));
  }

  @Override
  public Score validate(float[] parameters) {
    trained.load(parameters);
    return new Score(0, 0, Double.NaN, data.validation().size(), correct(data.validation()));
  }

  /** Correct answers over a set. */
  private int correct(ImageSet images) {
    float[] probabilities = scores(images);
    int classes = spec.model().classes();
    int correct = 0;
    for (int i = 0; i < images.size(); i++) {
      int best = 0;
      for (int c = 1; c < classes; c++) {
        if (probabilities[i * classes + c] > probabilities[i * classes + best]) {
          best = c;
        }
      }
      correct += best == images.label(i) ? 1 : 0;
    }
    return correct;
  }

  @Override
  public float[] probabilities(float[] parameters, ImageSet images) {
    trained.load(parameters);
    return scores(images);
  }

  private float[] scores(ImageSet images) {
    List<float[]> parts = new ArrayList<>();
    int total = 0;
    for (int from = 0; from < images.size(); from += EVALUATION_BATCH) {
      Batch batch = assembler.assembleRange(images, from, Math.min(from + EVALUATION_BATCH, images.size()));
      try (NDScope scope = new NDScope()) {
        float[] part = logits(features(batch)).softmax(1).toFloatArray();
        parts.add(part);
        total += part.length;
      }
    }
    float[] all = new float[total];
    int offset = 0;
    for (float[] part : parts) {
      System.arraycopy(part, 0, all, offset, part.length);
      offset += part.length;
    }
    return all;
  }

  private int[] order(int epoch) {
    if (epoch != orderEpoch) {
      order = SampleOrder.forEpoch(spec.seed(), epoch, data.train().size());
      orderEpoch = epoch;
    }
    return order;
  }

  @Override
  public void close() {
    frozen.close();
    trained.close();
    manager.close();
  }
}
