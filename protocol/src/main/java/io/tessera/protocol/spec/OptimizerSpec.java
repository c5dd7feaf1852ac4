package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;

import io.tessera.protocol.TesseraSerializable;

/**
 * The optimizer a job's parameter shards apply, and its learning-rate schedule.
 *
 * @param learningRate base rate, reached at the end of warm-up
 * @param weightDecay decoupled (AdamW) or L2 (SGD) decay; never applied to biases, norms or
 *     embeddings marked as such by the model
 * @param beta1 AdamW first-moment decay
 * @param beta2 AdamW second-moment decay
 * @param epsilon AdamW denominator term
 * @param momentum SGD momentum
 * @param nesterov whether SGD uses Nesterov momentum
 * @param warmupSteps optimizer steps of linear warm-up from {@code learningRate / warmupSteps}
 * @param minLearningRate where the cosine schedule ends
 */
public record OptimizerSpec(
    OptimizerKind kind,
    double learningRate,
    double weightDecay,
    double beta1,
    double beta2,
    double epsilon,
    double momentum,
    boolean nesterov,
    LearningRateSchedule schedule,
    int warmupSteps,
    double minLearningRate)
    implements TesseraSerializable {

  public OptimizerSpec {
    require(kind != null, "optimizer.kind", "is required");
    require(schedule != null, "optimizer.schedule", "is required");
    require(
        learningRate > 0 && Double.isFinite(learningRate),
        "optimizer.learning-rate",
        "must be a positive number, was " + learningRate);
    require(
        weightDecay >= 0 && Double.isFinite(weightDecay),
        "optimizer.weight-decay",
        "must be >= 0, was " + weightDecay);
    require(beta1 >= 0 && beta1 < 1, "optimizer.beta1", "must be in [0, 1), was " + beta1);
    require(beta2 >= 0 && beta2 < 1, "optimizer.beta2", "must be in [0, 1), was " + beta2);
    require(epsilon > 0, "optimizer.epsilon", "must be positive, was " + epsilon);
    require(momentum >= 0 && momentum < 1, "optimizer.momentum", "must be in [0, 1), was " + momentum);
    require(warmupSteps >= 0, "optimizer.warmup-steps", "must be >= 0, was " + warmupSteps);
    require(
        minLearningRate >= 0 && minLearningRate <= learningRate,
        "optimizer.min-learning-rate",
        "must be in [0, learning-rate], was " + minLearningRate);
  }

  /** This optimizer with another base learning rate and weight decay (an ensemble member's). */
  public OptimizerSpec withOverrides(double newLearningRate, double newWeightDecay) {
    return new OptimizerSpec(
        kind, newLearningRate, newWeightDecay, beta1, beta2, epsilon, momentum, nesterov, schedule, warmupSteps,
        Math.min(minLearningRate, newLearningRate));
  }

  /** The learning rate for an optimizer step (0-based) of a job planned for totalSteps steps. */
  public double learningRateAt(long step, long totalSteps) {
    return schedule.rateAt(this, step, totalSteps);
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Builds an {@link OptimizerSpec}; defaults are AdamW at 1e-3 with a cosine schedule. */
  public static final class Builder {
    private OptimizerKind kind = OptimizerKind.ADAMW;
    private double learningRate = 1e-3;
    private double weightDecay = 0.05;
    private double beta1 = 0.9;
    private double beta2 = 0.999;
    private double epsilon = 1e-8;
    private double momentum = 0.9;
    private boolean nesterov = false;
    private LearningRateSchedule schedule = LearningRateSchedule.COSINE;
    private int warmupSteps = 0;
    private double minLearningRate = 0.0;

    private Builder() {}

    public Builder optKind(OptimizerKind kind) {
      this.kind = kind;
      return this;
    }

    public Builder optLearningRate(double learningRate) {
      this.learningRate = learningRate;
      return this;
    }

    public Builder optWeightDecay(double weightDecay) {
      this.weightDecay = weightDecay;
      return this;
    }

    public Builder optBeta1(double beta1) {
      this.beta1 = beta1;
      return this;
    }

    public Builder optBeta2(double beta2) {
      this.beta2 = beta2;
      return this;
    }

    public Builder optEpsilon(double epsilon) {
      this.epsilon = epsilon;
      return this;
    }

    public Builder optMomentum(double momentum) {
      this.momentum = momentum;
      return this;
    }

    public Builder optNesterov(boolean nesterov) {
      this.nesterov = nesterov;
      return this;
    }

    public Builder optSchedule(LearningRateSchedule schedule) {
      this.schedule = schedule;
      return this;
    }

    public Builder optWarmupSteps(int warmupSteps) {
      this.warmupSteps = warmupSteps;
      return this;
    }

    public Builder optMinLearningRate(double minLearningRate) {
      this.minLearningRate = minLearningRate;
      return this;
    }

    public OptimizerSpec build() {
      return new OptimizerSpec(
          kind,
          learningRate,
          weightDecay,
          beta1,
          beta2,
          epsilon,
          momentum,
          nesterov,
          schedule,
          warmupSteps,
          minLearningRate);
    }
  }
}
