package io.tessera.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.FishingOutcomes;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.DispatcherSelector;
import akka.cluster.MemberStatus;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.Entity;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import akka.pattern.StatusReply;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.CompleteSplit;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseGranted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseProgress;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLeaseReason;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ReleaseLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.RequestLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.coordinator.CoordinatorProtocol.SplitReport;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.DatasetSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.MemberSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.testkit.WireRoundTrip;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.StageInputs;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.protocol.worker.WorkerProtocol.Evaluate;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import io.tessera.protocol.worker.WorkerProtocol.InitializeModel;
import io.tessera.protocol.worker.WorkerProtocol.ModelInitialized;
import io.tessera.protocol.worker.WorkerProtocol.SetAccumulation;
import io.tessera.protocol.worker.WorkerProtocol.WorkAvailable;
import io.tessera.worker.TestingShard.InitializeRecord;
import io.tessera.worker.TestingShard.PullRecord;
import io.tessera.worker.TestingShard.PushFault;
import io.tessera.worker.TestingShard.PushRecord;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.model.TrainableModel;
import io.tessera.worker.testing.TestFixtures;
import io.tessera.worker.train.BatchAssembler;
import io.tessera.worker.train.SampleOrder;
import io.tessera.worker.train.TrainingSession;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The worker actor end to end on a one-node cluster: the coordinator is a probe, the parameter
 * shards are {@link TestingShard}s behind real Cluster Sharding, the data the shipped subset.
 */
class WorkerTest {

  private static final Duration WAIT = Duration.ofSeconds(20);
  private static final long MEMBER_SEED = 7;
  private static final WorkerSettings SETTINGS =
      new WorkerSettings(1, false, TestFixtures.SUBSET, Duration.ofSeconds(10), Duration.ofSeconds(10), 3, Duration.ofMillis(300));

  private static final TestingShard.Scripts SCRIPTS = new TestingShard.Scripts();
  private static final AtomicInteger JOBS = new AtomicInteger();

  private static ActorTestKit testKit;
  private static NDManager manager;
  private static FashionMnist data;

  private final List<ActorRef<WorkerProtocol.Command>> workers = new ArrayList<>();

  @BeforeAll
  static void startCluster() {
    Config config =
        ConfigFactory.parseString("akka.cluster.roles = [worker, ps]")
            .withFallback(WireRoundTrip.clusterTestConfig());
    testKit = ActorTestKit.create("WorkerTest", config);
    Cluster cluster = Cluster.get(testKit.system());
    cluster.manager().tell(Join.create(cluster.selfMember().address()));
    testKit.createTestProbe().awaitAssert(
        WAIT,
        () -> {
          assertEquals(MemberStatus.up(), cluster.selfMember().status());
          return null;
        });
    ClusterSharding.get(testKit.system())
        .init(
            Entity.of(
                    ShardProtocol.ENTITY_TYPE_KEY,
                    context -> TestingShard.create(context.getEntityId(), SCRIPTS))
                .withRole("ps")
                .withMessageExtractor(new OneEntityPerShard<>()));
    manager = NDManager.newBaseManager();
    data = FashionMnist.load(TestFixtures.SUBSET);
  }

  @AfterAll
  static void stopCluster() {
    testKit.shutdownTestKit();
    manager.close();
  }

  @AfterEach
  void stopWorkers() {
    workers.forEach(testKit::stop);
    workers.clear();
  }

  // ------------------------------------------------------------------ fixtures

  private static String newJobId() {
    return "job-" + JOBS.incrementAndGet();
  }

  private static JobSpec spec(int shards) {
    return JobSpec.builder()
        .setName("worker-test")
        .optModel(TestFixtures.tinyVit())
        .optGlobalBatch(16)
        .optMicroBatch(8)
        .optSplitSize(32)
        .optShards(shards)
        .optStaleness(2)
        .optMembers(List.of(new MemberSpec("m0", MEMBER_SEED)))
        .optSeed(42)
        .build();
  }

  private ActorRef<WorkerProtocol.Command> spawnWorker(
      TestProbe<CoordinatorProtocol.Command> coordinator, WorkerSettings settings) {
    ActorRef<WorkerProtocol.Command> worker =
        testKit.spawn(
            Worker.create(coordinator.ref(), new DataCatalog(TestFixtures.SUBSET), settings, Device.cpu()),
            DispatcherSelector.fromConfig(WorkerSettings.DISPATCHER));
    workers.add(worker);
    return worker;
  }

  private static ModelInitialized initialize(ActorRef<WorkerProtocol.Command> worker, String jobId, JobSpec spec) {
    TestProbe<StatusReply<ModelInitialized>> reply = testKit.createTestProbe();
    worker.tell(new InitializeModel(jobId, 0, spec, StageInputs.NONE, reply.ref()));
    StatusReply<ModelInitialized> answer = reply.receiveMessage(WAIT);
    assertTrue(answer.isSuccess(), () -> "initialisation failed: " + answer);
    return answer.getValue();
  }

  private static Lease lease(long id, String jobId, JobSpec spec, int from, int to, int k, long epoch) {
    return new Lease(
        id, jobId, 0, epoch, new Split(0, 0, from, to), k, TestFixtures.SUBSET_TRAIN_SIZE, spec,
        StepRule.of(spec.globalBatch()), StageInputs.NONE);
  }

  /** A worker with its shards set up, whose first lease request is {@code request}. */
  private record Started(
      ActorRef<WorkerProtocol.Command> worker,
      TestProbe<CoordinatorProtocol.Command> coordinator,
      RequestLease request,
      String jobId,
      JobSpec spec,
      TestingShard.Script script) {}

  private Started start(JobSpec spec, WorkerSettings settings) {
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ActorRef<WorkerProtocol.Command> worker = spawnWorker(coordinator, settings);
    RequestLease request = expectFromWorker(coordinator, RequestLease.class);
    String jobId = newJobId();
    initialize(worker, jobId, spec);
    return new Started(worker, coordinator, request, jobId, spec, SCRIPTS.forJob(jobId));
  }

  private static String workerId(ActorRef<WorkerProtocol.Command> worker) {
    return ActorRefResolver.get(testKit.system()).toSerializationFormat(worker);
  }

  /**
   * The next message of {@code type} the coordinator gets from a worker, passing over the progress
   * reports a worker sends after each window of a lease but the last.
   */
  private static <T extends CoordinatorProtocol.Command> T expectFromWorker(
      TestProbe<CoordinatorProtocol.Command> coordinator, Class<T> type) {
    List<CoordinatorProtocol.Command> fished =
        coordinator.fishForMessage(
            WAIT,
            "waiting for " + type.getSimpleName(),
            message -> {
              if (type.isInstance(message)) {
                return FishingOutcomes.complete();
              }
              if (message instanceof LeaseProgress) {
                return FishingOutcomes.continueAndIgnore();
              }
              return FishingOutcomes.fail("expected " + type.getSimpleName() + ", got " + message);
            });
    return type.cast(fished.get(fished.size() - 1));
  }

  private static CompleteSplit expectCompleted(Started started, long leaseId) {
    CompleteSplit done = expectFromWorker(started.coordinator(), CompleteSplit.class);
    assertEquals(leaseId, done.leaseId());
    assertEquals(started.worker(), done.worker());
    done.replyTo().tell(new NoLease(new NoLeaseReason.SplitsTaken(0), 600_000));
    return done;
  }

  private static List<Integer> samples(List<PushRecord> pushes) {
    return pushes.stream().map(PushRecord::samples).toList();
  }

  private static List<Long> seqs(List<PushRecord> pushes) {
    return pushes.stream().map(PushRecord::seq).toList();
  }

  private static List<String> outcomes(List<PushRecord> pushes) {
    return pushes.stream().map(PushRecord::outcome).toList();
  }

  private static List<Long> pushEpochs(List<PushRecord> pushes) {
    return pushes.stream().map(PushRecord::epoch).toList();
  }

  private static List<Long> pullEpochs(List<PullRecord> pulls) {
    return pulls.stream().map(PullRecord::epoch).toList();
  }

  /** The full gradient of push {@code n} (0-based), put together from every shard's slice. */
  private static float[] pushedGradient(TestingShard.Script script, ParameterLayout layout, int shards, int n) {
    float[] gradient = new float[layout.totalSize()];
    for (ShardRange range : layout.shardRanges(shards)) {
      float[] slice = script.pushes(range.index()).get(n).gradientSum();
      System.arraycopy(slice, 0, gradient, range.from(), range.size());
    }
    return gradient;
  }

  /** What one window computes locally: the gradient sum and summed loss of samples [from, to). */
  private record Window(float[] gradientSum, double loss) {}

  private static Window computeWindow(JobSpec spec, float[] parameters, int from, int to) {
    TrainableModel model = TrainableModel.of(spec.model());
    BatchAssembler assembler = new BatchAssembler(spec.model());
    int[] order = SampleOrder.forEpoch(spec.seed(), 0, TestFixtures.SUBSET_TRAIN_SIZE);
    try (TrainingSession session = new TrainingSession(model, manager)) {
      session.load(parameters);
      double loss = 0;
      for (int micro = from; micro < to; micro += spec.microBatch()) {
        loss += session.accumulate(assembler.assemble(data.train(), order, micro, Math.min(micro + spec.microBatch(), to)));
      }
      float[] gradient = new float[parameters.length];
      session.drainGradients(gradient);
      return new Window(gradient, loss);
    }
  }

  // ------------------------------------------------------------------ scenarios

  @Test
  void asksForALeaseOnStartAndAgainAfterNoLease() {
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ActorRef<WorkerProtocol.Command> worker = spawnWorker(coordinator, SETTINGS);

    RequestLease first = expectFromWorker(coordinator, RequestLease.class);
    assertEquals(worker, first.worker());
    first.replyTo().tell(new NoLease(new NoLeaseReason.NoJobRunning(), 100));

    RequestLease second = expectFromWorker(coordinator, RequestLease.class);
    assertEquals(worker, second.worker());
    assertTrue(second.askId() > first.askId(), "each ask is numbered above the last");
    second.replyTo().tell(new NoLease(new NoLeaseReason.NoJobRunning(), 600_000));
    coordinator.expectNoMessage(Duration.ofMillis(300));
  }

  @Test
  void initializeModelHandsEveryShardItsSliceOfTheInitialValues() {
    JobSpec spec = spec(3);
    String jobId = newJobId();
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ActorRef<WorkerProtocol.Command> worker = spawnWorker(coordinator, SETTINGS);
    TrainableModel model = TrainableModel.of(spec.model());
    ParameterLayout layout = model.layout();
    float[] initial = model.initialValues(MEMBER_SEED);

    ModelInitialized initialized = initialize(worker, jobId, spec);

    assertEquals(jobId, initialized.jobId());
    assertEquals(0, initialized.member());
    assertEquals(layout.totalSize(), initialized.parameterCount());
    assertEquals(layout.tensors().size(), initialized.tensorCount());
    assertEquals(
        new DatasetInfo(TestFixtures.SUBSET_TRAIN_SIZE, TestFixtures.SUBSET_TEST_SIZE, data.fingerprint()),
        initialized.dataset());
    List<InitializeRecord> received = new ArrayList<>(SCRIPTS.forJob(jobId).initializes());
    received.sort((a, b) -> Integer.compare(a.shard(), b.shard()));
    assertEquals(List.of(0, 1, 2), received.stream().map(InitializeRecord::shard).toList());
    int next = 0;
    for (InitializeRecord record : received) {
      ShardRange range = record.setup().range();
      assertEquals(record.shard(), range.index());
      assertEquals(next, range.from(), "slices tile the layout without gaps or overlaps");
      next = range.to();
      assertArrayEquals(Arrays.copyOfRange(initial, range.from(), range.to()), record.values());
      assertEquals(layout.segments(range), record.setup().segments());
      assertEquals(jobId, record.setup().jobId());
      assertEquals(spec.globalBatch(), record.setup().globalBatch());
      assertEquals(spec.staleness(), record.setup().staleness());
      assertEquals(spec.optimizerSteps(TestFixtures.SUBSET_TRAIN_SIZE), record.setup().totalSteps());
      assertTrue(record.fresh());
    }
    assertEquals(layout.totalSize(), next);
  }

  @Test
  void anAskOutWhenACoordinatorNodeLeavesIsSentAgainAndAGrantToTheOldAskIsGivenBack() {
    Started started = start(spec(2), SETTINGS);
    // A node without the coordinator role leaving does not matter to the ask.
    started.worker().tell(new Worker.NodeRemoved("akka://tessera@127.0.0.1:2553", false));
    started.coordinator().expectNoMessage(Duration.ofMillis(300));

    // The first ask is unanswered when a coordinator node leaves: it may have gone to the
    // coordinator that died there, so the worker asks again rather than wait out the timeout.
    started.worker().tell(new Worker.NodeRemoved("akka://tessera@127.0.0.1:2551", true));
    RequestLease again = expectFromWorker(started.coordinator(), RequestLease.class);
    assertEquals(started.worker(), again.worker());

    // The old ask is answered after all: nobody would train that lease, so it goes back at once.
    started.request().replyTo().tell(new LeaseGranted(lease(91, started.jobId(), started.spec(), 0, 32, 2, 1)));
    ReleaseLease back = expectFromWorker(started.coordinator(), ReleaseLease.class);
    assertEquals(91, back.leaseId());
    assertFalse(back.failed(), "a lease given back unused is no failure of the worker");

    // The newer ask's lease is the one trained.
    again.replyTo().tell(new LeaseGranted(lease(92, started.jobId(), started.spec(), 0, 32, 2, 1)));
    expectCompleted(started, 92);
    assertEquals(List.of(16, 16), samples(started.script().pushes(0)), "only lease 92 was pushed");
  }

  @Test
  void trainsALeasedSplitInWindowsAndCompletesIt() {
    Started started = start(spec(2), SETTINGS);
    TestingShard.Script script = started.script();
    Lease lease = lease(11, started.jobId(), started.spec(), 0, 32, 2, 1);

    started.request().replyTo().tell(new LeaseGranted(lease));
    CompleteSplit done = expectCompleted(started, 11);

    for (int shard = 0; shard < 2; shard++) {
      List<PushRecord> pushes = script.pushes(shard);
      List<PullRecord> pulls = script.pulls(shard);
      assertEquals(List.of(16, 16), samples(pushes), "shard " + shard);
      assertEquals(List.of("accepted", "accepted"), outcomes(pushes));
      assertTrue(pushes.get(0).seq() < pushes.get(1).seq(), "seqs increase: " + seqs(pushes));
      assertEquals(2, pulls.size(), "one pull per window");
      for (int w = 0; w < 2; w++) {
        assertEquals(pulls.get(w).version(), pushes.get(w).baseVersion(), "push based on the pulled version");
        assertEquals(workerId(started.worker()), pushes.get(w).workerId());
      }
      assertEquals(List.of(0L, 1L), pulls.stream().map(PullRecord::version).toList());
    }
    assertEquals(seqs(script.pushes(0)), seqs(script.pushes(1)), "one seq per window on all shards");
    SplitReport report = done.report();
    assertEquals(32, report.samples());
    assertEquals(2, report.pushes());
    assertEquals(0, report.stalePushes());
    assertTrue(report.computeNanos() > 0);

    // The pushes are the gradient sums of the split's samples in the epoch's order, computed on
    // the parameters pulled for each window.
    TrainableModel model = TrainableModel.of(started.spec().model());
    float[] parameters = model.initialValues(MEMBER_SEED);
    Window first = computeWindow(started.spec(), parameters, 0, 16);
    float[] firstPushed = pushedGradient(script, model.layout(), 2, 0);
    assertTrue(
        TestFixtures.relativeDistance(first.gradientSum(), firstPushed) < 1e-5,
        "first window's gradient: " + TestFixtures.relativeDistance(first.gradientSum(), firstPushed));
    for (int i = 0; i < parameters.length; i++) {
      parameters[i] -= TestingShard.LEARNING_RATE * firstPushed[i] / 16;
    }
    Window second = computeWindow(started.spec(), parameters, 16, 32);
    float[] secondPushed = pushedGradient(script, model.layout(), 2, 1);
    assertTrue(
        TestFixtures.relativeDistance(second.gradientSum(), secondPushed) < 1e-5,
        "second window's gradient: " + TestFixtures.relativeDistance(second.gradientSum(), secondPushed));
    assertEquals(first.loss() + second.loss(), report.lossSum(), 1e-4 * report.lossSum());
  }

  @Test
  void aWindowStaleAtOneShardIsRecomputedOnFreshParametersAndSentOnlyToThatShard() {
    Started started = start(spec(2), SETTINGS);
    TestingShard.Script script = started.script().failNextPush(1, PushFault.STALE);

    started.request().replyTo().tell(new LeaseGranted(lease(21, started.jobId(), started.spec(), 0, 32, 2, 1)));
    CompleteSplit done = expectCompleted(started, 21);

    List<PushRecord> accepting = script.pushes(0);
    List<PushRecord> refusing = script.pushes(1);
    assertEquals(List.of("accepted", "accepted"), outcomes(accepting), "shard 0 applies each window once");
    assertEquals(List.of("stale", "accepted", "accepted"), outcomes(refusing));
    List<Long> seqs = seqs(refusing);
    assertTrue(seqs.get(0) < seqs.get(1) && seqs.get(1) < seqs.get(2), "the recomputed window has a new seq: " + seqs);
    assertEquals(List.of(seqs.get(0), seqs.get(2)), seqs(accepting), "the recomputed window skips shard 0");
    assertEquals(List.of(16, 16), samples(accepting));
    assertEquals(List.of(16, 16, 16), samples(refusing));
    assertEquals(3, script.pulls(0).size(), "the recomputed window pulls every slice afresh");
    assertEquals(3, script.pulls(1).size());
    assertEquals(0L, refusing.get(1).baseVersion(), "shard 1 had applied nothing when it was pulled again");
    assertEquals(1L, accepting.get(1).baseVersion(), "the next window is based on shard 0 after its one update");
    assertEquals(32, done.report().samples());
    assertEquals(2, done.report().pushes());
    assertEquals(1, done.report().stalePushes());
  }

  @Test
  void aWindowRecomputedForSomeShardsCoversTheSameSamplesEvenIfTheAccumulationChangedMeanwhile() {
    Started started = start(spec(2), SETTINGS);
    // Shard 1 refuses the first window; the pull for its copy is held while the plan changes.
    TestingShard.Script script = started.script().failNextPush(1, PushFault.STALE).holdPull(0, 2);
    String jobId = started.jobId();

    started.request().replyTo().tell(new LeaseGranted(lease(23, jobId, started.spec(), 0, 48, 2, 1)));
    testKit.createTestProbe().awaitAssert(WAIT, () -> {
      assertEquals(1, script.heldPulls(), "the recomputed window waits for its parameters");
      return null;
    });
    started.worker().tell(new SetAccumulation(jobId, 0, 2, 1));
    script.releaseHeldPulls();
    CompleteSplit done = expectCompleted(started, 23);

    assertEquals(List.of(16, 8, 8, 8, 8), samples(script.pushes(0)), "k = 2, then 1");
    assertEquals(
        List.of(16, 16, 8, 8, 8, 8), samples(script.pushes(1)), "the copy is the refused window's 16 samples");
    assertEquals(List.of("stale", "accepted", "accepted", "accepted", "accepted", "accepted"), outcomes(script.pushes(1)));
    assertEquals(48, done.report().samples());
  }

  @Test
  void aWindowStaleAtOneShardGoesToEveryShardAgainWhenTheyWereRewoundMeanwhile() {
    Started started = start(spec(2), SETTINGS);
    // Shard 1 refuses the first window; both shards are rewound before the pull that follows, so
    // what shard 0 applied is gone and it needs the recomputed window too.
    TestingShard.Script script =
        started.script().failNextPush(1, PushFault.STALE).moveToEpochAtPull(0, 2, 1).moveToEpochAtPull(1, 2, 1);

    started.request().replyTo().tell(new LeaseGranted(lease(22, started.jobId(), started.spec(), 0, 32, 2, 1)));
    CompleteSplit done = expectCompleted(started, 22);

    assertEquals(List.of("accepted", "accepted", "accepted"), outcomes(script.pushes(0)));
    assertEquals(List.of("stale", "accepted", "accepted"), outcomes(script.pushes(1)));
    for (int shard = 0; shard < 2; shard++) {
      assertEquals(List.of(0L, 1L, 1L), pushEpochs(script.pushes(shard)), "shard " + shard);
      assertEquals(List.of(0L, 1L, 1L), pullEpochs(script.pulls(shard)), "shard " + shard);
    }
    assertEquals(seqs(script.pushes(0)), seqs(script.pushes(1)));
    assertEquals(32, done.report().samples());
    assertEquals(1, done.report().stalePushes());
  }

  @Test
  void anUnansweredPushIsRetriedWithTheSameSeq() {
    WorkerSettings quickTimeout =
        new WorkerSettings(1, false, TestFixtures.SUBSET, Duration.ofMillis(1500), Duration.ofSeconds(10), 3, Duration.ofMillis(300));
    Started started = start(spec(2), quickTimeout);
    TestingShard.Script script = started.script().failNextPush(0, PushFault.DROP);

    started.request().replyTo().tell(new LeaseGranted(lease(31, started.jobId(), started.spec(), 0, 16, 2, 1)));
    CompleteSplit done = expectCompleted(started, 31);

    List<PushRecord> dropping = script.pushes(0);
    List<PushRecord> answering = script.pushes(1);
    assertEquals(List.of("dropped", "accepted"), outcomes(dropping));
    assertEquals(List.of("accepted", "duplicate"), outcomes(answering));
    long seq = dropping.get(0).seq();
    assertEquals(List.of(seq, seq), seqs(dropping), "the retry reuses the seq");
    assertEquals(List.of(seq, seq), seqs(answering));
    assertArrayEquals(dropping.get(0).gradientSum(), dropping.get(1).gradientSum(), "the same gradient again");
    assertEquals(1, script.pulls(0).size(), "nothing is recomputed");
    assertEquals(16, done.report().samples());
    assertEquals(1, done.report().pushes());
  }

  @Test
  void refusedPushesAreRecomputedAndTheLeaseGivenBackAfterTooManyFailures() {
    WorkerSettings oneRetry =
        new WorkerSettings(1, false, TestFixtures.SUBSET, Duration.ofSeconds(10), Duration.ofSeconds(10), 1, Duration.ofMillis(300));
    Started started = start(spec(2), oneRetry);
    TestingShard.Script script =
        started.script().failNextPush(0, PushFault.ERROR).failNextPush(0, PushFault.ERROR);

    started.request().replyTo().tell(new LeaseGranted(lease(41, started.jobId(), started.spec(), 0, 32, 2, 1)));
    ReleaseLease released = expectFromWorker(started.coordinator(), ReleaseLease.class);

    assertEquals(41, released.leaseId());
    assertEquals(started.worker(), released.worker());
    assertTrue(released.reason().contains("push failed 2 times"), released.reason());
    assertTrue(released.reason().contains("refuses this gradient"), released.reason());
    List<PushRecord> refusing = script.pushes(0);
    assertEquals(List.of("error", "error"), outcomes(refusing));
    assertNotEquals(refusing.get(0).seq(), refusing.get(1).seq(), "a refused gradient is recomputed, new seq");
    assertEquals(2, script.pulls(0).size(), "the recomputation pulls again");
    assertEquals(List.of("accepted", "accepted"), outcomes(script.pushes(1)));
    // Having given the lease back, the worker asks for new work.
    RequestLease again = expectFromWorker(started.coordinator(), RequestLease.class);
    again.replyTo().tell(new NoLease(new NoLeaseReason.NoJobRunning(), 600_000));
  }

  @Test
  void evaluateScoresTheTestSetWithThePulledParameters() {
    Started started = start(spec(2), SETTINGS);
    TestProbe<StatusReply<EvaluationReport>> reply = testKit.createTestProbe();

    started.worker().tell(new Evaluate(started.jobId(), 0, started.spec(), StageInputs.NONE, false, reply.ref()));
    StatusReply<EvaluationReport> answer = reply.receiveMessage(WAIT);

    assertTrue(answer.isSuccess(), () -> answer.toString());
    EvaluationReport report = answer.getValue();
    assertEquals(started.jobId(), report.jobId());
    assertEquals(TestFixtures.SUBSET_TEST_SIZE, report.samples());
    assertTrue(report.accuracy() >= 0 && report.accuracy() <= 1, "accuracy " + report.accuracy());
    assertEquals(0, report.parameterVersion());
    // The same parameters scored here give the same count.
    TrainableModel model = TrainableModel.of(started.spec().model());
    try (TrainingSession session = new TrainingSession(model, manager)) {
      session.load(model.initialValues(MEMBER_SEED));
      TrainingSession.BatchScore score =
          session.score(new BatchAssembler(started.spec().model()).assembleRange(data.test(), 0, data.test().size()));
      assertEquals(score.correct(), report.correct());
      assertEquals(score.summedLoss() / score.samples(), report.meanLoss(), 1e-4);
    }
  }

  @Test
  void aValidationOnlyEvaluationScoresTheValidationSplitAloneAsTheFullOneDoes() {
    JobSpec withValidation =
        JobSpec.builder()
            .setName("worker-test-validation")
            .optModel(TestFixtures.tinyVit())
            .optDataset(new DatasetSpec(DatasetSpec.FASHION_MNIST, 0, 0, 200))
            .optGlobalBatch(16)
            .optMicroBatch(8)
            .optSplitSize(32)
            .optShards(2)
            .optMembers(List.of(new MemberSpec("m0", MEMBER_SEED)))
            .build();
    Started started = start(withValidation, SETTINGS);

    TestProbe<StatusReply<EvaluationReport>> reply = testKit.createTestProbe();
    started.worker().tell(new Evaluate(started.jobId(), 0, started.spec(), StageInputs.NONE, true, reply.ref()));
    StatusReply<EvaluationReport> validated = reply.receiveMessage(WAIT);
    started.worker().tell(new Evaluate(started.jobId(), 0, started.spec(), StageInputs.NONE, false, reply.ref()));
    StatusReply<EvaluationReport> full = reply.receiveMessage(WAIT);

    assertTrue(validated.isSuccess() && full.isSuccess(), () -> validated + " / " + full);
    assertEquals(0, validated.getValue().samples(), "the test set is not read");
    assertEquals(200, validated.getValue().validationSamples());
    assertEquals(TestFixtures.SUBSET_TEST_SIZE, full.getValue().samples());
    assertEquals(full.getValue().validationCorrect(), validated.getValue().validationCorrect());
    assertTrue(validated.getValue().validationCorrect() > 0, "the seeded untrained model gets some right");
  }

  @Test
  void setAccumulationOfANewerEpochChangesTheNextWindow() {
    Started started = start(spec(2), SETTINGS);
    TestingShard.Script script = started.script().holdPull(0, 2);
    String jobId = started.jobId();

    started.request().replyTo().tell(new LeaseGranted(lease(51, jobId, started.spec(), 0, 48, 1, 1)));
    testKit.createTestProbe().awaitAssert(WAIT, () -> {
      assertEquals(1, script.heldPulls(), "the second window waits for its parameters");
      return null;
    });
    started.worker().tell(new SetAccumulation(jobId, 0, 2, 3));
    started.worker().tell(new SetAccumulation(jobId, 0, 0, 5)); // older epoch: ignored
    script.releaseHeldPulls();
    CompleteSplit done = expectCompleted(started, 51);

    assertEquals(List.of(8, 24, 16), samples(script.pushes(0)), "k = 1, then 3 (cut at the split's end)");
    assertEquals(List.of(8, 24, 16), samples(script.pushes(1)));
    assertEquals(48, done.report().samples());
    assertEquals(3, done.report().pushes());
  }

  // ------------------------------------------------------------------ recovery epochs

  @Test
  void pushesCarryTheEpochOfThePullTheyAreBasedOn() {
    Started started = start(spec(2), SETTINGS);
    TestingShard.Script script = started.script();
    for (int shard = 0; shard < 2; shard++) {
      script.moveToEpochAtPull(shard, 1, 3).moveToEpochAtPull(shard, 2, 4);
    }

    started.request().replyTo().tell(new LeaseGranted(lease(61, started.jobId(), started.spec(), 0, 32, 2, 1)));
    CompleteSplit done = expectCompleted(started, 61);

    for (int shard = 0; shard < 2; shard++) {
      assertEquals(List.of(3L, 4L), pullEpochs(script.pulls(shard)), "shard " + shard);
      assertEquals(List.of(3L, 4L), pushEpochs(script.pushes(shard)), "each push carries its own pull's epoch");
      assertEquals(List.of("accepted", "accepted"), outcomes(script.pushes(shard)));
    }
    assertEquals(32, done.report().samples());
    assertEquals(2, done.report().pushes());
    assertEquals(0, done.report().stalePushes());
  }

  @Test
  void aPullFromShardsOfDifferentEpochsIsRetriedAfterTheBackoffUntilTheyAgree() {
    Started started = start(spec(2), SETTINGS);
    // Mid-rewind: shard 1 has restarted in epoch 2 when the first pull arrives, shard 0 only by
    // the second.
    TestingShard.Script script = started.script().moveToEpochAtPull(1, 1, 2).moveToEpochAtPull(0, 2, 2);

    started.request().replyTo().tell(new LeaseGranted(lease(71, started.jobId(), started.spec(), 0, 32, 2, 1)));
    CompleteSplit done = expectCompleted(started, 71);

    assertEquals(List.of(0L, 2L, 2L), pullEpochs(script.pulls(0)));
    assertEquals(List.of(2L, 2L, 2L), pullEpochs(script.pulls(1)));
    for (int shard = 0; shard < 2; shard++) {
      List<PullRecord> pulls = script.pulls(shard);
      long gap = pulls.get(1).arrivedNanos() - pulls.get(0).arrivedNanos();
      assertTrue(
          gap >= SETTINGS.retryBackoff().toNanos(),
          "the retry waits for the backoff, shard " + shard + " was asked again after " + gap / 1_000_000 + " ms");
      List<PushRecord> pushes = script.pushes(shard);
      assertEquals(List.of("accepted", "accepted"), outcomes(pushes), "no push for the mixed pull");
      assertEquals(List.of(2L, 2L), pushEpochs(pushes));
      assertEquals(List.of(16, 16), samples(pushes));
      assertEquals(0L, pushes.get(0).baseVersion());
    }
    assertEquals(seqs(script.pushes(0)), seqs(script.pushes(1)));
    assertEquals(32, done.report().samples());
    assertEquals(2, done.report().pushes());
    assertEquals(0, done.report().stalePushes());
  }

  @Test
  void aPushStaleBecauseTheShardsMovedToANewEpochIsRecomputedInThatEpoch() {
    Started started = start(spec(2), SETTINGS);
    // Both shards are rewound between the first pull and its push.
    TestingShard.Script script = started.script().moveToEpochAtPush(0, 1, 1).moveToEpochAtPush(1, 1, 1);

    started.request().replyTo().tell(new LeaseGranted(lease(81, started.jobId(), started.spec(), 0, 32, 2, 1)));
    CompleteSplit done = expectCompleted(started, 81);

    for (int shard = 0; shard < 2; shard++) {
      List<PushRecord> pushes = script.pushes(shard);
      assertEquals(List.of("stale", "accepted", "accepted"), outcomes(pushes), "shard " + shard);
      assertEquals(List.of(0L, 1L, 1L), pushEpochs(pushes));
      assertEquals(List.of(0L, 1L, 1L), pullEpochs(script.pulls(shard)), "a fresh pull after the stale answer");
      assertEquals(List.of(16, 16, 16), samples(pushes));
    }
    List<Long> seqs = seqs(script.pushes(0));
    assertEquals(seqs, seqs(script.pushes(1)));
    assertTrue(seqs.get(0) < seqs.get(1) && seqs.get(1) < seqs.get(2), "the recomputed window has a new seq: " + seqs);
    // The rewind kept the parameters, so the recomputed window is the same samples' gradient.
    ParameterLayout layout = TrainableModel.of(started.spec().model()).layout();
    float[] stale = pushedGradient(script, layout, 2, 0);
    float[] recomputed = pushedGradient(script, layout, 2, 1);
    assertTrue(
        TestFixtures.relativeDistance(stale, recomputed) < 1e-5,
        "the same window again: " + TestFixtures.relativeDistance(stale, recomputed));
    assertEquals(32, done.report().samples());
    assertEquals(2, done.report().pushes());
    assertEquals(1, done.report().stalePushes());
  }

  // ------------------------------------------------------------------ sync mode and draining

  @Test
  void aSyncLeaseIsOneContributionPushedAtOnceWithItsStepRule() {
    JobSpec sync = JobSpec.builder()
        .setName("worker-test-sync")
        .optModel(TestFixtures.tinyVit())
        .optGlobalBatch(32)
        .optMicroBatch(8)
        .optShards(2)
        .optMode(TrainingMode.SYNC)
        .optMembers(List.of(new MemberSpec("m0", MEMBER_SEED)))
        .build();
    Started started = start(sync, SETTINGS);
    StepRule rule = new StepRule(32, 0.5, 4, 4);
    // k = 3 micro-batches of this step's 4; SetAccumulation does not cut a sync contribution.
    started.worker().tell(new WorkerProtocol.SetAccumulation(started.jobId(), 0, 9, 1));
    started.request().replyTo().tell(
        new LeaseGranted(
            new Lease(51, started.jobId(), 0, 9, new Split(0, 4, 32, 56), 3, TestFixtures.SUBSET_TRAIN_SIZE, sync, rule, StageInputs.NONE)));
    CompleteSplit done = expectCompleted(started, 51);

    List<PushRecord> pushes = started.script().pushes(0);
    assertEquals(List.of(24), samples(pushes), "one push of the whole contribution");
    assertEquals(rule, pushes.get(0).rule(), "the step rule travels with the push");
    assertEquals(24, done.report().samples());
  }

  @Test
  void aStaleSyncContributionEndsTheLeaseWithoutCountingAsAFailure() {
    JobSpec sync = JobSpec.builder()
        .setName("worker-test-sync")
        .optModel(TestFixtures.tinyVit())
        .optGlobalBatch(16)
        .optMicroBatch(8)
        .optShards(2)
        .optMode(TrainingMode.SYNC)
        .optMembers(List.of(new MemberSpec("m0", MEMBER_SEED)))
        .build();
    Started started = start(sync, SETTINGS);
    TestingShard.Script script = started.script().failNextPush(0, PushFault.STALE);
    started.request().replyTo().tell(
        new LeaseGranted(
            new Lease(
                61, started.jobId(), 0, 1, new Split(0, 0, 0, 16), 2, TestFixtures.SUBSET_TRAIN_SIZE, sync,
                new StepRule(16, 1.0, 0, 0), StageInputs.NONE)));

    ReleaseLease released = expectFromWorker(started.coordinator(), ReleaseLease.class);
    assertEquals(61, released.leaseId());
    assertFalse(released.failed(), "the step moved on: not the worker's failure");
    assertEquals(1, script.pulls(0).size(), "a sync contribution is not recomputed for another step");
    RequestLease next = expectFromWorker(started.coordinator(), RequestLease.class);
    next.replyTo().tell(new NoLease(new NoLeaseReason.SplitsTaken(0), 600_000));
  }

  @Test
  void aDrainingWorkerFinishesItsWindowAcksWhatItPushedAndLeaves() {
    Started started = start(spec(2), SETTINGS);
    TestingShard.Script script = started.script().holdPull(0, 2);
    TestProbe<Object> watcher = testKit.createTestProbe();
    started.request().replyTo().tell(new LeaseGranted(lease(71, started.jobId(), started.spec(), 0, 32, 1, 1)));
    watcher.awaitAssert(WAIT, () -> {
      assertEquals(1, script.heldPulls());
      return null;
    });

    started.worker().tell(WorkerProtocol.Drain.INSTANCE);
    script.releaseHeldPulls();

    CompleteSplit done = expectFromWorker(started.coordinator(), CompleteSplit.class);
    assertEquals(71, done.leaseId());
    assertEquals(16, done.report().samples(), "the window in flight, then no more");
    assertEquals(2, done.report().pushes());
    done.replyTo().tell(new NoLease(new NoLeaseReason.Draining(), 60_000));
    CoordinatorProtocol.DrainCompleted left =
        expectFromWorker(started.coordinator(), CoordinatorProtocol.DrainCompleted.class);
    assertEquals(started.worker(), left.worker());
    watcher.expectTerminated(started.worker(), WAIT);
    assertEquals(2, script.pushes(0).size(), "no window after the drain");
  }

  @Test
  void aWorkerDropsTheLeaseOfACancelledJobWithoutPushingOrAckingAndAsksForOtherWork() {
    Started started = start(spec(2), SETTINGS);
    TestingShard.Script script = started.script().holdPull(0, 1);
    TestProbe<Object> watcher = testKit.createTestProbe();
    started.request().replyTo().tell(new LeaseGranted(lease(75, started.jobId(), started.spec(), 0, 32, 1, 1)));
    watcher.awaitAssert(WAIT, () -> {
      assertEquals(1, script.heldPulls());
      return null;
    });

    started.worker().tell(new WorkerProtocol.AbandonJob(started.jobId()));
    RequestLease next = expectFromWorker(started.coordinator(), RequestLease.class);
    assertEquals(started.worker(), next.worker());
    script.releaseHeldPulls(); // the pull answered late: its window is not computed or pushed
    next.replyTo().tell(new NoLease(new NoLeaseReason.NoJobRunning(), 600_000));

    started.coordinator().expectNoMessage(Duration.ofMillis(500));
    assertEquals(List.of(), script.pushes(0), "nothing pushed for the cancelled job");
    assertEquals(List.of(), script.pushes(1));
  }

  @Test
  void aWorkerWaitingOnALostShardDropsTheLeaseARewindVoidedAndAsksForANewOne() {
    Started started = start(spec(2), SETTINGS);
    TestingShard.Script script = started.script().holdPull(0, 1);
    TestProbe<Object> watcher = testKit.createTestProbe();
    started.request().replyTo().tell(new LeaseGranted(lease(75, started.jobId(), started.spec(), 0, 32, 1, 1)));
    watcher.awaitAssert(WAIT, () -> {
      assertEquals(1, script.heldPulls());
      return null;
    });

    // A notice about leases granted after this one, or about another job, changes nothing.
    started.worker().tell(new WorkerProtocol.LeasesVoided(started.jobId(), 75));
    started.worker().tell(new WorkerProtocol.LeasesVoided("job-other", 1_000));
    started.coordinator().expectNoMessage(Duration.ofMillis(300));

    // Lease 75 is void: the worker asks for new work at once, not after its pull times out (10 s).
    started.worker().tell(new WorkerProtocol.LeasesVoided(started.jobId(), 76));
    RequestLease next = started.coordinator().expectMessageClass(RequestLease.class, Duration.ofSeconds(3));
    assertEquals(started.worker(), next.worker());
    script.releaseHeldPulls(); // the pull answered late: its window is not computed or pushed
    next.replyTo().tell(new NoLease(new NoLeaseReason.NoJobRunning(), 600_000));
    started.coordinator().expectNoMessage(Duration.ofMillis(500));
    assertEquals(List.of(), script.pushes(0), "nothing pushed for the voided lease");
    assertEquals(List.of(), script.pushes(1));
  }

  @Test
  void aWorkerWhoseDataIsNotTheJobsGivesTheLeaseBackWithoutTraining() {
    Started started = start(spec(2), SETTINGS);
    int pullsBefore = started.script().pulls(0).size();
    Lease base = lease(76, started.jobId(), started.spec(), 0, 32, 1, 1);
    Lease otherData =
        new Lease(
            base.leaseId(), base.jobId(), base.member(), base.membershipEpoch(), base.split(), base.accumulationSteps(),
            base.trainSize(), base.spec(), base.rule(), base.inputs(), "fingerprint-of-other-images");
    started.request().replyTo().tell(new LeaseGranted(otherData));

    CoordinatorProtocol.ReleaseLease released =
        started.coordinator().expectMessageClass(CoordinatorProtocol.ReleaseLease.class, WAIT);
    assertEquals(76, released.leaseId());
    assertTrue(released.failed());
    assertTrue(released.reason().contains("is not the data the job was set up on"), released.reason());
    assertEquals(pullsBefore, started.script().pulls(0).size(), "nothing pulled");
    assertEquals(List.of(), started.script().pushes(0), "nothing trained");
  }

  @Test
  void anIdleWorkerDrainsAtOnce() {
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ActorRef<WorkerProtocol.Command> worker = spawnWorker(coordinator, SETTINGS);
    expectFromWorker(coordinator, RequestLease.class).replyTo().tell(new NoLease(new NoLeaseReason.NoJobRunning(), 600_000));

    worker.tell(WorkerProtocol.Drain.INSTANCE);

    assertEquals(worker, expectFromWorker(coordinator, CoordinatorProtocol.DrainCompleted.class).worker());
    coordinator.expectTerminated(worker, WAIT);
  }

  @Test
  void aWorkerToldToDrainWhileItAsksGivesBackTheLeaseItIsGrantedAndLeaves() {
    Started started = start(spec(2), SETTINGS);

    started.worker().tell(WorkerProtocol.Drain.INSTANCE);
    started.coordinator().expectNoMessage(Duration.ofMillis(300)); // it waits for the answer
    started.request().replyTo().tell(new LeaseGranted(lease(131, started.jobId(), started.spec(), 0, 32, 2, 1)));

    ReleaseLease back = expectFromWorker(started.coordinator(), ReleaseLease.class);
    assertEquals(131, back.leaseId());
    assertFalse(back.failed(), "granted before the coordinator knew of the drain: no failure");
    assertEquals(started.worker(), expectFromWorker(started.coordinator(), CoordinatorProtocol.DrainCompleted.class).worker());
    started.coordinator().expectTerminated(started.worker(), WAIT);
    assertEquals(List.of(), started.script().pushes(0), "nothing trained");
  }

  // ------------------------------------------------------------------ completion

  @Test
  void anUnansweredCompleteSplitIsSentAgainBeforeTheWorkerAsksForNewWork() {
    // The shards are set up by a worker with the usual settings, so that the short coordinator
    // timeout below is spent on the completion, not on a lease request waiting for the set-up.
    Started setUp = start(spec(2), SETTINGS);
    setUp.request().replyTo().tell(new NoLease(new NoLeaseReason.NoJobRunning(), 600_000));
    Duration coordinatorTimeout = Duration.ofSeconds(1);
    WorkerSettings shortCoordinatorTimeout =
        new WorkerSettings(1, false, TestFixtures.SUBSET, Duration.ofSeconds(10), coordinatorTimeout, 3, Duration.ofMillis(300));
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ActorRef<WorkerProtocol.Command> worker = spawnWorker(coordinator, shortCoordinatorTimeout);
    RequestLease request = expectFromWorker(coordinator, RequestLease.class);

    request.replyTo().tell(new LeaseGranted(lease(91, setUp.jobId(), setUp.spec(), 0, 16, 2, 1)));
    CompleteSplit first = expectFromWorker(coordinator, CompleteSplit.class);
    // Left unanswered. Nor does a nudge make the worker ask for other work while it waits.
    worker.tell(WorkAvailable.INSTANCE);
    coordinator.expectNoMessage(coordinatorTimeout.dividedBy(2));
    CompleteSplit again = expectFromWorker(coordinator, CompleteSplit.class);

    assertEquals(91, first.leaseId());
    assertEquals(worker, first.worker());
    assertEquals(16, first.report().samples());
    assertEquals(first.leaseId(), again.leaseId(), "the same lease");
    assertEquals(first.report(), again.report(), "the same report");
    assertEquals(worker, again.worker());
    assertTrue(request.askId() < first.askId() && first.askId() < again.askId(), "sent again as a new ask");
    again.replyTo().tell(new NoLease(new NoLeaseReason.SplitsTaken(0), 50));
    RequestLease next = expectFromWorker(coordinator, RequestLease.class);
    assertEquals(worker, next.worker());
    assertTrue(next.askId() > again.askId());
    next.replyTo().tell(new NoLease(new NoLeaseReason.NoJobRunning(), 600_000));
    TestingShard.Script script = setUp.script();
    assertEquals(List.of("accepted"), outcomes(script.pushes(0)), "the split was trained once");
    assertEquals(List.of("accepted"), outcomes(script.pushes(1)));
  }

  // ------------------------------------------------------------------ leases taken back

  private static List<ShardProtocol.Window> windows(List<PushRecord> pushes) {
    return pushes.stream().map(PushRecord::window).toList();
  }

  @Test
  void pushesNameTheirLeaseAndSplitsAndEveryWindowButTheLastIsReported() {
    Started started = start(spec(2), SETTINGS);
    JobSpec spec = started.spec();
    // Splits 2-4 of epoch 1 (micro-batches of 8), one micro-batch per window.
    Lease lease =
        new Lease(
            101, started.jobId(), 0, 1, new Split(1, 2, 16, 40), 1, TestFixtures.SUBSET_TRAIN_SIZE, spec,
            StepRule.of(spec.globalBatch()), StageInputs.NONE);
    long perEpoch = (TestFixtures.SUBSET_TRAIN_SIZE + 7) / 8;

    started.request().replyTo().tell(new LeaseGranted(lease));
    LeaseProgress first = started.coordinator().expectMessageClass(LeaseProgress.class, WAIT);
    LeaseProgress second = started.coordinator().expectMessageClass(LeaseProgress.class, WAIT);
    CompleteSplit done = expectCompleted(started, 101);

    for (int shard = 0; shard < 2; shard++) {
      assertEquals(
          List.of(
              new ShardProtocol.Window(101, perEpoch + 2, 1),
              new ShardProtocol.Window(101, perEpoch + 3, 1),
              new ShardProtocol.Window(101, perEpoch + 4, 1)),
          windows(started.script().pushes(shard)),
          "shard " + shard);
    }
    assertEquals(started.worker(), first.worker());
    assertEquals(101, first.leaseId());
    assertEquals(8, first.report().samples());
    assertEquals(1, first.report().pushes());
    assertEquals(16, second.report().samples());
    assertEquals(24, done.report().samples());
    assertTrue(
        0 < first.report().lossSum() && first.report().lossSum() < second.report().lossSum()
            && second.report().lossSum() < done.report().lossSum(),
        "each report adds the window's loss");
  }

  @Test
  void aPushRefusedForARevokedLeaseDropsTheLeaseWithoutPushingAgainOrGivingItBack() {
    Started started = start(spec(2), SETTINGS);
    TestingShard.Script script = started.script().failNextPush(0, PushFault.REVOKED);

    started.request().replyTo().tell(new LeaseGranted(lease(111, started.jobId(), started.spec(), 0, 32, 1, 1)));

    // Not given back (the coordinator took it already) nor acked: the worker asks for other work.
    RequestLease next = expectFromWorker(started.coordinator(), RequestLease.class);
    assertEquals(started.worker(), next.worker());
    next.replyTo().tell(new NoLease(new NoLeaseReason.NoJobRunning(), 600_000));
    started.coordinator().expectNoMessage(Duration.ofMillis(500));
    assertEquals(List.of("revoked"), outcomes(script.pushes(0)), "no retry");
    assertEquals(List.of("accepted"), outcomes(script.pushes(1)));
    assertEquals(1, script.pulls(0).size(), "no window after the refusal");
  }

  @Test
  void aShardThatHadPartOfAWindowIsSentItsPartsAndEveryShardGetsEachSplitOnce() {
    Started started = start(spec(2), SETTINGS);
    // Shard 1 had split 0 of the first window (splits 0-1) from an earlier holder of the work.
    TestingShard.Script script = started.script().overlapNextPush(1, 1);

    started.request().replyTo().tell(new LeaseGranted(lease(121, started.jobId(), started.spec(), 0, 32, 2, 1)));
    CompleteSplit done = expectCompleted(started, 121);

    assertEquals(List.of("accepted", "accepted"), outcomes(script.pushes(0)));
    assertEquals(List.of(16, 16), samples(script.pushes(0)));
    assertEquals(
        List.of(new ShardProtocol.Window(121, 0, 2), new ShardProtocol.Window(121, 2, 2)), windows(script.pushes(0)));
    assertEquals(List.of("overlap", "accepted", "accepted", "accepted"), outcomes(script.pushes(1)));
    assertEquals(
        List.of(
            new ShardProtocol.Window(121, 0, 2),
            new ShardProtocol.Window(121, 0, 1),
            new ShardProtocol.Window(121, 1, 1),
            new ShardProtocol.Window(121, 2, 2)),
        windows(script.pushes(1)),
        "the window's two parts on their own, then on as before");
    assertEquals(List.of(16, 8, 8, 16), samples(script.pushes(1)));
    assertEquals(32, done.report().samples());
    assertEquals(3, done.report().pushes());
  }
}
