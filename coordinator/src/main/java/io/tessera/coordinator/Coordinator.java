package io.tessera.coordinator;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.Behavior;
import akka.actor.typed.SupervisorStrategy;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.TimerScheduler;
import akka.actor.typed.receptionist.Receptionist;
import akka.cluster.ClusterEvent;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Subscribe;
import akka.pattern.StatusReply;
import akka.persistence.typed.PersistenceId;
import akka.persistence.typed.RecoveryCompleted;
import akka.persistence.typed.RecoveryFailed;
import akka.persistence.typed.javadsl.CommandHandlerWithReply;
import akka.persistence.typed.javadsl.EventHandler;
import akka.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import akka.persistence.typed.javadsl.ReplyEffect;
import akka.persistence.typed.javadsl.RetentionCriteria;
import akka.persistence.typed.javadsl.SignalHandler;
import io.tessera.coordinator.CoordinatorEvent.CheckpointAbandoned;
import io.tessera.coordinator.CoordinatorEvent.CheckpointCompleted;
import io.tessera.coordinator.CoordinatorEvent.CheckpointDiscarded;
import io.tessera.coordinator.CoordinatorEvent.CheckpointStarted;
import io.tessera.coordinator.CoordinatorEvent.GlobalBatchChanged;
import io.tessera.coordinator.CoordinatorEvent.JobFailed;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobRecovered;
import io.tessera.coordinator.CoordinatorEvent.JobRewound;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.LeaseReleased;
import io.tessera.coordinator.CoordinatorEvent.MemberEvaluated;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.OperatorCommandRecorded;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.WorkerDraining;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.coordinator.CoordinatorState.Assignment;
import io.tessera.coordinator.ledger.SplitLedger;
import io.tessera.protocol.coordinator.AdminProtocol.DrainWorkers;
import io.tessera.protocol.coordinator.AdminProtocol.GetAccumulationHistory;
import io.tessera.protocol.coordinator.AdminProtocol.GetAuditLog;
import io.tessera.protocol.coordinator.AdminProtocol.GetJobStatus;
import io.tessera.protocol.coordinator.AdminProtocol.GetTrainingCurve;
import io.tessera.protocol.coordinator.AdminProtocol.ListJobs;
import io.tessera.protocol.coordinator.AdminProtocol.ListWorkers;
import io.tessera.protocol.coordinator.AdminProtocol.RequestCheckpoint;
import io.tessera.protocol.coordinator.AdminProtocol.SetGlobalBatch;
import io.tessera.protocol.coordinator.AdminProtocol.SubmitJob;
import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditLog;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.CheckpointRequested;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.CompleteSplit;
import io.tessera.protocol.coordinator.CoordinatorProtocol.DrainCompleted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.DrainStarted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.GlobalBatchSet;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobAccepted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobList;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Local;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLeaseReason;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ReleaseLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ReportCorruptCheckpoint;
import io.tessera.protocol.coordinator.CoordinatorProtocol.RequestLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ResolveShardRecovery;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.TrainingCurve;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerInfo;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerList;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.StageKind;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import io.tessera.protocol.worker.WorkerProtocol.ModelInitialized;
import io.tessera.protocol.worker.WorkerProtocol;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * The cluster's one decision maker, a Cluster Singleton on role {@code coordinator}, event-sourced.
 *
 * <p>It queues jobs and runs them one at a time: has a worker set up each member's shards, cuts the
 * training data into splits and leases them to workers, plans every worker's accumulation count so
 * the global batch stays fixed as workers come and go, re-leases the splits of workers that vanish,
 * and has a worker evaluate each member at the end. Worker membership comes from the
 * Receptionist. Everything that matters after a restart is in {@link CoordinatorState}; the rest
 * (asks in flight, throughput) is rebuilt by {@link #reconcile}.
 */
public final class Coordinator
    extends EventSourcedBehaviorWithEnforcedReplies<Command, CoordinatorEvent, CoordinatorState> {

  /** The singleton's name and persistence id. */
  public static final String NAME = "tessera-coordinator";

  private static final Duration PROGRESS_INTERVAL = Duration.ofSeconds(5);
  private static final int MAX_ATTEMPTS = 3;
  private static final int SNAPSHOT_EVERY_EVENTS = 500;
  /** Longest a lease ask is held at the sync barrier: well inside a worker's ask timeout. */
  private static final Duration PARKED_LIMIT = Duration.ofSeconds(2);

  /**
   * The coordinator, kept running by a {@link CoordinatorKeeper}: an exception restarts it with
   * back-off, and when it stops (a failed journal write stops an event-sourced actor) the keeper
   * starts a new one, which recovers from the journal.
   */
  public static Behavior<Command> create(CoordinatorSettings settings) {
    return CoordinatorKeeper.create(
        () ->
            Behaviors.<Command>supervise(
                    Behaviors.withTimers(
                        timers -> Behaviors.setup(context -> new Coordinator(context, timers, settings))))
                .onFailure(
                    SupervisorStrategy.restartWithBackoff(Duration.ofSeconds(1), Duration.ofSeconds(30), 0.2)),
        Duration.ofSeconds(1),
        Duration.ofSeconds(10));
  }

  private final ActorContext<Command> context;
  private final CoordinatorSettings settings;
  private final CoordinatorMetrics metrics = new CoordinatorMetrics();
  private final CoordinatorContext ctx;
  private final CheckpointScheduler checkpoints;
  private final JobProgress progress = new JobProgress();
  private final long startedAtNanos = System.nanoTime();

  // Runtime bookkeeping, rebuilt after a restart: none of it needs to survive one.
  private final Map<String, String> asksInFlight = new HashMap<>();
  private final Map<String, Integer> attempts = new HashMap<>();
  private final Map<String, String> accumulationSent = new HashMap<>();
  private final Map<String, Integer> consecutiveFailures;
  private final Map<String, ActorRef<ShardFleet.Command>> fleets = new HashMap<>();
  private final Map<String, Long> rewindsInFlight = new HashMap<>();
  // SSP rosters sent to each member's shards: "job:member" -> the plan's membership epoch.
  private final Map<String, Long> rostersSent = new HashMap<>();
  /** In {@link #rostersSent}: the member stopped early, and its shards were sent an empty roster. */
  private static final long STOPPED_ROSTER = -1;
  private final WorkerDrains drains = new WorkerDrains();
  private final LeaseBatch leases;
  private final LeaseWatch watch = new LeaseWatch();
  // Sync workers waiting for the next step: their asks are answered with a lease when it opens,
  // which spares every worker a no-lease answer, a nudge and a new ask at every step.
  private final Map<String, ParkedAsk> parked = new java.util.TreeMap<>();
  private boolean serveParkedScheduled;
  private boolean reconcileScheduled;

  private Coordinator(
      ActorContext<Command> context, TimerScheduler<Command> timers, CoordinatorSettings settings) {
    super(PersistenceId.ofUniqueId(NAME));
    this.context = context;
    this.settings = settings;
    this.ctx = new CoordinatorContext(context, settings, metrics, Effect(), new Host());
    this.leases = ctx.leases;
    this.consecutiveFailures = ctx.consecutiveFailures;
    this.checkpoints = new CheckpointScheduler(ctx);
    ctx.checkpoints = checkpoints;
    ActorRef<Receptionist.Listing> listings =
        context.messageAdapter(
            Receptionist.Listing.class,
            listing -> new WorkersListed(listing.getServiceInstances(WorkerProtocol.SERVICE_KEY)));
    context
        .getSystem()
        .receptionist()
        .tell(Receptionist.subscribe(WorkerProtocol.SERVICE_KEY, listings));
    ActorRef<ClusterEvent.MemberRemoved> removals =
        context.messageAdapter(
            ClusterEvent.MemberRemoved.class, removed -> new NodeRemoved(removed.member().hasRole("ps")));
    Cluster.get(context.getSystem()).subscriptions().tell(Subscribe.create(removals, ClusterEvent.MemberRemoved.class));
    timers.startTimerWithFixedDelay(Tick.INSTANCE, PROGRESS_INTERVAL);
    timers.startTimerWithFixedDelay(CheckpointScheduler.CheckpointCheck.INSTANCE, CheckpointScheduler.CHECK_INTERVAL);
    timers.startTimerWithFixedDelay(LeaseCheck.INSTANCE, leaseCheckInterval(settings.leaseTimeout()));
  }

  /** Often enough that a lease is taken back within a quarter of the timeout (or a second) of it. */
  private static Duration leaseCheckInterval(Duration leaseTimeout) {
    Duration quarter = leaseTimeout.dividedBy(4);
    return quarter.compareTo(Duration.ofSeconds(1)) > 0
        ? Duration.ofSeconds(1)
        : quarter.compareTo(Duration.ofMillis(50)) < 0 ? Duration.ofMillis(50) : quarter;
  }

  // ------------------------------------------------------------------ local messages

  private record WorkersListed(Set<ActorRef<WorkerProtocol.Command>> workers)
      implements Local {}

  /** A cluster member left or was downed; if it hosted parameter shards, some may be lost. */
  private record NodeRemoved(boolean hostedShards) implements Local {}

  private record InitReplied(
      String jobId, int member, String workerId, ModelInitialized result, String error)
      implements Local {}

  private record EvaluationReplied(
      String jobId, int member, String workerId, EvaluationReport report, String error)
      implements Local {}

  /** A validation score, asked for in recovery epoch {@code recoveryEpoch} of the job. */
  private record ValidationReplied(
      String jobId, int member, int epoch, long recoveryEpoch, String workerId, EvaluationReport report, String error)
      implements Local {}

  private record EnsembleReplied(String jobId, String workerId, WorkerProtocol.EnsembleReport report, String error)
      implements Local {}

  private enum Reconcile implements Local {
    INSTANCE
  }

  private enum Tick implements Local {
    INSTANCE
  }

  /** A lease ask held at the sync barrier, and the answer it gets if it is let go unserved. */
  private record ParkedAsk(ActorRef<LeaseReply> replyTo, long sinceNanos, NoLease meanwhile) {}

  /** The step may have moved on: answer the asks held at the barrier that can be answered now. */
  private enum ServeParked implements Local {
    INSTANCE
  }

  /** Time to journal the lease batch (see {@link LeaseBatch}). */
  private enum FlushLeases implements Local {
    INSTANCE
  }

  /** Time to take back the leases whose holders have been silent too long. */
  private enum LeaseCheck implements Local {
    INSTANCE
  }

  // ------------------------------------------------------------------ behavior

  @Override
  public CoordinatorState emptyState() {
    return CoordinatorState.empty();
  }

  @Override
  public CommandHandlerWithReply<Command, CoordinatorEvent, CoordinatorState> commandHandler() {
    return newCommandHandlerWithReplyBuilder()
        .forAnyState()
        // While lease decisions wait for their journal write, everything else waits too: it would
        // see a state without them.
        .onCommand(this::heldForLeaseBatch, (state, command) -> Effect().stash())
        .onCommand(FlushLeases.class, this::onFlushLeases)
        .onCommand(ServeParked.class, this::onServeParked)
        .onCommand(SubmitJob.class, this::onSubmitJob)
        .onCommand(AdminProtocol.SubmitPipeline.class, this::onSubmitPipeline)
        .onCommand(GetJobStatus.class, this::onGetJobStatus)
        .onCommand(ListJobs.class, this::onListJobs)
        .onCommand(GetAccumulationHistory.class, this::onGetAccumulationHistory)
        .onCommand(RequestLease.class, this::onRequestLease)
        .onCommand(CompleteSplit.class, this::onCompleteSplit)
        .onCommand(CoordinatorProtocol.LeaseProgress.class, this::onLeaseProgress)
        .onCommand(ReleaseLease.class, this::onReleaseLease)
        .onCommand(WorkersListed.class, this::onWorkersListed)
        .onCommand(InitReplied.class, this::onInitReplied)
        .onCommand(EvaluationReplied.class, this::onEvaluationReplied)
        .onCommand(ValidationReplied.class, this::onValidationReplied)
        .onCommand(EnsembleReplied.class, this::onEnsembleReplied)
        .onCommand(ResolveShardRecovery.class, this::onResolveShardRecovery)
        .onCommand(ReportCorruptCheckpoint.class, this::onReportCorruptCheckpoint)
        .onCommand(RequestCheckpoint.class, checkpoints::onRequestCheckpoint)
        .onCommand(GetAuditLog.class, this::onGetAuditLog)
        .onCommand(DrainWorkers.class, this::onDrainWorkers)
        .onCommand(DrainCompleted.class, this::onDrainCompleted)
        .onCommand(SetGlobalBatch.class, this::onSetGlobalBatch)
        .onCommand(AdminProtocol.CancelJob.class, this::onCancelJob)
        .onCommand(AdminProtocol.PauseJob.class, this::onPauseJob)
        .onCommand(AdminProtocol.ResumeJob.class, this::onResumeJob)
        .onCommand(AdminProtocol.RestoreCheckpoint.class, this::onRestoreCheckpoint)
        .onCommand(AdminProtocol.ListCheckpoints.class, this::onListCheckpoints)
        .onCommand(AdminProtocol.SetLearningRate.class, this::onSetLearningRate)
        .onCommand(ListWorkers.class, this::onListWorkers)
        .onCommand(GetTrainingCurve.class, this::onGetTrainingCurve)
        .onCommand(AdminProtocol.GetShardStatuses.class, this::onGetShardStatuses)
        .onCommand(FleetReport.CheckpointSaved.class, checkpoints::onCheckpointSaved)
        .onCommand(FleetReport.CheckpointFailed.class, checkpoints::onCheckpointFailed)
        .onCommand(FleetReport.EpochReached.class, this::onEpochReached)
        .onCommand(NodeRemoved.class, this::onNodeRemoved)
        .onCommand(Reconcile.class, this::onReconcile)
        .onCommand(CheckpointScheduler.CheckpointCheck.class, checkpoints::onCheckpointCheck)
        .onCommand(LeaseCheck.class, this::onLeaseCheck)
        .onCommand(Tick.class, this::onTick)
        .build();
  }

  private boolean heldForLeaseBatch(Command command) {
    return !leases.isEmpty()
        && !(command instanceof RequestLease
            || command instanceof CompleteSplit
            || command instanceof CoordinatorProtocol.LeaseProgress
            || command instanceof ReleaseLease
            || command instanceof FlushLeases
            || command instanceof ServeParked);
  }

  @Override
  public RetentionCriteria retentionCriteria() {
    return RetentionCriteria.snapshotEvery(SNAPSHOT_EVERY_EVENTS, 2);
  }

  @Override
  public EventHandler<CoordinatorState, CoordinatorEvent> eventHandler() {
    return newEventHandlerBuilder().forAnyState().onAnyEvent(CoordinatorState::apply);
  }

  @Override
  public SignalHandler<CoordinatorState> signalHandler() {
    return newSignalHandlerBuilder()
        .onSignal(RecoveryCompleted.instance(), this::onRecoveryCompleted)
        .onSignal(RecoveryFailed.class, this::onRecoveryFailed)
        .onSignal(akka.persistence.typed.SnapshotFailed.class, this::onSnapshotFailed)
        .build();
  }

  private void onSnapshotFailed(CoordinatorState state, akka.persistence.typed.SnapshotFailed failed) {
    // Recovery then replays from the snapshot before, so every failure makes restarts slower:
    // say so loudly. Archiving finished jobs keeps the state well below the message limit.
    metrics.snapshotFailures.increment();
    context.getLog().error(
        "The coordinator could not save a snapshot of its state ({} jobs, {} archived, {} workers): {}."
            + " Recovery replays more events until one succeeds; if the state outgrew"
            + " tessera.serialization.max-message-bytes, lower tessera.coordinator.finished-jobs-kept",
        state.jobs().size(), state.jobs().stream().filter(JobRun::isArchived).count(), state.workers().size(),
        failed.getFailure().getMessage());
  }

  private void onRecoveryFailed(CoordinatorState state, RecoveryFailed failed) {
    // Never start over with an empty state: say which entry could not be read, and stop (the
    // supervisor retries with back-off, so the error repeats until an operator acts).
    context.getLog().error(
        "The coordinator's journal ({}) cannot be replayed; refusing to start with an incomplete state: {}",
        NAME, failed.getFailure().getMessage(), failed.getFailure());
  }

  private void onRecoveryCompleted(CoordinatorState state) {
    long millis = (System.nanoTime() - startedAtNanos) / 1_000_000;
    metrics.recoveryMillis.update(millis);
    context.getLog().info(
        "Coordinator ready in {} ms: {} jobs known ({} archived), membership epoch {}",
        millis, state.jobs().size(), state.jobs().stream().filter(JobRun::isArchived).count(), state.membershipEpoch());
    // This coordinator may have taken over from one on a node that died: shards that lived there
    // are found (and the job rewound) now rather than when a worker next pulls.
    state.activeJob()
        .filter(j -> j.state() == JobState.RUNNING || j.state() == JobState.EVALUATING)
        .ifPresent(job -> fleet(job).tell(ShardFleet.Wake.INSTANCE));
    // A fence the coordinator before sent may not have reached every shard.
    sendLeaseFences(state);
    // A drain journaled by the coordinator before may not have reached its workers.
    List<WorkerEntry> draining = drains.resumed(state, System.nanoTime());
    if (!draining.isEmpty()) {
      context.getLog().info("Asking {} worker(s) to drain again after recovery", draining.size());
      draining.forEach(w -> w.ref().tell(WorkerProtocol.Drain.INSTANCE));
    }
    scheduleReconcile();
  }

  // ------------------------------------------------------------------ operator commands

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onSubmitJob(
      CoordinatorState state, SubmitJob command) {
    String jobId = "job-" + state.nextJobNumber();
    context.getLog().info("Accepted {} ({})", jobId, command.spec().name());
    long now = System.currentTimeMillis();
    return Effect()
        .persist(
            List.of(
                audit(state, "submit", jobId + " (" + command.spec().name() + ")"),
                new JobSubmitted(jobId, command.spec(), now)))
        .thenRun(s -> scheduleReconcile())
        .thenReply(command.replyTo(), s -> StatusReply.success(new JobAccepted(jobId)));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onSubmitPipeline(
      CoordinatorState state, AdminProtocol.SubmitPipeline command) {
    List<JobSubmitted> stages = Stages.submitted(state, command.pipeline(), System.currentTimeMillis());
    List<String> jobIds = stages.stream().map(JobSubmitted::jobId).toList();
    String pipelineId = "job-" + state.nextJobNumber();
    context.getLog().info("Accepted {} ({}): stages {}", pipelineId, command.pipeline().name(), jobIds);
    List<CoordinatorEvent> events = new ArrayList<>();
    String stageNames =
        jobIds.size() == 1
            ? ""
            : ": " + String.join(", ", command.pipeline().stages().stream().map(s -> s.stage().name()).toList());
    events.add(audit(state, "submit", pipelineId + " (" + command.pipeline().name() + stageNames + ")"));
    events.addAll(stages);
    return Effect()
        .persist(events)
        .thenRun(s -> scheduleReconcile())
        .thenReply(
            command.replyTo(), s -> StatusReply.success(new CoordinatorProtocol.PipelineAccepted(pipelineId, jobIds)));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onGetJobStatus(
      CoordinatorState state, GetJobStatus command) {
    Optional<JobRun> job = state.job(command.jobId());
    if (job.isEmpty()) {
      return Effect().reply(command.replyTo(), StatusReply.error(noJob(state, command.jobId())));
    }
    return Effect().reply(command.replyTo(), StatusReply.success(status(state, job.get())));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onListJobs(
      CoordinatorState state, ListJobs command) {
    List<JobStatus> statuses = state.jobs().stream().map(j -> status(state, j)).toList();
    return Effect().reply(command.replyTo(), new JobList(statuses));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onGetAccumulationHistory(
      CoordinatorState state, GetAccumulationHistory command) {
    Optional<JobRun> job = state.job(command.jobId());
    if (job.isEmpty()) {
      return Effect().reply(command.replyTo(), StatusReply.error(noJob(state, command.jobId())));
    }
    if (detailDropped(job.get())) {
      return Effect().reply(command.replyTo(), StatusReply.error(detailDroppedMessage(job.get(), "accumulation plans")));
    }
    AccumulationHistory history = JobReports.accumulationHistory(job.get());
    return Effect().reply(command.replyTo(), StatusReply.success(history));
  }

  /** Why {@code jobId} is not known: never submitted, or finished and no longer kept. */
  private String noJob(CoordinatorState state, String jobId) {
    long number = CoordinatorState.jobNumber(jobId);
    if (number >= 1 && number < state.nextJobNumber()) {
      return "no job " + jobId + ": it finished and is no longer kept (the coordinator keeps the newest "
          + settings.retention().finishedKept() + " finished jobs, tessera.coordinator.finished-jobs-kept; the audit log"
          + " and the journal keep its submission)";
    }
    return "no job " + jobId;
  }

  private JobStatus status(CoordinatorState state, JobRun job) {
    return JobReports.status(state, job, progress.samplesPerSecond(job.jobId()));
  }

  /** Whether an archived job that trained has lost its plans and loss curves to retention. */
  private static boolean detailDropped(JobRun job) {
    return job.isArchived() && job.wasStarted() && !job.hasDetail();
  }

  private String detailDroppedMessage(JobRun job, String what) {
    return job.jobId() + " is " + job.state() + " and its " + what + " are no longer kept (the newest "
        + settings.retention().detailedKept() + " finished jobs keep them, tessera.coordinator.finished-jobs-detailed)";
  }

  /**
   * Cancels a queued or running job (or every unfinished stage of a pipeline): journaled with its
   * audit record; then its workers drop their leases, and the reconcile that follows archives it
   * and stops its shards.
   */
  private ReplyEffect<CoordinatorEvent, CoordinatorState> onCancelJob(
      CoordinatorState state, AdminProtocol.CancelJob command) {
    JobControl.Decision decision = JobControl.cancel(state, command.jobId(), System.currentTimeMillis());
    if (decision.isRefused()) {
      return Effect().reply(command.replyTo(), StatusReply.error(refusal(state, command.jobId(), decision)));
    }
    context.getLog().warn("Cancelling {}", decision.targetIds());
    return Effect()
        .persist(decision.events())
        .thenRun(s -> leaveTurn(s, decision.targets(), false))
        .thenReply(
            command.replyTo(), s -> StatusReply.success(new CoordinatorProtocol.JobCancelled(decision.targetIds())));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onPauseJob(
      CoordinatorState state, AdminProtocol.PauseJob command) {
    JobControl.Decision decision = JobControl.pause(state, command.jobId(), System.currentTimeMillis());
    if (decision.isRefused()) {
      return Effect().reply(command.replyTo(), StatusReply.error(refusal(state, command.jobId(), decision)));
    }
    context.getLog().warn(
        "Pausing {}: their shards stop; on resume they go back to their newest checkpoints", decision.targetIds());
    return Effect()
        .persist(decision.events())
        .thenRun(s -> leaveTurn(s, decision.targets(), true))
        .thenReply(command.replyTo(), s -> StatusReply.success(new AdminProtocol.JobsChanged(decision.targetIds())));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onResumeJob(
      CoordinatorState state, AdminProtocol.ResumeJob command) {
    JobControl.Decision decision = JobControl.resume(state, command.jobId(), System.currentTimeMillis());
    if (decision.isRefused()) {
      return Effect().reply(command.replyTo(), StatusReply.error(refusal(state, command.jobId(), decision)));
    }
    context.getLog().info("Resuming {}", decision.targetIds());
    return Effect()
        .persist(decision.events())
        .thenRun(s -> scheduleReconcile())
        .thenReply(command.replyTo(), s -> StatusReply.success(new AdminProtocol.JobsChanged(decision.targetIds())));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onRestoreCheckpoint(
      CoordinatorState state, AdminProtocol.RestoreCheckpoint command) {
    JobControl.Decision decision =
        JobControl.restore(state, command.jobId(), command.checkpointId(), System.currentTimeMillis());
    if (decision.isRefused()) {
      return Effect().reply(command.replyTo(), StatusReply.error(refusal(state, command.jobId(), decision)));
    }
    List<Long> dropped = JobControl.newerThan(decision.targets().get(0), command.checkpointId());
    context.getLog().warn(
        "{}: an operator restores checkpoint {}, giving up {}", command.jobId(), command.checkpointId(), dropped);
    return Effect()
        .persist(decision.events())
        .thenRun(s -> scheduleReconcile())
        .thenReply(
            command.replyTo(),
            s -> StatusReply.success(new AdminProtocol.CheckpointRestored(command.jobId(), command.checkpointId(), dropped)));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onSetLearningRate(
      CoordinatorState state, AdminProtocol.SetLearningRate command) {
    JobControl.Decision decision =
        JobControl.setLearningRate(
            state, command.jobId(), command.member(), command.learningRate(), System.currentTimeMillis());
    if (decision.isRefused()) {
      return Effect().reply(command.replyTo(), StatusReply.error(refusal(state, command.jobId(), decision)));
    }
    context.getLog().info(
        "{} member {}: learning rate set to {} by an operator", command.jobId(), command.member(), command.learningRate());
    return Effect()
        .persist(decision.events())
        .thenReply(
            command.replyTo(),
            s -> StatusReply.success(
                new AdminProtocol.LearningRateSet(
                    command.jobId(),
                    command.member(),
                    command.learningRate(),
                    s.job(command.jobId()).orElseThrow().learningRateFactors().get(command.member()))));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onListCheckpoints(
      CoordinatorState state, AdminProtocol.ListCheckpoints command) {
    Optional<JobRun> job = state.job(command.jobId());
    if (job.isEmpty()) {
      return Effect().reply(command.replyTo(), StatusReply.error(noJob(state, command.jobId())));
    }
    return Effect().reply(
        command.replyTo(),
        StatusReply.success(new AdminProtocol.CheckpointList(command.jobId(), JobControl.checkpoints(job.get()))));
  }

  private String refusal(CoordinatorState state, String jobId, JobControl.Decision decision) {
    return decision.unknownJob() ? noJob(state, jobId) : decision.refusal();
  }

  /**
   * Jobs that were cancelled or paused give up their turn: workers drop their leases and models,
   * answers still in flight are forgotten, and a paused job's shards stop (a cancelled one's stop
   * when it is archived). The next queued job may then start.
   */
  private void leaveTurn(CoordinatorState state, List<JobRun> before, boolean stopShards) {
    for (JobRun job : before) {
      if (job.isActive()) {
        forgetAsksOf(job.jobId());
        state.workers().forEach(w -> w.ref().tell(new WorkerProtocol.AbandonJob(job.jobId())));
      }
      if (stopShards && job.wasStarted()) {
        stopShards(job);
      }
    }
    scheduleServeParked();
    scheduleReconcile();
  }

  /** Runtime bookkeeping of a job that ended: answers still in flight are dropped on arrival. */
  private void forgetAsksOf(String jobId) {
    checkpoints.forget(jobId);
    rewindsInFlight.remove(jobId);
    asksInFlight.keySet().removeIf(key -> key.contains(":" + jobId + ":") || key.endsWith(":" + jobId));
    attempts.keySet().removeIf(key -> key.contains(":" + jobId + ":") || key.endsWith(":" + jobId));
    rostersSent.keySet().removeIf(key -> key.startsWith(jobId + ":"));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onGetAuditLog(
      CoordinatorState state, GetAuditLog command) {
    return Effect().reply(command.replyTo(), new AuditLog(state.audit()));
  }

  private static OperatorCommandRecorded audit(CoordinatorState state, String command, String detail) {
    return JobControl.audit(state, command, detail, System.currentTimeMillis());
  }

  // ------------------------------------------------------------------ leases

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onRequestLease(
      CoordinatorState journaled, RequestLease command) {
    CoordinatorState state = leases.view(journaled);
    String workerId = workerId(command.worker());
    Object decision = decide(state, workerId, consecutiveFailures.getOrDefault(workerId, 0));
    if (decision instanceof CoordinatorEvent.Leased leased) {
      // The lease as of its own decision: later decisions of the batch may ack or re-plan.
      LeaseReply grant = LeaseDesk.grant(state.apply(leased), leased);
      return batch(journaled, List.of(leased), s -> {
        metrics.leasesGranted.increment();
        command.replyTo().tell(grant);
      });
    }
    if (LeaseDesk.isAtBarrier((NoLease) decision)) {
      park(workerId, command.replyTo(), (NoLease) decision);
      return Effect().noReply();
    }
    return Effect().reply(command.replyTo(), (NoLease) decision);
  }

  /** Answers held asks with leases of the step that opened, or with why not when that changed. */
  private ReplyEffect<CoordinatorEvent, CoordinatorState> onServeParked(
      CoordinatorState journaled, ServeParked serve) {
    serveParkedScheduled = false;
    CoordinatorState state = leases.view(journaled);
    List<CoordinatorEvent> events = new ArrayList<>();
    List<java.util.function.Consumer<CoordinatorState>> answers = new ArrayList<>();
    for (var entry : List.copyOf(parked.entrySet())) {
      Object decision = decide(state, entry.getKey(), consecutiveFailures.getOrDefault(entry.getKey(), 0));
      if (decision instanceof NoLease none && LeaseDesk.isAtBarrier(none)) {
        continue;
      }
      parked.remove(entry.getKey());
      ActorRef<LeaseReply> replyTo = entry.getValue().replyTo();
      if (decision instanceof CoordinatorEvent.Leased leased) {
        events.add(leased);
        state = state.apply(leased);
        LeaseReply grant = LeaseDesk.grant(state, leased);
        answers.add(s -> {
          metrics.leasesGranted.increment();
          replyTo.tell(grant);
        });
      } else {
        replyTo.tell((NoLease) decision);
      }
    }
    if (events.isEmpty()) {
      return Effect().noReply();
    }
    return batch(journaled, events, s -> answers.forEach(answer -> answer.accept(s)));
  }

  /** Holds a worker's ask at the barrier; an earlier ask of the same worker is answered first. */
  private void park(String workerId, ActorRef<LeaseReply> replyTo, NoLease meanwhile) {
    ParkedAsk earlier = parked.put(workerId, new ParkedAsk(replyTo, System.nanoTime(), meanwhile));
    if (earlier != null && !earlier.replyTo().equals(replyTo)) {
      earlier.replyTo().tell(earlier.meanwhile());
    }
  }

  private void scheduleServeParked() {
    if (!parked.isEmpty() && !serveParkedScheduled) {
      serveParkedScheduled = true;
      context.getSelf().tell(ServeParked.INSTANCE);
    }
  }

  /** Answers asks held longer than {@code limit} (the worker re-asks), and those of gone workers. */
  private void releaseStaleParked(CoordinatorState state, Duration limit) {
    long now = System.nanoTime();
    parked.entrySet().removeIf(entry -> {
      boolean gone = state.worker(entry.getKey()).isEmpty();
      if (gone || now - entry.getValue().sinceNanos() > limit.toNanos()) {
        entry.getValue().replyTo().tell(entry.getValue().meanwhile());
        return true;
      }
      return false;
    });
  }

  /** Adds decisions to the lease batch; the first of a batch asks for the write that follows. */
  private ReplyEffect<CoordinatorEvent, CoordinatorState> batch(
      CoordinatorState journaled, List<CoordinatorEvent> events, java.util.function.Consumer<CoordinatorState> then) {
    if (leases.add(journaled, events, then)) {
      context.getSelf().tell(FlushLeases.INSTANCE);
    }
    return Effect().noReply();
  }

  /** Writes the lease batch in one go, then answers everyone in it; held commands follow. */
  private ReplyEffect<CoordinatorEvent, CoordinatorState> onFlushLeases(
      CoordinatorState journaled, FlushLeases flush) {
    if (leases.isEmpty()) {
      return Effect().noReply().thenUnstashAll();
    }
    LeaseBatch.Written written = leases.take();
    long start = System.nanoTime();
    metrics.leaseBatchSize.record(written.events().size());
    return Effect()
        .persist(written.events())
        .thenRun(s -> {
          metrics.leaseBatchWrite.record(System.nanoTime() - start);
          written.answers().forEach(answer -> answer.accept(s));
        })
        .thenNoReply()
        .thenUnstashAll();
  }

  /** The next lease for a worker, holding new work back while a checkpoint is wanted. */
  private Object decide(CoordinatorState state, String workerId, int failures) {
    Optional<CoordinatorState.Assignment> assignment = state.assignment(workerId);
    if (assignment.isPresent() && checkpoints.isWanted(assignment.get().job().jobId())) {
      JobRun job = assignment.get().job();
      if (!job.isSync()) {
        return LeaseDesk.atBarrier(new NoLeaseReason.CheckpointDue());
      }
      if (!job.member(assignment.get().member()).stepStarted()) {
        // Steps in progress may finish; a member at its boundary waits for the others.
        return LeaseDesk.atBarrier(new NoLeaseReason.CheckpointDueBetweenSteps());
      }
    }
    return LeaseDesk.nextLease(state, workerId, failures);
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onCompleteSplit(
      CoordinatorState journaled, CompleteSplit command) {
    CoordinatorState state = leases.view(journaled);
    String workerId = workerId(command.worker());
    consecutiveFailures.remove(workerId);
    List<CoordinatorEvent> events = new ArrayList<>();
    Optional<SplitCompleted> completed = LeaseDesk.completion(state, command.leaseId(), workerId, command.report());
    CoordinatorState after = state;
    if (completed.isPresent()) {
      events.add(completed.get());
      after = state.apply(completed.get());
    } else {
      // The lease was voided (re-leased when its holder seemed gone, or rewound away): the
      // gradients were accepted, but the split was or will be trained again.
      metrics.lateAcks.increment();
      context.getLog().info("Late completion of lease {} from {}", command.leaseId(), workerId);
    }
    // A checkpoint due by push count (or by time) is wanted as of this ack, before any new lease.
    after.activeJob()
        .filter(j -> j.state() == JobState.RUNNING && j.pendingCheckpoint() == null && CheckpointScheduler.checkpointDue(j))
        .ifPresent(checkpoints::wantCheckpoint);
    Optional<CheckpointStarted> checkpoint = checkpoints.checkpointWhenQuiescent(after);
    if (checkpoint.isPresent()) {
      events.add(checkpoint.get());
      after = after.apply(checkpoint.get());
    }
    Object decision = decide(after, workerId, 0);
    LeaseReply grant = null;
    if (decision instanceof CoordinatorEvent.Leased leased) {
      events.add(leased);
      grant = LeaseDesk.grant(after.apply(leased), leased);
    }
    LeaseReply granted = grant;
    boolean waits = decision instanceof NoLease none && LeaseDesk.isAtBarrier(none);
    if (events.isEmpty()) {
      if (waits) {
        park(workerId, command.replyTo(), (NoLease) decision);
        return Effect().noReply();
      }
      return Effect().reply(command.replyTo(), (NoLease) decision);
    }
    return batch(journaled, events, s -> {
      if (completed.isPresent()) {
        metrics.splitsAcked.increment();
      }
      checkpoint.ifPresent(c -> checkpoints.sendCheckpoint(s, c));
      if (granted != null) {
        metrics.leasesGranted.increment();
        command.replyTo().tell(granted);
      } else if (waits) {
        park(workerId, command.replyTo(), (NoLease) decision);
      } else {
        command.replyTo().tell((NoLease) decision);
      }
      scheduleServeParked();
      scheduleReconcile();
    });
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onReleaseLease(
      CoordinatorState journaled, ReleaseLease command) {
    CoordinatorState state = leases.view(journaled);
    String workerId = workerId(command.worker());
    if (command.failed()) {
      int failures = consecutiveFailures.merge(workerId, 1, Integer::sum);
      context.getLog().warn(
          "Worker {} gave back lease {} ({} in a row): {}", workerId, command.leaseId(), failures, command.reason());
    } else {
      context.getLog().debug("Worker {} gave back lease {}: {}", workerId, command.leaseId(), command.reason());
    }
    // The windows it reported done are acked; only the rest goes out again.
    List<CoordinatorEvent> events =
        new ArrayList<>(
            LeaseDesk.takeBack(
                state, command.leaseId(), workerId, watch.reported(command.leaseId(), workerId), command.reason()));
    if (events.isEmpty()) {
      return Effect().noReply();
    }
    CoordinatorState after = state;
    for (CoordinatorEvent event : events) {
      after = after.apply(event);
    }
    // The lease given back may have been the last one out before a wanted checkpoint.
    Optional<CheckpointStarted> checkpoint = checkpoints.checkpointWhenQuiescent(after);
    checkpoint.ifPresent(events::add);
    return batch(journaled, events, s -> {
      metrics.leasesReleased.increment();
      sendLeaseFences(s);
      checkpoint.ifPresent(c -> checkpoints.sendCheckpoint(s, c));
      scheduleReconcile();
    });
  }

  /** A worker's account of a lease so far: a sign of life, and what to ack if the lease ends early. */
  private ReplyEffect<CoordinatorEvent, CoordinatorState> onLeaseProgress(
      CoordinatorState state, CoordinatorProtocol.LeaseProgress progress) {
    watch.progressed(progress.leaseId(), workerId(progress.worker()), progress.report(), System.nanoTime());
    return Effect().noReply();
  }

  /**
   * Takes back the leases of the running job whose holders have been silent for longer than the
   * lease timeout (a lost acknowledgement, a worker stuck or cut off): what they reported done is
   * acked, the rest goes out again, and their shards refuse the leases' pushes from now on. A
   * checkpoint that waited for them may start.
   */
  private ReplyEffect<CoordinatorEvent, CoordinatorState> onLeaseCheck(CoordinatorState state, LeaseCheck check) {
    Optional<JobRun> job = state.activeJob().filter(j -> j.state() == JobState.RUNNING);
    if (job.isEmpty()) {
      watch.clear();
      return Effect().noReply();
    }
    List<LeaseWatch.Silent> silent = watch.silent(job.get(), System.nanoTime(), settings.leaseTimeout());
    if (silent.isEmpty()) {
      return Effect().noReply();
    }
    List<CoordinatorEvent> events = new ArrayList<>();
    CoordinatorState after = state;
    for (LeaseWatch.Silent lease : silent) {
      String holder = lease.lease().holder();
      String reason =
          "expired: no word from " + holder + " for " + lease.silentNanos() / 1_000_000 + " ms"
              + " (tessera.coordinator.lease-timeout = " + settings.leaseTimeout() + ")";
      context.getLog().warn("{}: lease {} of member {} {}", job.get().jobId(), lease.lease().leaseId(), lease.member(), reason);
      for (CoordinatorEvent event :
          LeaseDesk.takeBack(after, lease.lease().leaseId(), holder, watch.reported(lease.lease().leaseId(), holder), reason)) {
        events.add(event);
        after = after.apply(event);
      }
    }
    if (events.isEmpty()) {
      return Effect().noReply();
    }
    Optional<CheckpointStarted> checkpoint = checkpoints.checkpointWhenQuiescent(after);
    checkpoint.ifPresent(events::add);
    return Effect()
        .persist(events)
        .thenRun(
            s -> {
              metrics.leasesExpired.increment(silent.size());
              sendLeaseFences(s); // before the checkpoint, so the shards save with the leases fenced
              checkpoint.ifPresent(c -> checkpoints.sendCheckpoint(s, c));
              scheduleServeParked();
              scheduleReconcile();
            })
        .thenNoReply();
  }

  /** Tells the running job's shards which of its leases are still out (async and ssp mode). */
  private void sendLeaseFences(CoordinatorState state) {
    state.activeJob()
        .ifPresent(job -> LeaseDesk.fences(state).forEach(fence -> fleet(job).tell(fence)));
  }

  // ------------------------------------------------------------------ membership

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onWorkersListed(
      CoordinatorState state, WorkersListed command) {
    Map<String, ActorRef<WorkerProtocol.Command>> listed = new HashMap<>();
    command.workers().forEach(ref -> listed.put(workerId(ref), ref));
    List<CoordinatorEvent> events = new ArrayList<>();
    boolean left = false;
    for (String known : state.workerIds()) {
      if (!listed.containsKey(known)) {
        // What it reported done of its leases is acked; the rest goes back with its departure.
        events.addAll(reportedWindowsOf(state, known));
        events.add(new WorkerLeft(known, false));
        left = true;
      }
    }
    Set<String> knownIds = new HashSet<>(state.workerIds());
    knownIds.addAll(state.retired()); // drained: a listing that still names one lags behind
    listed.entrySet().stream()
        .filter(e -> !knownIds.contains(e.getKey()))
        .sorted(Map.Entry.comparingByKey())
        .forEach(e -> events.add(new WorkerJoined(e.getKey(), e.getValue())));
    if (events.isEmpty()) {
      return Effect().noReply();
    }
    events.forEach(e -> context.getLog().info("{}: {}", e instanceof SplitCompleted ? "Reported before its worker left" : "Membership", e));
    boolean anyLeft = left;
    return Effect()
        .persist(events)
        .thenRun(
            s -> {
              metrics.liveWorkers.update(s.workers().size());
              if (anyLeft) {
                sendLeaseFences(s);
              }
              scheduleReconcile();
            })
        .thenNoReply();
  }

  /** The acks of the windows {@code workerId} reported done of the leases it holds. */
  private List<CoordinatorEvent> reportedWindowsOf(CoordinatorState state, String workerId) {
    List<CoordinatorEvent> acks = new ArrayList<>();
    state.activeJob().ifPresent(job -> {
      for (MemberRun member : job.members()) {
        if (member.ledger() == null) {
          continue;
        }
        for (SplitLedger.LiveLease lease : member.ledger().liveLeases()) {
          Optional<CoordinatorProtocol.SplitReport> reported = watch.reported(lease.leaseId(), workerId);
          if (workerId.equals(lease.holder()) && reported.isPresent()) {
            LeaseDesk.completion(state, lease.leaseId(), workerId, reported.get())
                .filter(acked -> acked.count() > 0)
                .ifPresent(acks::add);
          }
        }
      }
    });
    return acks;
  }

  // ------------------------------------------------------------------ operators: workers and batch

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onDrainWorkers(
      CoordinatorState state, DrainWorkers command) {
    List<WorkerEntry> targets = WorkerDrains.targets(state, command.target());
    if (targets.isEmpty()) {
      return Effect()
          .reply(
              command.replyTo(),
              StatusReply.error(
                  "no live worker is '" + command.target() + "' or runs on that node; workers: " + state.workerIds()));
    }
    List<CoordinatorEvent> events = new ArrayList<>();
    events.add(audit(state, "drain", command.target() + " (" + targets.size() + " worker(s))"));
    targets.stream().filter(w -> !w.draining()).forEach(w -> events.add(new WorkerDraining(w.workerId())));
    List<String> ids = targets.stream().map(WorkerEntry::workerId).toList();
    return Effect()
        .persist(events)
        .thenRun(
            s -> {
              drains.started(command.target(), ids, System.nanoTime());
              targets.forEach(w -> w.ref().tell(WorkerProtocol.Drain.INSTANCE));
              context.getLog().info("Draining {}: {}", command.target(), ids);
              scheduleReconcile();
            })
        .thenReply(command.replyTo(), s -> StatusReply.success(new DrainStarted(ids)));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onDrainCompleted(
      CoordinatorState state, DrainCompleted command) {
    String workerId = workerId(command.worker());
    boolean known = state.worker(workerId).isPresent();
    if (!known && (!drains.isDraining(workerId) || state.retired().contains(workerId))) {
      return Effect().noReply();
    }
    // Known, or already gone from the Receptionist listing (which may overtake this message):
    // either way it is retired now, so a late listing cannot bring it back.
    return Effect()
        .persist(new WorkerLeft(workerId, true))
        .thenRun(
            s -> {
              long millis = drains.completed(workerId, System.nanoTime());
              context.getLog().info("Worker {} drained and left{}", workerId, millis >= 0 ? " " + millis + " ms after the request" : "");
              metrics.liveWorkers.update(s.workers().size());
              drains.nodesDrained(s).forEach(this::leaveCluster);
              scheduleReconcile();
            })
        .thenNoReply();
  }

  /** A node whose every worker drained leaves the cluster, unless it has other roles to play. */
  private void leaveCluster(String address) {
    Cluster cluster = Cluster.get(context.getSystem());
    for (akka.cluster.Member member : cluster.state().getMembers()) {
      if (member.address().toString().equals(address)) {
        if (member.hasRole("ps") || member.hasRole("coordinator")) {
          context.getLog().info("Node {} has no workers left; it stays for its other roles {}", address, member.getRoles());
        } else {
          context.getLog().info("Node {} has no workers left; asking it to leave the cluster", address);
          cluster.manager().tell(akka.cluster.typed.Leave.create(member.address()));
        }
      }
    }
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onSetGlobalBatch(
      CoordinatorState state, SetGlobalBatch command) {
    Optional<JobRun> found = state.job(command.jobId());
    String problem = null;
    if (found.isEmpty()) {
      problem = "no job " + command.jobId();
    } else if (found.get().state() != JobState.RUNNING) {
      problem = "job " + command.jobId() + " is " + found.get().state() + "; the global batch changes while it runs";
    } else if (command.globalBatch() <= 0 || command.globalBatch() % found.get().spec().microBatch() != 0) {
      problem = "the global batch must be a positive multiple of the micro-batch (" + found.get().spec().microBatch()
          + "), was " + command.globalBatch();
    } else if (command.globalBatch() > 64 * found.get().spec().globalBatch()) {
      problem = "the global batch may grow at most 64-fold over the spec's " + found.get().spec().globalBatch();
    }
    if (problem != null) {
      return Effect().reply(command.replyTo(), StatusReply.error(problem));
    }
    JobRun job = found.get();
    double scale = job.spec().learningRateScaling().factor(job.spec().globalBatch(), command.globalBatch());
    context.getLog().info(
        "{}: global batch {} -> {} (learning rate x{})", job.jobId(), job.globalBatch(), command.globalBatch(),
        String.format("%.4f", scale));
    return Effect()
        .persist(
            List.of(
                audit(state, "set-global-batch", job.jobId() + " " + job.globalBatch() + " -> " + command.globalBatch()),
                new GlobalBatchChanged(job.jobId(), command.globalBatch(), scale)))
        .thenRun(s -> scheduleReconcile())
        .thenReply(command.replyTo(), s -> StatusReply.success(new GlobalBatchSet(job.jobId(), command.globalBatch(), scale)));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onListWorkers(
      CoordinatorState state, ListWorkers command) {
    List<WorkerInfo> workers = new ArrayList<>();
    for (WorkerEntry worker : state.workers()) {
      Optional<Assignment> a = state.assignment(worker.workerId());
      int held = state.activeJob().map(j -> leasesHeld(j, worker.workerId())).orElse(0);
      String status = worker.draining() ? "draining" : held > 0 ? "training" : "idle";
      workers.add(
          new WorkerInfo(
              worker.workerId(), status, a.map(Assignment::member).orElse(-1),
              a.map(Assignment::accumulationSteps).orElse(0), held, -1));
    }
    workers.addAll(drains.recentlyDrained());
    return Effect().reply(command.replyTo(), new WorkerList(workers));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onGetTrainingCurve(
      CoordinatorState state, GetTrainingCurve command) {
    Optional<JobRun> job = state.job(command.jobId());
    if (job.isEmpty() || command.member() < 0 || command.member() >= job.get().members().size()) {
      return Effect().reply(command.replyTo(), StatusReply.error("no member " + command.member() + " of job " + command.jobId()));
    }
    if (detailDropped(job.get())) {
      return Effect().reply(command.replyTo(), StatusReply.error(detailDroppedMessage(job.get(), "loss curves")));
    }
    List<Double> losses =
        job.get().member(command.member()).stepLosses().stream().map(MemberRun.StepLoss::loss).toList();
    return Effect()
        .reply(command.replyTo(), StatusReply.success(new TrainingCurve(command.jobId(), command.member(), losses)));
  }

  /** Asks every shard of the job for its counters, off the actor, and answers with all of them. */
  private ReplyEffect<CoordinatorEvent, CoordinatorState> onGetShardStatuses(
      CoordinatorState state, AdminProtocol.GetShardStatuses command) {
    Optional<JobRun> job = state.job(command.jobId());
    if (job.isEmpty()) {
      return Effect().reply(command.replyTo(), StatusReply.error("no job " + command.jobId()));
    }
    var sharding = akka.cluster.sharding.typed.javadsl.ClusterSharding.get(context.getSystem());
    List<java.util.concurrent.CompletableFuture<ShardProtocol.ShardStatus>> asks = new ArrayList<>();
    for (int member = 0; member < job.get().members().size(); member++) {
      for (int shard = 0; shard < job.get().spec().shards(); shard++) {
        asks.add(
            sharding
                .entityRefFor(ShardProtocol.ENTITY_TYPE_KEY, ShardProtocol.entityId(command.jobId(), member, shard))
                .<ShardProtocol.ShardStatus>ask(ShardProtocol.GetStatus::new, Duration.ofSeconds(10))
                .toCompletableFuture());
      }
    }
    java.util.concurrent.CompletableFuture.allOf(asks.toArray(java.util.concurrent.CompletableFuture[]::new))
        .whenComplete(
            (done, failure) ->
                command.replyTo().tell(
                    failure == null
                        ? StatusReply.success(
                            new CoordinatorProtocol.ShardStatuses(
                                command.jobId(), asks.stream().map(java.util.concurrent.CompletableFuture::join).toList()))
                        : StatusReply.error("a shard of " + command.jobId() + " did not answer: " + failure.getMessage())));
    return Effect().noReply();
  }

  // ------------------------------------------------------------------ reconciliation

  private void scheduleReconcile() {
    if (!reconcileScheduled) {
      reconcileScheduled = true;
      context.getSelf().tell(Reconcile.INSTANCE);
    }
  }

  /**
   * Compares what the state says should be happening with what is in flight and starts what is
   * missing: the next job's initialisation, accumulation updates and nudges to workers, and
   * evaluations. Runs after every change, and after recovery.
   */
  private ReplyEffect<CoordinatorEvent, CoordinatorState> onReconcile(
      CoordinatorState state, Reconcile command) {
    reconcileScheduled = false;
    scheduleServeParked();
    List<JobRun> ended = state.jobs().stream().filter(j -> j.state().isFinished() && !j.isArchived()).toList();
    if (!ended.isEmpty()) {
      List<CoordinatorEvent> archived = new ArrayList<>();
      ended.forEach(
          job -> archived.add(
              new CoordinatorEvent.JobArchived(job.jobId(), settings.retention())));
      return Effect()
          .persist(archived)
          .thenRun(s -> {
            ended.stream().filter(JobRun::wasStarted).forEach(this::stopShards);
            scheduleReconcile();
          })
          .thenNoReply();
    }
    Optional<JobRun> active = state.activeJob();
    if (active.isEmpty()) {
      Optional<JobRun> next = state.firstQueued();
      Optional<String> unmet = next.flatMap(job -> Stages.unmet(state, job));
      if (unmet.isPresent()) {
        context.getLog().warn("{} cannot start: {}", next.get().jobId(), unmet.get());
        return Effect()
            .persist(new JobFailed(next.get().jobId(), unmet.get()))
            .thenRun(s -> scheduleReconcile())
            .thenNoReply();
      }
      if (next.isPresent() && next.get().needsRewindToStart()) {
        JobRun resumed = next.get();
        long checkpointId = resumed.lastCheckpoint().orElseThrow().checkpointId();
        context.getLog().info("Resuming {} from its checkpoint {}", resumed.jobId(), checkpointId);
        return Effect()
            .persist(new JobRewound(resumed.jobId(), resumed.recoveryEpoch() + 1, checkpointId, "resumed by an operator"))
            .thenRun(s -> scheduleReconcile())
            .thenNoReply();
      }
      if (next.isPresent() && !state.schedulable().isEmpty()) {
        context.getLog().info("Starting {}: setting up {} member(s)", next.get().jobId(), next.get().members().size());
        return Effect()
            .persist(new JobInitializationStarted(next.get().jobId()))
            .thenRun(s -> scheduleReconcile())
            .thenNoReply();
      }
      return Effect().noReply();
    }
    JobRun job = active.get();
    if (job.pendingCheckpoint() != null
        && !checkpoints.isInFlight(job.jobId(), job.pendingCheckpoint().checkpointId())) {
      // Started before this coordinator took over (or the fleet was lost): no shard answer will
      // come to us, so let it go; the next one starts on schedule.
      return Effect()
          .persist(new CheckpointAbandoned(job.jobId(), job.pendingCheckpoint().checkpointId(), "coordinator restarted"))
          .thenRun(s -> scheduleReconcile())
          .thenNoReply();
    }
    switch (job.state()) {
      case INITIALIZING -> startInitializations(state, job);
      case RUNNING -> {
        updateWorkers(state, job);
        startValidations(state, job);
      }
      case RECOVERING -> startRewind(job);
      case EVALUATING -> {
        if (job.lastCheckpoint().map(CheckpointRecord::coversEverything).orElse(false)) {
          startEvaluations(state, job);
          if (job.needsEnsembleEvaluation()) {
            startEnsembleEvaluation(state, job);
          }
        } else if (job.pendingCheckpoint() == null && !checkpoints.finalRetryPending(job.jobId())) {
          // Training is over: save the final numbers before evaluating, so that a lost shard
          // cannot take them with it.
          return checkpoints.startCheckpoint(state, job, null);
        }
      }
      default -> {}
    }
    return Effect().noReply();
  }

  /**
   * A job ended and was archived: its shards stop (a later stage that reads them starts them again,
   * read-only), and so does its fleet.
   */
  private void stopShards(JobRun job) {
    forgetAsksOf(job.jobId());
    fleet(job).tell(ShardFleet.Stop.INSTANCE);
    fleets.remove(job.jobId());
  }

  private void startInitializations(CoordinatorState state, JobRun job) {
    for (MemberRun member : job.members()) {
      String key = "init:" + job.jobId() + ":" + member.member();
      if (member.initialized() || asksInFlight.containsKey(key)) {
        continue;
      }
      Optional<WorkerEntry> worker = pickWorker(state, member.member());
      if (worker.isEmpty()) {
        return;
      }
      asksInFlight.put(key, worker.get().workerId());
      int memberIndex = member.member();
      String workerId = worker.get().workerId();
      context.askWithStatus(
          ModelInitialized.class,
          worker.get().ref(),
          settings.initializeTimeout(),
          replyTo ->
              new WorkerProtocol.InitializeModel(
                  job.jobId(), memberIndex, job.spec(), Stages.inputs(state, job, memberIndex), replyTo),
          (result, failure) ->
              new InitReplied(job.jobId(), memberIndex, workerId, result, failure == null ? null : failure.getMessage()));
    }
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onInitReplied(
      CoordinatorState state, InitReplied reply) {
    String key = "init:" + reply.jobId() + ":" + reply.member();
    asksInFlight.remove(key);
    Optional<JobRun> job = state.job(reply.jobId()).filter(j -> j.state() == JobState.INITIALIZING);
    if (job.isEmpty()) {
      return Effect().noReply();
    }
    if (reply.error() == null) {
      String mismatch = datasetMismatch(job.get(), reply.result().dataset());
      if (mismatch == null) {
        context.getLog().info(
            "{} member {} initialised by {}: {} parameters, {} training samples",
            reply.jobId(), reply.member(), reply.workerId(), reply.result().parameterCount(),
            reply.result().dataset().trainSize());
        return Effect()
            .persist(
                new MemberInitialized(
                    reply.jobId(),
                    reply.member(),
                    reply.result().dataset(),
                    reply.result().parameterCount(),
                    System.currentTimeMillis()))
            .thenRun(s -> scheduleReconcile())
            .thenNoReply();
      }
      return retryOrFail(key, reply.jobId(), "initialising member " + reply.member(), reply.workerId(), mismatch);
    }
    return retryOrFail(key, reply.jobId(), "initialising member " + reply.member(), reply.workerId(), reply.error());
  }

  private static String datasetMismatch(JobRun job, WorkerProtocol.DatasetInfo found) {
    if (job.dataset() == null || job.dataset().equals(found)) {
      return null;
    }
    return "workers disagree about the data: one found " + job.dataset() + ", another " + found
        + "; give every worker node the same data directory contents";
  }

  private void updateWorkers(CoordinatorState state, JobRun job) {
    for (WorkerEntry worker : state.workers()) {
      Optional<Assignment> assignment = state.assignment(worker.workerId());
      if (assignment.isEmpty()) {
        continue;
      }
      Assignment a = assignment.get();
      String planned = job.jobId() + ":" + a.member() + ":" + state.membershipEpoch() + ":" + a.accumulationSteps();
      if (!planned.equals(accumulationSent.get(worker.workerId()))) {
        accumulationSent.put(worker.workerId(), planned);
        worker.ref().tell(
            new WorkerProtocol.SetAccumulation(job.jobId(), a.member(), state.membershipEpoch(), a.accumulationSteps()));
      }
      if (a.accumulationSteps() > 0 && leasesHeld(job, worker.workerId()) == 0) {
        worker.ref().tell(WorkerProtocol.WorkAvailable.INSTANCE);
      }
    }
    if (job.spec().mode() == TrainingMode.SSP) {
      sendRosters(job);
    }
  }

  /** Tells each member's shards which workers train it now, when that changed (SSP). */
  private void sendRosters(JobRun job) {
    if (checkpoints.isWanted(job.jobId())) {
      return; // the bound is lifted until the checkpoint is taken (see CheckpointScheduler.wantCheckpoint)
    }
    for (MemberRun member : job.members()) {
      AccumulationPlan plan = member.currentPlan();
      String key = job.jobId() + ":" + member.member();
      if (plan != null && member.stoppedEarly()) {
        // Only the leases it had out still train it, and its other workers moved on: lift the
        // bound, so that the last pulls are not held for clocks that no longer advance.
        if (!Long.valueOf(STOPPED_ROSTER).equals(rostersSent.get(key))) {
          rostersSent.put(key, STOPPED_ROSTER);
          fleet(job).tell(new ShardFleet.Roster(member.member(), plan.membershipEpoch(), List.of()));
        }
        continue;
      }
      if (plan != null && !Long.valueOf(plan.membershipEpoch()).equals(rostersSent.get(key))) {
        rostersSent.put(key, plan.membershipEpoch());
        List<String> workers =
            plan.shares().stream().filter(sh -> sh.accumulationSteps() > 0).map(WorkerShare::workerId).toList();
        fleet(job).tell(new ShardFleet.Roster(member.member(), plan.membershipEpoch(), workers));
      }
    }
  }

  private static int leasesHeld(JobRun job, String workerId) {
    return job.members().stream()
        .filter(m -> m.ledger() != null)
        .mapToInt(m -> m.ledger().leasesHeldBy(workerId))
        .sum();
  }

  /** Has a worker measure the members of a finished classifier stage together. */
  private void startEnsembleEvaluation(CoordinatorState state, JobRun job) {
    String key = "ensemble:" + job.jobId();
    if (asksInFlight.containsKey(key)) {
      return;
    }
    Optional<WorkerEntry> worker = pickWorker(state, 0);
    if (worker.isEmpty()) {
      return;
    }
    String workerId = worker.get().workerId();
    asksInFlight.put(key, workerId);
    context.getLog().info("Evaluating {}'s {} members together on {}", job.jobId(), job.members().size(), workerId);
    context.askWithStatus(
        WorkerProtocol.EnsembleReport.class,
        worker.get().ref(),
        settings.evaluationTimeout(),
        replyTo ->
            new WorkerProtocol.EvaluateEnsemble(
                job.jobId(), job.spec(), Stages.members(job), Stages.inputs(state, job, 0), replyTo),
        (report, failure) -> new EnsembleReplied(job.jobId(), workerId, report, failure == null ? null : failure.getMessage()));
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onEnsembleReplied(
      CoordinatorState state, EnsembleReplied reply) {
    String key = "ensemble:" + reply.jobId();
    asksInFlight.remove(key);
    // Only while evaluating: a report asked for before the job was rewound (or failed) does not
    // complete it; the members are measured again once it is back.
    if (state.job(reply.jobId())
        .filter(j -> j.state() == JobState.EVALUATING && j.needsEnsembleEvaluation())
        .isEmpty()) {
      return Effect().noReply();
    }
    if (reply.error() != null) {
      return retryOrFail(key, reply.jobId(), "evaluating the ensemble", reply.workerId(), reply.error());
    }
    WorkerProtocol.EnsembleReport report = reply.report();
    CoordinatorProtocol.EnsembleResult result =
        new CoordinatorProtocol.EnsembleResult(report.testSamples(), report.averaged(), report.majority(), report.revoted());
    context.getLog().info(
        "{} ensemble: averaged {}, majority {}, re-voted {} (members {})",
        reply.jobId(), String.format("%.4f", result.averaged()), String.format("%.4f", result.majority()),
        String.format("%.4f", result.revoted()), report.memberAccuracy());
    return Effect()
        .persist(new CoordinatorEvent.EnsembleEvaluated(reply.jobId(), result))
        .thenRun(s -> scheduleReconcile())
        .thenNoReply();
  }

  private void startEvaluations(CoordinatorState state, JobRun job) {
    for (MemberRun member : job.members()) {
      String key = "eval:" + job.jobId() + ":" + member.member();
      if (member.result() != null || asksInFlight.containsKey(key)) {
        continue;
      }
      int memberIndex = member.member();
      Optional<String> asked =
          askToEvaluate(
              state, job, memberIndex, key, false,
              (workerId, report, error) -> new EvaluationReplied(job.jobId(), memberIndex, workerId, report, error));
      if (asked.isEmpty()) {
        return;
      }
      context.getLog().info("Evaluating {} member {} on {}", job.jobId(), memberIndex, asked.get());
    }
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onEvaluationReplied(
      CoordinatorState state, EvaluationReplied reply) {
    String key = "eval:" + reply.jobId() + ":" + reply.member();
    asksInFlight.remove(key);
    if (state.job(reply.jobId()).filter(j -> j.state() == JobState.EVALUATING).isEmpty()) {
      return Effect().noReply();
    }
    if (reply.error() != null) {
      return retryOrFail(key, reply.jobId(), "evaluating member " + reply.member(), reply.workerId(), reply.error());
    }
    EvaluationReport report = reply.report();
    // Masked-autoencoder pre-training has a loss to report, not an accuracy.
    boolean lossOnly = state.job(reply.jobId()).orElseThrow().spec().stage().kind() == StageKind.MAE_PRETRAIN;
    context.getLog().info(
        "{} member {}: test {} {} on {} samples",
        reply.jobId(), reply.member(), lossOnly ? "loss" : "accuracy",
        String.format("%.4f", lossOnly ? report.meanLoss() : report.accuracy()), report.samples());
    return Effect()
        .persist(
            new MemberEvaluated(
                reply.jobId(), reply.member(), report.samples(),
                lossOnly ? Double.NaN : report.accuracy(),
                report.meanLoss(), report.validationAccuracy()))
        .thenRun(
            s -> {
              s.job(reply.jobId())
                  .filter(j -> j.state() == JobState.COMPLETED)
                  .ifPresent(j -> context.getLog().info("{} completed", j.jobId()));
              scheduleReconcile();
            })
        .thenNoReply();
  }

  /**
   * With early stopping: asks a worker to score each training member on the validation split once
   * an epoch (not the last: the final evaluation follows that one) is done.
   */
  private void startValidations(CoordinatorState state, JobRun job) {
    if (!job.spec().earlyStopping().enabled()) {
      return;
    }
    for (MemberRun member : job.members()) {
      int epoch = member.wantsWork() ? member.ledger().epochsDone() - 1 : -1;
      String key = "validate:" + job.jobId() + ":" + member.member();
      if (epoch <= member.lastValidatedEpoch() || epoch >= job.spec().epochs() - 1 || asksInFlight.containsKey(key)) {
        continue;
      }
      int memberIndex = member.member();
      long recoveryEpoch = job.recoveryEpoch();
      Optional<String> asked =
          askToEvaluate(
              state, job, memberIndex, key, true,
              (workerId, report, error) ->
                  new ValidationReplied(job.jobId(), memberIndex, epoch, recoveryEpoch, workerId, report, error));
      if (asked.isEmpty()) {
        return;
      }
      context.getLog().debug("Validating {} member {} after epoch {} on {}", job.jobId(), memberIndex, epoch, asked.get());
    }
  }

  /** How the answer to an evaluation comes back to the coordinator: report or error, not both. */
  private interface EvaluationAnswer {
    Command of(String workerId, EvaluationReport report, String error);
  }

  /**
   * Asks a worker picked for {@code member} to evaluate it (on the validation split alone, or on
   * the test set and the validation split), recording the ask under {@code key}. The worker asked,
   * or empty when none is free.
   */
  private Optional<String> askToEvaluate(
      CoordinatorState state, JobRun job, int member, String key, boolean validationOnly, EvaluationAnswer answer) {
    Optional<WorkerEntry> worker = pickWorker(state, member);
    if (worker.isEmpty()) {
      return Optional.empty();
    }
    String workerId = worker.get().workerId();
    asksInFlight.put(key, workerId);
    context.askWithStatus(
        EvaluationReport.class,
        worker.get().ref(),
        settings.evaluationTimeout(),
        replyTo ->
            new WorkerProtocol.Evaluate(
                job.jobId(), member, job.spec(), Stages.inputs(state, job, member), validationOnly, replyTo),
        (report, failure) -> answer.of(workerId, report, failure == null ? null : failure.getMessage()));
    return Optional.of(workerId);
  }

  /** Records a member's validation score; early stopping ends its training when the rule says so. */
  private ReplyEffect<CoordinatorEvent, CoordinatorState> onValidationReplied(
      CoordinatorState state, ValidationReplied reply) {
    String key = "validate:" + reply.jobId() + ":" + reply.member();
    asksInFlight.remove(key);
    Optional<JobRun> found = state.job(reply.jobId()).filter(j -> j.state() == JobState.RUNNING);
    if (found.isEmpty()) {
      scheduleReconcile(); // rewound, failed or done meanwhile: asked again if still wanted
      return Effect().noReply();
    }
    JobRun job = found.get();
    MemberRun member = job.member(reply.member());
    // A score asked for before a rewind (another recovery epoch) may be of parameters the rewind
    // went back before, and the epoch it scores must still be done: otherwise it is dropped, and
    // the reconcile asks for the epoch's score again once it is done.
    if (!member.wantsWork() || reply.recoveryEpoch() != job.recoveryEpoch()
        || reply.epoch() <= member.lastValidatedEpoch() || reply.epoch() >= member.ledger().epochsDone()) {
      scheduleReconcile();
      return Effect().noReply();
    }
    if (reply.error() != null) {
      return retryOrFail(
          key, reply.jobId(), "validating member " + reply.member() + " after epoch " + reply.epoch(), reply.workerId(),
          reply.error());
    }
    attempts.remove(key); // failures count per epoch: one that went wrong earlier is forgiven
    double accuracy = reply.report().validationAccuracy();
    List<CoordinatorEvent> events = new ArrayList<>();
    events.add(new CoordinatorEvent.MemberValidated(reply.jobId(), reply.member(), reply.epoch(), accuracy));
    List<MemberRun.Validation> scores = new ArrayList<>(member.validations());
    scores.add(new MemberRun.Validation(reply.epoch(), accuracy));
    EarlyStopping.Verdict verdict = EarlyStopping.judge(scores, job.spec().earlyStopping());
    context.getLog().info(
        "{} member {}: validation accuracy {} after epoch {} (best {} after epoch {})",
        reply.jobId(), reply.member(), String.format("%.4f", accuracy), reply.epoch(),
        String.format("%.4f", verdict.bestAccuracy()), verdict.bestEpoch());
    if (verdict.stop()) {
      context.getLog().info(
          "{} member {}: stopping early after epoch {} of {}: no improvement on {} for {} epoch(s)",
          reply.jobId(), reply.member(), reply.epoch(), job.spec().epochs(),
          String.format("%.4f", verdict.bestAccuracy()), reply.epoch() - verdict.bestEpoch());
      events.add(
          new CoordinatorEvent.MemberStoppedEarly(
              reply.jobId(), reply.member(), reply.epoch(), verdict.bestEpoch(), verdict.bestAccuracy()));
    }
    return Effect().persist(events).thenRun(s -> scheduleReconcile()).thenNoReply();
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> retryOrFail(
      String key, String jobId, String what, String workerId, String error) {
    int tries = attempts.merge(key, 1, Integer::sum);
    context.getLog().warn("{} {} on {} failed (attempt {}): {}", jobId, what, workerId, tries, error);
    if (tries >= MAX_ATTEMPTS) {
      String reason = what + " failed " + tries + " times; last error: " + error;
      return Effect().persist(new JobFailed(jobId, reason)).thenRun(s -> scheduleReconcile()).thenNoReply();
    }
    scheduleReconcile();
    return Effect().noReply();
  }

  /** A worker for a one-off task: spread members over workers, skipping ones that keep failing. */
  private Optional<WorkerEntry> pickWorker(CoordinatorState state, int member) {
    List<WorkerEntry> healthy =
        state.schedulable().stream()
            .filter(w -> consecutiveFailures.getOrDefault(w.workerId(), 0) < LeaseDesk.MAX_CONSECUTIVE_WORKER_FAILURES)
            .toList();
    if (healthy.isEmpty()) {
      return Optional.empty();
    }
    int tries = attempts.values().stream().mapToInt(Integer::intValue).sum();
    return Optional.of(healthy.get((member + tries) % healthy.size()));
  }

  // ------------------------------------------------------------------ checkpoints and recovery

  /**
   * A shard is starting and asks where from. A shard of a job that is training or evaluating was
   * not told to restart, so it has lost its numbers (its node died, or the cluster restarted): the
   * whole job goes back to its last complete checkpoint, in a new recovery epoch.
   */
  private ReplyEffect<CoordinatorEvent, CoordinatorState> onResolveShardRecovery(
      CoordinatorState state, ResolveShardRecovery command) {
    Optional<JobRun> found = state.job(command.jobId());
    if (found.isEmpty()) {
      // Every job is journaled before its shards are set up: this one ended long ago, or never was.
      return Effect().reply(command.replyTo(), new ShardRecoveryPlan(0, -1, 0, true));
    }
    JobRun job = found.get();
    if (job.state().isFinished() || job.state() == JobState.PAUSED) {
      // Woken by a message that was on its way when the job stopped training: read-only until it
      // resumes (a rewind then gives it a live plan) or stops again once idle.
      return Effect().reply(command.replyTo(), finishedPlan(job, command));
    }
    if (job.lastCheckpoint().isEmpty()) {
      return Effect()
          .reply(command.replyTo(), new ShardRecoveryPlan(job.recoveryEpoch(), -1, 0, false, state.nextLeaseId()));
    }
    if (job.state() == JobState.RUNNING || job.state() == JobState.EVALUATING) {
      CheckpointRecord target = job.lastCheckpoint().get();
      String reason = "shard m" + command.member() + "/s" + command.shard() + " restarted without its numbers";
      context.getLog().warn(
          "{}: {}; rewinding every shard to checkpoint {}", job.jobId(), reason, target.checkpointId());
      return Effect()
          .persist(new JobRewound(job.jobId(), job.recoveryEpoch() + 1, target.checkpointId(), reason))
          .thenRun(s -> scheduleReconcile())
          .thenReply(command.replyTo(), s -> recoveryPlan(s, s.job(command.jobId()).get(), command));
    }
    return Effect().reply(command.replyTo(), recoveryPlan(state, job, command));
  }

  /** A shard of a job not training starts read-only on the job's newest checkpoint, if it has one. */
  private static ShardRecoveryPlan finishedPlan(JobRun job, ResolveShardRecovery command) {
    return job.lastCheckpoint()
        .map(last -> {
          long sequenceNr = last.sequenceNr(command.member(), command.shard());
          return new ShardRecoveryPlan(job.recoveryEpoch(), last.checkpointId(), sequenceNr, true);
        })
        .orElse(new ShardRecoveryPlan(job.recoveryEpoch(), -1, 0, true));
  }

  /**
   * Where a shard of a job that is not running (it is being set up, rewound or resumed) starts: no
   * lease of the job issued so far is out (a rewind voided them all), so it fences every one.
   */
  private static ShardRecoveryPlan recoveryPlan(CoordinatorState state, JobRun job, ResolveShardRecovery command) {
    CheckpointRecord target = job.lastCheckpoint().orElseThrow();
    long sequenceNr = target.sequenceNr(command.member(), command.shard());
    return new ShardRecoveryPlan(job.recoveryEpoch(), target.checkpointId(), sequenceNr, false, state.nextLeaseId());
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onReportCorruptCheckpoint(
      CoordinatorState state, ReportCorruptCheckpoint report) {
    Optional<JobRun> found = state.job(report.jobId());
    if (found.isEmpty() || found.get().checkpoint(report.checkpointId()).isEmpty()) {
      return Effect().noReply(); // already discarded on another shard's word
    }
    JobRun job = found.get();
    context.getLog().error(
        "{}: checkpoint {} is unusable ({}); falling back to the one before",
        job.jobId(), report.checkpointId(), report.reason());
    List<CoordinatorEvent> events = new ArrayList<>();
    events.add(new CheckpointDiscarded(job.jobId(), report.checkpointId(), report.reason()));
    if (job.state().isFinished()) {
      // Nothing trains from it any more: forget it, but do not bring the job back to life.
      return Effect().persist(events).thenNoReply();
    }
    Optional<CheckpointRecord> previous =
        job.checkpoints().stream()
            .filter(c -> c.checkpointId() != report.checkpointId())
            .reduce((first, second) -> second);
    if (previous.isPresent()) {
      events.add(
          new JobRewound(
              job.jobId(),
              job.recoveryEpoch() + 1,
              previous.get().checkpointId(),
              "checkpoint " + report.checkpointId() + " unusable: " + report.reason()));
    } else {
      events.add(new JobFailed(job.jobId(), "no usable checkpoint left: " + report.reason()));
    }
    return Effect().persist(events).thenRun(s -> scheduleReconcile()).thenNoReply();
  }

  private void startRewind(JobRun job) {
    if (!Long.valueOf(job.recoveryEpoch()).equals(rewindsInFlight.get(job.jobId()))) {
      rewindsInFlight.put(job.jobId(), job.recoveryEpoch());
      checkpoints.rewound(job.jobId()); // the rewind voided every lease; due again from the restored one
      context.getLog().info(
          "{}: rewinding to checkpoint {} in epoch {}",
          job.jobId(), job.lastCheckpoint().map(CheckpointRecord::checkpointId).orElse(-1L), job.recoveryEpoch());
      fleet(job).tell(new ShardFleet.Rewind(job.recoveryEpoch()));
    }
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onEpochReached(
      CoordinatorState state, FleetReport.EpochReached report) {
    Optional<JobRun> job =
        state.job(report.jobId()).filter(j -> j.state() == JobState.RECOVERING && j.recoveryEpoch() == report.epoch());
    if (job.isEmpty()) {
      return Effect().noReply();
    }
    rewindsInFlight.remove(report.jobId());
    context.getLog().info("{}: every shard runs in epoch {}; training goes on", report.jobId(), report.epoch());
    accumulationSent.clear(); // leases were voided: tell every worker its share again
    rostersSent.keySet().removeIf(key -> key.startsWith(report.jobId() + ":")); // restarted shards know none
    return Effect()
        .persist(new JobRecovered(report.jobId(), report.epoch()))
        .thenRun(s -> {
          // Leases out before the rewind are void; their holders may be waiting on a lost shard.
          WorkerProtocol.LeasesVoided voided = new WorkerProtocol.LeasesVoided(report.jobId(), s.nextLeaseId());
          s.workers().forEach(w -> w.ref().tell(voided));
          scheduleReconcile();
        })
        .thenNoReply();
  }

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onNodeRemoved(
      CoordinatorState state, NodeRemoved removed) {
    if (removed.hostedShards()) {
      state.activeJob()
          .filter(j -> j.state() == JobState.RUNNING || j.state() == JobState.EVALUATING)
          .ifPresent(job -> fleet(job).tell(ShardFleet.Wake.INSTANCE));
    }
    return Effect().noReply();
  }

  /** The fleet of a job's shards, started on first use. */
  private ActorRef<ShardFleet.Command> fleet(JobRun job) {
    return fleets.computeIfAbsent(
        job.jobId(),
        id ->
            context.spawn(
                ShardFleet.create(
                    id,
                    job.members().size(),
                    job.spec().shards(),
                    context.getSelf().narrow(),
                    settings.checkpointTimeout()),
                "fleet-" + id));
  }

  // ------------------------------------------------------------------ progress

  private ReplyEffect<CoordinatorEvent, CoordinatorState> onTick(CoordinatorState state, Tick tick) {
    metrics.liveWorkers.update(state.workers().size());
    state.activeJob().ifPresent(
        job -> {
          double rate = progress.record(job.jobId(), job.samplesDone(), System.nanoTime());
          metrics.samplesPerSecond.update(rate);
          if (job.state() == JobState.RUNNING && !Double.isNaN(job.recentLoss())) {
            metrics.trainingLoss.update(job.recentLoss());
          }
          if (job.state() == JobState.RUNNING) {
            context.getLog().info(
                "{}: {}/{} samples, {} samples/s, loss {}, {} workers",
                job.jobId(), job.samplesDone(), job.samplesTotal(), String.format("%.0f", rate),
                String.format("%.4f", job.recentLoss()), state.workers().size());
          }
        });
    return Effect().noReply();
  }

  /** See {@link CheckpointScheduler#quiescent}. */
  static boolean quiescent(JobRun job) {
    return CheckpointScheduler.quiescent(job);
  }

  /** What the pieces ask of the coordinator (see {@link CoordinatorContext.Host}). */
  private final class Host implements CoordinatorContext.Host {
    @Override
    public void scheduleReconcile() {
      Coordinator.this.scheduleReconcile();
    }

    @Override
    public ActorRef<ShardFleet.Command> fleet(JobRun job) {
      return Coordinator.this.fleet(job);
    }

    @Override
    public void releaseStaleParked(CoordinatorState state) {
      Coordinator.this.releaseStaleParked(state, PARKED_LIMIT);
    }

    @Override
    public void forgetRosters(String jobId) {
      rostersSent.keySet().removeIf(key -> key.startsWith(jobId + ":"));
    }
  }

  private String workerId(ActorRef<?> worker) {
    return ctx.workerId(worker);
  }
}
