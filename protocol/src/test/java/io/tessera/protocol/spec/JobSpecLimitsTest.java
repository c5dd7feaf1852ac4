package io.tessera.protocol.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Every size in a job spec is capped ({@link SpecLimits}); a refusal names the field, the cap itself is accepted. */
class JobSpecLimitsTest {

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '"',
      value = {
        "epochs = 100000 | epochs must be at most 1000, was 100000",
        "epochs = 1001 | epochs must be at most 1000, was 1001",
        "global-batch = 131072 | global-batch must be at most 65536, was 131072",
        "micro-batch = 8192, global-batch = 8192, split-size = 8192 | micro-batch must be at most 4096, was 8192",
        "split-size = 1000001 | split-size must be at most 1000000, was 1000001",
        "staleness = 1001 | staleness must be at most 1000, was 1001",
        "shards = 257 | shards must be in 1..256, was 257",
        "ensemble-size = 65 | ensemble-size must be in 1..64, was 65",
        "mode = sync, backup-workers = 65 | backup-workers must be in 0..64, was 65",
        "checkpoint.every-pushes = 1000000001 | checkpoint.every-pushes must be at most 1000000000, was 1000000001",
        "early-stopping.patience = 1001 | early-stopping.patience must be in 0..1000, was 1001",
        "dataset.train-limit = 1000001 | dataset.train-limit must be at most 1000000, was 1000001",
        "dataset.test-limit = 2000000 | dataset.test-limit must be at most 1000000, was 2000000",
        "dataset.validation = 1000001 | dataset.validation must be at most 1000000, was 1000001",
        "model.image-size = 1024 | model.image-size must be at most 512, was 1024",
        "model.channels = 17 | model.channels must be at most 16, was 17",
        "model { image-size = 128, patch-size = 128 } | model.patch-size must be at most 64, was 128",
        "model { image-size = 512, patch-size = 8 } | model.patch-size (8) cuts an image of 512x512 pixels into 4096"
            + " patches; at most 1024",
        "model.dim = 4096 | model.dim must be at most 2048, was 4096",
        "model.depth = 65 | model.depth must be at most 64, was 65",
        "model { dim = 128, heads = 128 } | model.heads must be at most 64, was 128",
        "model.mlp-dim = 8193 | model.mlp-dim must be at most 8192, was 8193",
        "model.classes = 10001 | model.classes must be at most 10000, was 10001",
        "dataset { name = synthetic, train-limit = 100 }, model { kind = synthetic, parameters = 50000001 }"
            + " | model.parameters must be at most 50000000, was 50000001",
        "kind = mae-pretrain, mae.decoder-dim = 4096 | mae.decoder-dim must be at most 2048, was 4096",
        "kind = mae-pretrain, mae.decoder-depth = 65 | mae.decoder-depth must be at most 64, was 65",
        "kind = mae-pretrain, mae { decoder-dim = 128, decoder-heads = 128 } | mae.decoder-heads must be at most 64",
        "kind = mae-pretrain, mae.decoder-mlp-dim = 10000 | mae.decoder-mlp-dim must be at most 8192, was 10000",
        "kind = flip, flip.text-dim = 4096 | flip.text-dim must be at most 2048, was 4096",
        "kind = flip, flip.text-depth = 65 | flip.text-depth must be at most 64, was 65",
        "kind = flip, flip { text-dim = 128, text-heads = 128 } | flip.text-heads must be at most 64, was 128",
        "kind = flip, flip.text-mlp-dim = 8193 | flip.text-mlp-dim must be at most 8192, was 8193",
        "kind = flip, flip.embed-dim = 2049 | flip.embed-dim must be at most 2048, was 2049",
        "kind = flip, flip.unmasked-epochs = 1001 | flip.unmasked-epochs must be at most 1000, was 1001",
      })
  void oversizedFieldsAreRefusedNamingTheField(String line, String message) {
    assertRefused("name = x\n" + line, message);
  }

  @Test
  void theRecordsThemselvesRefuseOversizedValues() {
    SpecException error =
        assertThrows(SpecException.class, () -> JobSpec.builder().setName("x").optEpochs(100_000).build());
    assertEquals("epochs must be at most 1000, was 100000", error.getMessage());
    error = assertThrows(SpecException.class, () -> ModelSpec.builder().optDepth(1_000).build());
    assertEquals("model.depth must be at most 64, was 1000", error.getMessage());
  }

  @Test
  void tooManyMembersOrStagesAreRefused() {
    String members =
        IntStream.range(0, 65).mapToObj(i -> "{ name = m" + i + " }").collect(Collectors.joining(", ", "[", "]"));
    assertRefused("name = x\nmembers = " + members, "members may list at most 64 members, has 65");
    String stages =
        IntStream.range(0, 17).mapToObj(i -> "{ name = s" + i + " }").collect(Collectors.joining(", ", "[", "]"));
    SpecException error =
        assertThrows(SpecException.class, () -> JobSpecParser.parsePipeline("name = x\nstages = " + stages));
    assertEquals("stages may list at most 16 stages, has 17", error.getMessage());
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "epochs = 1000",
        "global-batch = 65536\nmicro-batch = 4096\nsplit-size = 4096",
        "split-size = 1000000",
        "staleness = 1000\nshards = 256\nensemble-size = 64",
        "mode = sync\nbackup-workers = 64",
        "checkpoint.every-pushes = 1000000000",
        "dataset { train-limit = 1000000, test-limit = 1000000, validation = 999999 }",
        "dataset { validation = 1000000 }",
        "epochs = 1000\ndataset.validation = 100\nearly-stopping.patience = 998",
        "micro-batch = 8\nmodel { image-size = 512, channels = 16, patch-size = 16 }",
        "model { image-size = 512, channels = 16, patch-size = 64 }",
        "model { dim = 2048, heads = 64, depth = 1, classes = 10000 }",
        "model.depth = 64",
        "model.mlp-dim = 8192",
        "kind = mae-pretrain\nmae { decoder-dim = 2048, decoder-heads = 64, decoder-depth = 1 }",
        "kind = mae-pretrain\nmae.decoder-depth = 64",
        "kind = mae-pretrain\nmae.decoder-mlp-dim = 8192",
        "kind = flip\nepochs = 1000\nflip { text-dim = 2048, text-heads = 64, embed-dim = 2048, text-depth = 1 }",
        "kind = flip\nflip.text-depth = 64",
        "kind = flip\nflip.text-mlp-dim = 8192",
        "dataset { name = synthetic, train-limit = 100 }\nmodel { kind = synthetic, parameters = 50000000 }"
            + "\nensemble-size = 4",
      })
  void everyCapItselfIsAccepted(String lines) {
    JobSpecParser.parse("name = x\n" + lines);
  }

  // ---------------------------------------------------------------- the model as a whole

  @Test
  void aModelOfTooManyParametersIsRefused() {
    assertRefused(
        "name = x\nmodel { dim = 1024, depth = 16, heads = 16, mlp-dim = 4096 }",
        "model of this classify stage has 201621514 parameters; at most 50000000 per member");
    assertRefused(
        "name = x\nkind = mae-pretrain\nmae { decoder-dim = 2048, decoder-heads = 16, decoder-depth = 2,"
            + " decoder-mlp-dim = 8192 }",
        "model of this mae-pretrain stage has");
    assertRefused(
        "name = x\nkind = flip\nflip { text-dim = 2048, text-heads = 16, text-depth = 2, text-mlp-dim = 8192 }",
        "model of this flip stage has");
  }

  @Test
  void membersTogetherMayNotHoldMoreThanTheStageCap() {
    assertRefused(
        "name = x\ndataset { name = synthetic, train-limit = 100 }\n"
            + "model { kind = synthetic, parameters = 50000000 }\nensemble-size = 5",
        "members (5) of 50000000 parameters each make 250000000 parameters; at most 200000000 over all members");
    assertRefused(
        "name = x\nmodel { dim = 1024, depth = 2, heads = 16, mlp-dim = 4096 }\nensemble-size = 8",
        "members (8) of 25274378 parameters each make 202195024 parameters; at most 200000000");
  }

  @Test
  void aMicroBatchWhoseActivationsWouldNotFitIsRefused() {
    assertRefused(
        "name = x\nmicro-batch = 4096\nglobal-batch = 4096\nsplit-size = 4096\nmodel { patch-size = 1 }",
        "micro-batch (4096) would keep about");
    JobSpecParser.parse("name = x\nmicro-batch = 32\nglobal-batch = 4096\nsplit-size = 4096\nmodel { patch-size = 1 }");
  }

  @Test
  void aStageWithMoreMicroBatchesThanTheCoordinatorTracksIsRefused() {
    assertRefused(
        "name = x\nepochs = 1000\nmicro-batch = 8",
        "epochs (1000) x micro-batches per epoch (7500) x members (1) make 7500000 micro-batches for the"
            + " coordinator to track; at most 4000000");
    assertRefused(
        "name = x\nepochs = 100\nmicro-batch = 16\ndataset.train-limit = 1000000", "make 6250000 micro-batches");
    JobSpecParser.parse("name = x\nepochs = 500\nmicro-batch = 8");
  }

  private static void assertRefused(String text, String message) {
    SpecException error = assertThrows(SpecException.class, () -> JobSpecParser.parse(text));
    assertTrue(error.getMessage().contains(message), () -> "expected '" + message + "' in: " + error.getMessage());
  }
}
