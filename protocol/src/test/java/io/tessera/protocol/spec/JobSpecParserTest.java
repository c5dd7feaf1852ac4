package io.tessera.protocol.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.tensor.WirePrecision;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Reading job specs from HOCON: every key, the defaults, and refusals that name the field. */
class JobSpecParserTest {
  private static final String FULL =
      """
      name = "fmnist-vit-ensemble"
      dataset { name = fashion-mnist, train-limit = 6000, test-limit = 1000 }
      model {
        kind = vit-classifier
        image-size = 28
        channels = 1
        patch-size = 4
        dim = 96
        depth = 6
        heads = 6
        mlp-dim = 192
        classes = 10
      }
      optimizer {
        kind = sgd
        learning-rate = 0.05
        weight-decay = 1e-4
        beta1 = 0.8
        beta2 = 0.99
        epsilon = 1e-6
        momentum = 0.85
        nesterov = true
        schedule = constant
        warmup-steps = 20
        min-learning-rate = 0.001
      }
      global-batch = 512
      micro-batch = 32
      epochs = 3
      split-size = 2048
      mode = async
      staleness = 2
      shards = 4
      members = [ { name = small, seed = 11 }, { name = wide_2, seed = -7 } ]
      wire-precision = bf16
      seed = 1234567890123
      """;

  @Test
  void parsesEveryKeyOfAFullSpec() {
    JobSpec spec = JobSpecParser.parse(FULL);

    assertEquals("fmnist-vit-ensemble", spec.name());
    assertEquals(new DatasetSpec("fashion-mnist", 6000, 1000), spec.dataset());
    assertEquals(
        new ModelSpec(ModelKind.VIT_CLASSIFIER, 28, 1, 4, 96, 6, 6, 192, 10, 0, 0), spec.model());
    assertEquals(
        new OptimizerSpec(
            OptimizerKind.SGD,
            0.05,
            1e-4,
            0.8,
            0.99,
            1e-6,
            0.85,
            true,
            LearningRateSchedule.CONSTANT,
            20,
            0.001),
        spec.optimizer());
    assertEquals(512, spec.globalBatch());
    assertEquals(32, spec.microBatch());
    assertEquals(3, spec.epochs());
    assertEquals(2048, spec.splitSize());
    assertEquals(TrainingMode.ASYNC, spec.mode());
    assertEquals(2, spec.staleness());
    assertEquals(4, spec.shards());
    assertEquals(
        List.of(new MemberSpec("small", 11L), new MemberSpec("wide_2", -7L)), spec.members());
    assertEquals(WirePrecision.BF16, spec.wirePrecision());
    assertEquals(1_234_567_890_123L, spec.seed());
    assertEquals(16, spec.microBatchesPerStep());
  }

  @Test
  void parsesModesEnsembleMembersAndBatchScaling() {
    JobSpec spec =
        JobSpecParser.parse(
            """
            name = x
            mode = sync
            backup-workers = 1
            learning-rate-scaling = square-root
            optimizer { learning-rate = 1e-3, weight-decay = 0.05 }
            members = [
              { name = a, seed = 3 },
              { name = b, seed = 4, weight = 2, learning-rate = 3e-3, weight-decay = 0.1 }
            ]
            """);

    assertEquals(TrainingMode.SYNC, spec.mode());
    assertEquals(1, spec.backupWorkers());
    assertEquals(LearningRateScaling.SQUARE_ROOT, spec.learningRateScaling());
    assertEquals(new MemberSpec("a", 3L), spec.members().get(0));
    assertEquals(new MemberSpec("b", 4L, 2.0, 3e-3, 0.1), spec.members().get(1));
    assertEquals(1e-3, spec.optimizerOf(0).learningRate());
    assertEquals(3e-3, spec.optimizerOf(1).learningRate());
    assertEquals(0.1, spec.optimizerOf(1).weightDecay());
    assertEquals(spec.optimizer().beta2(), spec.optimizerOf(1).beta2());
    assertEquals(Math.sqrt(2), spec.learningRateScaling().factor(256, 512), 1e-12);
    assertEquals(0.5, LearningRateScaling.LINEAR.factor(256, 128), 1e-12);
    assertEquals(1.0, LearningRateScaling.NONE.factor(256, 1024), 1e-12);
  }

  @Test
  void aSyntheticJobNeedsASyntheticDatasetOfAGivenSize() {
    JobSpec spec =
        JobSpecParser.parse(
            """
            name = simulated
            mode = ssp
            staleness = 2
            dataset { name = synthetic, train-limit = 8192 }
            model { kind = synthetic, parameters = 250000, compute-micros-per-sample = 300 }
            """);

    assertEquals(ModelKind.SYNTHETIC, spec.model().kind());
    assertEquals(250_000, spec.model().parameters());
    assertEquals(300, spec.model().computeMicrosPerSample());
    assertTrue(spec.dataset().isSynthetic());
    assertEquals(8192, spec.dataset().trainLimit());
    assertEquals(TrainingMode.SSP, spec.mode());
    assertFalse(spec.stalenessDamping());
  }

  @Test
  void aMinimalSpecTakesTheBuildersDefaults() {
    JobSpec spec = JobSpecParser.parse("name = tiny");

    assertEquals(JobSpec.builder().setName("tiny").build(), spec);
    assertEquals(DatasetSpec.fashionMnist(), spec.dataset());
    assertEquals(ModelSpec.builder().build(), spec.model());
    assertEquals(OptimizerKind.ADAMW, spec.optimizer().kind());
    assertEquals(LearningRateSchedule.COSINE, spec.optimizer().schedule());
    assertEquals(256, spec.globalBatch());
    assertEquals(64, spec.microBatch());
    assertEquals(List.of(new MemberSpec("m0", 1L)), spec.members());
    assertEquals(WirePrecision.FP32, spec.wirePrecision());
  }

  @Test
  void partialSectionsKeepTheDefaultsOfTheKeysTheyOmit() {
    JobSpec spec =
        JobSpecParser.parse(
            "name = x\n"
                + "model { depth = 2 }\n"
                + "optimizer { learning-rate = 3e-4 }\n"
                + "dataset { train-limit = 500 }");

    assertEquals(ModelSpec.builder().optDepth(2).build(), spec.model());
    assertEquals(OptimizerSpec.builder().optLearningRate(3e-4).build(), spec.optimizer());
    assertEquals(new DatasetSpec(DatasetSpec.FASHION_MNIST, 500, 0), spec.dataset());
  }

  @Test
  void jsonIsAcceptedToo() {
    JobSpec spec =
        JobSpecParser.parse(
            "{\"name\": \"j\", \"global-batch\": 128, \"members\": [{\"name\": \"a\"}]}");

    assertEquals(128, spec.globalBatch());
    assertEquals(List.of(new MemberSpec("a", 1L)), spec.members());
  }

  @Test
  void enumValuesAreSpelledInKebabCaseAnyCase() {
    JobSpec spec =
        JobSpecParser.parse(
            "name = x\n"
                + "model.kind = VIT-Classifier\n"
                + "optimizer { kind = AdamW, schedule = Cosine }\n"
                + "wire-precision = FP16");

    assertEquals(ModelKind.VIT_CLASSIFIER, spec.model().kind());
    assertEquals(OptimizerKind.ADAMW, spec.optimizer().kind());
    assertEquals(WirePrecision.FP16, spec.wirePrecision());
  }

  // ---------------------------------------------------------------- members

  @Test
  void ensembleSizeExpandsIntoNumberedMembersWithDistinctSeeds() {
    JobSpec spec = JobSpecParser.parse("name = x\nensemble-size = 3");

    assertEquals(
        List.of(new MemberSpec("m0", 1L), new MemberSpec("m1", 2L), new MemberSpec("m2", 3L)),
        spec.members());
  }

  @Test
  void membersWithoutNameOrSeedAreNumbered() {
    JobSpec spec =
        JobSpecParser.parse("name = x\nmembers = [ {}, { seed = 99 }, { name = last } ]");

    assertEquals(
        List.of(new MemberSpec("m0", 1L), new MemberSpec("m1", 99L), new MemberSpec("last", 3L)),
        spec.members());
  }

  @Test
  void membersAndEnsembleSizeTogetherAreRefused() {
    SpecException error =
        assertThrows(
            SpecException.class,
            () -> JobSpecParser.parse("name = x\nensemble-size = 2\nmembers = [ { name = a } ]"));
    assertContains(error, "members and ensemble-size cannot both be given");
  }

  @ParameterizedTest
  @CsvSource({"0", "65", "-1"})
  void ensembleSizeOutOfRangeIsRefused(int size) {
    assertRefused(
        "name = x\nensemble-size = " + size, "ensemble-size must be in 1..64, was " + size);
  }

  @Test
  void invalidMembersAreRefused() {
    assertRefused("name = x\nmembers = []", "members must name at least one member");
    assertRefused(
        "name = x\nmembers = [ { name = a }, { name = a } ]", "members has the name 'a' twice");
    assertRefused("name = x\nmembers = [ { name = \"no spaces\" } ]", "members[].name");
  }

  @Test
  void earlyStoppingIsOffByDefaultAndReadWithItsPatienceAndMinDelta() {
    assertEquals(EarlyStoppingSpec.off(), JobSpecParser.parse("name = x").earlyStopping());
    JobSpec spec =
        JobSpecParser.parse(
            "name = x\nepochs = 6\ndataset { validation = 500 }\nearly-stopping { patience = 2, min-delta = 0.002 }");
    assertEquals(new EarlyStoppingSpec(2, 0.002), spec.earlyStopping());
    assertTrue(spec.earlyStopping().enabled());
  }

  @Test
  void earlyStoppingIsRefusedWhereItCouldNotWork() {
    assertRefused(
        "name = x\nepochs = 6\nearly-stopping { patience = 2 }",
        "early-stopping needs a validation split to judge by: set dataset.validation");
    assertRefused(
        "name = x\nepochs = 3\ndataset { validation = 500 }\nearly-stopping { patience = 2 }",
        "early-stopping.patience (2) must be less than epochs - 1 (2)");
    assertRefused(
        "name = x\nepochs = 6\nkind = mae-pretrain\ndataset { validation = 500 }\nearly-stopping { patience = 1 }",
        "early-stopping applies to classifier stages");
    assertRefused("name = x\nearly-stopping { patience = -1 }", "early-stopping.patience must be in 0..1000");
    assertRefused("name = x\nearly-stopping { min-delta = 1.5 }", "early-stopping.min-delta must be in [0, 1)");
    assertRefused("name = x\nearly-stopping { patients = 2 }", "unknown key early-stopping.patients");
  }

  // ---------------------------------------------------------------- unknown keys

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '"',
      value = {
        "name = x\\nepoch = 3 | epoch",
        "name = x\\nmodel { depht = 2 } | model.depht",
        "name = x\\noptimizer { lr = 0.1 } | optimizer.lr",
        "name = x\\ndataset { limit = 10 } | dataset.limit",
        "name = x\\nmembers = [ { name = a, sede = 3 } ] | members[0].sede",
      })
  void unknownKeysAreRefusedByName(String text, String key) {
    SpecException error =
        assertThrows(SpecException.class, () -> JobSpecParser.parse(text.replace("\\n", "\n")));
    assertContains(error, "unknown key " + key);
  }

  @Test
  void severalUnknownKeysAreAllNamed() {
    SpecException error =
        assertThrows(SpecException.class, () -> JobSpecParser.parse("name = x\nfoo = 1\nbar = 2"));
    assertContains(error, "unknown keys bar, foo");
  }

  // ---------------------------------------------------------------- wrong types

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '"',
      value = {
        "global-batch = lots | global-batch",
        "model = 5 | model",
        "optimizer { nesterov = maybe } | nesterov",
        "optimizer { learning-rate = fast } | learning-rate",
        "members = m0 | members",
        "members = [ m0 ] | members",
        "seed = [1, 2] | seed",
        "dataset { train-limit = all } | train-limit",
      })
  void valuesOfTheWrongTypeAreRefusedNamingTheKey(String line, String key) {
    SpecException error =
        assertThrows(SpecException.class, () -> JobSpecParser.parse("name = x\n" + line));
    assertContains(error, key);
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '"',
      value = {
        "epochs = 1.5 | epochs must be a whole number, was 1.5",
        "global-batch = \"256.5\" | global-batch must be a whole number, was 256.5",
        "model { depth = 2.9 } | model.depth must be a whole number, was 2.9",
        "dataset { test-limit = 0.5 } | dataset.test-limit must be a whole number",
        "optimizer { warmup-steps = 10.5 } | optimizer.warmup-steps must be a whole number",
        "ensemble-size = 2.5 | ensemble-size must be a whole number",
        "seed = 1.25 | seed must be a whole number",
        "members = [ { seed = 7.5 } ] | members[0].seed must be a whole number",
      })
  void fractionsAreRefusedRatherThanTruncated(String line, String message) {
    assertRefused("name = x\n" + line, message);
  }

  @Test
  void wholeNumbersWrittenAsDecimalsOrStringsAreAccepted() {
    JobSpec spec =
        JobSpecParser.parse(
            "name = x\nepochs = 2.0\nglobal-batch = \"128\"\nseed = 9007199254740993");

    assertEquals(2, spec.epochs());
    assertEquals(128, spec.globalBatch());
    assertEquals(9_007_199_254_740_993L, spec.seed(), "longs beyond 2^53 must survive exactly");
  }

  @Test
  void syntaxErrorsAreRefused() {
    SpecException error =
        assertThrows(SpecException.class, () -> JobSpecParser.parse("name = x\nmodel { depth = 2"));
    assertContains(error, "not valid HOCON");
  }

  // ---------------------------------------------------------------- invalid values

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '"',
      value = {
        "global-batch = 100 | global-batch (100) must be a multiple of micro-batch (64)",
        "micro-batch = 0 | micro-batch must be positive, was 0",
        "global-batch = -64 | global-batch must be positive, was -64",
        "epochs = 0 | epochs must be positive, was 0",
        "split-size = 32 | split-size (32) must be at least micro-batch (64)",
        "staleness = -1 | staleness must be >= 0, was -1",
        "shards = 0 | shards must be in 1..256, was 0",
        "shards = 257 | shards must be in 1..256, was 257",
        "mode = bsp | mode must be one of async, ssp, sync, was 'bsp'",
        "backup-workers = 1 | backup-workers applies to mode = sync only (the mode is async)",
        "mode = sync, backup-workers = -1 | backup-workers must be in 0..64, was -1",
        "mode = ssp, staleness-damping = true | staleness-damping applies to mode = async only (the mode is ssp)",
        "learning-rate-scaling = cubic | learning-rate-scaling must be one of none, linear, square-root, was 'cubic'",
        "model.parameters = 10 | model.parameters applies to synthetic models only",
        "model { kind = synthetic, parameters = 0 } | model.parameters must be positive for a synthetic model",
        "model { kind = synthetic, parameters = 10 } | dataset.name must be 'synthetic' exactly when model.kind is synthetic",
        "dataset.name = synthetic | dataset.train-limit sets the size of a synthetic dataset and must be positive",
        "members = [{ name = a, weight = 0 }] | members[].weight must be in (0, 1000], was 0.0",
        "members = [{ name = a, learning-rate = -1 }] | members[].learning-rate must be positive, was -1.0",
        "members = [{ name = a, colour = red }] | unknown key members[0].colour",
        "wire-precision = fp8 | wire-precision must be one of fp32, bf16, fp16, was 'fp8'",
        "dataset.name = cifar-10 | dataset.name must be 'fashion-mnist' or 'synthetic', was 'cifar-10'",
        "dataset.test-limit = -5 | dataset.test-limit must be >= 0",
        "model.kind = resnet | model.kind must be one of vit-classifier, synthetic, was 'resnet'",
        "model.patch-size = 5 | model.patch-size (5) must divide model.image-size (28)",
        "model.heads = 5 | model.heads (5) must divide model.dim (64)",
        "model.classes = 1 | model.classes must be at least 2, was 1",
        "optimizer.kind = lion | optimizer.kind must be one of adamw, sgd, was 'lion'",
        "optimizer.learning-rate = 0 | optimizer.learning-rate must be a positive number",
        "optimizer.beta1 = 1.0 | optimizer.beta1 must be in [0, 1), was 1.0",
        "optimizer.beta2 = -0.1 | optimizer.beta2 must be in [0, 1)",
        "optimizer.momentum = 1 | optimizer.momentum must be in [0, 1)",
        "optimizer.epsilon = 0 | optimizer.epsilon must be positive",
        "optimizer.weight-decay = -0.01 | optimizer.weight-decay must be >= 0",
        "optimizer.warmup-steps = -1 | optimizer.warmup-steps must be >= 0",
        "optimizer { learning-rate = 0.01, min-learning-rate = 0.1 } | optimizer.min-learning-rate"
            + " must be in [0, learning-rate]",
        "optimizer.schedule = step | optimizer.schedule must be one of constant, cosine, was"
            + " 'step'",
      })
  void invalidValuesAreRefusedNamingTheField(String line, String message) {
    assertRefused("name = x\n" + line, message);
  }

  @Test
  void aNameIsRequiredAndBounded() {
    assertRefused("epochs = 2", "name is required");
    assertRefused("name = \"   \"", "name is required");
    assertRefused("name = \"" + "n".repeat(129) + "\"", "name must be at most 128 characters");
    assertEquals("n".repeat(128), JobSpecParser.parse("name = \"" + "n".repeat(128) + "\"").name());
  }

  @Test
  void theExampleInTheParsersJavadocIsValid() {
    JobSpec spec =
        JobSpecParser.parse(
            """
            name = "fmnist-vit"
            epochs = 3
            global-batch = 256
            micro-batch = 64
            model { patch-size = 7, dim = 64, depth = 4, heads = 4, mlp-dim = 128 }
            optimizer { kind = adamw, learning-rate = 2e-3, warmup-steps = 50 }
            members = [ { name = m0, seed = 1 } ]
            """);
    assertEquals(50, spec.optimizer().warmupSteps());
    assertFalse(spec.optimizer().nesterov());
  }

  private static void assertRefused(String text, String message) {
    SpecException error = assertThrows(SpecException.class, () -> JobSpecParser.parse(text));
    assertContains(error, message);
  }

  private static void assertContains(Throwable error, String text) {
    assertTrue(
        String.valueOf(error.getMessage()).contains(text),
        () -> "expected '" + text + "' in: " + error.getMessage());
  }

  private static final String PIPELINE =
      """
      name = "mae-then-finetune"
      epochs = 2
      dataset { validation = 500 }
      model { patch-size = 7, dim = 64, depth = 2, heads = 4, mlp-dim = 128 }
      stages = [
        { name = pretrain, kind = mae-pretrain, epochs = 5, mae { mask-ratio = 0.6, decoder-dim = 48 } }
        { name = finetune, kind = finetune, from = pretrain, ensemble-size = 3, compute-precision = fp16 }
        { name = student, kind = distill, teacher = finetune, model { dim = 32, heads = 2 },
          distill { alpha = 0.3, temperature = 3 } }
        { name = probe, kind = linear-probe, from = pretrain }
        { name = clip, kind = flip, flip { mask-ratio = 0.75, unmasked-epochs = 1 } }
      ]
      """;

  @Test
  void aPipelineMergesEachStageWithTheSharedKeys() {
    PipelineSpec pipeline = JobSpecParser.parsePipeline(PIPELINE);

    assertEquals("mae-then-finetune", pipeline.name());
    assertEquals(List.of("pretrain", "finetune", "student", "probe", "clip"),
        pipeline.stages().stream().map(s -> s.stage().name()).toList());
    JobSpec pretrain = pipeline.stage("pretrain");
    assertEquals(StageKind.MAE_PRETRAIN, pretrain.stage().kind());
    assertEquals(5, pretrain.epochs(), "a stage's own key wins");
    assertEquals(0.6, pretrain.stage().mae().maskRatio());
    assertEquals(48, pretrain.stage().mae().decoderDim());
    assertEquals(MaeSpec.defaults().decoderDepth(), pretrain.stage().mae().decoderDepth(), "unset keys keep defaults");
    assertEquals(500, pretrain.dataset().validation(), "shared sections apply to every stage");

    JobSpec finetune = pipeline.stage("finetune");
    assertEquals("pretrain", finetune.stage().from());
    assertEquals(3, finetune.members().size());
    assertEquals(2, finetune.epochs(), "the shared epochs");
    assertEquals(ComputePrecision.FP16, finetune.stage().compute());

    JobSpec student = pipeline.stage("student");
    assertEquals(32, student.model().dim(), "the student's model merges key by key");
    assertEquals(2, student.model().depth(), "and keeps the shared depth");
    assertEquals(new DistillSpec(0.3, 3.0), student.stage().distill());
    assertEquals(0.75, pipeline.stage("clip").stage().flip().maskRatio());
    assertEquals(1, pipeline.stage("clip").stage().flip().unmaskedEpochs());
  }

  @Test
  void aSpecWithoutStagesIsAPipelineOfOneClassifierStage() {
    PipelineSpec pipeline = JobSpecParser.parsePipeline(FULL);
    assertEquals(1, pipeline.stages().size());
    assertEquals(StageKind.CLASSIFY, pipeline.stages().get(0).stage().kind());
    assertEquals("main", pipeline.stages().get(0).stage().name());
  }

  @Test
  void aSingleJobReaderRefusesStages() {
    SpecException e = assertThrows(SpecException.class, () -> JobSpecParser.parse(PIPELINE));
    assertTrue(e.getMessage().contains("pipeline"), e.getMessage());
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "{ name = a, kind = finetune, from = b } | must name an earlier stage",
        "{ name = a }, { name = b, kind = finetune } | must name the earlier stage a finetune stage starts from",
        "{ name = a }, { name = b, kind = distill } | must name the earlier stage whose members teach",
        "{ name = a, kind = mae-pretrain }, { name = b, kind = distill, teacher = a } | does not train a classifier",
        "{ name = a, kind = mae-pretrain }, { name = p, kind = linear-probe, from = a }, { name = b, kind = distill, teacher = p } | a teacher must be a whole classifier",
        "{ name = a, kind = mae-pretrain }, { name = p, kind = linear-probe, from = a }, { name = b, kind = finetune, from = p } | no encoder of its own",
        "{ name = a }, { name = a } | has the name 'a' twice",
        "{ name = a, kind = classify, teacher = a } | applies to distill stages only",
        "{ name = a, kind = mae-pretrain }, { name = b, kind = classify, from = a } | use kind = finetune to start from 'a'",
        "{ name = a, kind = mae-pretrain }, { name = b, kind = flip, from = a } | a flip stage starts from random weights",
        "{ name = a, kind = mae-pretrain }, { name = t }, { name = s, kind = distill, teacher = t, from = a, model { dim = 32 } } | must have the encoder of 'a'",
        "{ name = a, kind = mae-pretrain, model { depth = 2 } }, { name = b, kind = finetune, from = a } | was image-size",
        "{ name = a, kind = mae-pretrain, compute-precision = fp16 } | a mae-pretrain stage computes in fp32",
        "{ name = a, compute-precision = bf16 } | bf16 is not available",
        "{ name = a, kind = mae-pretrain, mae { mask-ratio = 1.0 } } | mae.mask-ratio",
        "{ name = a, kind = mae-pretrain, mae { decoder-heads = 5 } } | mae.decoder-heads",
        "{ name = a, kind = flip, flip { colour = 3 } } | flip.colour",
        "{ name = a, kind = distill-ish } | kind",
        "{ kind = flip } | stages[0].name is required",
        "{ name = Bad_Name } | lower-case",
      })
  void badStagesAreRefusedNamingTheField(String stages, String expected) {
    SpecException e =
        assertThrows(SpecException.class, () -> JobSpecParser.parsePipeline("name = p\nstages = [" + stages + "]"));
    assertTrue(e.getMessage().contains(expected), () -> "'" + e.getMessage() + "' does not say '" + expected + "'");
  }
}
