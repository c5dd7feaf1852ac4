package io.tessera.deploy;

import ai.djl.ndarray.NDManager;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.StageKind;
import io.tessera.worker.data.DatasetException;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.data.StageData;
import io.tessera.worker.train.MaeTrainer;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;

/**
 * {@code bin/tessera reconstruct}: reads an {@code mae-pretrain} stage's last checkpoint from the
 * snapshot store (the demo's H2 file, or a cluster's PostgreSQL) and writes a PNG grid of test
 * images, one per row: the original, what the encoder saw (hidden patches blue-grey) and the
 * reconstruction. Needs no running cluster.
 */
final class ReconstructCommand {
  private static final int SCALE = 4;
  private static final int GAP = 4;
  private static final int HIDDEN_RGB = 0x46_5A_8C;
  private static final int BACKGROUND_RGB = 0xFF_FF_FF;

  private ReconstructCommand() {}

  static int run(List<String> args) {
    CommandLine line =
        CommandLine.parse(
            args,
            Set.of("spec", "stage", "job", "member", "journal", "postgres-url", "data-dir", "count", "out"),
            Set.of());
    String jobId =
        line.option("job").orElseThrow(() -> new CommandLine.UsageException("--job ID is required (e.g. job-1.pretrain)"));
    Path specFile =
        Path.of(line.option("spec").orElseThrow(() -> new CommandLine.UsageException("--spec FILE is required")));
    int count = line.intOption("count", 8);
    if (count < 1 || count > 64) {
      throw new CommandLine.UsageException("--count must be between 1 and 64, was " + count);
    }
    int member = line.intOption("member", 0);
    Path out = Path.of(line.option("out").orElse("reconstructions.png"));
    try {
      JobSpec stage = maeStage(JobSpecParser.parsePipeline(Files.readString(specFile)), line.option("stage").orElse(""));
      if (member < 0 || member >= stage.members().size()) {
        throw new CommandLine.UsageException("stage '" + stage.stage().name() + "' has no member " + member);
      }
      FashionMnist data = FashionMnist.load(Path.of(line.option("data-dir").orElse(DataCommand.DEFAULT_DATA_DIR)));
      float[] values;
      try (CheckpointReader store = CheckpointReader.open(line)) {
        CheckpointReader.Checkpoint checkpoint = store.read(jobId, member, stage);
        System.out.printf(
            "reconstruct: read checkpoint %d of %s member %d (%d shards)%n",
            checkpoint.checkpointId(), jobId, member, checkpoint.shards());
        values = checkpoint.values();
      }
      float[][][] images;
      try (NDManager manager = NDManager.newBaseManager();
          // The member's own seed, so the test images hide the patches its evaluation hid.
          MaeTrainer trainer =
              new MaeTrainer(stage.withSeed(stage.orderSeed(member)), StageData.of(data, stage.dataset()), manager)) {
        images = trainer.reconstructions(values, count);
      }
      write(images, stage.model().imageSize(), out);
      System.out.printf(
          "reconstruct: wrote %d test images of %s member %d (original | masked %.0f%% | reconstruction) to %s%n",
          images.length, jobId, member, stage.stage().mae().maskRatio() * 100, out.toAbsolutePath());
      return 0;
    } catch (IOException | DatasetException | IllegalArgumentException | IllegalStateException e) {
      System.err.println("tessera: " + e.getMessage());
      return 1;
    }
  }

  /** The stage named {@code name}, or the pipeline's only {@code mae-pretrain} stage. */
  static JobSpec maeStage(PipelineSpec pipeline, String name) {
    List<JobSpec> candidates =
        pipeline.stages().stream()
            .filter(s -> name.isEmpty() ? s.stage().kind() == StageKind.MAE_PRETRAIN : s.stage().name().equals(name))
            .toList();
    if (candidates.size() != 1) {
      throw new IllegalArgumentException(
          name.isEmpty()
              ? "the spec has " + candidates.size() + " mae-pretrain stages; name one with --stage"
              : "the spec has no stage '" + name + "'");
    }
    JobSpec stage = candidates.get(0);
    if (stage.stage().kind() != StageKind.MAE_PRETRAIN) {
      throw new IllegalArgumentException("stage '" + name + "' is not an mae-pretrain stage; it has no decoder");
    }
    return stage;
  }

  /** One row per image: original, masked input, reconstruction; pixels scaled up {@link #SCALE} times. */
  static void write(float[][][] images, int imageSize, Path out) throws IOException {
    int cell = imageSize * SCALE;
    int width = 3 * cell + 4 * GAP;
    int height = images.length * (cell + GAP) + GAP;
    BufferedImage grid = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        grid.setRGB(x, y, BACKGROUND_RGB);
      }
    }
    for (int row = 0; row < images.length; row++) {
      for (int panel = 0; panel < 3; panel++) {
        int left = GAP + panel * (cell + GAP);
        int top = GAP + row * (cell + GAP);
        float[] pixels = images[row][panel];
        for (int p = 0; p < pixels.length; p++) {
          int rgb = pixels[p] < 0 ? HIDDEN_RGB : grey(pixels[p]);
          int px = left + (p % imageSize) * SCALE;
          int py = top + (p / imageSize) * SCALE;
          for (int dy = 0; dy < SCALE; dy++) {
            for (int dx = 0; dx < SCALE; dx++) {
              grid.setRGB(px + dx, py + dy, rgb);
            }
          }
        }
      }
    }
    Path parent = out.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    if (!ImageIO.write(grid, "png", out.toFile())) {
      throw new IOException("no PNG writer in this JVM");
    }
  }

  private static int grey(float value) {
    int v = Math.round(Math.max(0f, Math.min(1f, value)) * 255);
    return (v << 16) | (v << 8) | v;
  }
}
