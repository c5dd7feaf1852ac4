package io.tessera.worker.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.worker.data.ImageSet;
import io.tessera.worker.data.StageData;
import io.tessera.worker.model.MaeModel;
import io.tessera.worker.model.ModelParameters;
import io.tessera.worker.model.PatchMasking;

/**
 * Trains a masked autoencoder ({@code mae-pretrain}): every sample of a micro-batch hides its own
 * random {@code mask-ratio} of patches, drawn from the job's seed, the epoch and the sample's
 * position, so a retried or re-leased window computes exactly the same thing. Evaluation reports
 * the masked-patch error on the test set (a fixed mask per test image).
 */
public final class MaeTrainer implements MemberTrainer {
  /** The test set's masks are drawn as if from an epoch no training run reaches. */
  static final int TEST_EPOCH = -1;
  private static final int EVALUATION_BATCH = 256;

  private final JobSpec spec;
  private final MaeModel model;
  private final NDManager manager;
  private final ModelParameters parameters;
  private final BatchAssembler assembler;
  private final StageData data;
  private final Shape patchShape;
  private int orderEpoch = -1;
  private int[] order;

  public MaeTrainer(JobSpec spec, StageData data, NDManager parent) {
    this.spec = spec;
    this.data = data;
    BatchAssembler.checkCompatible(spec.model(), data.train());
    this.model = new MaeModel(spec.model(), spec.stage().mae());
    this.manager = parent.newSubManager();
    this.parameters = new ModelParameters(model.layout(), manager);
    this.assembler = new BatchAssembler(spec.model());
    this.patchShape = new Shape(spec.model().patchCount(), spec.model().patchValues());
  }

  @Override
  public ParameterLayout layout() {
    return model.layout();
  }

  @Override
  public DatasetInfo dataset() {
    return data.info();
  }

  @Override
  public float[] initialValues(long seed) {
    return model.initialValues(seed);
  }

  @Override
  public double trainWindow(float[] values, int epoch, int from, int to, float[] gradientSum) {
    parameters.load(values);
    int[] samples = order(epoch);
    double loss = 0;
    for (int micro = from; micro < to; micro += spec.microBatch()) {
      int end = Math.min(micro + spec.microBatch(), to);
      loss += accumulate(assembler.assemble(data.train(), samples, micro, end), epoch, positions(micro, end));
    }
    try (NDScope scope = new NDScope()) {
      parameters.drainGradientsInto(gradientSum);
    }
    return loss;
  }

  private double accumulate(Batch batch, int epoch, int[] positions) {
    try (NDScope scope = new NDScope()) {
      Autograd.record(true);
      NDArray summed = loss(batch, epoch, positions);
      Autograd.backward(summed);
      return summed.getFloat();
    } finally {
      Autograd.record(false);
    }
  }

  /** The batch's summed masked-patch loss under the masks of {@code positions} in {@code epoch}. */
  private NDArray loss(Batch batch, int epoch, int[] positions) {
    PatchMasking.Mask mask =
        PatchMasking.draw(spec.seed(), epoch, positions, spec.model().patchCount(), spec.stage().mae().maskRatio());
    NDArray patches = manager.create(batch.patches(), new Shape(batch.size()).addAll(patchShape));
    NDArray[] indices = MaeModel.indices(manager, mask);
    NDArray predicted = model.predict(parameters, patches, indices[0], indices[1]);
    return model.summedLoss(predicted, model.target(patches), indices[2], mask.patches() - mask.keep());
  }

  @Override
  public Score evaluate(float[] values) {
    parameters.load(values);
    double loss = 0;
    ImageSet test = data.test();
    for (int from = 0; from < test.size(); from += EVALUATION_BATCH) {
      int to = Math.min(from + EVALUATION_BATCH, test.size());
      try (NDScope scope = new NDScope()) {
        Autograd.record(false);
        loss += loss(assembler.assembleRange(test, from, to), TEST_EPOCH, positions(from, to)).getFloat();
      }
    }
    return new Score(test.size(), 0, loss, 0, 0);
  }

  /**
   * Originals, masked inputs and reconstructions of the first {@code count} test images, as
   * pixel rows of {@code imageSize * imageSize} floats in [0, 1] (hidden patches of the masked
   * input are -1, outside that range; reconstructed patches are de-normalised with each original
   * patch's statistics, visible patches are shown as they were, as in the MAE paper's figures).
   */
  public float[][][] reconstructions(float[] values, int count) {
    parameters.load(values);
    ImageSet test = data.test();
    int n = Math.min(count, test.size());
    Batch batch = assembler.assembleRange(test, 0, n);
    PatchMasking.Mask mask =
        PatchMasking.draw(spec.seed(), TEST_EPOCH, positions(0, n), spec.model().patchCount(), spec.stage().mae().maskRatio());
    float[] predicted;
    try (NDScope scope = new NDScope()) {
      Autograd.record(false);
      NDArray patches = manager.create(batch.patches(), new Shape(n).addAll(patchShape));
      NDArray[] indices = MaeModel.indices(manager, mask);
      predicted = model.predict(parameters, patches, indices[0], indices[1]).toFloatArray();
    }
    return PatchImages.triptych(spec.model(), batch.patches(), predicted, mask, spec.stage().mae().normPixelLoss());
  }

  private static int[] positions(int from, int to) {
    int[] positions = new int[to - from];
    for (int i = 0; i < positions.length; i++) {
      positions[i] = from + i;
    }
    return positions;
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
    parameters.close();
    manager.close();
  }
}
