package io.tessera.coordinator;

import io.tessera.coordinator.CheckpointRecord.Pending;
import io.tessera.coordinator.CheckpointRecord.ShardPosition;
import io.tessera.coordinator.ledger.SplitLedger;
import io.tessera.coordinator.ledger.SplitLedger.Cut;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * One job as the coordinator tracks it. Immutable; each change returns a new instance.
 *
 * @param dataset what the first initialising worker found; null before
 * @param recentLoss moving average of per-split mean training loss; NaN before the first split
 * @param failure why it failed, or null
 * @param recoveryEpoch how many times the job was rewound to a checkpoint
 * @param nextCheckpointId the id the next checkpoint gets
 * @param checkpoints the complete checkpoints kept, oldest first
 * @param pendingCheckpoint the checkpoint being taken, or null
 * @param pushesSinceCheckpoint accepted pushes since the last checkpoint started
 * @param lastCheckpointAtMillis when the last checkpoint started (or the job started running)
 * @param globalBatch samples per optimizer step now: the spec's, unless an operator changed it
 * @param learningRateScale factor on the scheduled learning rate that came with that change
 * @param learningRateFactors each member's factor on its learning rate, set by an operator (1
 *     unless changed); a member's rate is its schedule's times this times {@code learningRateScale}
 * @param ensemble a classifier stage's members measured together; null until then, and for
 *     stages of one member or other kinds
 * @param archive null while the job is live; once it finished and was archived, its progress
 *     figures: its ledgers and its checkpoints' cuts are gone, the checkpoints' shard positions
 *     are kept (a later stage reads the final parameters through them)
 */
public record JobRun(
    String jobId,
    JobSpec spec,
    JobState state,
    long submittedAtMillis,
    DatasetInfo dataset,
    int parameterCount,
    List<MemberRun> members,
    double recentLoss,
    String failure,
    long recoveryEpoch,
    long nextCheckpointId,
    List<CheckpointRecord> checkpoints,
    Pending pendingCheckpoint,
    long pushesSinceCheckpoint,
    long lastCheckpointAtMillis,
    int globalBatch,
    double learningRateScale,
    List<Double> learningRateFactors,
    CoordinatorProtocol.EnsembleResult ensemble,
    Archive archive)
    implements TesseraSerializable {

  /**
   * What an archived job's split ledgers said, kept when they are dropped (see {@link #archived}).
   */
  public record Archive(long samplesDone, long samplesTotal, int splitsDone, int splitsTotal)
      implements TesseraSerializable {}

  private static final double LOSS_SMOOTHING = 0.3;

  public JobRun {
    members = List.copyOf(members);
    checkpoints = List.copyOf(checkpoints);
    learningRateFactors = List.copyOf(learningRateFactors);
  }

  static JobRun queued(String jobId, JobSpec spec, long submittedAtMillis) {
    List<MemberRun> members = new ArrayList<>();
    for (int i = 0; i < spec.members().size(); i++) {
      members.add(MemberRun.fresh(i, spec.members().get(i).name()));
    }
    return new JobRun(
        jobId, spec, JobState.QUEUED, submittedAtMillis, null, 0, members, Double.NaN, null, 0, 1, List.of(),
        null, 0, submittedAtMillis, spec.globalBatch(), 1.0, java.util.Collections.nCopies(members.size(), 1.0), null, null);
  }

  MemberRun member(int index) {
    return members.get(index);
  }

  boolean isActive() {
    return state == JobState.INITIALIZING
        || state == JobState.RUNNING
        || state == JobState.RECOVERING
        || state == JobState.EVALUATING;
  }

  boolean allSplitsAcked() {
    return members.stream().allMatch(m -> m.ledger() != null && m.ledger().isComplete());
  }

  /** The newest complete checkpoint, if the job has started running. */
  Optional<CheckpointRecord> lastCheckpoint() {
    return checkpoints.isEmpty() ? Optional.empty() : Optional.of(checkpoints.get(checkpoints.size() - 1));
  }

  Optional<CheckpointRecord> checkpoint(long checkpointId) {
    return checkpoints.stream().filter(c -> c.checkpointId() == checkpointId).findFirst();
  }

  // ---------------------------------------------------------------- transitions

  private JobRun with(
      JobState nextState,
      List<MemberRun> nextMembers,
      double nextLoss,
      String nextFailure,
      long nextEpoch,
      long nextCheckpointNumber,
      List<CheckpointRecord> nextCheckpoints,
      Pending nextPending,
      long nextPushes,
      long nextCheckpointAt) {
    return new JobRun(
        jobId, spec, nextState, submittedAtMillis, dataset, parameterCount, nextMembers, nextLoss, nextFailure,
        nextEpoch, nextCheckpointNumber, nextCheckpoints, nextPending, nextPushes, nextCheckpointAt, globalBatch,
        learningRateScale, learningRateFactors, ensemble, archive);
  }

  boolean isSync() {
    return spec.mode() == TrainingMode.SYNC;
  }

  /** The factor on member {@code member}'s scheduled learning rate now. */
  double learningRateScale(int member) {
    return learningRateScale * learningRateFactors.get(member);
  }

  /**
   * An operator set member {@code member}'s learning-rate factor. In {@code sync} mode a step
   * already opened but not started is opened again at the new rate; one in progress finishes as it
   * began.
   */
  JobRun withLearningRateFactor(int member, double factor) {
    List<Double> factors = new ArrayList<>(learningRateFactors);
    factors.set(member, factor);
    JobRun changed =
        new JobRun(
            jobId, spec, state, submittedAtMillis, dataset, parameterCount, members, recentLoss, failure,
            recoveryEpoch, nextCheckpointId, checkpoints, pendingCheckpoint, pushesSinceCheckpoint,
            lastCheckpointAtMillis, globalBatch, learningRateScale, factors, ensemble, archive);
    MemberRun run = members.get(member);
    if (isSync() && run.round() != null && !run.stepStarted()) {
      return changed.withMember(member, m -> m.withRoundOpened(splitsPerStep(), changed.learningRateScale(member)));
    }
    return changed;
  }

  /** Micro-batches (ledger splits) that make one global batch now. */
  int splitsPerStep() {
    return globalBatch / spec.microBatch();
  }

  /**
   * The job with another global batch and learning-rate factor; plans follow in the state. In
   * {@code sync} mode a step already opened but not started yet is opened again at the new size;
   * one in progress finishes as it began, and the change applies from the next.
   */
  JobRun withGlobalBatch(int nextGlobalBatch, double nextScale) {
    JobRun changed =
        new JobRun(
            jobId, spec, state, submittedAtMillis, dataset, parameterCount, members, recentLoss, failure,
            recoveryEpoch, nextCheckpointId, checkpoints, pendingCheckpoint, pushesSinceCheckpoint,
            lastCheckpointAtMillis, nextGlobalBatch, nextScale, learningRateFactors, ensemble, archive);
    if (!isSync()) {
      return changed;
    }
    int perStep = nextGlobalBatch / spec.microBatch();
    JobRun next = changed;
    for (MemberRun member : members) {
      if (member.round() != null && !member.stepStarted()) {
        next = next.withMember(member.member(), m -> m.withRoundOpened(perStep, changed.learningRateScale(m.member())));
      }
    }
    return next;
  }

  JobRun withState(JobState next) {
    return with(next, members, recentLoss, failure, recoveryEpoch, nextCheckpointId, checkpoints,
        pendingCheckpoint, pushesSinceCheckpoint, lastCheckpointAtMillis);
  }

  JobRun failed(String reason) {
    return with(JobState.FAILED, members, recentLoss, reason, recoveryEpoch, nextCheckpointId, checkpoints,
        null, pushesSinceCheckpoint, lastCheckpointAtMillis);
  }

  /** An operator cancelled the job: it is over, and the checkpoint it was taking is void. */
  JobRun cancelled(String reason) {
    return with(JobState.CANCELLED, members, recentLoss, reason, recoveryEpoch, nextCheckpointId, checkpoints,
        null, pushesSinceCheckpoint, lastCheckpointAtMillis);
  }

  /**
   * An operator paused the job: it gives up its turn (leases and the checkpoint it was taking are
   * void) and keeps its ledgers and checkpoints for {@link #resumed}.
   */
  JobRun paused() {
    return with(JobState.PAUSED, members, recentLoss, failure, recoveryEpoch, nextCheckpointId, checkpoints,
        null, pushesSinceCheckpoint, lastCheckpointAtMillis);
  }

  /**
   * Back in the queue. A job that had started goes back to its newest checkpoint when its turn
   * comes (see {@link #needsRewindToStart}).
   */
  JobRun resumed() {
    return withState(JobState.QUEUED);
  }

  /** A queued job that ran before it was paused: it starts again by a rewind, not from its seeds. */
  boolean needsRewindToStart() {
    return state == JobState.QUEUED && members.stream().allMatch(MemberRun::initialized) && lastCheckpoint().isPresent();
  }

  boolean isArchived() {
    return archive != null;
  }

  /** Whether it ever got past the queue: its shards may exist. */
  boolean wasStarted() {
    return dataset != null || members.stream().anyMatch(MemberRun::initialized);
  }

  /**
   * The finished job as the coordinator keeps it: its progress figures instead of its ledgers, its
   * checkpoints' shard positions without their cuts (nothing rewinds a finished job; a later stage
   * reads the newest, or the one before if that turns out unreadable), and the results, plans and
   * loss curves; see {@link #withoutDetail}.
   */
  JobRun archived() {
    Archive figures = new Archive(samplesDone(), samplesTotal(), splitsDone(), splitsTotal());
    List<MemberRun> compact = members.stream().map(MemberRun::archived).toList();
    List<CheckpointRecord> positions =
        checkpoints.stream().map(c -> new CheckpointRecord(c.checkpointId(), List.of(), c.positions(), c.startedAtMillis())).toList();
    return new JobRun(
        jobId, spec, state, submittedAtMillis, dataset, parameterCount, compact, recentLoss, failure, recoveryEpoch,
        nextCheckpointId, positions, null, 0, lastCheckpointAtMillis, globalBatch, learningRateScale, learningRateFactors, ensemble, figures);
  }

  /** An archived job without its members' accumulation plans and loss curves. */
  JobRun withoutDetail() {
    return with(state, members.stream().map(MemberRun::withoutDetail).toList(), recentLoss, failure, recoveryEpoch,
        nextCheckpointId, checkpoints, pendingCheckpoint, pushesSinceCheckpoint, lastCheckpointAtMillis);
  }

  /** Whether it still has its plans or loss curves. */
  boolean hasDetail() {
    return members.stream().anyMatch(m -> !m.plans().isEmpty() || !m.stepLosses().isEmpty());
  }

  JobRun withMember(int index, UnaryOperator<MemberRun> change) {
    List<MemberRun> next = new ArrayList<>(members);
    next.set(index, change.apply(members.get(index)));
    return with(state, next, recentLoss, failure, recoveryEpoch, nextCheckpointId, checkpoints,
        pendingCheckpoint, pushesSinceCheckpoint, lastCheckpointAtMillis);
  }

  /**
   * Records a member's initialisation; when the last member is ready, cuts the data into splits,
   * records the initial values as checkpoint 0 (every shard's journal starts with them) and
   * starts running.
   */
  JobRun withMemberInitialized(int index, DatasetInfo found, int parameters, long atMillis) {
    JobRun next =
        new JobRun(
                jobId, spec, state, submittedAtMillis, found, parameters, members, recentLoss, failure,
                recoveryEpoch, nextCheckpointId, checkpoints, pendingCheckpoint, pushesSinceCheckpoint,
                lastCheckpointAtMillis, globalBatch, learningRateScale, learningRateFactors, ensemble, archive)
            .withMember(index, MemberRun::withInitialized);
    if (!next.members.stream().allMatch(MemberRun::initialized)) {
      return next;
    }
    List<MemberRun> running = new ArrayList<>();
    List<Cut> cuts = new ArrayList<>();
    List<ShardPosition> positions = new ArrayList<>();
    for (MemberRun member : next.members) {
      SplitLedger ledger = SplitLedger.create(found.trainSize(), spec.microBatch(), spec.epochs());
      MemberRun withLedger = member.withLedger(ledger);
      running.add(isSync() ? withLedger.withRoundOpened(splitsPerStep(), learningRateScale(member.member())) : withLedger);
      cuts.add(ledger.cut());
      for (int shard = 0; shard < spec.shards(); shard++) {
        positions.add(new ShardPosition(member.member(), shard, 1, 0));
      }
    }
    return new JobRun(
        jobId, spec, JobState.RUNNING, submittedAtMillis, found, parameters, running, recentLoss, failure,
        recoveryEpoch, nextCheckpointId, List.of(new CheckpointRecord(0, cuts, positions, atMillis)), null, 0, atMillis,
        globalBatch, learningRateScale, learningRateFactors, ensemble, archive);
  }

  /**
   * Acks the first {@code count} splits of a lease (the rest goes back to the pool); when every
   * member's ledger is complete the job moves on to evaluation.
   */
  JobRun withSplitCompleted(int index, long leaseId, int count, int samples, double lossSum, int pushes) {
    int perStep = splitsPerStep();
    JobRun next =
        withMember(
            index,
            m -> m.withLedger(m.ledger().ack(leaseId, count)).withContribution(lossSum, samples, perStep, learningRateScale(index)));
    double splitLoss = samples > 0 ? lossSum / samples : Double.NaN;
    double loss =
        Double.isNaN(splitLoss)
            ? recentLoss
            : Double.isNaN(recentLoss) ? splitLoss : (1 - LOSS_SMOOTHING) * recentLoss + LOSS_SMOOTHING * splitLoss;
    JobState nextState = next.allSplitsAcked() && state == JobState.RUNNING ? JobState.EVALUATING : state;
    return next.with(nextState, next.members, loss, failure, recoveryEpoch, nextCheckpointId, checkpoints,
        pendingCheckpoint, pushesSinceCheckpoint + pushes, lastCheckpointAtMillis);
  }

  /**
   * Early stopping ends member {@code index}'s training after {@code epoch}; when no member is left
   * training (and no lease of the stopped member is out) the job moves on to evaluation.
   */
  JobRun withMemberStoppedEarly(int index, int epoch) {
    return withMember(index, m -> m.withStoppedEarly(epoch)).evaluatingIfTrained();
  }

  /**
   * A running job whose every ledger is complete moves on to evaluation. A lease given back (or
   * whose holder left) can complete a ledger: that of a member stopped early.
   */
  JobRun evaluatingIfTrained() {
    return allSplitsAcked() && state == JobState.RUNNING ? withState(JobState.EVALUATING) : this;
  }

  /**
   * Records a member's test result; when every member has one the job is complete, unless its
   * members are still to be measured as an ensemble.
   */
  JobRun withMemberEvaluated(int index, MemberResult result) {
    JobRun next = withMember(index, m -> m.withResult(result));
    boolean done = next.members.stream().allMatch(m -> m.result() != null) && !next.needsEnsembleEvaluation();
    return done ? next.withState(JobState.COMPLETED) : next;
  }

  /** Whether every member is evaluated and the ensemble still to be measured. */
  boolean needsEnsembleEvaluation() {
    return ensemble == null && members.size() > 1 && spec.stage().kind().classifies()
        && members.stream().allMatch(m -> m.result() != null);
  }

  /** The members measured together: the job is complete. */
  JobRun withEnsembleEvaluated(CoordinatorProtocol.EnsembleResult result) {
    JobRun next =
        new JobRun(
            jobId, spec, state, submittedAtMillis, dataset, parameterCount, members, recentLoss, failure,
            recoveryEpoch, nextCheckpointId, checkpoints, pendingCheckpoint, pushesSinceCheckpoint,
            lastCheckpointAtMillis, globalBatch, learningRateScale, learningRateFactors, result, archive);
    return next.members.stream().allMatch(m -> m.result() != null) ? next.withState(JobState.COMPLETED) : next;
  }

  /** The pipeline this stage belongs to: the job id up to its stage suffix. */
  String pipelineId() {
    int dot = jobId.indexOf('.');
    return dot < 0 ? jobId : jobId.substring(0, dot);
  }

  /** The job id of stage {@code stage} of this job's pipeline. */
  String jobIdOfStage(String stage) {
    return pipelineId() + "." + stage;
  }

  /** A checkpoint starts: it will include exactly the splits acknowledged now. */
  JobRun withCheckpointStarted(long checkpointId, long atMillis) {
    List<Cut> cuts = members.stream().map(m -> m.ledger().cut()).toList();
    return with(state, members, recentLoss, failure, recoveryEpoch, checkpointId + 1, checkpoints,
        new Pending(checkpointId, cuts, atMillis), 0, atMillis);
  }

  /** Every shard saved the pending checkpoint; keep the newest {@code kept}. */
  JobRun withCheckpointCompleted(long checkpointId, List<ShardPosition> positions, int kept) {
    if (pendingCheckpoint == null || pendingCheckpoint.checkpointId() != checkpointId) {
      return this;
    }
    List<CheckpointRecord> next = new ArrayList<>(checkpoints);
    next.add(new CheckpointRecord(checkpointId, pendingCheckpoint.cuts(), positions, pendingCheckpoint.startedAtMillis()));
    while (next.size() > kept) {
      next.remove(0);
    }
    return with(state, members, recentLoss, failure, recoveryEpoch, nextCheckpointId, next, null,
        pushesSinceCheckpoint, lastCheckpointAtMillis);
  }

  JobRun withCheckpointAbandoned(long checkpointId) {
    if (pendingCheckpoint == null || pendingCheckpoint.checkpointId() != checkpointId) {
      return this;
    }
    return with(state, members, recentLoss, failure, recoveryEpoch, nextCheckpointId, checkpoints, null,
        pushesSinceCheckpoint, lastCheckpointAtMillis);
  }

  /** A checkpoint turned out unreadable: forget it. */
  JobRun withCheckpointDiscarded(long checkpointId) {
    List<CheckpointRecord> next = new ArrayList<>(checkpoints);
    next.removeIf(c -> c.checkpointId() == checkpointId);
    return with(state, members, recentLoss, failure, recoveryEpoch, nextCheckpointId, next, pendingCheckpoint,
        pushesSinceCheckpoint, lastCheckpointAtMillis);
  }

  /**
   * The job goes back to checkpoint {@code checkpointId} in a new recovery epoch: ledgers return
   * to its cut, leases are void, and it recovers until every shard confirms the epoch.
   */
  JobRun rewoundTo(long epoch, long checkpointId) {
    CheckpointRecord target = checkpoint(checkpointId).orElseThrow(
        () -> new IllegalStateException("job " + jobId + " has no checkpoint " + checkpointId));
    List<MemberRun> next = new ArrayList<>();
    for (int i = 0; i < members.size(); i++) {
      Cut cut = target.cuts().get(i);
      MemberRun rewound = members.get(i).rewoundTo(cut);
      next.add(isSync() ? rewound.withRoundRewound(splitsPerStep(), learningRateScale(i)) : rewound);
    }
    return with(JobState.RECOVERING, next, recentLoss, failure, epoch, nextCheckpointId, checkpoints, null, 0,
        lastCheckpointAtMillis);
  }

  /** Every shard confirmed the epoch: train on, or evaluate if training was over. */
  JobRun recovered() {
    return withState(allSplitsAcked() ? JobState.EVALUATING : JobState.RUNNING);
  }

  long samplesDone() {
    if (archive != null) {
      return archive.samplesDone();
    }
    return members.stream().filter(m -> m.ledger() != null).mapToLong(m -> m.ledger().ackedSamples()).sum();
  }

  /** Samples the job trains: every member's epochs, less what early stopping skipped. */
  long samplesTotal() {
    if (archive != null) {
      return archive.samplesTotal();
    }
    if (dataset == null) {
      return 0; // unknown until a worker has looked at the data
    }
    long perMember = (long) spec.epochs() * dataset.trainSize();
    return members.stream()
        .mapToLong(m -> m.ledger() == null ? perMember : m.ledger().totalSamples() - m.ledger().skippedSamples())
        .sum();
  }

  int splitsDone() {
    if (archive != null) {
      return archive.splitsDone();
    }
    return members.stream().filter(m -> m.ledger() != null).mapToInt(m -> m.ledger().ackedSplits()).sum();
  }

  int splitsTotal() {
    if (archive != null) {
      return archive.splitsTotal();
    }
    return members.stream().filter(m -> m.ledger() != null).mapToInt(m -> m.ledger().totalSplits()).sum();
  }
}
