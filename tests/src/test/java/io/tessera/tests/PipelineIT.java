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
import java.time.Duration;
import java.util.List;
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
  void everyStageKindRunsThroughTheClusterAndReports() {
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

  private static JobStatus finished(TestCluster cluster, String jobId) {
    JobStatus done = cluster.awaitFinished(jobId, Duration.ofMinutes(6));
    assertEquals(JobState.COMPLETED, done.state(), () -> jobId + " failed: " + done.failure());
    System.out.println("PipelineIT " + jobId + ": " + done.results() + (done.ensemble() == null ? "" : " ensemble " + done.ensemble()));
    return done;
  }
}
