package io.tessera.coordinator;

import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.StageSpec;
import io.tessera.protocol.worker.WorkerProtocol.SourceModel;
import io.tessera.protocol.worker.WorkerProtocol.StageInputs;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * How the stages of a pipeline relate, as pure functions of the coordinator's state: the job ids
 * a submitted pipeline gets, which earlier stages' members a stage's member reads, and whether
 * those stages are there to be read.
 *
 * <p>A one-stage job is {@code job-N}; the stages of a longer pipeline are {@code job-N.<stage>},
 * queued in order, so each starts after the ones before it have finished.
 */
final class Stages {
  private Stages() {}

  /** The submissions of a pipeline, in stage order, and the pipeline's id. */
  static List<JobSubmitted> submitted(CoordinatorState state, PipelineSpec pipeline, long atMillis) {
    String pipelineId = "job-" + state.nextJobNumber();
    List<JobSubmitted> events = new ArrayList<>();
    for (JobSpec stage : pipeline.stages()) {
      String jobId = pipeline.stages().size() == 1 ? pipelineId : pipelineId + "." + stage.stage().name();
      events.add(new JobSubmitted(jobId, stage, atMillis));
    }
    return events;
  }

  /** What member {@code member} of {@code job} reads from earlier stages. */
  static StageInputs inputs(CoordinatorState state, JobRun job, int member) {
    StageSpec stage = job.spec().stage();
    List<SourceModel> from = new ArrayList<>();
    List<SourceModel> teachers = new ArrayList<>();
    if (!stage.from().isEmpty()) {
      state.job(job.jobIdOfStage(stage.from()))
          .ifPresent(source -> from.add(new SourceModel(source.jobId(), member % source.members().size(), source.spec())));
    }
    if (!stage.teacher().isEmpty()) {
      state.job(job.jobIdOfStage(stage.teacher()))
          .ifPresent(teacher -> {
            for (int m = 0; m < teacher.members().size(); m++) {
              teachers.add(new SourceModel(teacher.jobId(), m, teacher.spec()));
            }
          });
    }
    return from.isEmpty() && teachers.isEmpty() ? StageInputs.NONE : new StageInputs(from, teachers);
  }

  /** The job ids of the earlier stages {@code job} reads ({@code from}, {@code teacher}). */
  static List<String> sources(JobRun job) {
    StageSpec stage = job.spec().stage();
    List<String> ids = new ArrayList<>();
    if (!stage.from().isEmpty()) {
      ids.add(job.jobIdOfStage(stage.from()));
    }
    if (!stage.teacher().isEmpty()) {
      ids.add(job.jobIdOfStage(stage.teacher()));
    }
    return ids;
  }

  /** The members of {@code job} itself, as sources (for measuring them together). */
  static List<SourceModel> members(JobRun job) {
    List<SourceModel> members = new ArrayList<>();
    for (int m = 0; m < job.members().size(); m++) {
      members.add(new SourceModel(job.jobId(), m, job.spec()));
    }
    return members;
  }

  /** Why {@code job} cannot start: an earlier stage it reads did not complete; empty if it can. */
  static Optional<String> unmet(CoordinatorState state, JobRun job) {
    StageSpec stage = job.spec().stage();
    for (String needed : List.of(stage.from(), stage.teacher())) {
      if (needed.isEmpty()) {
        continue;
      }
      String neededId = job.jobIdOfStage(needed);
      Optional<JobRun> source = state.job(neededId);
      if (source.isEmpty()) {
        return Optional.of("stage '" + stage.name() + "' reads stage '" + needed + "' (" + neededId + "), which is unknown");
      }
      if (source.get().state() != JobState.COMPLETED) {
        return Optional.of(
            "stage '" + stage.name() + "' reads stage '" + needed + "' (" + neededId + "), which is "
                + source.get().state() + (source.get().failure() == null ? "" : ": " + source.get().failure()));
      }
    }
    return Optional.empty();
  }
}
