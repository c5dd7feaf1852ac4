package io.tessera.deploy.reference;

import ai.djl.ndarray.NDManager;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.ps.optimizer.Optimizer;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.data.ImageSet;
import io.tessera.worker.model.TrainableModel;
import io.tessera.worker.train.Batch;
import io.tessera.worker.train.BatchAssembler;
import io.tessera.worker.train.SampleOrder;
import io.tessera.worker.train.TrainingSession;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The yardstick: trains one member of a job in one thread with no actors, no shards and no wire,
 * visiting the same samples in the same order, with the same micro-batches, accumulation windows,
 * optimizer and schedule as a single worker of the cluster would. Tests compare the cluster's
 * results with it and benchmarks compare throughput against it.
 *
 * <p>In {@code async} and {@code ssp} mode a step is taken once a global batch of samples has
 * been accumulated, in windows of {@code global-batch} samples within each lease of {@code
 * split-size} samples, as one worker with {@code k = global / micro} would push them. In {@code
 * sync} mode each step is one global batch of consecutive positions of an epoch's order (the last
 * of an epoch is short), exactly as the cluster's barrier takes it with any number of workers.
 */
public final class ReferenceTrainer {

  /**
   * What a reference run produced.
   *
   * @param stepLosses mean training loss of the samples in each optimizer step, in order
   * @param samplesPerSecond training samples per second of wall time, evaluation excluded
   */
  public record Result(
      double testAccuracy,
      int testSamples,
      long trainedSamples,
      long optimizerSteps,
      double samplesPerSecond,
      List<Double> stepLosses,
      float[] parameters) {}

  private ReferenceTrainer() {}

  /** Samples per lease in {@code async} and {@code ssp} mode: split-size, in whole micro-batches. */
  static int leaseSamples(JobSpec spec) {
    return (spec.splitSize() + spec.microBatch() - 1) / spec.microBatch() * spec.microBatch();
  }

  /** Trains member {@code member} of {@code spec} on {@code data}, reporting per epoch. */
  public static Result train(JobSpec spec, int member, FashionMnist data, Consumer<String> progress) {
    ImageSet train = data.train().limit(spec.dataset().trainLimit());
    ImageSet test = data.test().limit(spec.dataset().testLimit());
    BatchAssembler.checkCompatible(spec.model(), train);
    TrainableModel model = TrainableModel.of(spec.model());
    ParameterLayout layout = model.layout();
    float[] parameters = model.initialValues(spec.members().get(member).seed());
    ShardRange whole = new ShardRange(0, 0, parameters.length);
    Optimizer optimizer = Optimizer.create(spec.optimizerOf(member), parameters.length, layout.segments(whole));
    boolean sync = spec.mode() == TrainingMode.SYNC;
    long samplesApplied = 0;
    long totalSteps = spec.optimizerSteps(train.size());
    BatchAssembler assembler = new BatchAssembler(spec.model());
    int window = spec.globalBatch(); // one worker runs k = global / micro micro-batches per push

    float[] windowGradient = new float[parameters.length];
    float[] pending = new float[parameters.length];
    int pendingSamples = 0;
    double pendingLoss = 0;
    List<Double> stepLosses = new ArrayList<>();
    long trained = 0;
    long start = System.nanoTime();
    try (NDManager manager = NDManager.newBaseManager();
        TrainingSession session = new TrainingSession(model, manager)) {
      session.load(parameters);
      for (int epoch = 0; epoch < spec.epochs(); epoch++) {
        int[] order = SampleOrder.forEpoch(spec.orderSeed(member), epoch, train.size());
        int leaseSize = sync ? spec.globalBatch() : leaseSamples(spec);
        for (int splitFrom = 0; splitFrom < train.size(); splitFrom += leaseSize) {
          int splitTo = Math.min(splitFrom + leaseSize, train.size());
          for (int from = splitFrom; from < splitTo; from += window) {
            int to = Math.min(from + window, splitTo);
            for (int micro = from; micro < to; micro += spec.microBatch()) {
              Batch batch = assembler.assemble(train, order, micro, Math.min(micro + spec.microBatch(), to));
              pendingLoss += session.accumulate(batch);
            }
            java.util.Arrays.fill(windowGradient, 0f);
            session.drainGradients(windowGradient);
            for (int i = 0; i < pending.length; i++) {
              pending[i] += windowGradient[i];
            }
            pendingSamples += to - from;
            trained += to - from;
            if (pendingSamples >= spec.globalBatch() || sync) {
              float scale = 1f / pendingSamples;
              for (int i = 0; i < pending.length; i++) {
                pending[i] *= scale;
              }
              // The shards' schedule position: steps of the global batch applied so far.
              double rate = spec.optimizerOf(member).learningRateAt(samplesApplied / spec.globalBatch(), totalSteps);
              samplesApplied += pendingSamples;
              optimizer.step(parameters, pending, rate);
              session.load(parameters);
              stepLosses.add(pendingLoss / pendingSamples);
              java.util.Arrays.fill(pending, 0f);
              pendingSamples = 0;
              pendingLoss = 0;
            }
          }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        progress.accept(
            String.format(
                "epoch %d/%d: %d samples, %.0f samples/s, loss %.4f",
                epoch + 1, spec.epochs(), trained, trained / seconds,
                stepLosses.isEmpty() ? Double.NaN : stepLosses.get(stepLosses.size() - 1)));
      }
      double trainSeconds = (System.nanoTime() - start) / 1e9;
      int correct = 0;
      for (int from = 0; from < test.size(); from += 256) {
        correct += session.score(assembler.assembleRange(test, from, Math.min(from + 256, test.size()))).correct();
      }
      return new Result(
          test.size() == 0 ? 0 : (double) correct / test.size(),
          test.size(),
          trained,
          optimizer.steps(),
          trained / trainSeconds,
          stepLosses,
          parameters.clone());
    }
  }
}
