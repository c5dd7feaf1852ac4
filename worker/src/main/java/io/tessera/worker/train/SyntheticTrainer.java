package io.tessera.worker.train;

import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.TensorSpec;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A stand-in for a real model, with no DJL: a flat vector of {@code model.parameters} values and
 * the loss {@code 0.5 |theta - target|^2} per sample, whose per-sample gradient is {@code theta -
 * target} plus a little noise that depends on the sample. Training converges towards the target,
 * so the numbers the shards apply stay meaningful, while a window costs only one pass over the
 * vector. The worker waits {@code model.compute-micros-per-sample} per sample before pushing, to
 * stand for the compute of a real device. Used to drive the coordinator and the shards with many
 * workers on one machine.
 */
public final class SyntheticTrainer implements MemberTrainer {
  private static final float NOISE = 0.01f;

  private final JobSpec spec;
  private final ParameterLayout layout;
  private final float[] target;
  private final DatasetInfo dataset;

  public SyntheticTrainer(JobSpec spec) {
    this.spec = spec;
    int size = spec.model().parameters();
    this.layout = new ParameterLayout(List.of(new TensorSpec("theta", new int[] {size}, true)));
    this.target = new float[size];
    SplittableRandom random = new SplittableRandom(spec.seed());
    for (int i = 0; i < size; i++) {
      target[i] = (float) random.nextGaussian();
    }
    this.dataset = new DatasetInfo(spec.dataset().trainLimit(), spec.dataset().testLimit(), "synthetic");
  }

  @Override
  public ParameterLayout layout() {
    return layout;
  }

  @Override
  public DatasetInfo dataset() {
    return dataset;
  }

  @Override
  public float[] initialValues(long seed) {
    float[] values = new float[target.length];
    SplittableRandom random = new SplittableRandom(seed);
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) random.nextGaussian();
    }
    return values;
  }

  @Override
  public double trainWindow(float[] parameters, int epoch, int from, int to, float[] gradientSum) {
    int samples = to - from;
    SplittableRandom noise = new SplittableRandom(((long) epoch << 32) ^ from);
    double squares = 0;
    for (int i = 0; i < parameters.length; i++) {
      float difference = parameters[i] - target[i];
      squares += (double) difference * difference;
      gradientSum[i] += samples * difference + NOISE * (float) noise.nextGaussian();
    }
    return 0.5 * squares * samples / parameters.length;
  }

  @Override
  public long simulatedNanos(int samples) {
    return samples * 1_000L * spec.model().computeMicrosPerSample();
  }

  @Override
  public Score evaluate(float[] parameters) {
    double squares = 0;
    for (int i = 0; i < parameters.length; i++) {
      double difference = parameters[i] - target[i];
      squares += difference * difference;
    }
    // No classes to count: a synthetic member reports its loss over zero scored samples.
    return new Score(0, 0, 0.5 * squares / parameters.length, 0, 0);
  }

  @Override
  public void close() {}
}
