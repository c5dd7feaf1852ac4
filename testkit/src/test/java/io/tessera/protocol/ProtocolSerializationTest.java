package io.tessera.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.ComputePrecision;
import io.tessera.protocol.spec.DatasetSpec;
import io.tessera.protocol.spec.DistillSpec;
import io.tessera.protocol.spec.EarlyStoppingSpec;
import io.tessera.protocol.spec.FlipSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.LearningRateScaling;
import io.tessera.protocol.spec.LearningRateSchedule;
import io.tessera.protocol.spec.MaeSpec;
import io.tessera.protocol.spec.MemberSpec;
import io.tessera.protocol.spec.ModelKind;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.StageKind;
import io.tessera.protocol.spec.StageSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.TensorSpec;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.testkit.WireRoundTrip;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every message, spec and tensor type of this module survives Akka serialization with the Kryo
 * serializer on a cluster-provider system, and reflection makes sure no wire type goes without a
 * sample here.
 */
class ProtocolSerializationTest {
  private static final String JOB = "job-7f3a";

  private static ActorTestKit testKit;
  private static final Map<ActorRef<?>, TestProbe<?>> probes = new HashMap<>();
  private static List<Object> samples;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("ProtocolSerializationTest", WireRoundTrip.clusterTestConfig());
    samples = buildSamples();
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  @TestFactory
  Stream<DynamicTest> everySampleSurvivesTheWire() {
    return samples.stream()
        .map(
            sample ->
                dynamicTest(
                    sample.getClass().getName() + ": " + sample,
                    () -> {
                      Object copy = WireRoundTrip.roundTrip(testKit.system(), sample);
                      assertEquals(sample, copy);
                      if (!(sample instanceof Enum<?>)) {
                        assertNotSame(sample, copy, "a round trip must produce a new object");
                      }
                      assertRefsReachTheirProbes(copy);
                    }));
  }

  @Test
  void everyMessageOfTheThreeProtocolsHasASample() {
    Set<Class<?>> wireTypes = new LinkedHashSet<>();
    Set<Class<?>> visited = new HashSet<>();
    for (Class<?> protocol :
        List.of(ShardProtocol.class, WorkerProtocol.class, CoordinatorProtocol.class)) {
      collectWireTypes(protocol, visited, wireTypes);
    }
    // Proves the walk reaches replies nested behind sealed interfaces, not just commands.
    assertTrue(wireTypes.contains(ShardProtocol.Stale.class), "walk missed ShardProtocol.Stale");
    assertTrue(wireTypes.contains(WorkerProtocol.WorkAvailable.class));
    assertTrue(wireTypes.contains(CoordinatorProtocol.WorkerShare.class));

    assertEquals(
        Set.of(), missingSamples(wireTypes), "protocol messages without a round-trip sample");
  }

  @Test
  void everyWireTypeOfTheModuleHasASample() throws Exception {
    // The protocol module's classes: a directory when its tests run alone, its jar in a reactor
    // build that has packaged it.
    Path location =
        Path.of(
            TesseraSerializable.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    Set<Class<?>> wireTypes = new LinkedHashSet<>();
    try (java.nio.file.FileSystem jar =
        Files.isDirectory(location) ? null : java.nio.file.FileSystems.newFileSystem(location)) {
      Path classes = jar == null ? location : jar.getPath("/");
      try (Stream<Path> files = Files.walk(classes)) {
        for (Path file : files.filter(f -> f.toString().endsWith(".class")).toList()) {
          String relative = classes.relativize(file).toString();
          String name = relative.substring(0, relative.length() - ".class".length());
          Class<?> type =
              Class.forName(
                  name.replace(file.getFileSystem().getSeparator(), "."),
                  false,
                  getClass().getClassLoader());
          if (isConcreteWireType(type)) {
            wireTypes.add(type);
          }
        }
      }
    }
    assertTrue(wireTypes.contains(TensorPayload.class), "scan missed TensorPayload");
    assertTrue(wireTypes.contains(JobSpec.class), "scan missed JobSpec");

    assertEquals(Set.of(), missingSamples(wireTypes), "wire types without a round-trip sample");
  }

  @Test
  void everyConstantOfEveryEnumOnTheWireIsSampled() {
    Set<Class<?>> enumTypes = new LinkedHashSet<>();
    for (Object sample : samples) {
      collectEnumComponentTypes(sample.getClass(), new HashSet<>(), enumTypes);
    }
    assertTrue(enumTypes.contains(WirePrecision.class), "component walk missed WirePrecision");
    assertTrue(enumTypes.contains(JobState.class), "component walk missed JobState");

    Set<Object> seen = new HashSet<>();
    samples.forEach(sample -> walk(sample, seen::add));
    List<String> missing = new ArrayList<>();
    for (Class<?> type : enumTypes) {
      for (Object constant : type.getEnumConstants()) {
        if (!seen.contains(constant)) {
          missing.add(type.getSimpleName() + "." + constant);
        }
      }
    }
    assertEquals(List.of(), missing, "enum constants that no sample carries over the wire");
  }

  private static Set<String> missingSamples(Set<Class<?>> wireTypes) {
    Set<Class<?>> sampled =
        samples.stream()
            .map(s -> s instanceof Enum<?> e ? e.getDeclaringClass() : s.getClass())
            .collect(Collectors.toSet());
    return wireTypes.stream()
        .filter(type -> !sampled.contains(type))
        .map(Class::getName)
        .collect(Collectors.toCollection(TreeSet::new));
  }

  private static boolean isConcreteWireType(Class<?> type) {
    return TesseraSerializable.class.isAssignableFrom(type)
        && !type.isInterface()
        && !Modifier.isAbstract(type.getModifiers())
        && !type.isAnonymousClass();
  }

  private static void collectWireTypes(Class<?> type, Set<Class<?>> visited, Set<Class<?>> out) {
    if (!visited.add(type)) {
      return;
    }
    if (isConcreteWireType(type)) {
      out.add(type);
    }
    for (Class<?> nested : type.getDeclaredClasses()) {
      collectWireTypes(nested, visited, out);
    }
    if (type.isSealed()) {
      for (Class<?> permitted : type.getPermittedSubclasses()) {
        collectWireTypes(permitted, visited, out);
      }
    }
  }

  /** Enum types reachable through record components and list element types. */
  private static void collectEnumComponentTypes(Type type, Set<Type> visited, Set<Class<?>> out) {
    if (!visited.add(type)) {
      return;
    }
    if (type instanceof ParameterizedType parameterized) {
      for (Type argument : parameterized.getActualTypeArguments()) {
        collectEnumComponentTypes(argument, visited, out);
      }
      collectEnumComponentTypes(parameterized.getRawType(), visited, out);
    } else if (type instanceof Class<?> cls) {
      if (cls.isEnum()) {
        out.add(cls);
      } else if (cls.isRecord()) {
        for (RecordComponent component : cls.getRecordComponents()) {
          collectEnumComponentTypes(component.getGenericType(), visited, out);
        }
      }
    }
  }

  /** Visits a value and everything reachable from it through record components and lists. */
  private static void walk(Object value, Consumer<Object> visit) {
    if (value == null) {
      return;
    }
    visit.accept(value);
    if (value instanceof Record record) {
      for (RecordComponent component : record.getClass().getRecordComponents()) {
        try {
          walk(component.getAccessor().invoke(record), visit);
        } catch (ReflectiveOperationException e) {
          throw new AssertionError("cannot read " + component, e);
        }
      }
    } else if (value instanceof List<?> list) {
      list.forEach(element -> walk(element, visit));
    }
  }

  /** A ref that came off the wire must still deliver to the probe it was made from. */
  private static void assertRefsReachTheirProbes(Object copy) {
    List<ActorRef<?>> refs = new ArrayList<>();
    walk(
        copy,
        value -> {
          if (value instanceof ActorRef<?> ref) {
            refs.add(ref);
          }
        });
    for (ActorRef<?> ref : refs) {
      @SuppressWarnings("unchecked")
      TestProbe<Object> probe = (TestProbe<Object>) probes.get(ref);
      assertNotNull(probe, "deserialized ref " + ref + " matches no probe");
      String token = "delivered through the copy of " + ref.path();
      @SuppressWarnings("unchecked")
      ActorRef<Object> untyped = (ActorRef<Object>) ref;
      untyped.tell(token);
      probe.expectMessage(token);
    }
  }

  private static <T> ActorRef<T> ref() {
    TestProbe<T> probe = testKit.createTestProbe();
    probes.put(probe.getRef(), probe);
    return probe.getRef();
  }

  private static float[] gaussians(Random random, int count, double scale) {
    float[] values = new float[count];
    for (int i = 0; i < count; i++) {
      values[i] = (float) (random.nextGaussian() * scale);
    }
    return values;
  }

  private static List<Object> buildSamples() {
    Random random = new Random(20240917L);

    // --- specs ---
    DatasetSpec dataset = new DatasetSpec(DatasetSpec.FASHION_MNIST, 6000, 1000);
    ModelSpec model =
        ModelSpec.builder()
            .optPatchSize(4)
            .optDim(96)
            .optDepth(6)
            .optHeads(6)
            .optMlpDim(192)
            .build();
    OptimizerSpec sgd =
        OptimizerSpec.builder()
            .optKind(OptimizerKind.SGD)
            .optLearningRate(0.05)
            .optWeightDecay(1e-4)
            .optMomentum(0.8)
            .optNesterov(true)
            .optSchedule(LearningRateSchedule.CONSTANT)
            .optWarmupSteps(20)
            .build();
    OptimizerSpec adamw =
        OptimizerSpec.builder()
            .optLearningRate(2e-3)
            .optWarmupSteps(50)
            .optMinLearningRate(1e-5)
            .build();
    MemberSpec member = new MemberSpec("wide_2", -7L, 2.5, 3e-3, Double.NaN);
    JobSpec ensemble =
        JobSpec.builder()
            .setName("fmnist-vit-ensemble")
            .optDataset(dataset)
            .optModel(model)
            .optOptimizer(sgd)
            .optGlobalBatch(512)
            .optMicroBatch(32)
            .optEpochs(3)
            .optSplitSize(2048)
            .optStaleness(2)
            .optShards(4)
            .optMembers(List.of(new MemberSpec("m0", 11L), new MemberSpec("m1", 12L), member))
            .optWirePrecision(WirePrecision.BF16)
            .optSeed(-123_456_789L)
            .optMode(TrainingMode.SYNC)
            .optBackupWorkers(1)
            .optLearningRateScaling(LearningRateScaling.SQUARE_ROOT)
            .build();
    JobSpec single =
        JobSpec.builder().setName("fmnist-vit").optOptimizer(adamw).optStalenessDamping(true).build();
    JobSpec synthetic =
        JobSpec.builder()
            .setName("simulated")
            .optMode(TrainingMode.SSP)
            .optDataset(new DatasetSpec(DatasetSpec.SYNTHETIC, 4096, 0))
            .optModel(
                ModelSpec.builder()
                    .optKind(ModelKind.SYNTHETIC)
                    .optParameters(100_000)
                    .optComputeMicrosPerSample(250)
                    .build())
            .build();
    JobSpec fp16 =
        JobSpec.builder()
            .setName("fmnist-fp16")
            .optWirePrecision(WirePrecision.FP16)
            .optLearningRateScaling(LearningRateScaling.NONE)
            .build();

    // --- stages ---
    MaeSpec mae = new MaeSpec(0.6, 48, 2, 3, 96, false);
    FlipSpec flip = new FlipSpec(0.75, 32, 1, 2, 64, 48, 1);
    DistillSpec distill = new DistillSpec(0.3, 2.5);
    JobSpec pretrain =
        JobSpec.builder()
            .setName("mae-pretrain")
            .optStage(new StageSpec("pretrain", StageKind.MAE_PRETRAIN, "", "", mae, flip, distill, ComputePrecision.FP32))
            .build();
    JobSpec student =
        JobSpec.builder()
            .setName("mae-student")
            .optDataset(new DatasetSpec(DatasetSpec.FASHION_MNIST, 6_000, 1_000, 500))
            .optEpochs(4)
            .optEarlyStopping(new EarlyStoppingSpec(2, 0.001))
            .optStage(
                new StageSpec("student", StageKind.DISTILL, "pretrain", "pretrain-1", MaeSpec.defaults(),
                    FlipSpec.defaults(), distill, ComputePrecision.FP16))
            .build();
    JobSpec teacherStage =
        JobSpec.builder()
            .setName("mae-finetune")
            .optStage(
                new StageSpec("pretrain-1", StageKind.FINETUNE, "pretrain", "", MaeSpec.defaults(), FlipSpec.defaults(),
                    DistillSpec.defaults(), ComputePrecision.FP16))
            .build();
    PipelineSpec pipeline = new PipelineSpec("mae-pipeline", List.of(pretrain, teacherStage, student));
    WorkerProtocol.SourceModel source = new WorkerProtocol.SourceModel("job-4.pretrain", 1, pretrain);
    WorkerProtocol.StageInputs inputs =
        new WorkerProtocol.StageInputs(List.of(source), List.of(new WorkerProtocol.SourceModel("job-4.pretrain-1", 0, teacherStage)));
    CoordinatorProtocol.EnsembleResult ensembleResult = new CoordinatorProtocol.EnsembleResult(10_000, 0.8891, 0.8874, 0.8902);

    // --- tensors ---
    TensorPayload fp32 = TensorPayload.encode(gaussians(random, 37, 0.02), WirePrecision.FP32);
    TensorPayload bf16 = TensorPayload.encode(gaussians(random, 53, 1.0), WirePrecision.BF16);
    TensorPayload half = TensorPayload.encode(gaussians(random, 29, 1e-3), WirePrecision.FP16);
    TensorPayload empty = TensorPayload.encode(new float[0], WirePrecision.FP32);
    TensorPayload specials =
        TensorPayload.encode(
            new float[] {
              0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1e-40f
            },
            WirePrecision.FP32);
    ParameterLayout layout =
        new ParameterLayout(
            List.of(
                new TensorSpec("patch_embed.weight", new int[] {64, 49}, true),
                new TensorSpec("patch_embed.bias", new int[] {64}, false),
                new TensorSpec("cls_token", new int[] {1, 1, 64}, false),
                new TensorSpec("head.weight", new int[] {10, 64}, true)));
    ShardRange range = layout.shardRanges(2).get(1);
    List<Segment> segments = layout.segments(range);
    TensorPayload slice =
        TensorPayload.encode(gaussians(random, range.size(), 0.02), WirePrecision.FP32);

    // --- parameter-shard protocol ---
    ShardProtocol.ShardSetup setup =
        new ShardProtocol.ShardSetup(JOB, 1, range, segments, sgd, 512, 2, 3_000L, TrainingMode.SYNC, false);
    ShardProtocol.StepRule syncRule = new ShardProtocol.StepRule(448, 0.7071, 1_234L, 1_232L);

    // --- coordinator protocol ---
    ActorRef<WorkerProtocol.Command> worker = ref();
    CoordinatorProtocol.Split split = new CoordinatorProtocol.Split(2, 13, 26_624, 28_672);
    CoordinatorProtocol.SplitReport report =
        new CoordinatorProtocol.SplitReport(2048, 1234.5, 16, 1, 9_876_543_210L);
    CoordinatorProtocol.Lease lease =
        new CoordinatorProtocol.Lease(77L, JOB, 1, 5L, split, 4, 60_000, ensemble, syncRule, inputs);
    CoordinatorProtocol.MemberResult result =
        new CoordinatorProtocol.MemberResult(0, "m0", 10_000, 0.8812, 0.3311, 0.8790);
    List<CoordinatorProtocol.JobStatus> statuses = new ArrayList<>();
    for (JobState state : JobState.values()) {
      boolean failed = state == JobState.FAILED;
      statuses.add(
          new CoordinatorProtocol.JobStatus(
              JOB + "-" + state.ordinal(),
              "fmnist-vit",
              state,
              state.ordinal() * 10_000L,
              180_000L,
              state.ordinal() * 5,
              88,
              state == JobState.QUEUED ? 0 : 3,
              state.ordinal(),
              state == JobState.QUEUED ? Double.NaN : 0.61 - state.ordinal() * 0.05,
              state == JobState.QUEUED ? 0.0 : 5120.25,
              state == JobState.COMPLETED
                  ? List.of(result, new CoordinatorProtocol.MemberResult(1, "m1", 10_000, 0.8790))
                  : List.of(),
              failed ? "worker pool empty for 600 s" : state == JobState.RUNNING ? null : "",
              state.ordinal() % 3,
              state == JobState.QUEUED ? -1L : state.ordinal(),
              state.ordinal() % 2 == 0 ? "main" : "finetune",
              StageKind.values()[state.ordinal() % StageKind.values().length],
              state == JobState.COMPLETED ? ensembleResult : null,
              state == JobState.COMPLETED ? List.of(-1, 6) : List.of()));
    }
    CoordinatorProtocol.WorkerShare share = new CoordinatorProtocol.WorkerShare("worker-a/gpu0", 3);
    CoordinatorProtocol.AccumulationPlan plan =
        new CoordinatorProtocol.AccumulationPlan(
            5L, 0, 256, List.of(share, new CoordinatorProtocol.WorkerShare("worker-b/gpu1", 5)));
    CoordinatorProtocol.AccumulationPlan shrunk =
        new CoordinatorProtocol.AccumulationPlan(
            6L, 0, 256, List.of(new CoordinatorProtocol.WorkerShare("worker-b/gpu1", 8)));

    List<Object> all = new ArrayList<>();
    all.addAll(List.of(dataset, DatasetSpec.fashionMnist(), model, sgd, adamw, member));
    all.addAll(List.of(ensemble, single, fp16, synthetic));
    all.addAll(List.of(fp32, bf16, half, empty, specials, layout, range, segments.get(0)));
    all.add(new TensorSpec("blocks.0.attn.qkv.weight", new int[] {192, 64}, true));

    all.add(setup);
    all.add(new ShardProtocol.Initialize(setup, slice, ref()));
    all.add(new ShardProtocol.Initialized(42L, true));
    all.add(new ShardProtocol.Initialized(0L, false));
    for (WirePrecision precision : WirePrecision.values()) {
      all.add(new ShardProtocol.Pull(precision, "worker-a/gpu0", ref()));
    }
    all.add(new ShardProtocol.Pull(WirePrecision.FP32, "", ref()));
    all.add(new ShardProtocol.Pulled(1, 2L, 42L, bf16));
    all.add(new ShardProtocol.Push("worker-a/gpu0", 17L, 2L, 40L, 32, half, syncRule, ref()));
    all.add(new ShardProtocol.Push("worker-b/gpu1", 18L, 2L, 39L, 64, fp32, ShardProtocol.StepRule.of(512), ref()));
    ShardProtocol.Window window = new ShardProtocol.Window(1_204L, 9_380L, 4);
    all.add(
        new ShardProtocol.Push(
            "worker-b/gpu1", 19L, 2L, 40L, 256, fp32, ShardProtocol.StepRule.of(512), window, ref()));
    all.add(window);
    all.add(ShardProtocol.Window.NONE);
    all.add(new ShardProtocol.Revoked(44L, "lease 1204 is no longer current at shard job-1:m0:s1"));
    all.add(new ShardProtocol.Overlap(44L, 9_382L));
    all.add(new ShardProtocol.FenceLeases(1_230L, List.of(1_204L, 1_221L)));
    all.add(new ShardProtocol.FenceLeases(1_231L, List.of()));
    all.add(syncRule);
    all.add(new ShardProtocol.UpdateRoster(6L, List.of("worker-a/gpu0", "worker-b/gpu1")));
    all.add(new ShardProtocol.UpdateRoster(7L, List.of()));
    all.add(new ShardProtocol.Accepted(43L));
    all.add(new ShardProtocol.Duplicate(43L));
    all.add(new ShardProtocol.Stale(12L));
    all.add(new ShardProtocol.GetStatus(ref()));
    all.add(
        new ShardProtocol.ShardStatus(
            ShardProtocol.entityId(JOB, 1, 1), true, 2L, 7L, 43L, 100L, 3L, 2L, 1L, 96, 2L, 1L,
            List.of("worker-a/gpu0", "worker-b/gpu1")));
    all.add(
        new ShardProtocol.ShardStatus(
            ShardProtocol.entityId(JOB, 1, 0), true, 2L, 7L, 43L, 100L, 3L, 2L, 1L, 96, 2L, 1L,
            List.of("worker-a/gpu0"), 5L));
    all.add(
        new ShardProtocol.ShardStatus(
            ShardProtocol.entityId(JOB, 1, 2), true, 2L, 7L, 43L, 100L, 3L, 2L, 1L, 96, 2L, 1L,
            List.of("worker-a/gpu0"), 5L, 3_000_000_123L, 3_000_000_125L));
    all.add(new ShardProtocol.TakeCheckpoint(8L, 2L, List.of(1L, 14L, 3_000_000_000L), ref()));
    all.add(new ShardProtocol.TakeCheckpoint(9L, 2L, List.of(), ref()));
    all.add(new ShardProtocol.CheckpointSaved(1, 8L, 19L, 44L));
    all.add(new ShardProtocol.RewindTo(3L));
    all.add(new ShardProtocol.ConfirmEpoch(3L, ref()));
    all.add(new ShardProtocol.EpochConfirmed(1, 3L, 7L, 40L));
    all.add(ShardProtocol.StopShard.INSTANCE);

    WorkerProtocol.DatasetInfo info = new WorkerProtocol.DatasetInfo(60_000, 10_000, "9f2c41d0");
    all.add(WorkerProtocol.WorkAvailable.INSTANCE);
    all.add(new WorkerProtocol.InitializeModel(JOB, 2, ensemble, WorkerProtocol.StageInputs.NONE, ref()));
    all.add(new WorkerProtocol.InitializeModel("job-4.student", 0, student, inputs, ref()));
    all.add(new WorkerProtocol.ModelInitialized(JOB, 2, 210_314, 52, info));
    all.add(info);
    all.add(new WorkerProtocol.SetAccumulation(JOB, 0, 5L, 3));
    all.add(new WorkerProtocol.Evaluate(JOB, 1, single, WorkerProtocol.StageInputs.NONE, false, ref()));
    all.add(new WorkerProtocol.Evaluate("job-4.student", 0, student, inputs, true, ref()));
    all.add(new WorkerProtocol.EvaluationReport(JOB, 1, 10_000, 8_765, 0.3712, 930L, 500, 431));
    all.add(new WorkerProtocol.EvaluationReport("job-4.pretrain", 0, 10_000, 0, 0.4183, 930L, 0, 0));
    all.add(new WorkerProtocol.EvaluateEnsemble("job-4.pretrain-1", teacherStage, List.of(source, source), inputs, ref()));
    all.add(
        new WorkerProtocol.EnsembleReport("job-4.pretrain-1", 10_000, List.of(0.8801, 0.8790), List.of(0.874, Double.NaN), 0.8891, 0.8874, 0.8902));
    all.add(WorkerProtocol.Drain.INSTANCE);
    all.add(new WorkerProtocol.AbandonJob("job-4.student"));
    all.add(new WorkerProtocol.LeasesVoided("job-4.student", 118L));

    all.add(new CoordinatorProtocol.ResolveShardRecovery(JOB, 1, 0, ref()));
    all.add(new CoordinatorProtocol.ShardRecoveryPlan(2L, 7L, 19L));
    all.add(new CoordinatorProtocol.ShardRecoveryPlan(0L, -1L, 0L));
    all.add(new CoordinatorProtocol.ShardRecoveryPlan(1L, 12L, 14L, true));
    all.add(new CoordinatorProtocol.ShardRecoveryPlan(3L, 12L, 14L, false, 1_231L));
    all.add(new AdminProtocol.CancelJob("job-4", ref()));
    all.add(new CoordinatorProtocol.JobCancelled(List.of("job-4.pretrain-1", "job-4.student")));
    all.add(new AdminProtocol.PauseJob("job-4", ref()));
    all.add(new AdminProtocol.ResumeJob("job-4.student", ref()));
    all.add(new AdminProtocol.JobsChanged(List.of("job-4.pretrain-1", "job-4.student")));
    all.add(new AdminProtocol.RestoreCheckpoint(JOB, 3L, ref()));
    all.add(new AdminProtocol.CheckpointRestored(JOB, 3L, List.of(4L, 5L)));
    all.add(new AdminProtocol.ListCheckpoints(JOB, ref()));
    all.add(new AdminProtocol.CheckpointInfo(7L, 1_763_900_090_000L, 500L, 940L, 2));
    all.add(new AdminProtocol.SetLearningRate(JOB, 1, 5e-4, ref()));
    all.add(new AdminProtocol.LearningRateSet(JOB, 1, 5e-4, 0.25));
    all.add(
        new AdminProtocol.CheckpointList(
            JOB,
            List.of(
                new AdminProtocol.CheckpointInfo(0L, 1_763_900_000_000L, 0L, 940L, 4),
                new AdminProtocol.CheckpointInfo(3L, 1_763_900_030_000L, 312L, 940L, 4),
                new AdminProtocol.CheckpointInfo(4L, 1_763_900_060_000L, -1L, -1L, 4))));
    all.add(new CoordinatorProtocol.ReportCorruptCheckpoint(JOB, 1, 0, 7L, "CRC mismatch"));
    all.add(new AdminProtocol.RequestCheckpoint(JOB, ref()));
    all.add(new CoordinatorProtocol.CheckpointRequested(JOB, 9L));
    all.add(new AdminProtocol.GetAuditLog(ref()));
    CoordinatorProtocol.AuditRecord audit =
        new CoordinatorProtocol.AuditRecord(3L, 1_763_900_000_000L, "submit", "job-3 (fmnist-vit)");
    all.add(audit);
    all.add(new CoordinatorProtocol.AuditLog(List.of(audit)));
    all.add(new io.tessera.protocol.spec.CheckpointSpec(30_000L, 500L));
    all.add(new EarlyStoppingSpec(3, 0.0025));
    all.add(new AdminProtocol.SubmitJob(ensemble, ref()));
    all.add(new CoordinatorProtocol.JobAccepted(JOB));
    all.add(new AdminProtocol.SubmitPipeline(pipeline, ref()));
    all.add(new CoordinatorProtocol.PipelineAccepted("job-4", List.of("job-4.pretrain", "job-4.pretrain-1", "job-4.student")));
    all.addAll(List.of(mae, flip, distill, pretrain.stage(), student.stage(), pipeline, source, inputs, ensembleResult));
    all.add(new CoordinatorProtocol.MemberResult(1, "m1", 10_000, Double.NaN, 0.4183, Double.NaN));
    all.add(new AdminProtocol.GetJobStatus(JOB, ref()));
    all.add(new AdminProtocol.ListJobs(ref()));
    all.add(new CoordinatorProtocol.JobList(statuses));
    all.add(new CoordinatorProtocol.JobList(List.of()));
    all.addAll(statuses);
    all.add(new AdminProtocol.GetAccumulationHistory(JOB, ref()));
    all.add(new CoordinatorProtocol.RequestLease(worker, 12L, ref()));
    all.add(new CoordinatorProtocol.CompleteSplit(worker, 77L, report, 13L, ref()));
    all.add(new CoordinatorProtocol.LeaseProgress(worker, 77L, report));
    all.add(new CoordinatorProtocol.ReleaseLease(worker, 78L, "worker stopping", false));
    all.add(new CoordinatorProtocol.ReleaseLease(worker, 79L, "CUDA out of memory", true));
    all.add(new AdminProtocol.DrainWorkers("127.0.0.1:2553", ref()));
    all.add(new CoordinatorProtocol.DrainStarted(List.of("worker-a/gpu0", "worker-b/gpu1")));
    all.add(new CoordinatorProtocol.DrainCompleted(worker));
    all.add(new AdminProtocol.SetGlobalBatch(JOB, 1024, ref()));
    all.add(new CoordinatorProtocol.GlobalBatchSet(JOB, 1024, 1.4142));
    all.add(new AdminProtocol.ListWorkers(ref()));
    CoordinatorProtocol.WorkerInfo training = new CoordinatorProtocol.WorkerInfo("worker-a/gpu0", "training", 1, 3, 1, -1L);
    CoordinatorProtocol.WorkerInfo drained = new CoordinatorProtocol.WorkerInfo("worker-c/gpu0", "drained", -1, 0, 0, 812L);
    all.add(training);
    all.add(new CoordinatorProtocol.WorkerList(List.of(training, drained)));
    all.add(new AdminProtocol.GetTrainingCurve(JOB, 0, ref()));
    all.add(new CoordinatorProtocol.TrainingCurve(JOB, 0, List.of(2.30, 1.95, 1.61)));
    all.add(new AdminProtocol.GetShardStatuses(JOB, ref()));
    all.add(
        new CoordinatorProtocol.ShardStatuses(
            JOB,
            List.of(
                new ShardProtocol.ShardStatus(
                    ShardProtocol.entityId(JOB, 0, 0), true, 0L, 3L, 12L, 40L, 0L, 1L, 0L, 0, 0L, 0L,
                    List.of("worker-a/gpu0")),
                new ShardProtocol.ShardStatus(
                    ShardProtocol.entityId(JOB, 0, 1), true, 0L, 3L, 12L, 40L, 0L, 1L, 0L, 0, 0L, 0L,
                    List.of("worker-b/gpu1"), 2L, 96L, 97L))));
    all.add(new CoordinatorProtocol.LeaseGranted(lease));
    // Every kind of no-lease answer, alone and inside the reply.
    List<CoordinatorProtocol.NoLeaseReason> reasons =
        List.of(
            new CoordinatorProtocol.NoLeaseReason.NotListed(),
            new CoordinatorProtocol.NoLeaseReason.Draining(),
            new CoordinatorProtocol.NoLeaseReason.BackingOff(3),
            new CoordinatorProtocol.NoLeaseReason.NoJobRunning(),
            new CoordinatorProtocol.NoLeaseReason.JobNotLeasing(JOB, JobState.RECOVERING),
            new CoordinatorProtocol.NoLeaseReason.SurplusWorker(),
            new CoordinatorProtocol.NoLeaseReason.StepsTaken(1),
            new CoordinatorProtocol.NoLeaseReason.SplitsTaken(2),
            new CoordinatorProtocol.NoLeaseReason.CheckpointDue(),
            new CoordinatorProtocol.NoLeaseReason.CheckpointDueBetweenSteps(),
            new CoordinatorProtocol.NoLeaseReason.CheckpointTaking(),
            new CoordinatorProtocol.NoLeaseReason.CheckpointTakingBetweenSteps(),
            new CoordinatorProtocol.NoLeaseReason.AwaitingContributions());
    all.addAll(reasons);
    all.add(new CoordinatorProtocol.NoLease(new CoordinatorProtocol.NoLeaseReason.SplitsTaken(2), 500L));
    all.add(new CoordinatorProtocol.NoLease(new CoordinatorProtocol.NoLeaseReason.AwaitingContributions(), 500L));
    all.addAll(List.of(lease, split, report, result, plan, share));
    all.add(new CoordinatorProtocol.AccumulationHistory(JOB, 512, 32, List.of(plan, shrunk)));
    all.sort(Comparator.comparing(sample -> sample.getClass().getName()));
    return all;
  }
}
