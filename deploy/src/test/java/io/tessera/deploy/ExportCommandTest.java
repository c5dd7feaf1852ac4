package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import io.tessera.coordinator.CoordinatorEvent;
import io.tessera.deploy.export.ExportedModel;
import io.tessera.deploy.export.GreyscaleImage;
import io.tessera.deploy.export.ModelCard;
import io.tessera.deploy.export.VitClassifierBlock;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.ps.optimizer.Optimizer;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.data.ImageSet;
import io.tessera.worker.data.StageData;
import io.tessera.worker.model.ModelParameters;
import io.tessera.worker.model.TrainableModel;
import io.tessera.worker.train.Batch;
import io.tessera.worker.train.BatchAssembler;
import io.tessera.worker.train.ClassifierTrainer;
import io.tessera.worker.train.MemberTrainer;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/tessera export} and {@code predict} against a journal written as a job's coordinator
 * and shards write theirs: a tiny classifier trained a few steps by the workers' own trainer, its
 * parameters checkpointed over three shards. The exported directory, loaded through DJL's {@code
 * Model.load}, answers what the worker's model answers with those parameters: the same logits,
 * the same test accuracy, the same classes for picture files of test images.
 */
class ExportCommandTest {
  private static final Path SUBSET =
      Path.of(System.getProperty("tessera.test.data-dir", "../tests/src/test/resources/fashion-mnist-subset"));

  private static final String CLASSIFIER =
      """
      name = "tiny-export"
      epochs = 1
      global-batch = 64
      micro-batch = 32
      split-size = 64
      shards = 3
      model { patch-size = 7, dim = 16, depth = 1, heads = 2, mlp-dim = 32 }
      """;

  private static final String PIPELINE =
      """
      name = "tiny-pipeline"
      global-batch = 64
      micro-batch = 32
      split-size = 64
      shards = 2
      model { patch-size = 7, dim = 16, depth = 1, heads = 2, mlp-dim = 32 }
      stages = [
        { name = pretrain, kind = mae-pretrain, epochs = 1,
          mae { mask-ratio = 0.75, decoder-dim = 16, decoder-depth = 1, decoder-heads = 2, decoder-mlp-dim = 32 } }
        { name = finetune, kind = finetune, from = pretrain, epochs = 1 }
        { name = student, kind = distill, teacher = finetune, epochs = 1 }
      ]
      """;

  private static final long CHECKPOINT = 7;

  @TempDir static Path temp;

  private static Path journal;
  private static JobSpec spec;
  private static float[] values;
  private static ImageSet test;
  /** What the worker's evaluation of {@link #values} found. */
  private static MemberTrainer.Score score;
  /** The worker's class probabilities of the first test images, row after row. */
  private static float[] probabilities;
  private static NDManager manager;

  @BeforeAll
  static void writeAJobsJournal() {
    manager = NDManager.newBaseManager(Device.cpu());
    spec = JobSpecParser.parse(CLASSIFIER);
    FashionMnist data = FashionMnist.load(SUBSET);
    StageData stage = StageData.of(data, spec.dataset());
    test = stage.test();
    try (ClassifierTrainer trainer = new ClassifierTrainer(spec, stage, manager, List.of())) {
      values = trained(trainer);
      score = trainer.evaluate(values);
      probabilities = trainer.probabilities(values, test.limit(8));
    }
    PipelineSpec pipeline = JobSpecParser.parsePipeline(PIPELINE);
    journal = temp.resolve("journal");
    try (TestingJournal writer = new TestingJournal(journal)) {
      writer.journal(
          new CoordinatorEvent.JobSubmitted("job-1", spec, 0),
          new CoordinatorEvent.JobSubmitted("job-2.pretrain", pipeline.stage("pretrain"), 0),
          new CoordinatorEvent.JobSubmitted("job-2.finetune", pipeline.stage("finetune"), 0),
          new CoordinatorEvent.JobSubmitted("job-2.student", pipeline.stage("student"), 0),
          new CoordinatorEvent.JobSubmitted("job-3", spec, 0));
      // The pipeline's model is job-1's, cut into two shards instead of three.
      writer.checkpoint("job-2.finetune", 0, pipeline.stage("finetune"), values, 3);
      writer.checkpoint("job-2.student", 0, pipeline.stage("student"), values, 4);
      writer.checkpoint("job-1", 0, spec, new float[values.length], CHECKPOINT - 1);
      writer.checkpoint("job-1", 0, spec, values, CHECKPOINT);
      writer.journal(
          new CoordinatorEvent.MemberEvaluated(
              "job-1", 0, score.samples(), (double) score.correct() / score.samples(),
              score.summedLoss() / score.samples(), Double.NaN));
    }
  }

  /**
   * The initial values after one pass over the subset's training images in steps of 128, with the
   * gradients of the workers' trainer and the shards' AdamW: a model that has learnt something.
   */
  private static float[] trained(ClassifierTrainer trainer) {
    float[] parameters = trainer.initialValues(11);
    ParameterLayout layout = trainer.layout();
    Optimizer adamW =
        Optimizer.create(spec.optimizer(), parameters.length, layout.segments(layout.shardRanges(1).get(0)));
    int window = 128;
    for (int from = 0; from + window <= trainer.data().train().size(); from += window) {
      float[] gradient = new float[parameters.length];
      trainer.trainWindow(parameters, 0, from, from + window, gradient);
      for (int i = 0; i < gradient.length; i++) {
        gradient[i] /= window;
      }
      adamW.step(parameters, gradient, 3e-3);
    }
    return parameters;
  }

  @AfterAll
  static void closeManager() {
    manager.close();
  }

  @Test
  void theExportedModelAnswersTheWorkersLogits() throws Exception {
    Path out = temp.resolve("logits");
    Result export = run("export", "--job", "job-1", "--member", "m0", "--journal", journal.toString(), "--out", out.toString());
    assertEquals(0, export.exit(), export.err());
    assertTrue(export.out().contains("checkpoint " + CHECKPOINT), export.out());

    int count = 40;
    List<GreyscaleImage> images = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      images.add(GreyscaleImage.of(test, i));
    }
    float[] expected = workerLogits(count);
    try (ExportedModel model = ExportedModel.load(out)) {
      ModelCard card = model.card();
      assertEquals(spec.model(), card.model());
      assertEquals(FashionMnist.CLASS_NAMES, card.classNames());
      assertEquals(new ModelCard.Source("job-1", "main", "classify", "m0", 0, CHECKPOINT,
          (double) score.correct() / score.samples(), score.samples()), card.source());
      List<float[]> logits = model.logits(images);
      for (int i = 0; i < count; i++) {
        for (int c = 0; c < 10; c++) {
          assertEquals(expected[i * 10 + c], logits.get(i)[c], 1e-5f, "image " + i + " class " + c);
        }
      }
    }

    // The directory is DJL's: Model.load fills a block built from the card, parameter for parameter.
    ModelCard card = ModelCard.read(out);
    try (Model model = Model.newInstance(card.name(), Device.cpu())) {
      model.setBlock(new VitClassifierBlock(card.model()));
      model.load(out, card.name());
      Block block = model.getBlock();
      int offset = 0;
      for (var tensor : TrainableModel.of(spec.model()).layout().tensors()) {
        float[] loaded = block.getParameters().get(tensor.name()).getArray().toFloatArray();
        float[] original = new float[tensor.size()];
        System.arraycopy(values, offset, original, 0, tensor.size());
        assertArrayEquals(original, loaded, tensor.name());
        offset += tensor.size();
      }
    }
    assertTrue(Files.isRegularFile(out.resolve(card.name() + "-0000.params")));
  }

  /** The worker model's logits of the first {@code count} test images, as its sessions compute them. */
  private static float[] workerLogits(int count) {
    TrainableModel model = TrainableModel.of(spec.model());
    try (NDManager scope = manager.newSubManager();
        ModelParameters parameters = new ModelParameters(model.layout(), scope)) {
      parameters.load(values);
      Batch batch = new BatchAssembler(spec.model()).assembleRange(test, 0, count);
      NDArray patches =
          scope.create(batch.patches(), new Shape(count, spec.model().patchCount(), spec.model().patchValues()));
      return model.logits(parameters, patches).toFloatArray();
    }
  }

  @Test
  void predictScoresTheTestSetAsTheWorkersEvaluationDid() throws Exception {
    Path out = exported("accuracy");
    Result predict = run("predict", "--model", out.toString(), "--data-dir", SUBSET.toString());
    assertEquals(0, predict.exit(), predict.err());
    double accuracy = (double) score.correct() / score.samples();
    assertTrue(accuracy > 0.3, "the few steps taught the model something: " + accuracy);
    assertTrue(
        predict.out().contains(String.format("Test accuracy: %.4f (%d images)", accuracy, test.size())), predict.out());
    try (ExportedModel model = ExportedModel.load(out)) {
      assertEquals(new ExportedModel.Evaluation(score.samples(), score.correct()), model.evaluate(test));
    }
  }

  @Test
  void predictReadsPictureFilesAsTheTrainingImagesAre() throws Exception {
    Path out = exported("pictures");
    Path pictures = Files.createDirectories(temp.resolve("pictures"));
    List<String> args = new ArrayList<>(List.of("predict", "--model", out.toString()));
    for (int i = 0; i < 8; i++) {
      Path grey = pictures.resolve("test-" + i + ".png");
      write(greyPicture(i), grey);
      assertEquals(GreyscaleImage.of(test, i), GreyscaleImage.read(grey, 28, false), "grey PNG " + i);
      args.add(grey.toString());
    }
    // In colour and twice the size: the grey levels come back exactly (2x2 blocks average to themselves).
    Path large = pictures.resolve("test-0-large.png");
    write(largeColourPicture(0), large);
    assertEquals(GreyscaleImage.of(test, 0), GreyscaleImage.read(large, 28, false));
    args.add(large.toString());

    Result predict = run(args.toArray(String[]::new));
    assertEquals(0, predict.exit(), predict.err());
    String[] lines = predict.out().strip().split("\n");
    assertEquals(9, lines.length, predict.out());
    for (int line = 0; line < lines.length; line++) {
      int image = line < 8 ? line : 0;
      int best = 0;
      for (int c = 1; c < 10; c++) {
        if (probabilities[image * 10 + c] > probabilities[image * 10 + best]) {
          best = c;
        }
      }
      Matcher m = Pattern.compile("(\\S+)\\s+(.+?)\\s+(\\d\\.\\d{4})").matcher(lines[line]);
      assertTrue(m.matches(), lines[line]);
      assertEquals(args.get(3 + line), m.group(1));
      assertEquals(FashionMnist.CLASS_NAMES.get(best), m.group(2), lines[line]);
      assertEquals(probabilities[image * 10 + best], Double.parseDouble(m.group(3)), 1e-4, lines[line]);
    }
  }

  @Test
  void finetuneAndDistillStagesAreClassifiersToo() throws Exception {
    for (String stage : List.of("finetune", "student")) {
      Path out = temp.resolve("stage-" + stage);
      Result export = run("export", "--job", "job-2." + stage, "--journal", journal.toString(), "--out", out.toString());
      assertEquals(0, export.exit(), export.err());
      try (ExportedModel model = ExportedModel.load(out)) {
        assertEquals(stage, model.card().source().stage());
        assertEquals(stage.equals("student") ? "distill" : "finetune", model.card().source().stageKind());
        assertEquals(Double.NaN, model.card().source().testAccuracy(), "no result journalled");
        assertEquals(new ExportedModel.Evaluation(score.samples(), score.correct()), model.evaluate(test));
      }
    }
  }

  @Test
  void aNonEmptyDirectoryIsReplacedOnlyWithForce() throws Exception {
    Path out = Files.createDirectories(temp.resolve("occupied"));
    Files.writeString(out.resolve("notes.txt"), "mine");
    Result refused = run("export", "--job", "job-1", "--journal", journal.toString(), "--out", out.toString());
    assertEquals(1, refused.exit());
    assertTrue(refused.err().contains("is not empty; pass --force"), refused.err());
    assertEquals(List.of(out.resolve("notes.txt")), Files.list(out).toList());

    Result forced = run("export", "--job", "job-1", "--journal", journal.toString(), "--out", out.toString(), "--force");
    assertEquals(0, forced.exit(), forced.err());
    assertEquals("mine", Files.readString(out.resolve("notes.txt")));
    ExportedModel.load(out).close();
  }

  @Test
  void stagesThatTrainNoClassifierAreRefused() {
    Result pretrain = export("job-2.pretrain");
    assertEquals(1, pretrain.exit());
    assertTrue(
        pretrain.err().contains("job-2.pretrain is a mae-pretrain stage, which trains no classifier; export supports"
            + " classifier stages (classify, finetune, distill)"),
        pretrain.err());
    Result pipeline = export("job-2");
    assertEquals(1, pipeline.exit());
    assertTrue(
        pipeline.err().contains("job-2 is a pipeline; export one of its stages: job-2.pretrain, job-2.finetune, job-2.student"),
        pipeline.err());
  }

  @Test
  void unknownJobsJobsWithoutACheckpointAndUnknownMembersAreRefused() {
    Result unknown = export("job-9");
    assertEquals(1, unknown.exit());
    assertTrue(unknown.err().contains("unknown job 'job-9'"), unknown.err());
    assertTrue(unknown.err().contains("holds job-1, job-2.pretrain, job-2.finetune, job-2.student, job-3"), unknown.err());

    Result noCheckpoint = export("job-3");
    assertEquals(1, noCheckpoint.exit());
    assertTrue(noCheckpoint.err().contains("no checkpoint of shard job-3:m0:s0"), noCheckpoint.err());

    Result member = run("export", "--job", "job-1", "--member", "m4", "--journal", journal.toString(), "--out",
        temp.resolve("m4").toString());
    assertEquals(1, member.exit());
    assertTrue(member.err().contains("stage 'main' has no member 'm4'; its members are m0"), member.err());
    assertTrue(Files.notExists(temp.resolve("m4")), "nothing written");
  }

  private static Result export(String job) {
    return run("export", "--job", job, "--journal", journal.toString(), "--out", temp.resolve("refused-" + job).toString());
  }

  private static Path exported(String name) {
    Path out = temp.resolve(name);
    Result export = run("export", "--job", "job-1", "--journal", journal.toString(), "--out", out.toString());
    assertEquals(0, export.exit(), export.err());
    return out;
  }

  private static BufferedImage greyPicture(int i) {
    BufferedImage image = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 28; y++) {
      for (int x = 0; x < 28; x++) {
        image.getRaster().setSample(x, y, 0, test.pixel(i, y, x));
      }
    }
    return image;
  }

  private static BufferedImage largeColourPicture(int i) {
    BufferedImage image = new BufferedImage(56, 56, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 56; y++) {
      for (int x = 0; x < 56; x++) {
        int v = test.pixel(i, y / 2, x / 2);
        image.setRGB(x, y, (v << 16) | (v << 8) | v);
      }
    }
    return image;
  }

  private static void write(BufferedImage image, Path file) throws IOException {
    assertTrue(ImageIO.write(image, "png", file.toFile()));
  }

  private record Result(int exit, String out, String err) {}

  /** Runs {@code bin/tessera} with these arguments in this JVM, capturing what it prints. */
  private static synchronized Result run(String... args) {
    PrintStream stdout = System.out;
    PrintStream stderr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int exit = Main.run(List.of(args));
      return new Result(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(stdout);
      System.setErr(stderr);
    }
  }
}
