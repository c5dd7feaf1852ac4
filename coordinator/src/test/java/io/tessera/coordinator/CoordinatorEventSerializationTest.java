package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRefResolver;
import io.tessera.coordinator.CheckpointRecord.ShardPosition;
import io.tessera.coordinator.CoordinatorEvent.CheckpointAbandoned;
import io.tessera.coordinator.CoordinatorEvent.CheckpointCompleted;
import io.tessera.coordinator.CoordinatorEvent.CheckpointDiscarded;
import io.tessera.coordinator.CoordinatorEvent.CheckpointStarted;
import io.tessera.coordinator.CoordinatorEvent.GlobalBatchChanged;
import io.tessera.coordinator.CoordinatorEvent.JobFailed;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobRecovered;
import io.tessera.coordinator.CoordinatorEvent.JobRewound;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.LeaseReleased;
import io.tessera.coordinator.CoordinatorEvent.MemberEvaluated;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.OperatorCommandRecorded;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.WorkerDraining;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.spec.CheckpointSpec;
import io.tessera.protocol.spec.DatasetSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.LearningRateScaling;
import io.tessera.protocol.spec.MemberSpec;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.testkit.WireRoundTrip;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every coordinator journal event survives the real serializer, as a journal replay or the in-memory
 * journal with {@code test-serialization} would see it; reflection makes sure a new event type
 * cannot go without a sample.
 */
class CoordinatorEventSerializationTest {
  private static ActorTestKit testKit;
  private static TestProbe<WorkerProtocol.Command> worker;
  private static List<CoordinatorEvent> samples;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("CoordinatorEventSerializationTest", WireRoundTrip.clusterTestConfig());
    worker = testKit.createTestProbe("worker-gpu0");
    samples = samples();
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static String workerId() {
    return ActorRefResolver.get(testKit.system()).toSerializationFormat(worker.getRef());
  }

  private static List<CoordinatorEvent> samples() {
    JobSpec single = JobSpec.builder().setName("fmnist-vit").build();
    JobSpec ensemble =
        JobSpec.builder()
            .setName("fmnist-vit-ensemble")
            .optDataset(new DatasetSpec(DatasetSpec.FASHION_MNIST, 6000, 1000))
            .optModel(ModelSpec.builder().optPatchSize(4).optDim(96).optHeads(6).build())
            .optOptimizer(
                OptimizerSpec.builder().optKind(OptimizerKind.SGD).optLearningRate(0.05).optMomentum(0.9).build())
            .optGlobalBatch(512)
            .optMicroBatch(32)
            .optEpochs(3)
            .optSplitSize(2048)
            .optShards(4)
            .optMembers(List.of(new MemberSpec("m0", 11L), new MemberSpec("m1", 12L)))
            .optWirePrecision(WirePrecision.BF16)
            .optSeed(-987_654_321L)
            .optCheckpoint(new CheckpointSpec(60_000, 500))
            .build();
    JobSpec weightedSync =
        JobSpec.builder()
            .setName("fmnist-sync-ensemble")
            .optGlobalBatch(512)
            .optMicroBatch(32)
            .optMode(TrainingMode.SYNC)
            .optBackupWorkers(1)
            .optLearningRateScaling(LearningRateScaling.SQUARE_ROOT)
            .optMembers(List.of(new MemberSpec("m0", 11L, 2.0, 0.01, Double.NaN), new MemberSpec("m1", 12L)))
            .build();
    String id = workerId();
    return List.of(
        new JobSubmitted("job-1", single, 1_726_000_000_123L),
        new JobSubmitted("job-2", ensemble, 1_726_000_042_000L),
        new JobSubmitted("job-4", weightedSync, 1_726_000_043_000L),
        new JobSubmitted(
            "job-5.student",
            io.tessera.protocol.spec.JobSpecParser.parsePipeline(
                    "name = p, dataset { validation = 500 }, stages = [{ name = t, ensemble-size = 3 },"
                        + " { name = student, kind = distill, teacher = t, distill { alpha = 0.2 } }]")
                .stage("student"),
            1_726_000_044_000L),
        new JobInitializationStarted("job-2"),
        new MemberInitialized("job-2", 1, new DatasetInfo(60_000, 10_000, "9f2c41d0"), 210_314, 1_726_000_050_000L),
        new WorkerJoined(id, worker.getRef()),
        new WorkerLeft(id, false),
        new WorkerLeft(id, true),
        new WorkerDraining(id),
        new SplitLeased("job-2", 1, 87, 16, 1_234_567_890_123L, id),
        new CoordinatorEvent.BackupLeased("job-4", 0, 1_234_567_890_123L, 1_234_567_890_124L, id),
        new SplitCompleted("job-2", 1, 87, 16, 1_234_567_890_123L, id, 512, 1_433.875, 1, 9_876_543_210L),
        new SplitCompleted("job-2", 0, 29, 3, 3L, "w-2", 96, Double.NaN, 0, 0L),
        new SplitCompleted("job-2", 0, 40, 0, 5L, id, 0, 0.0, 0, -1L),
        new LeaseReleased("job-2", 0, 12, 44L, "CUDA out of memory while training split 12"),
        new GlobalBatchChanged("job-2", 1024, 2.0),
        new GlobalBatchChanged("job-2", 96, Math.sqrt(96.0 / 512)),
        new MemberEvaluated("job-2", 1, 10_000, 0.8812, Double.NaN, Double.NaN),
        new MemberEvaluated("job-4.finetune", 2, 10_000, 0.8790, 0.3391, 0.8725),
        new MemberEvaluated("job-4.pretrain", 0, 10_000, Double.NaN, 0.4102, Double.NaN),
        new CoordinatorEvent.MemberValidated("job-4.finetune", 2, 3, 0.8731),
        new CoordinatorEvent.MemberStoppedEarly("job-4.finetune", 2, 5, 3, 0.8731),
        new CoordinatorEvent.EnsembleEvaluated("job-4.finetune", new CoordinatorProtocol.EnsembleResult(10_000, 0.8891, 0.8874, 0.8902)),
        new JobFailed("job-3", "initialising member 0 failed 3 times; last error: no data in /data/fmnist"),
        new CheckpointStarted("job-2", 4, 1_726_000_060_000L),
        new CheckpointCompleted(
            "job-2",
            4,
            List.of(
                new ShardPosition(0, 0, 17, 4_096),
                new ShardPosition(0, 1, 15, 4_096),
                new ShardPosition(1, 3, 2, 0)),
            3),
        new CheckpointCompleted("job-2", 5, List.of(), 1),
        new CheckpointAbandoned(
            "job-2", 6, "Ask timed out on [EntityRef(ParameterShard, job-2:m1:s3)] after [120000 ms]"),
        new CheckpointDiscarded("job-2", 4, "snapshot of job-2:m0:s1 at 17 is unreadable: buffer underflow"),
        new JobRewound("job-2", 2, 3, "shard m1/s0 restarted without its numbers"),
        new JobRecovered("job-2", 2),
        new OperatorCommandRecorded(new AuditRecord(12, 1_726_000_070_000L, "checkpoint", "job-2 (checkpoint 6)")),
        new OperatorCommandRecorded(new AuditRecord(13, 1_726_000_071_000L, "submit", "job-3 (ünïcødé ✓)")),
        new CoordinatorEvent.JobCancelled("job-3.finetune", "cancelled by an operator while RUNNING"),
        new CoordinatorEvent.JobPaused("job-3.pretrain"),
        new CoordinatorEvent.JobResumed("job-3.pretrain"),
        new CoordinatorEvent.MemberLearningRateSet("job-3.finetune", 1, 0.25),
        new CoordinatorEvent.JobArchived("job-3.finetune", new CoordinatorEvent.Retention(100, 3, 1000)));
  }

  @TestFactory
  Stream<DynamicTest> everyEventSurvivesTheSerializer() {
    return samples.stream()
        .map(
            sample ->
                dynamicTest(
                    sample.getClass().getSimpleName() + ": " + sample,
                    () -> {
                      CoordinatorEvent copy = WireRoundTrip.roundTrip(testKit.system(), sample);
                      assertEquals(sample, copy);
                      assertNotSame(sample, copy);
                    }));
  }

  @Test
  void aWorkerRefStillReachesItsWorkerAfterTheRoundTrip() {
    WorkerJoined copy = WireRoundTrip.roundTrip(testKit.system(), new WorkerJoined(workerId(), worker.getRef()));

    assertEquals(worker.getRef(), copy.worker());
    assertTrue(copy.workerId().startsWith("akka://CoordinatorEventSerializationTest@127.0.0.1:"), copy.workerId());
    copy.worker().tell(WorkerProtocol.WorkAvailable.INSTANCE);
    worker.expectMessage(WorkerProtocol.WorkAvailable.INSTANCE);
  }

  @Test
  void aSpecSurvivesTheJournalIntact() {
    JobSubmitted submitted = (JobSubmitted) samples.get(1);
    JobSubmitted copy = WireRoundTrip.roundTrip(testKit.system(), submitted);

    assertEquals(16, copy.spec().microBatchesPerStep());
    assertEquals(List.of("m0", "m1"), copy.spec().members().stream().map(MemberSpec::name).toList());
    assertEquals(new CheckpointSpec(60_000, 500), copy.spec().checkpoint());
    assertEquals(submitted.spec(), copy.spec());
  }

  @Test
  void aSyncSpecKeepsItsModeWeightsAndScaling() {
    JobSubmitted submitted = (JobSubmitted) samples.get(2);
    JobSubmitted copy = WireRoundTrip.roundTrip(testKit.system(), submitted);

    assertEquals(TrainingMode.SYNC, copy.spec().mode());
    assertEquals(LearningRateScaling.SQUARE_ROOT, copy.spec().learningRateScaling());
    assertEquals(1, copy.spec().backupWorkers());
    assertEquals(List.of(2.0, 1.0), copy.spec().members().stream().map(MemberSpec::weight).toList());
    assertEquals(submitted.spec(), copy.spec());
  }

  @Test
  void everyEventTypeHasASample() {
    Set<String> declared = new TreeSet<>();
    concreteEvents(CoordinatorEvent.class, declared);
    assertTrue(declared.contains(WorkerJoined.class.getName()), "reflection missed WorkerJoined");

    Set<String> sampled =
        samples.stream().map(e -> e.getClass().getName()).collect(Collectors.toCollection(TreeSet::new));
    declared.removeAll(sampled);

    assertEquals(Set.of(), declared, "coordinator events without a round-trip sample");
  }

  /** The records that implement {@code type}, through any sealed interfaces between. */
  private static void concreteEvents(Class<?> type, Set<String> into) {
    for (Class<?> permitted : type.getPermittedSubclasses()) {
      if (permitted.isInterface() && permitted.isSealed()) {
        concreteEvents(permitted, into);
      } else {
        into.add(permitted.getName());
      }
    }
  }
}
