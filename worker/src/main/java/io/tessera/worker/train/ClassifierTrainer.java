package io.tessera.worker.train;

import ai.djl.ndarray.NDManager;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.data.ImageSet;
import io.tessera.worker.model.TrainableModel;

/** Trains and evaluates a ViT classifier on Fashion-MNIST with DJL. */
public final class ClassifierTrainer implements MemberTrainer {
  private static final int EVALUATION_BATCH = 256;

  private final JobSpec spec;
  private final TrainableModel model;
  private final TrainingSession session;
  private final BatchAssembler assembler;
  private final ImageSet train;
  private final ImageSet test;
  private final DatasetInfo dataset;
  private int orderEpoch = -1;
  private int[] order;

  public ClassifierTrainer(JobSpec spec, FashionMnist data, NDManager manager) {
    this.spec = spec;
    this.train = data.train().limit(spec.dataset().trainLimit());
    this.test = data.test().limit(spec.dataset().testLimit());
    BatchAssembler.checkCompatible(spec.model(), train);
    this.model = TrainableModel.of(spec.model());
    this.assembler = new BatchAssembler(spec.model());
    this.session = new TrainingSession(model, manager);
    this.dataset = new DatasetInfo(train.size(), test.size(), data.fingerprint());
  }

  @Override
  public ParameterLayout layout() {
    return model.layout();
  }

  @Override
  public DatasetInfo dataset() {
    return dataset;
  }

  @Override
  public float[] initialValues(long seed) {
    return model.initialValues(seed);
  }

  @Override
  public double trainWindow(float[] parameters, int epoch, int from, int to, float[] gradientSum) {
    session.load(parameters);
    int[] samples = order(epoch);
    double loss = 0;
    for (int micro = from; micro < to; micro += spec.microBatch()) {
      loss += session.accumulate(assembler.assemble(train, samples, micro, Math.min(micro + spec.microBatch(), to)));
    }
    session.drainGradients(gradientSum);
    return loss;
  }

  @Override
  public Score evaluate(float[] parameters) {
    session.load(parameters);
    int correct = 0;
    double loss = 0;
    for (int from = 0; from < test.size(); from += EVALUATION_BATCH) {
      TrainingSession.BatchScore score =
          session.score(assembler.assembleRange(test, from, Math.min(from + EVALUATION_BATCH, test.size())));
      correct += score.correct();
      loss += score.summedLoss();
    }
    return new Score(test.size(), correct, loss);
  }

  /** The sample order of {@code epoch}, computed once per epoch. */
  private int[] order(int epoch) {
    if (epoch != orderEpoch) {
      order = SampleOrder.forEpoch(spec.seed(), epoch, train.size());
      orderEpoch = epoch;
    }
    return order;
  }

  @Override
  public void close() {
    session.close();
  }
}
