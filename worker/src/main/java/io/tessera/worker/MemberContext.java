package io.tessera.worker;

import ai.djl.ndarray.NDManager;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.ModelKind;
import io.tessera.worker.train.ClassifierTrainer;
import io.tessera.worker.train.MemberTrainer;
import io.tessera.worker.train.SyntheticTrainer;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * What a worker keeps for one member of one job: the trainer for its model and data, and the
 * shards to talk to. Owned by one worker actor and closed with it.
 */
final class MemberContext implements AutoCloseable {
  final String jobId;
  final int member;
  final JobSpec spec;
  final MemberTrainer trainer;
  final ShardClient shards;

  /**
   * @param manager the worker's DJL manager, created on first use (a synthetic member needs none)
   */
  MemberContext(
      String jobId,
      int member,
      JobSpec spec,
      DataCatalog data,
      Supplier<NDManager> manager,
      ClusterSharding sharding,
      Duration shardTimeout) {
    if (member < 0 || member >= spec.members().size()) {
      throw new IllegalArgumentException("job " + jobId + " has no member " + member);
    }
    this.jobId = jobId;
    this.member = member;
    this.spec = spec;
    this.trainer =
        spec.model().kind() == ModelKind.SYNTHETIC
            ? new SyntheticTrainer(spec)
            : new ClassifierTrainer(spec, data.fashionMnist(), manager.get());
    this.shards = new ShardClient(sharding, jobId, member, trainer.layout(), spec.shards(), shardTimeout);
  }

  @Override
  public void close() {
    trainer.close();
  }
}
