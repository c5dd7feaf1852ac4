package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.coordinator.CoordinatorProtocol.EnsembleResult;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.StageKind;
import io.tessera.deploy.Main;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * Every stage kind runs through the cluster on the shipped subset, in one pipeline: MAE
 * pre-training, a fine-tuned ensemble of three measured together, a smaller student distilled
 * from it, a linear probe of the pre-trained encoder, and a FLIP-style image-text model scored
 * zero-shot. Later stages read earlier ones from their shards.
 */
class PipelineIT {
  private static final String PIPELINE =
      """
      name = "subset-pipeline"
      # Synchronous steps: the figures below do not depend on how the two workers' timing falls.
      mode = sync
      epochs = 2
      global-batch = 64
      micro-batch = 32
      split-size = 512
      shards = 2
      staleness = 4
      dataset { validation = 300 }
      model { kind = vit-classifier, patch-size = 7, dim = 64, depth = 2, heads = 4, mlp-dim = 128 }
      optimizer { kind = adamw, learning-rate = 3e-3, warmup-steps = 10, weight-decay = 0.05 }
      stages = [
        { name = pretrain, kind = mae-pretrain, epochs = 3, optimizer { learning-rate = 1.5e-3 } }
        { name = finetune, kind = finetune, from = pretrain, ensemble-size = 3 }
        { name = student, kind = distill, teacher = finetune, model { dim = 32, heads = 2, depth = 1, mlp-dim = 64 } }
        { name = probe, kind = linear-probe, from = pretrain, epochs = 1, optimizer { learning-rate = 1e-2 } }
        { name = clip, kind = flip, epochs = 4, micro-batch = 64, flip { mask-ratio = 0.5, unmasked-epochs = 1 } }
      ]
      """;

  @Test
  void everyStageKindRunsThroughTheClusterAndReports() throws IOException {
    PipelineSpec pipeline = JobSpecParser.parsePipeline(PIPELINE);
    try (TestCluster cluster = TestCluster.start("coordinator", "ps")) {
      cluster.addNode("worker");
      cluster.addNode("worker");
      List<String> jobIds = cluster.submit(pipeline);
      assertEquals(5, jobIds.size());
      assertTrue(jobIds.get(0).endsWith(".pretrain"), jobIds.toString());

      JobStatus pretrain = finished(cluster, jobIds.get(0));
      assertEquals(StageKind.MAE_PRETRAIN, pretrain.kind());
      MemberResult mae = pretrain.results().get(0);
      assertTrue(Double.isNaN(mae.testAccuracy()), "an autoencoder reports no accuracy");
      assertTrue(mae.testLoss() > 0 && mae.testLoss() < 1.0, "masked-patch loss (normalised pixels) " + mae.testLoss());
      checkReconstructions(cluster, jobIds.get(0));

      JobStatus finetune = finished(cluster, jobIds.get(1));
      assertEquals(3, finetune.results().size());
      double best = 0;
      for (MemberResult member : finetune.results()) {
        assertTrue(member.testAccuracy() > 0.6, "fine-tuned member " + member);
        assertTrue(member.validationAccuracy() > 0.5, "validation accuracy of " + member);
        best = Math.max(best, member.testAccuracy());
      }
      EnsembleResult ensemble = finetune.ensemble();
      assertNotNull(ensemble, "a stage of three is measured as an ensemble");
      assertEquals(1000, ensemble.testSamples());
      assertTrue(ensemble.averaged() > best - 0.03, "averaged " + ensemble.averaged() + " vs best member " + best);
      assertTrue(ensemble.revoted() > best - 0.03, "re-voted " + ensemble.revoted() + " vs best member " + best);

      JobStatus student = finished(cluster, jobIds.get(2));
      assertEquals(StageKind.DISTILL, student.kind());
      assertTrue(student.results().get(0).testAccuracy() > 0.6, "student " + student.results().get(0));

      JobStatus probe = finished(cluster, jobIds.get(3));
      assertTrue(probe.results().get(0).testAccuracy() > 0.3, "linear probe " + probe.results().get(0));

      JobStatus clip = finished(cluster, jobIds.get(4));
      assertTrue(clip.results().get(0).testAccuracy() > 0.25, "zero-shot " + clip.results().get(0) + " (chance is 0.1)");
    }
  }

  /**
   * {@code bin/tessera reconstruct} reads the pre-training stage's last checkpoint from the shared
   * H2 journal while the cluster runs, and writes a grid whose middle column hides 3 of 4 patches
   * and whose right column fills them in.
   */
  private static void checkReconstructions(TestCluster cluster, String jobId) throws IOException {
    Path dir = Files.createDirectories(Path.of("target", "reconstructions"));
    Path spec = dir.resolve("pipeline.conf");
    Files.writeString(spec, PIPELINE);
    Path png = dir.resolve(jobId + ".png");
    Files.deleteIfExists(png);
    int exit =
        Main.run(
            List.of(
                "reconstruct", "--spec", spec.toString(), "--job", jobId, "--journal", cluster.journal().toString(),
                "--data-dir", TestJobs.subsetDir().toString(), "--count", "4", "--out", png.toString()));
    assertEquals(0, exit, "reconstruct failed");
    BufferedImage grid = ImageIO.read(png.toFile());
    int cell = 28 * 4;
    assertEquals(3 * cell + 4 * 4, grid.getWidth());
    assertEquals(4 * (cell + 4) + 4, grid.getHeight());
    int hidden = 0;
    int changed = 0;
    int pixels = 0;
    for (int y = 4; y < 4 + cell; y += 4) {
      for (int x = 0; x < cell; x += 4) {
        int masked = grid.getRGB(4 + cell + 4 + x, y) & 0xFFFFFF;
        int rebuilt = grid.getRGB(4 + 2 * (cell + 4) + x, y) & 0xFFFFFF;
        hidden += masked == 0x465A8C ? 1 : 0;
        changed += masked == 0x465A8C && rebuilt != 0x465A8C ? 1 : 0;
        pixels++;
      }
    }
    assertEquals(0.75, hidden / (double) pixels, 0.01, "three of four patches are hidden in the masked column");
    assertEquals(hidden, changed, "every hidden pixel is reconstructed");
  }

  private static JobStatus finished(TestCluster cluster, String jobId) {
    JobStatus done = cluster.awaitFinished(jobId, Duration.ofMinutes(6));
    assertEquals(JobState.COMPLETED, done.state(), () -> jobId + " failed: " + done.failure());
    System.out.println("PipelineIT " + jobId + ": " + done.results() + (done.ensemble() == null ? "" : " ensemble " + done.ensemble()));
    return done;
  }
}
