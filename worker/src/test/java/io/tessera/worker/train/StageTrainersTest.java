package io.tessera.worker.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.tessera.protocol.spec.ComputePrecision;
import io.tessera.protocol.spec.DatasetSpec;
import io.tessera.protocol.spec.DistillSpec;
import io.tessera.protocol.spec.FlipSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.MaeSpec;
import io.tessera.protocol.spec.MemberSpec;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.spec.StageKind;
import io.tessera.protocol.spec.StageSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.TensorSpec;
import io.tessera.protocol.worker.WorkerProtocol.SourceModel;
import io.tessera.protocol.worker.WorkerProtocol.StageInputs;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.data.StageData;
import io.tessera.worker.testing.TestFixtures;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every stage kind's trainer, built as a worker builds it, trains a window of the shipped subset
 * and scores it; later stages read earlier ones by name.
 */
class StageTrainersTest {
  private static final int VALIDATION = 200;
  private static FashionMnist subset;
  private static NDManager manager;

  @BeforeAll
  static void load() {
    subset = FashionMnist.load(TestFixtures.SUBSET);
    manager = NDManager.newBaseManager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  static JobSpec stage(StageSpec stage, ModelSpec model, int members) {
    return JobSpec.builder()
        .setName("stage-test")
        .optModel(model)
        .optDataset(new DatasetSpec(DatasetSpec.FASHION_MNIST, 0, 300, VALIDATION))
        .optGlobalBatch(32)
        .optMicroBatch(16)
        .optMembers(
            java.util.stream.IntStream.range(0, members).mapToObj(m -> new MemberSpec("m" + m, 10L + m)).toList())
        .optStage(stage)
        .build();
  }

  static StageSpec kind(String name, StageKind kind, String from, String teacher) {
    return new StageSpec(
        name, kind, from, teacher, new MaeSpec(0.75, 16, 1, 2, 32, true), new FlipSpec(0.5, 16, 1, 2, 32, 16, 1),
        new DistillSpec(0.5, 2.0), ComputePrecision.FP32);
  }

  private static MemberTrainer build(JobSpec spec, StageInputs inputs, Function<SourceModel, float[]> read) {
    return StageTrainers.create(spec, 0, () -> StageData.of(subset, spec.dataset()), () -> manager, inputs, read);
  }

  private static float[] gradientOfOneWindow(MemberTrainer trainer, float[] values) {
    float[] gradient = new float[values.length];
    double loss = trainer.trainWindow(values, 0, 0, 32, gradient);
    assertTrue(Double.isFinite(loss) && loss > 0, "window loss " + loss);
    double norm = 0;
    for (float g : gradient) {
      assertTrue(Float.isFinite(g), "non-finite gradient");
      norm += g * g;
    }
    assertTrue(norm > 0, "the window left no gradient");
    return gradient;
  }

  @Test
  void theValidationSplitIsCarvedFromTheEndOfTheTrainingImages() {
    StageData data = StageData.of(subset, new DatasetSpec(DatasetSpec.FASHION_MNIST, 1000, 300, VALIDATION));
    assertEquals(800, data.train().size());
    assertEquals(VALIDATION, data.validation().size());
    assertEquals(300, data.test().size());
    assertEquals(subset.train().label(800), data.validation().label(0), "validation starts where training stops");
    assertEquals(800, data.info().trainSize(), "the ledger cuts only the training part");
  }

  @Test
  void maeTrainsOnMaskedPatchesAndReportsTheTestLoss() {
    JobSpec spec = stage(kind("pretrain", StageKind.MAE_PRETRAIN, "", ""), TestFixtures.tinyVit(), 1);
    try (MemberTrainer trainer = build(spec, StageInputs.NONE, s -> null)) {
      assertInstanceOf(MaeTrainer.class, trainer);
      float[] values = trainer.initialValues(1);
      float[] first = gradientOfOneWindow(trainer, values);
      assertArrayEquals(first, gradientOfOneWindow(trainer, values), "the masks repeat for the same window");
      MemberTrainer.Score score = trainer.evaluate(values);
      assertEquals(300, score.samples());
      assertEquals(0, score.correct(), "an autoencoder answers no classes");
      assertTrue(score.summedLoss() > 0 && Double.isFinite(score.summedLoss()));
    }
  }

  @Test
  void maeLossFallsUnderPlainGradientSteps() {
    JobSpec spec = stage(kind("pretrain", StageKind.MAE_PRETRAIN, "", ""), TestFixtures.tinyVit(), 1);
    try (MemberTrainer trainer = build(spec, StageInputs.NONE, s -> null)) {
      float[] values = trainer.initialValues(1);
      double before = trainer.evaluate(values).summedLoss();
      for (int step = 0; step < 30; step++) {
        float[] gradient = new float[values.length];
        trainer.trainWindow(values, 0, (step * 32) % 2000, (step * 32) % 2000 + 32, gradient);
        for (int i = 0; i < values.length; i++) {
          values[i] -= 0.02f * gradient[i] / 32;
        }
      }
      double after = trainer.evaluate(values).summedLoss();
      assertTrue(after < 0.9 * before, "masked-patch loss went from " + before + " to " + after);
    }
  }

  @Test
  void finetuneStartsFromTheEncoderOfTheStageBefore() {
    JobSpec pretrain = stage(kind("pretrain", StageKind.MAE_PRETRAIN, "", ""), TestFixtures.tinyVit(), 1);
    JobSpec finetune = stage(kind("finetune", StageKind.FINETUNE, "pretrain", ""), TestFixtures.tinyVit(), 3);
    ParameterLayout sourceLayout = StageTrainers.layoutOf(pretrain);
    float[] source = patterned(sourceLayout, 97);
    StageInputs inputs = new StageInputs(List.of(new SourceModel("job-1.pretrain", 0, pretrain)), List.of());
    try (MemberTrainer trainer = build(finetune, inputs, s -> source)) {
      assertInstanceOf(ClassifierTrainer.class, trainer);
      float[] values = StageTrainers.initialValues(finetune, trainer, 10, inputs, s -> source);
      assertEncoderCarriedOver(sourceLayout, source, trainer, values);
      gradientOfOneWindow(trainer, values);
    }
  }

  @Test
  void aDistilledStudentMayStartFromAnEarlierEncoder() {
    JobSpec pretrain = stage(kind("pretrain", StageKind.MAE_PRETRAIN, "", ""), TestFixtures.tinyVit(), 1);
    JobSpec teachers = stage(kind("teachers", StageKind.CLASSIFY, "", ""), TestFixtures.tinyVit(), 1);
    JobSpec student = stage(kind("student", StageKind.DISTILL, "pretrain", "teachers"), TestFixtures.tinyVit(), 1);
    ParameterLayout sourceLayout = StageTrainers.layoutOf(pretrain);
    float[] source = patterned(sourceLayout, 89);
    float[] teacher;
    try (MemberTrainer classifier = build(teachers, StageInputs.NONE, s -> null)) {
      teacher = classifier.initialValues(3);
    }
    StageInputs inputs =
        new StageInputs(
            List.of(new SourceModel("job-1.pretrain", 0, pretrain)),
            List.of(new SourceModel("job-1.teachers", 0, teachers)));
    Function<SourceModel, float[]> read = s -> s.jobId().endsWith("pretrain") ? source : teacher;
    try (MemberTrainer trainer = build(student, inputs, read)) {
      float[] values = StageTrainers.initialValues(student, trainer, 10, inputs, read);
      assertEncoderCarriedOver(sourceLayout, source, trainer, values);
      gradientOfOneWindow(trainer, values);
    }
  }

  /** Distinct, recognisable values for every parameter of {@code layout}. */
  private static float[] patterned(ParameterLayout layout, int period) {
    float[] values = new float[layout.totalSize()];
    for (int i = 0; i < values.length; i++) {
      values[i] = (i % period) / 1000f;
    }
    return values;
  }

  /** Every encoder tensor of {@code values} equals the source's by name; the head is the member's own. */
  private static void assertEncoderCarriedOver(
      ParameterLayout sourceLayout, float[] source, MemberTrainer trainer, float[] values) {
    ParameterLayout target = trainer.layout();
    for (TensorSpec tensor : target.tensors()) {
      int at = target.offsetOf(tensor.name());
      if (tensor.name().startsWith("encoder.")) {
        int from = sourceLayout.offsetOf(tensor.name());
        for (int i = 0; i < tensor.size(); i++) {
          assertEquals(source[from + i], values[at + i], tensor.name() + " was not carried over");
        }
      }
    }
    float[] fresh = trainer.initialValues(10);
    int head = target.offsetOf("head.weight");
    assertEquals(fresh[head], values[head], "the head starts from the member's seed");
  }

  @Test
  void aFinetuneWhoseEncoderDoesNotMatchIsRefusedByName() {
    JobSpec pretrain = stage(kind("pretrain", StageKind.MAE_PRETRAIN, "", ""), TestFixtures.tinyVit(), 1);
    ModelSpec wider = ModelSpec.builder().optPatchSize(7).optDim(32).optDepth(1).optHeads(2).optMlpDim(32).build();
    JobSpec finetune = stage(kind("finetune", StageKind.FINETUNE, "pretrain", ""), wider, 1);
    float[] source = new float[StageTrainers.layoutOf(pretrain).totalSize()];
    StageInputs inputs = new StageInputs(List.of(new SourceModel("job-1.pretrain", 0, pretrain)), List.of());
    try (MemberTrainer trainer = build(finetune, inputs, s -> source)) {
      IllegalArgumentException refused =
          assertThrows(
              IllegalArgumentException.class,
              () -> StageTrainers.initialValues(finetune, trainer, 10, inputs, s -> source));
      assertTrue(refused.getMessage().contains("stage 'finetune' from stage 'pretrain'"), refused.getMessage());
      assertTrue(refused.getMessage().contains("encoder.patch_embed.weight"), refused.getMessage());
    }
  }

  @Test
  void aLaterStageWithoutItsInputIsRefused() {
    JobSpec finetune = stage(kind("finetune", StageKind.LINEAR_PROBE, "pretrain", ""), TestFixtures.tinyVit(), 1);
    IllegalArgumentException refused =
        assertThrows(IllegalArgumentException.class, () -> build(finetune, StageInputs.NONE, s -> null));
    assertTrue(refused.getMessage().contains("starts from stage 'pretrain'"), refused.getMessage());
  }

  @Test
  void aLinearProbeTrainsOnlyItsHeadOnTheFrozenEncoder() {
    JobSpec pretrain = stage(kind("pretrain", StageKind.MAE_PRETRAIN, "", ""), TestFixtures.tinyVit(), 1);
    JobSpec probe = stage(kind("probe", StageKind.LINEAR_PROBE, "pretrain", ""), TestFixtures.tinyVit(), 1);
    float[] source;
    try (MemberTrainer mae = build(pretrain, StageInputs.NONE, s -> null)) {
      source = mae.initialValues(3);
    }
    StageInputs inputs = new StageInputs(List.of(new SourceModel("job-1.pretrain", 0, pretrain)), List.of());
    try (MemberTrainer trainer = build(probe, inputs, s -> source)) {
      assertEquals(List.of("head.weight", "head.bias"), trainer.layout().tensors().stream().map(TensorSpec::name).toList());
      assertEquals(10 * 16 + 10, trainer.layout().totalSize());
      float[] head = trainer.initialValues(1);
      gradientOfOneWindow(trainer, head);
      MemberTrainer.Score untrained = trainer.evaluate(head);
      for (int step = 0; step < 40; step++) {
        float[] gradient = new float[head.length];
        trainer.trainWindow(head, 0, step * 32, step * 32 + 32, gradient);
        for (int i = 0; i < head.length; i++) {
          head[i] -= 0.5f * gradient[i] / 32;
        }
      }
      MemberTrainer.Score score = trainer.evaluate(head);
      assertEquals(300, score.samples());
      assertEquals(VALIDATION, score.validationSamples());
      assertTrue(
          score.correct() > 90 && score.correct() > untrained.correct() + 30,
          "the probe learned from " + untrained.correct() + " to " + score.correct() + " of 300");
    }
  }

  @Test
  void flipTrainsContrastivelyAndScoresZeroShot() {
    JobSpec spec = stage(kind("flip", StageKind.FLIP, "", ""), TestFixtures.tinyVit(), 1);
    try (MemberTrainer trainer = build(spec, StageInputs.NONE, s -> null)) {
      assertInstanceOf(FlipTrainer.class, trainer);
      float[] values = trainer.initialValues(1);
      float[] gradient = gradientOfOneWindow(trainer, values);
      int scale = trainer.layout().offsetOf("logit_scale");
      assertNotEquals(0f, gradient[scale], "the temperature is learned");
      MemberTrainer.Score score = trainer.evaluate(values);
      assertEquals(300, score.samples());
      assertTrue(score.correct() >= 0 && score.correct() <= 300);
      assertEquals(VALIDATION, score.validationSamples());
    }
  }

  @Test
  void flipUnmasksInItsLastEpochs() {
    JobSpec spec = JobSpec.builder()
        .setName("flip")
        .optModel(TestFixtures.tinyVit())
        .optEpochs(4)
        .optStage(kind("flip", StageKind.FLIP, "", ""))
        .build();
    FlipTrainer trainer = (FlipTrainer) build(spec, StageInputs.NONE, s -> null);
    try (trainer) {
      assertEquals(0.5, trainer.maskRatio(0));
      assertEquals(0.5, trainer.maskRatio(2));
      assertEquals(0.0, trainer.maskRatio(3), "unmasked-epochs = 1: the last epoch sees every patch");
    }
  }

  @Test
  void aDistilledStudentLearnsFromItsTeachersAndMayBeSmaller() {
    ModelSpec teacherModel = TestFixtures.tinyVit();
    ModelSpec smaller = ModelSpec.builder().optPatchSize(7).optDim(8).optDepth(1).optHeads(2).optMlpDim(16).build();
    JobSpec teachers = stage(kind("teachers", StageKind.CLASSIFY, "", ""), teacherModel, 2);
    JobSpec student = stage(kind("student", StageKind.DISTILL, "", "teachers"), smaller, 1);
    Map<Integer, float[]> teacherValues = new HashMap<>();
    try (MemberTrainer classifier = build(teachers, StageInputs.NONE, s -> null)) {
      teacherValues.put(0, classifier.initialValues(1));
      teacherValues.put(1, classifier.initialValues(2));
    }
    StageInputs inputs =
        new StageInputs(
            List.of(), List.of(new SourceModel("job-1.teachers", 0, teachers), new SourceModel("job-1.teachers", 1, teachers)));
    try (MemberTrainer distilled = build(student, inputs, s -> teacherValues.get(s.member()));
        MemberTrainer alone = build(stage(kind("alone", StageKind.CLASSIFY, "", ""), smaller, 1), StageInputs.NONE, s -> null)) {
      float[] values = distilled.initialValues(5);
      float[] withTeachers = gradientOfOneWindow(distilled, values);
      float[] withoutTeachers = gradientOfOneWindow(alone, values);
      assertTrue(
          TestFixtures.relativeDistance(withTeachers, withoutTeachers) > 1e-3,
          "the teachers' soft targets change the student's gradient");
    }
  }

  @Test
  void aDistillStageWithoutTeachersIsRefused() {
    JobSpec student = stage(kind("student", StageKind.DISTILL, "", "teachers"), TestFixtures.tinyVit(), 1);
    IllegalArgumentException refused =
        assertThrows(IllegalArgumentException.class, () -> build(student, StageInputs.NONE, s -> null));
    assertTrue(refused.getMessage().contains("no teachers"), refused.getMessage());
  }

  @Test
  void eachKindLeavesALayoutALaterStageCanRead() {
    ModelSpec model = TestFixtures.tinyVit();
    for (StageKind kind : List.of(StageKind.CLASSIFY, StageKind.MAE_PRETRAIN, StageKind.FLIP, StageKind.DISTILL)) {
      String teacher = kind == StageKind.DISTILL ? "t" : "";
      ParameterLayout layout = StageTrainers.layoutOf(stage(kind("s", kind, "", teacher), model, 1));
      assertTrue(
          layout.tensors().stream().anyMatch(t -> t.name().equals("encoder.patch_embed.weight")),
          kind + " names its encoder encoder.*");
    }
    IllegalArgumentException probe =
        assertThrows(
            IllegalArgumentException.class,
            () -> StageTrainers.layoutOf(stage(kind("p", StageKind.LINEAR_PROBE, "s", ""), model, 1)));
    assertTrue(probe.getMessage().contains("holds only a head"), probe.getMessage());
  }

  @Test
  void eachMemberVisitsTheDataInItsOwnOrder() {
    JobSpec spec = stage(kind("ensemble", StageKind.CLASSIFY, "", ""), TestFixtures.tinyVit(), 2);
    assertEquals(spec.seed(), spec.orderSeed(0), "member 0 keeps the job's order, as the reference trainer");
    assertNotEquals(spec.orderSeed(0), spec.orderSeed(1));
    try (MemberTrainer first = build(spec, StageInputs.NONE, s -> null);
        MemberTrainer second =
            StageTrainers.create(spec, 1, () -> StageData.of(subset, spec.dataset()), () -> manager, StageInputs.NONE, s -> null)) {
      float[] values = first.initialValues(1);
      float[] ofFirst = gradientOfOneWindow(first, values);
      float[] ofSecond = gradientOfOneWindow(second, values);
      assertTrue(TestFixtures.relativeDistance(ofFirst, ofSecond) > 1e-2, "the same positions hold other samples");
    }
  }
}
