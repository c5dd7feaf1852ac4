package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.FishingOutcomes;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.receptionist.Receptionist;
import akka.cluster.MemberStatus;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.Entity;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import akka.pattern.StatusReply;
import com.typesafe.config.ConfigFactory;
import io.tessera.protocol.coordinator.AdminProtocol.DrainWorkers;
import io.tessera.protocol.coordinator.AdminProtocol.GetAccumulationHistory;
import io.tessera.protocol.coordinator.AdminProtocol.GetAuditLog;
import io.tessera.protocol.coordinator.AdminProtocol.GetJobStatus;
import io.tessera.protocol.coordinator.AdminProtocol.GetTrainingCurve;
import io.tessera.protocol.coordinator.AdminProtocol.ListWorkers;
import io.tessera.protocol.coordinator.AdminProtocol.RequestCheckpoint;
import io.tessera.protocol.coordinator.AdminProtocol.SetGlobalBatch;
import io.tessera.protocol.coordinator.AdminProtocol.SubmitJob;
import io.tessera.protocol.coordinator.AdminProtocol.SubmitPipeline;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditLog;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.CheckpointRequested;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.CompleteSplit;
import io.tessera.protocol.coordinator.CoordinatorProtocol.DrainStarted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.GlobalBatchSet;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobAccepted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseGranted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLeaseReason;
import io.tessera.protocol.coordinator.CoordinatorProtocol.PipelineAccepted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.RequestLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ResolveShardRecovery;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.SplitReport;
import io.tessera.protocol.coordinator.CoordinatorProtocol.TrainingCurve;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerInfo;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerList;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.CheckpointSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.protocol.worker.WorkerProtocol.InitializeModel;
import io.tessera.protocol.worker.WorkerProtocol.ModelInitialized;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.testkit.WireRoundTrip;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * The world of a coordinator test: a one-node cluster whose fake workers are test probes registered
 * with the Receptionist, whose parameter shards are {@link TestingShard}s behind real Cluster
 * Sharding, and where every message and event goes through the real serializer.
 *
 * <p>Each test has its own actor system: the coordinator's persistence id is fixed, and the
 * in-memory journal lives as long as the system.
 */
abstract class CoordinatorFixture {
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  static final CoordinatorSettings SETTINGS =
      new CoordinatorSettings(Duration.ofSeconds(5), Duration.ofSeconds(5), Duration.ofSeconds(5), 3);
  static final String JOB = "job-1";
  /** Checkpoints only when training ends or an operator asks, so no timer races a test. */
  static final CheckpointSpec NO_PERIODIC_CHECKPOINTS = new CheckpointSpec(0, 0);

  @TempDir Path snapshots;

  ActorTestKit testKit;
  ActorRefResolver resolver;
  /** What the job's parameter shards were sent, and how they misbehave. */
  TestingShard.Script shards;
  /** Every event the coordinator journals. */
  TestingJournal.Recording journal;
  private ActorRef<Command> coordinator;

  @BeforeEach
  void startCluster() {
    testKit =
        ActorTestKit.create(
            getClass().getSimpleName(),
            ConfigFactory.parseString(
                    String.join(
                        "\n",
                        "akka.actor.serialize-messages = on",
                        "akka.cluster.jmx.multi-mbeans-in-same-jvm = on",
                        // A test may end while a message for a shard not yet allocated waits in the
                        // shard region; its graceful shutdown would wait for it for 10 s.
                        "akka.coordinated-shutdown.phases.cluster-sharding-shutdown-region.timeout = 2 s"))
                .withFallback(TestingJournal.inMemory(snapshots))
                .withFallback(WireRoundTrip.clusterTestConfig()));
    resolver = ActorRefResolver.get(testKit.system());
    journal = TestingJournal.record(testKit, Coordinator.NAME);
    Cluster cluster = Cluster.get(testKit.system());
    cluster.manager().tell(Join.create(cluster.selfMember().address()));
    awaitAssert(() -> assertEquals(MemberStatus.up(), cluster.selfMember().status()));
    TestingShard.Script script = new TestingShard.Script();
    shards = script;
    ClusterSharding.get(testKit.system())
        .init(
            Entity.of(ShardProtocol.ENTITY_TYPE_KEY, entity -> TestingShard.create(entity.getEntityId(), script))
                .withMessageExtractor(new OneEntityPerShard<>()));
  }

  @AfterEach
  void stopCluster() {
    // The coordinator goes first: a checkpoint it starts while sharding shuts down would hold the
    // shard region's hand-off up until it times out.
    if (coordinator != null) {
      testKit.stop(coordinator, TIMEOUT);
    }
    testKit.shutdownTestKit();
  }

  // ------------------------------------------------------------------ specs and data

  /** One member, two shards; steps of {@code globalBatch}, micro-batches of {@code microBatch}. */
  static JobSpec spec(int globalBatch, int microBatch, int splitSize, int epochs) {
    return spec(globalBatch, microBatch, splitSize, epochs, NO_PERIODIC_CHECKPOINTS);
  }

  static JobSpec spec(int globalBatch, int microBatch, int splitSize, int epochs, CheckpointSpec checkpoints) {
    return JobSpec.builder()
        .setName("fmnist-tiny")
        .optGlobalBatch(globalBatch)
        .optMicroBatch(microBatch)
        .optSplitSize(splitSize)
        .optEpochs(epochs)
        .optCheckpoint(checkpoints)
        .build();
  }

  /** {@link #spec(int, int, int, int)} in {@code sync} mode: each step one round of the workers' shares. */
  static JobSpec syncSpec(int globalBatch, int microBatch, int epochs) {
    return JobSpec.builder()
        .setName("fmnist-sync")
        .optGlobalBatch(globalBatch)
        .optMicroBatch(microBatch)
        .optSplitSize(microBatch)
        .optEpochs(epochs)
        .optMode(TrainingMode.SYNC)
        .optCheckpoint(NO_PERIODIC_CHECKPOINTS)
        .build();
  }

  static DatasetInfo data(int trainSize) {
    return new DatasetInfo(trainSize, 4, "fp-" + trainSize);
  }

  // ------------------------------------------------------------------ actors

  /** Spawns the coordinator; a test that stops it may spawn the next incarnation. */
  ActorRef<Command> spawnCoordinator() {
    return spawnCoordinator(SETTINGS);
  }

  ActorRef<Command> spawnCoordinator(CoordinatorSettings settings) {
    coordinator = testKit.spawn(Coordinator.create(settings), "coordinator");
    return coordinator;
  }

  TestProbe<WorkerProtocol.Command> registerWorker(String name) {
    TestProbe<WorkerProtocol.Command> worker = testKit.createTestProbe(name);
    TestProbe<Receptionist.Registered> registered = testKit.createTestProbe();
    testKit
        .system()
        .receptionist()
        .tell(Receptionist.register(WorkerProtocol.SERVICE_KEY, worker.getRef(), registered.getRef()));
    registered.expectMessageClass(Receptionist.Registered.class, TIMEOUT);
    return worker;
  }

  /** Takes a worker out of the Receptionist listing, as a stopping worker does. */
  void deregisterWorker(TestProbe<WorkerProtocol.Command> worker) {
    TestProbe<Receptionist.Deregistered> deregistered = testKit.createTestProbe();
    testKit
        .system()
        .receptionist()
        .tell(Receptionist.deregister(WorkerProtocol.SERVICE_KEY, worker.getRef(), deregistered.getRef()));
    deregistered.expectMessageClass(Receptionist.Deregistered.class, TIMEOUT);
  }

  /**
   * Submits {@code spec} (as {@code job-1}) and has {@code worker}, the only one, set up its one
   * member over {@code trainSize} samples; returns once the job runs and the worker got its share
   * and its nudge to ask for work.
   */
  void startJob(
      ActorRef<Command> coordinator, TestProbe<WorkerProtocol.Command> worker, JobSpec spec, int trainSize) {
    assertEquals(JOB, submit(coordinator, spec));
    expectWorkerMessage(worker, InitializeModel.class)
        .replyTo()
        .tell(StatusReply.success(new ModelInitialized(JOB, 0, 100, 4, data(trainSize))));
    expectWorkerMessage(worker, WorkerProtocol.SetAccumulation.class);
    // Sent with the share, since the worker holds no lease yet; none follows while it holds one.
    worker.expectMessage(TIMEOUT, WorkerProtocol.WorkAvailable.INSTANCE);
    assertEquals(JobState.RUNNING, status(coordinator, JOB).state());
  }

  String id(TestProbe<?> worker) {
    return resolver.toSerializationFormat(worker.getRef());
  }

  WorkerShare share(TestProbe<?> worker, int k) {
    return new WorkerShare(id(worker), k);
  }

  /** The workers in the coordinator's order: by id. */
  @SafeVarargs
  final List<TestProbe<WorkerProtocol.Command>> sortedById(TestProbe<WorkerProtocol.Command>... workers) {
    return Stream.of(workers).sorted((x, y) -> id(x).compareTo(id(y))).toList();
  }

  /** Waits until the coordinator's membership holds these workers (they stop hearing "not listed"). */
  @SafeVarargs
  final void awaitKnown(ActorRef<Command> coordinator, TestProbe<WorkerProtocol.Command>... workers) {
    awaitAssert(
        () -> {
          for (TestProbe<WorkerProtocol.Command> worker : workers) {
            NoLease reply = assertInstanceOf(NoLease.class, askLease(coordinator, worker));
            assertEquals(new NoLeaseReason.NoJobRunning(), reply.reason());
          }
        });
  }

  void awaitWorkers(ActorRef<Command> coordinator, int live, long epoch) {
    awaitAssert(
        () -> {
          JobStatus status = status(coordinator, JOB);
          assertEquals(live, status.liveWorkers());
          assertEquals(epoch, status.membershipEpoch());
        });
  }

  // ------------------------------------------------------------------ asking the coordinator

  String submit(ActorRef<Command> coordinator, JobSpec spec) {
    TestProbe<StatusReply<JobAccepted>> reply = testKit.createTestProbe();
    coordinator.tell(new SubmitJob(spec, reply.getRef()));
    return reply.receiveMessage(TIMEOUT).getValue().jobId();
  }

  PipelineAccepted submitPipeline(ActorRef<Command> coordinator, PipelineSpec pipeline) {
    TestProbe<StatusReply<PipelineAccepted>> reply = testKit.createTestProbe();
    coordinator.tell(new SubmitPipeline(pipeline, reply.getRef()));
    return reply.receiveMessage(TIMEOUT).getValue();
  }

  JobStatus status(ActorRef<Command> coordinator, String jobId) {
    TestProbe<StatusReply<JobStatus>> reply = testKit.createTestProbe();
    coordinator.tell(new GetJobStatus(jobId, reply.getRef()));
    return reply.receiveMessage(TIMEOUT).getValue();
  }

  AccumulationHistory history(ActorRef<Command> coordinator, String jobId) {
    TestProbe<StatusReply<AccumulationHistory>> reply = testKit.createTestProbe();
    coordinator.tell(new GetAccumulationHistory(jobId, reply.getRef()));
    return reply.receiveMessage(TIMEOUT).getValue();
  }

  JobStatus awaitState(ActorRef<Command> coordinator, String jobId, JobState state) {
    return awaitAssert(
        () -> {
          JobStatus status = status(coordinator, jobId);
          assertEquals(state, status.state(), status::toString);
          return status;
        });
  }

  /** Waits until {@code checkpointId} is the job's newest complete checkpoint. */
  JobStatus awaitCheckpoint(ActorRef<Command> coordinator, long checkpointId) {
    return awaitAssert(
        () -> {
          JobStatus status = status(coordinator, JOB);
          assertEquals(checkpointId, status.lastCheckpointId(), status::toString);
          return status;
        });
  }

  StatusReply<CheckpointRequested> askCheckpoint(ActorRef<Command> coordinator, String jobId) {
    TestProbe<StatusReply<CheckpointRequested>> reply = testKit.createTestProbe();
    coordinator.tell(new RequestCheckpoint(jobId, reply.getRef()));
    return reply.receiveMessage(TIMEOUT);
  }

  /** Asks for a checkpoint of {@code job-1} and returns the id of the one started (or joined). */
  long requestCheckpoint(ActorRef<Command> coordinator) {
    StatusReply<CheckpointRequested> reply = askCheckpoint(coordinator, JOB);
    assertEquals(JOB, reply.getValue().jobId());
    return reply.getValue().checkpointId();
  }

  StatusReply<DrainStarted> drain(ActorRef<Command> coordinator, String target) {
    TestProbe<StatusReply<DrainStarted>> reply = testKit.createTestProbe();
    coordinator.tell(new DrainWorkers(target, reply.getRef()));
    return reply.receiveMessage(TIMEOUT);
  }

  StatusReply<GlobalBatchSet> setGlobalBatch(ActorRef<Command> coordinator, String jobId, int globalBatch) {
    TestProbe<StatusReply<GlobalBatchSet>> reply = testKit.createTestProbe();
    coordinator.tell(new SetGlobalBatch(jobId, globalBatch, reply.getRef()));
    return reply.receiveMessage(TIMEOUT);
  }

  List<WorkerInfo> workers(ActorRef<Command> coordinator) {
    TestProbe<WorkerList> reply = testKit.createTestProbe();
    coordinator.tell(new ListWorkers(reply.getRef()));
    return reply.receiveMessage(TIMEOUT).workers();
  }

  StatusReply<TrainingCurve> trainingCurve(ActorRef<Command> coordinator, String jobId, int member) {
    TestProbe<StatusReply<TrainingCurve>> reply = testKit.createTestProbe();
    coordinator.tell(new GetTrainingCurve(jobId, member, reply.getRef()));
    return reply.receiveMessage(TIMEOUT);
  }

  List<AuditRecord> auditLog(ActorRef<Command> coordinator) {
    TestProbe<AuditLog> reply = testKit.createTestProbe();
    coordinator.tell(new GetAuditLog(reply.getRef()));
    return reply.receiveMessage(TIMEOUT).records();
  }

  ShardRecoveryPlan resolveRecovery(ActorRef<Command> coordinator, String jobId, int member, int shard) {
    TestProbe<ShardRecoveryPlan> reply = testKit.createTestProbe();
    coordinator.tell(new ResolveShardRecovery(jobId, member, shard, reply.getRef()));
    return reply.receiveMessage(TIMEOUT);
  }

  /** Ask ids, rising across every worker's asks (so each worker's rise too, as a real worker's do). */
  private final java.util.concurrent.atomic.AtomicLong askIds = new java.util.concurrent.atomic.AtomicLong();

  long nextAskId() {
    return askIds.incrementAndGet();
  }

  LeaseReply askLease(ActorRef<Command> coordinator, TestProbe<WorkerProtocol.Command> worker) {
    TestProbe<LeaseReply> reply = testKit.createTestProbe();
    coordinator.tell(new RequestLease(worker.getRef(), nextAskId(), reply.getRef()));
    return reply.receiveMessage(TIMEOUT);
  }

  Lease requestLease(ActorRef<Command> coordinator, TestProbe<WorkerProtocol.Command> worker) {
    return grantedLease(askLease(coordinator, worker));
  }

  /** Acks a lease with a report of two accepted pushes. */
  LeaseReply complete(
      ActorRef<Command> coordinator,
      TestProbe<WorkerProtocol.Command> worker,
      long leaseId,
      int samples,
      double lossSum) {
    return complete(coordinator, worker, leaseId, samples, lossSum, 2);
  }

  LeaseReply complete(
      ActorRef<Command> coordinator,
      TestProbe<WorkerProtocol.Command> worker,
      long leaseId,
      int samples,
      double lossSum,
      int pushes) {
    return completeLater(coordinator, worker, leaseId, samples, lossSum, pushes).receiveMessage(TIMEOUT);
  }

  /**
   * Acks a lease (two pushes) without waiting for the answer, which in {@code sync} mode is held
   * at the barrier until the next step opens; the answer comes to the probe returned.
   */
  TestProbe<LeaseReply> completeLater(
      ActorRef<Command> coordinator, TestProbe<WorkerProtocol.Command> worker, long leaseId, int samples, double lossSum) {
    return completeLater(coordinator, worker, leaseId, samples, lossSum, 2);
  }

  private TestProbe<LeaseReply> completeLater(
      ActorRef<Command> coordinator,
      TestProbe<WorkerProtocol.Command> worker,
      long leaseId,
      int samples,
      double lossSum,
      int pushes) {
    TestProbe<LeaseReply> reply = testKit.createTestProbe();
    SplitReport report = new SplitReport(samples, lossSum, pushes, 0, 1_500_000L);
    coordinator.tell(new CompleteSplit(worker.getRef(), leaseId, report, nextAskId(), reply.getRef()));
    return reply;
  }

  static Lease grantedLease(LeaseReply reply) {
    return assertInstanceOf(LeaseGranted.class, reply, () -> "expected a lease, got " + reply).lease();
  }

  /**
   * The next message of {@code type} a worker gets. {@code WorkAvailable} nudges are repeated
   * while a worker holds no lease, and every rewind ends with a {@code LeasesVoided} notice, so
   * both are skipped (unless asked for); any other message fails the test.
   */
  static <T extends WorkerProtocol.Command> T expectWorkerMessage(
      TestProbe<WorkerProtocol.Command> worker, Class<T> type) {
    List<WorkerProtocol.Command> fished =
        worker.fishForMessage(
            TIMEOUT,
            "waiting for " + type.getSimpleName(),
            message -> {
              if (type.isInstance(message)) {
                return FishingOutcomes.complete();
              }
              if (message == WorkerProtocol.WorkAvailable.INSTANCE || message instanceof WorkerProtocol.LeasesVoided) {
                return FishingOutcomes.continueAndIgnore();
              }
              return FishingOutcomes.fail("expected " + type.getSimpleName() + ", got " + message);
            });
    return type.cast(fished.get(fished.size() - 1));
  }

  /**
   * {@link #expectWorkerMessage} that also skips {@code SetAccumulation}, which a lone worker gets
   * whenever the member it trains changes (one member finished, the next one's turn).
   */
  static <T extends WorkerProtocol.Command> T expectSkippingPlans(
      TestProbe<WorkerProtocol.Command> worker, Class<T> type) {
    List<WorkerProtocol.Command> fished =
        worker.fishForMessage(
            TIMEOUT,
            "waiting for " + type.getSimpleName(),
            message -> {
              if (type.isInstance(message)) {
                return FishingOutcomes.complete();
              }
              if (message == WorkerProtocol.WorkAvailable.INSTANCE
                  || message instanceof WorkerProtocol.LeasesVoided
                  || message instanceof WorkerProtocol.SetAccumulation) {
                return FishingOutcomes.continueAndIgnore();
              }
              return FishingOutcomes.fail("expected " + type.getSimpleName() + ", got " + message);
            });
    return type.cast(fished.get(fished.size() - 1));
  }

  // ------------------------------------------------------------------ waiting

  <T> T awaitAssert(Supplier<T> check) {
    return testKit.<Object>createTestProbe().awaitAssert(TIMEOUT, check::get);
  }

  void awaitAssert(Runnable check) {
    awaitAssert(
        () -> {
          check.run();
          return null;
        });
  }

  /** Waits until the journal holds an event of {@code type} that {@code which} accepts, and returns it. */
  <T> T awaitEvent(Class<T> type, Predicate<T> which) {
    return awaitAssert(
        () ->
            journal.events(type).stream()
                .filter(which)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no such " + type.getSimpleName() + " in " + journal.events())));
  }
}
