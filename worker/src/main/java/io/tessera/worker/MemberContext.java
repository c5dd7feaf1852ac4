package io.tessera.worker;

import ai.djl.ndarray.NDManager;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.data.ImageSet;
import io.tessera.worker.model.TrainableModel;
import io.tessera.worker.train.BatchAssembler;
import io.tessera.worker.train.SampleOrder;
import io.tessera.worker.train.TrainingSession;
import java.time.Duration;

/**
 * What a worker keeps for one member of one job: its model's arrays, the shards to talk to, the
 * data and the current epoch's sample order. Owned by one worker actor and closed with it.
 */
final class MemberContext implements AutoCloseable {
  final String jobId;
  final int member;
  final JobSpec spec;
  final TrainableModel model;
  final TrainingSession session;
  final ShardClient shards;
  final BatchAssembler assembler;
  final ImageSet train;
  final ImageSet test;
  private int orderEpoch = -1;
  private int[] order;

  MemberContext(
      String jobId,
      int member,
      JobSpec spec,
      DataCatalog data,
      NDManager manager,
      ClusterSharding sharding,
      Duration shardTimeout) {
    if (member < 0 || member >= spec.members().size()) {
      throw new IllegalArgumentException("job " + jobId + " has no member " + member);
    }
    FashionMnist fashionMnist = data.fashionMnist();
    this.jobId = jobId;
    this.member = member;
    this.spec = spec;
    this.train = fashionMnist.train().limit(spec.dataset().trainLimit());
    this.test = fashionMnist.test().limit(spec.dataset().testLimit());
    BatchAssembler.checkCompatible(spec.model(), train);
    this.model = TrainableModel.of(spec.model());
    this.assembler = new BatchAssembler(spec.model());
    this.shards = new ShardClient(sharding, jobId, member, model.layout(), spec.shards(), shardTimeout);
    this.session = new TrainingSession(model, manager);
  }

  /** The sample order of {@code epoch}, computed once per epoch. */
  int[] order(int epoch) {
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
