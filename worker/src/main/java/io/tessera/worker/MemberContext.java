package io.tessera.worker;

import ai.djl.ndarray.NDManager;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.worker.WorkerProtocol.SourceModel;
import io.tessera.protocol.worker.WorkerProtocol.StageInputs;
import io.tessera.worker.data.StageData;
import io.tessera.worker.train.MemberTrainer;
import io.tessera.worker.train.StageTrainers;
import java.time.Duration;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * What a worker keeps for one member of one job: the trainer for its stage, model and data, what
 * it reads from earlier stages, and the shards to talk to. Owned by one worker actor and closed
 * with it.
 */
final class MemberContext implements AutoCloseable {
  final String jobId;
  final int member;
  final JobSpec spec;
  final StageInputs inputs;
  final MemberTrainer trainer;
  final ShardClient shards;
  private final Function<SourceModel, float[]> read;

  /**
   * @param manager the worker's DJL manager, created on first use (a synthetic member needs none)
   * @param faults the node's fault injection for the member's shard messages (off but in chaos tests)
   * @param read the final parameters of an earlier stage's member, read from its shards (blocking)
   * @throws IllegalArgumentException if the member cannot be trained here: no such member, or an
   *     input the stage needs is missing
   */
  MemberContext(
      String jobId,
      int member,
      JobSpec spec,
      StageInputs inputs,
      DataCatalog data,
      Supplier<NDManager> manager,
      ClusterSharding sharding,
      Duration shardTimeout,
      MessageFaults faults,
      Function<SourceModel, float[]> read) {
    if (member < 0 || member >= spec.members().size()) {
      throw new IllegalArgumentException("job " + jobId + " has no member " + member);
    }
    this.jobId = jobId;
    this.member = member;
    this.spec = spec;
    this.inputs = inputs;
    this.read = read;
    this.trainer =
        StageTrainers.create(
            spec, member, () -> StageData.of(data.fashionMnist(), spec.dataset()), manager, inputs, read);
    this.shards = new ShardClient(sharding, jobId, member, trainer.layout(), spec.shards(), shardTimeout, faults);
  }

  /** The member's starting values: from its seed, with an earlier stage's encoder where it has one. */
  float[] initialValues() {
    return StageTrainers.initialValues(spec, trainer, spec.members().get(member).seed(), inputs, read);
  }

  @Override
  public void close() {
    trainer.close();
  }
}
