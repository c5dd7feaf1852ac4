package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;

import io.tessera.protocol.TesseraSerializable;

/**
 * One model trained by a job. A job has one member unless it trains an ensemble; each member has
 * its own parameter shards, its own initialisation seed and, optionally, its own share of the
 * worker pool and hyper-parameters.
 *
 * @param name unique within the job, used in shard ids and reports
 * @param seed seeds the member's initial parameters
 * @param weight the member's share of the worker pool relative to the other members (fair share:
 *     all 1)
 * @param learningRate overrides the job's {@code optimizer.learning-rate}; NaN keeps it
 * @param weightDecay overrides the job's {@code optimizer.weight-decay}; NaN keeps it
 */
public record MemberSpec(String name, long seed, double weight, double learningRate, double weightDecay)
    implements TesseraSerializable {
  public MemberSpec {
    require(
        name != null && name.matches("[A-Za-z0-9_-]{1,32}"),
        "members[].name",
        "must be 1-32 letters, digits, '_' or '-', was '" + name + "'");
    require(weight > 0 && weight <= 1000, "members[].weight", "must be in (0, 1000], was " + weight);
    require(
        Double.isNaN(learningRate) || (learningRate > 0 && Double.isFinite(learningRate)),
        "members[].learning-rate",
        "must be positive, was " + learningRate);
    require(
        Double.isNaN(weightDecay) || (weightDecay >= 0 && Double.isFinite(weightDecay)),
        "members[].weight-decay",
        "must be >= 0, was " + weightDecay);
  }

  /** A member with the job's hyper-parameters and an equal share of the workers. */
  public MemberSpec(String name, long seed) {
    this(name, seed, 1.0, Double.NaN, Double.NaN);
  }

  /** The job's optimizer with this member's overrides applied. */
  public OptimizerSpec optimizer(OptimizerSpec job) {
    if (Double.isNaN(learningRate) && Double.isNaN(weightDecay)) {
      return job;
    }
    return job.withOverrides(
        Double.isNaN(learningRate) ? job.learningRate() : learningRate,
        Double.isNaN(weightDecay) ? job.weightDecay() : weightDecay);
  }
}
