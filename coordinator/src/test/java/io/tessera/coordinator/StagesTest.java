package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.coordinator.CoordinatorEvent.EnsembleEvaluated;
import io.tessera.coordinator.CoordinatorEvent.JobFailed;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.MemberEvaluated;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.protocol.coordinator.CoordinatorProtocol.EnsembleResult;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.protocol.worker.WorkerProtocol.SourceModel;
import io.tessera.protocol.worker.WorkerProtocol.StageInputs;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** How the stages of a pipeline relate: their job ids, what each member reads, and what is missing. */
class StagesTest {
  private static final long AT = 1_726_000_000_000L;
  private static final String WORKER = "akka://tessera@127.0.0.1:25520/user/worker-a#101";
  /** Every stage: one lease of two micro-batch splits per member over 4 training samples. */
  private static final String TINY =
      String.join(
          "\n",
          "name = tiny",
          "global-batch = 4",
          "micro-batch = 2",
          "split-size = 4",
          "epochs = 1",
          "checkpoint { interval = 0, every-pushes = 0 }",
          "");
  /** MAE with two members, a three-member finetune of it, a student taught by the finetune. */
  private static final PipelineSpec THREE_STAGES =
      JobSpecParser.parsePipeline(
          TINY
              + String.join(
                  "\n",
                  "stages = [",
                  "  { name = pre, kind = mae-pretrain, ensemble-size = 2 }",
                  "  { name = ft, kind = finetune, from = pre, ensemble-size = 3 }",
                  "  { name = student, kind = distill, from = pre, teacher = ft }",
                  "]"));

  private static CoordinatorState submitted(CoordinatorState state, PipelineSpec pipeline) {
    CoordinatorState next = state;
    for (JobSubmitted event : Stages.submitted(state, pipeline, AT)) {
      next = next.apply(event);
    }
    return next;
  }

  private static JobRun job(CoordinatorState state, String jobId) {
    return state.job(jobId).orElseThrow(() -> new AssertionError("no " + jobId + " in " + state.jobs()));
  }

  /**
   * Runs every member of {@code jobId} through one lease and an evaluation (and a classifier
   * ensemble through its joint measurement): the stage completes.
   */
  private static CoordinatorState completed(CoordinatorState state, String jobId) {
    CoordinatorState next = state.apply(new JobInitializationStarted(jobId));
    int members = job(next, jobId).members().size();
    for (int m = 0; m < members; m++) {
      next = next.apply(new MemberInitialized(jobId, m, new DatasetInfo(4, 4, "fp-4"), 100, AT));
    }
    for (int m = 0; m < members; m++) {
      long lease = 100 + m;
      next = next.apply(new SplitLeased(jobId, m, 0, 2, lease, WORKER));
      next = next.apply(new SplitCompleted(jobId, m, 0, 2, lease, WORKER, 4, 2.0, 2, 1_000));
    }
    for (int m = 0; m < members; m++) {
      next = next.apply(new MemberEvaluated(jobId, m, 4, Double.NaN, 0.03, Double.NaN));
    }
    if (job(next, jobId).needsEnsembleEvaluation()) {
      next = next.apply(new EnsembleEvaluated(jobId, new EnsembleResult(4, 0.5, 0.5, 0.5)));
    }
    assertEquals(JobState.COMPLETED, job(next, jobId).state(), () -> job(state, jobId).toString());
    return next;
  }

  // ------------------------------------------------------------------ job ids

  @Test
  void aOneStagePipelineIsJobNAndTheStagesOfALongerOneAreJobNDotStage() {
    PipelineSpec single = JobSpecParser.parsePipeline(TINY);

    List<JobSubmitted> first = Stages.submitted(CoordinatorState.empty(), single, AT);

    assertEquals(List.of(new JobSubmitted("job-1", single.stages().get(0), AT)), first);
    assertEquals("main", first.get(0).spec().stage().name());

    CoordinatorState afterFirst = CoordinatorState.empty().apply(first.get(0));
    List<JobSubmitted> second = Stages.submitted(afterFirst, THREE_STAGES, AT + 1);

    assertEquals(
        List.of(
            new JobSubmitted("job-2.pre", THREE_STAGES.stage("pre"), AT + 1),
            new JobSubmitted("job-2.ft", THREE_STAGES.stage("ft"), AT + 1),
            new JobSubmitted("job-2.student", THREE_STAGES.stage("student"), AT + 1)),
        second);

    // Every stage of a pipeline shares its number: the next submission is job-3.
    CoordinatorState afterSecond = submitted(afterFirst, THREE_STAGES);
    assertEquals(
        List.of("job-3"),
        Stages.submitted(afterSecond, single, AT).stream().map(JobSubmitted::jobId).toList());
    assertEquals(
        List.of(JobState.QUEUED, JobState.QUEUED, JobState.QUEUED),
        List.of("job-2.pre", "job-2.ft", "job-2.student").stream().map(id -> job(afterSecond, id).state()).toList());
  }

  // ------------------------------------------------------------------ inputs

  @Test
  void aFirstStageReadsNothing() {
    CoordinatorState state = submitted(CoordinatorState.empty(), THREE_STAGES);

    JobRun pre = job(state, "job-1.pre");

    assertEquals(StageInputs.NONE, Stages.inputs(state, pre, 0));
    assertEquals(StageInputs.NONE, Stages.inputs(state, pre, 1));
  }

  @Test
  void aFinetuneMemberStartsFromTheSourceMemberOfItsNumberModuloTheSourcesSize() {
    CoordinatorState state = completed(submitted(CoordinatorState.empty(), THREE_STAGES), "job-1.pre");
    JobRun ft = job(state, "job-1.ft");

    List<StageInputs> inputs =
        List.of(Stages.inputs(state, ft, 0), Stages.inputs(state, ft, 1), Stages.inputs(state, ft, 2));

    assertEquals(
        List.of(
            new StageInputs(List.of(new SourceModel("job-1.pre", 0, THREE_STAGES.stage("pre"))), List.of()),
            new StageInputs(List.of(new SourceModel("job-1.pre", 1, THREE_STAGES.stage("pre"))), List.of()),
            new StageInputs(List.of(new SourceModel("job-1.pre", 0, THREE_STAGES.stage("pre"))), List.of())),
        inputs,
        "three members over a two-member source: 0, 1, then 0 again");
  }

  @Test
  void aDistillMemberIsTaughtByEveryTeacherMemberAndStartsFromItsPairedSource() {
    CoordinatorState state = submitted(CoordinatorState.empty(), THREE_STAGES);
    state = completed(state, "job-1.pre");
    state = completed(state, "job-1.ft");
    JobRun student = job(state, "job-1.student");
    List<SourceModel> teachers =
        List.of(
            new SourceModel("job-1.ft", 0, THREE_STAGES.stage("ft")),
            new SourceModel("job-1.ft", 1, THREE_STAGES.stage("ft")),
            new SourceModel("job-1.ft", 2, THREE_STAGES.stage("ft")));

    StageInputs inputs = Stages.inputs(state, student, 0);

    assertEquals(
        new StageInputs(List.of(new SourceModel("job-1.pre", 0, THREE_STAGES.stage("pre"))), teachers), inputs);
  }

  @Test
  void anOwnStagesMembersAreListedInOrderAsSources() {
    CoordinatorState state = submitted(CoordinatorState.empty(), THREE_STAGES);

    assertEquals(
        List.of(
            new SourceModel("job-1.ft", 0, THREE_STAGES.stage("ft")),
            new SourceModel("job-1.ft", 1, THREE_STAGES.stage("ft")),
            new SourceModel("job-1.ft", 2, THREE_STAGES.stage("ft"))),
        Stages.members(job(state, "job-1.ft")));
  }

  // ------------------------------------------------------------------ unmet dependencies

  @Test
  void aStageCanStartOnlyOnceTheStagesItReadsHaveCompleted() {
    CoordinatorState state = submitted(CoordinatorState.empty(), THREE_STAGES);

    assertEquals(Optional.empty(), Stages.unmet(state, job(state, "job-1.pre")), "the first stage reads nothing");
    assertEquals(
        Optional.of("stage 'ft' reads stage 'pre' (job-1.pre), which is QUEUED"),
        Stages.unmet(state, job(state, "job-1.ft")));

    CoordinatorState preDone = completed(state, "job-1.pre");
    assertEquals(Optional.empty(), Stages.unmet(preDone, job(preDone, "job-1.ft")));
    assertEquals(
        Optional.of("stage 'student' reads stage 'ft' (job-1.ft), which is QUEUED"),
        Stages.unmet(preDone, job(preDone, "job-1.student")),
        "its from stage is there, its teacher is not");

    CoordinatorState ftDone = completed(preDone, "job-1.ft");
    assertEquals(Optional.empty(), Stages.unmet(ftDone, job(ftDone, "job-1.student")));
  }

  @Test
  void aFailedStageIsNamedWithWhyItFailed() {
    CoordinatorState state =
        submitted(CoordinatorState.empty(), THREE_STAGES)
            .apply(new JobFailed("job-1.pre", "initialising member 0 failed 3 times; last error: no data"));

    assertEquals(
        Optional.of(
            "stage 'ft' reads stage 'pre' (job-1.pre), which is FAILED: initialising member 0 failed 3 times;"
                + " last error: no data"),
        Stages.unmet(state, job(state, "job-1.ft")));
    assertEquals(
        Optional.of(
            "stage 'student' reads stage 'pre' (job-1.pre), which is FAILED: initialising member 0 failed 3 times;"
                + " last error: no data"),
        Stages.unmet(state, job(state, "job-1.student")),
        "from is checked before teacher");
  }

  @Test
  void aStageWhoseSourceWasNeverSubmittedNamesItAsUnknown() {
    // Only the finetune stage's submission is in the journal.
    CoordinatorState state = CoordinatorState.empty().apply(new JobSubmitted("job-4.ft", THREE_STAGES.stage("ft"), AT));

    assertEquals(
        Optional.of("stage 'ft' reads stage 'pre' (job-4.pre), which is unknown"),
        Stages.unmet(state, job(state, "job-4.ft")));
    assertEquals(StageInputs.NONE, Stages.inputs(state, job(state, "job-4.ft"), 0));
  }
}
