package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.spec.EarlyStoppingSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.StageKind;
import io.tessera.protocol.spec.TrainingMode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The example job specs under deploy/jobs, which the README documents, parse as they claim. */
class ShippedJobsTest {
  private static final Path JOBS = Path.of("jobs");

  private static JobSpec parse(String file) throws IOException {
    return JobSpecParser.parse(Files.readString(JOBS.resolve(file)));
  }

  @Test
  void everyShippedSpecParses() throws IOException {
    try (Stream<Path> files = Files.list(JOBS)) {
      List<Path> specs = files.filter(f -> f.toString().endsWith(".conf")).toList();
      assertTrue(specs.size() >= 4, "specs found: " + specs);
      for (Path spec : specs) {
        JobSpecParser.parsePipeline(Files.readString(spec));
      }
    }
  }

  @Test
  void theResearchPipelinesHaveTheStagesTheReadmeDescribes() throws IOException {
    PipelineSpec research = JobSpecParser.parsePipeline(Files.readString(JOBS.resolve("mae-finetune-distill.conf")));
    assertEquals(
        List.of("pretrain", "finetune", "scratch", "student", "student-alone", "small-student", "small-alone"),
        research.stages().stream().map(s -> s.stage().name()).toList());
    assertEquals(0.75, research.stage("pretrain").stage().mae().maskRatio());
    assertEquals(3, research.stage("finetune").members().size());
    assertEquals(research.stage("finetune").epochs(), research.stage("scratch").epochs(), "the same budget");
    assertEquals(research.stage("finetune").model(), research.stage("scratch").model(), "the same ViT");
    // The student and its twin: the same model, start and budget; only the teacher differs.
    assertEquals(research.stage("student").model(), research.stage("student-alone").model());
    assertEquals(research.stage("student").epochs(), research.stage("student-alone").epochs());
    assertEquals("pretrain", research.stage("student").stage().from());
    assertEquals("pretrain", research.stage("student-alone").stage().from());
    assertEquals(StageKind.DISTILL, research.stage("student").stage().kind());
    assertEquals("finetune", research.stage("student").stage().teacher());
    assertEquals(research.stage("small-student").model(), research.stage("small-alone").model());
    assertEquals(research.stage("small-student").epochs(), research.stage("small-alone").epochs());
    assertTrue(
        research.stage("small-student").model().dim() < research.stage("finetune").model().dim(), "a smaller student");
    assertEquals(5000, research.stage("finetune").dataset().validation());

    PipelineSpec flip = JobSpecParser.parsePipeline(Files.readString(JOBS.resolve("flip-zero-shot.conf")));
    assertEquals(StageKind.FLIP, flip.stages().get(0).stage().kind());
    assertEquals(flip.stages().get(0).globalBatch(), flip.stages().get(0).microBatch(), "InfoNCE over the whole batch");

    PipelineSpec probe = JobSpecParser.parsePipeline(Files.readString(JOBS.resolve("mae-linear-probe.conf")));
    assertEquals(StageKind.LINEAR_PROBE, probe.stage("probe").stage().kind());
  }

  @Test
  void theSyncAndEnsembleExamplesSayWhatTheReadmeSays() throws IOException {
    JobSpec sync = parse("fashion-mnist-sync.conf");
    assertEquals(TrainingMode.SYNC, sync.mode());
    assertEquals(1, sync.backupWorkers());

    JobSpec ensemble = parse("fashion-mnist-ensemble.conf");
    assertEquals(3, ensemble.members().size());
    assertEquals(2.0, ensemble.members().get(2).weight());
    assertEquals(3e-3, ensemble.optimizerOf(1).learningRate());

    JobSpec early = parse("fashion-mnist-early-stopping.conf");
    assertEquals(new EarlyStoppingSpec(3, 0.001), early.earlyStopping());
    assertEquals(5000, early.dataset().validation());
  }
}
