package io.tessera.deploy;

import io.tessera.coordinator.CoordinatorEvent;
import io.tessera.deploy.export.ExportedModel;
import io.tessera.deploy.export.ModelCard;
import io.tessera.protocol.spec.DatasetSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.ModelKind;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.SpecException;
import io.tessera.protocol.spec.SpecNames;
import io.tessera.worker.data.FashionMnist;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * {@code bin/tessera export}: writes a classifier member's parameters at its last checkpoint as a
 * DJL model directory ({@link ExportedModel}) that {@code bin/tessera predict}, or any program
 * with DJL and this jar, can load. Reads the snapshot store like {@code reconstruct}; the job's
 * spec comes from the coordinator's journal in the same store unless {@code --spec} names it.
 * Needs no running cluster.
 */
final class ExportCommand {
  private ExportCommand() {}

  static int run(List<String> args) {
    CommandLine line =
        CommandLine.parse(args, Set.of("job", "member", "spec", "journal", "postgres-url", "out"), Set.of("force"));
    String jobId = line.option("job").orElseThrow(() -> new CommandLine.UsageException("--job ID is required (e.g. job-1)"));
    Path out =
        Path.of(line.option("out").orElseThrow(() -> new CommandLine.UsageException("--out DIR is required")));
    try {
      refuseToOverwrite(out, line.flag("force"));
      try (CheckpointReader store = CheckpointReader.open(line)) {
        Map<String, CheckpointReader.JournalledJob> journalled = store.journalledJobs();
        JobSpec stage = stageOf(line, jobId, journalled, store.description());
        refuseNonClassifier(jobId, stage);
        int member = memberIndex(line.option("member").orElse("0"), stage);
        CheckpointReader.Checkpoint checkpoint = store.read(jobId, member, stage);
        CheckpointReader.JournalledJob job = journalled.get(jobId);
        CoordinatorEvent.MemberEvaluated evaluated = job == null ? null : job.evaluations().get(member);
        ModelCard card =
            new ModelCard(
                ModelCard.nameFor(stage.name()),
                stage.model(),
                classNames(stage),
                new ModelCard.Source(
                    jobId,
                    stage.stage().name(),
                    SpecNames.of(stage.stage().kind()),
                    stage.members().get(member).name(),
                    member,
                    checkpoint.checkpointId(),
                    evaluated == null ? Double.NaN : evaluated.testAccuracy(),
                    evaluated == null ? 0 : evaluated.testSamples()));
        clear(out);
        ExportedModel.write(out, card, checkpoint.values());
        System.out.printf(
            "export: wrote member %s of %s (checkpoint %d, %,d parameters) to %s%n",
            card.source().member(), jobId, checkpoint.checkpointId(), checkpoint.values().length, out.toAbsolutePath());
        if (evaluated != null) {
          System.out.printf(
              "export: the job reported test accuracy %.4f (%d images) for it; check with"
                  + " bin/tessera predict --model %s --data-dir DIR%n",
              evaluated.testAccuracy(), evaluated.testSamples(), out);
        }
        return 0;
      }
    } catch (IOException | IllegalArgumentException | IllegalStateException e) {
      System.err.println("tessera: " + e.getMessage());
      return 1;
    }
  }

  /** A directory with anything in it is replaced only with {@code --force}. */
  private static void refuseToOverwrite(Path out, boolean force) throws IOException {
    if (Files.exists(out) && !Files.isDirectory(out)) {
      throw new IllegalArgumentException("--out " + out + " is a file, not a directory");
    }
    if (!force && Files.isDirectory(out)) {
      try (Stream<Path> entries = Files.list(out)) {
        if (entries.findAny().isPresent()) {
          throw new IllegalArgumentException(
              "--out " + out + " is not empty; pass --force to replace the model in it, or name another directory");
        }
      }
    }
  }

  /**
   * With {@code --force}: removes what an earlier export left (its card and parameter files), so
   * that DJL does not load an older parameter file of another name; other files stay.
   */
  private static void clear(Path out) throws IOException {
    if (!Files.isDirectory(out)) {
      return;
    }
    try (Stream<Path> entries = Files.list(out)) {
      for (Path entry : entries.toList()) {
        String name = entry.getFileName().toString();
        if (Files.isRegularFile(entry) && (name.equals(ModelCard.FILE_NAME) || name.endsWith(".params"))) {
          Files.delete(entry);
        }
      }
    }
  }

  /**
   * The stage {@code jobId} trained: from {@code --spec} (a one-stage spec, or the stage the job
   * id names after its '.'), else as the coordinator journalled it.
   */
  static JobSpec stageOf(
      CommandLine line, String jobId, Map<String, CheckpointReader.JournalledJob> journalled, String store)
      throws IOException {
    CheckpointReader.JournalledJob job = journalled.get(jobId);
    if (line.option("spec").isPresent()) {
      PipelineSpec pipeline;
      try {
        pipeline = JobSpecParser.parsePipeline(Files.readString(Path.of(line.option("spec").get())));
      } catch (SpecException e) {
        throw new IllegalArgumentException("--spec " + line.option("spec").get() + ": " + e.getMessage(), e);
      }
      JobSpec stage;
      if (pipeline.stages().size() == 1) {
        stage = pipeline.stages().get(0);
      } else {
        int dot = jobId.indexOf('.');
        String name = dot < 0 ? "" : jobId.substring(dot + 1);
        stage =
            pipeline.stages().stream()
                .filter(s -> s.stage().name().equals(name))
                .findFirst()
                .orElseThrow(
                    () -> new IllegalArgumentException(
                        "the spec has " + pipeline.stages().size() + " stages; give the stage's job id, e.g. "
                            + jobId.replaceFirst("\\..*", "") + "." + pipeline.stages().get(0).stage().name()));
      }
      if (job != null && !job.spec().model().equals(stage.model())) {
        throw new IllegalArgumentException(
            "the spec's model is not the one " + jobId + " was trained with (" + job.spec().model() + ")");
      }
      return stage;
    }
    if (job != null) {
      return job.spec();
    }
    List<String> stages = new ArrayList<>();
    for (String id : journalled.keySet()) {
      if (id.startsWith(jobId + ".")) {
        stages.add(id);
      }
    }
    if (!stages.isEmpty()) {
      throw new IllegalArgumentException(
          jobId + " is a pipeline; export one of its stages: " + String.join(", ", stages));
    }
    throw new IllegalArgumentException(
        "unknown job '" + jobId + "': the journal in " + store
            + (journalled.isEmpty()
                ? " holds no jobs (give the job's spec with --spec if its journal is elsewhere)"
                : " holds " + String.join(", ", journalled.keySet())));
  }

  private static void refuseNonClassifier(String jobId, JobSpec stage) {
    String kind = SpecNames.of(stage.stage().kind());
    switch (stage.stage().kind()) {
      case CLASSIFY, FINETUNE, DISTILL -> {
        if (stage.model().kind() != ModelKind.VIT_CLASSIFIER) {
          throw new IllegalArgumentException(
              jobId + " trains a " + SpecNames.of(stage.model().kind()) + " model, which has no network to export");
        }
      }
      case LINEAR_PROBE ->
          throw new IllegalArgumentException(
              jobId + " is a linear-probe stage: its shards hold only a head over the frozen encoder of stage '"
                  + stage.stage().from() + "'; export supports classifier stages that hold a whole ViT (classify,"
                  + " finetune, distill)");
      case MAE_PRETRAIN, FLIP ->
          throw new IllegalArgumentException(
              jobId + " is a " + kind + " stage, which trains no classifier; export supports classifier stages"
                  + " (classify, finetune, distill). Use bin/tessera reconstruct to look at an mae-pretrain stage,"
                  + " or export a finetune stage that starts from it.");
    }
  }

  /** A member by name ({@code m0}) or index ({@code 0}). */
  static int memberIndex(String member, JobSpec stage) {
    for (int i = 0; i < stage.members().size(); i++) {
      if (stage.members().get(i).name().equals(member)) {
        return i;
      }
    }
    if (member.matches("\\d{1,9}")) {
      int index = Integer.parseInt(member);
      if (index < stage.members().size()) {
        return index;
      }
    }
    List<String> names = stage.members().stream().map(m -> m.name()).toList();
    throw new IllegalArgumentException(
        "stage '" + stage.stage().name() + "' has no member '" + member + "'; its members are " + String.join(", ", names)
            + " (or 0 to " + (names.size() - 1) + ")");
  }

  /** Fashion-MNIST's class names for its ten classes; "class N" otherwise. */
  private static List<String> classNames(JobSpec stage) {
    if (stage.dataset().name().equals(DatasetSpec.FASHION_MNIST)
        && stage.model().classes() == FashionMnist.CLASS_NAMES.size()) {
      return FashionMnist.CLASS_NAMES;
    }
    List<String> names = new ArrayList<>();
    for (int i = 0; i < stage.model().classes(); i++) {
      names.add("class " + i);
    }
    return names;
  }
}
