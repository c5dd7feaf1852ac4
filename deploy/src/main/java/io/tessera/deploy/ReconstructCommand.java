package io.tessera.deploy;

import ai.djl.ndarray.NDManager;
import akka.actor.ExtendedActorSystem;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Adapter;
import akka.actor.typed.javadsl.Behaviors;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.StageKind;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.ps.ShardCheckpoints;
import io.tessera.worker.data.DatasetException;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.data.StageData;
import io.tessera.worker.train.MaeTrainer;
import io.tessera.worker.train.StageTrainers;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
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
      float[] values = readCheckpoint(line, jobId, member, stage);
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

  /** The member's parameters at its shards' last checkpoint, assembled into one flat vector. */
  private static float[] readCheckpoint(CommandLine line, String jobId, int member, JobSpec stage) {
    ParameterLayout layout = StageTrainers.layoutOf(stage);
    List<ShardRange> ranges = layout.shardRanges(stage.shards());
    float[] values = new float[layout.totalSize()];
    Config config =
        ConfigFactory.parseMap(
                Map.of(
                    "akka.actor.provider", "local",
                    "akka.loglevel", "WARNING",
                    // Only the serializers are wanted; ending this system must not end the JVM.
                    "akka.coordinated-shutdown.exit-jvm", "off",
                    "akka.coordinated-shutdown.run-by-jvm-shutdown-hook", "off"))
            .withFallback(ConfigFactory.load());
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "reconstruct", config);
    try (Connection connection = connect(line);
        PreparedStatement query =
            connection.prepareStatement(
                "SELECT \"snapshot_payload\" FROM \"snapshot\" WHERE \"persistence_id\" = ?"
                    + " ORDER BY \"sequence_number\" DESC LIMIT 1")) {
      long checkpointId = -1;
      for (ShardRange range : ranges) {
        String entityId = ShardProtocol.entityId(jobId, member, range.index());
        query.setString(1, ShardCheckpoints.persistenceId(entityId));
        byte[] payload;
        try (ResultSet rows = query.executeQuery()) {
          if (!rows.next()) {
            throw new IllegalStateException(
                "no checkpoint of shard " + entityId + " in the snapshot store: is the job id right, and did"
                    + " the stage take a checkpoint?");
          }
          payload = rows.getBytes(1);
        }
        ShardCheckpoints.Checkpoint checkpoint =
            ShardCheckpoints.decode((ExtendedActorSystem) Adapter.toClassic(system), payload);
        if (!checkpoint.range().equals(range)) {
          throw new IllegalStateException(
              "shard " + entityId + " holds " + checkpoint.range() + " but the spec's model puts " + range
                  + " there: the spec is not the one " + jobId + " was trained with");
        }
        checkpointId = checkpointId < 0 ? checkpoint.checkpointId() : Math.min(checkpointId, checkpoint.checkpointId());
        System.arraycopy(checkpoint.parameters(), 0, values, range.from(), range.size());
      }
      System.out.printf("reconstruct: read checkpoint %d of %s member %d (%d shards)%n", checkpointId, jobId, member, ranges.size());
      return values;
    } catch (SQLException e) {
      throw new IllegalStateException("cannot read the snapshot store: " + e.getMessage(), e);
    } finally {
      system.terminate();
    }
  }

  private static Connection connect(CommandLine line) throws SQLException {
    if (line.option("postgres-url").isPresent()) {
      return DriverManager.getConnection(line.option("postgres-url").get());
    }
    Path journal = Path.of(line.option("journal").orElse("data/demo/journal")).toAbsolutePath();
    if (!Files.exists(Path.of(journal + ".mv.db"))) {
      throw new IllegalStateException(
          "no H2 journal at " + journal + ".mv.db (give the file without its .mv.db suffix with --journal,"
              + " or --postgres-url)");
    }
    return DriverManager.getConnection("jdbc:h2:file:" + journal + ";AUTO_SERVER=TRUE", "sa", "");
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
