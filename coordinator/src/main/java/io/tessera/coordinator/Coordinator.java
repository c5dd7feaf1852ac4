package io.tessera.coordinator;

import akka.actor.typed.ActorRef;
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
import io.tessera.coordinator.CoordinatorEvent.CheckpointStarted;
import io.tessera.coordinator.CoordinatorEvent.JobFailed;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobRewound;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.OperatorCommandRecorded;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorState.Assignment;
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
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditLog;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.CompleteSplit;
import io.tessera.protocol.coordinator.CoordinatorProtocol.DrainCompleted;
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
import io.tessera.protocol.coordinator.CoordinatorProtocol.TrainingCurve;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.worker.WorkerProtocol;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

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
  private static final int SNAPSHOT_EVERY_EVENTS = 500;
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
  private final Recovery recovery;
  private final WorkerTasks tasks;
  private final Membership membership;
  private final Barrier barrier;
  private final JobProgress progress = new JobProgress();
  private final long startedAtNanos = System.nanoTime();

  // Runtime bookkeeping, rebuilt after a restart: none of it needs to survive one (the pieces keep
  // their own; these are shared with them through the context).
  private final Map<String, Integer> consecutiveFailures;
  private final LeaseBatch leases;
  private final LeaseWatch watch;
  private boolean reconcileScheduled;

  private Coordinator(
      ActorContext<Command> context, TimerScheduler<Command> timers, CoordinatorSettings settings) {
    super(PersistenceId.ofUniqueId(NAME));
    this.context = context;
    this.settings = settings;
    this.ctx = new CoordinatorContext(context, settings, metrics, Effect(), new Host());
    this.leases = ctx.leases;
    this.consecutiveFailures = ctx.consecutiveFailures;
    this.watch = ctx.watch;
    this.checkpoints = new CheckpointScheduler(ctx);
    this.recovery = new Recovery(ctx);
    this.tasks = new WorkerTasks(ctx);
    this.membership = new Membership(ctx);
    this.barrier = new Barrier(ctx);
    ctx.checkpoints = checkpoints;
    ctx.recovery = recovery;
    ctx.tasks = tasks;
    ctx.membership = membership;
    ctx.barrier = barrier;
    ActorRef<Receptionist.Listing> listings =
        context.messageAdapter(
            Receptionist.Listing.class,
            listing -> new Membership.WorkersListed(listing.getServiceInstances(WorkerProtocol.SERVICE_KEY)));
    context
        .getSystem()
        .receptionist()
        .tell(Receptionist.subscribe(WorkerProtocol.SERVICE_KEY, listings));
    ActorRef<ClusterEvent.MemberRemoved> removals =
        context.messageAdapter(
            ClusterEvent.MemberRemoved.class, removed -> new Recovery.NodeRemoved(removed.member().hasRole("ps")));
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

  private enum Reconcile implements Local {
    INSTANCE
  }

  private enum Tick implements Local {
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
        .onCommand(Barrier.ServeParked.class, barrier::onServeParked)
        .onCommand(SubmitJob.class, this::onSubmitJob)
        .onCommand(AdminProtocol.SubmitPipeline.class, this::onSubmitPipeline)
        .onCommand(GetJobStatus.class, this::onGetJobStatus)
        .onCommand(ListJobs.class, this::onListJobs)
        .onCommand(GetAccumulationHistory.class, this::onGetAccumulationHistory)
        .onCommand(RequestLease.class, this::onRequestLease)
        .onCommand(CompleteSplit.class, this::onCompleteSplit)
        .onCommand(CoordinatorProtocol.LeaseProgress.class, this::onLeaseProgress)
        .onCommand(ReleaseLease.class, this::onReleaseLease)
        .onCommand(Membership.WorkersListed.class, membership::onWorkersListed)
        .onCommand(WorkerTasks.InitReplied.class, tasks::onInitReplied)
        .onCommand(WorkerTasks.EvaluationReplied.class, tasks::onEvaluationReplied)
        .onCommand(WorkerTasks.ValidationReplied.class, tasks::onValidationReplied)
        .onCommand(WorkerTasks.EnsembleReplied.class, tasks::onEnsembleReplied)
        .onCommand(ResolveShardRecovery.class, recovery::onResolveShardRecovery)
        .onCommand(ReportCorruptCheckpoint.class, recovery::onReportCorruptCheckpoint)
        .onCommand(RequestCheckpoint.class, checkpoints::onRequestCheckpoint)
        .onCommand(GetAuditLog.class, this::onGetAuditLog)
        .onCommand(DrainWorkers.class, membership::onDrainWorkers)
        .onCommand(DrainCompleted.class, membership::onDrainCompleted)
        .onCommand(SetGlobalBatch.class, membership::onSetGlobalBatch)
        .onCommand(AdminProtocol.CancelJob.class, this::onCancelJob)
        .onCommand(AdminProtocol.PauseJob.class, this::onPauseJob)
        .onCommand(AdminProtocol.ResumeJob.class, this::onResumeJob)
        .onCommand(AdminProtocol.RestoreCheckpoint.class, this::onRestoreCheckpoint)
        .onCommand(AdminProtocol.ListCheckpoints.class, this::onListCheckpoints)
        .onCommand(AdminProtocol.SetLearningRate.class, this::onSetLearningRate)
        .onCommand(ListWorkers.class, membership::onListWorkers)
        .onCommand(GetTrainingCurve.class, this::onGetTrainingCurve)
        .onCommand(AdminProtocol.GetShardStatuses.class, this::onGetShardStatuses)
        .onCommand(FleetReport.CheckpointSaved.class, checkpoints::onCheckpointSaved)
        .onCommand(FleetReport.CheckpointFailed.class, checkpoints::onCheckpointFailed)
        .onCommand(FleetReport.EpochReached.class, recovery::onEpochReached)
        .onCommand(Recovery.NodeRemoved.class, recovery::onNodeRemoved)
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
            || command instanceof Barrier.ServeParked);
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
    recovery.wakeShards(state);
    // A fence the coordinator before sent may not have reached every shard.
    sendLeaseFences(state);
    // A drain journaled by the coordinator before may not have reached its workers.
    membership.resumeDrains(state);
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
        ctx.forgetJob(job.jobId());
        state.workers().forEach(w -> w.ref().tell(new WorkerProtocol.AbandonJob(job.jobId())));
      }
      if (stopShards && job.wasStarted()) {
        recovery.stopShards(job);
      }
    }
    barrier.scheduleServeParked();
    scheduleReconcile();
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
    if (!newestAsk(state, workerId, command.askId())) {
      return Effect().noReply();
    }
    List<CoordinatorEvent> events = new ArrayList<>(takeBackUnknown(state, workerId, -1));
    boolean tookBack = !events.isEmpty();
    CoordinatorState after = state;
    for (CoordinatorEvent event : events) {
      after = after.apply(event);
    }
    Optional<CheckpointStarted> checkpoint = tookBack ? checkpoints.checkpointWhenQuiescent(after) : Optional.empty();
    if (checkpoint.isPresent()) {
      events.add(checkpoint.get());
      after = after.apply(checkpoint.get());
    }
    Object decision = decide(after, workerId, consecutiveFailures.getOrDefault(workerId, 0));
    LeaseReply grant = null;
    if (decision instanceof CoordinatorEvent.Leased leased) {
      events.add(leased);
      // The lease as of its own decision: later decisions of the batch may ack or re-plan.
      grant = LeaseDesk.grant(after.apply(leased), leased);
    }
    boolean waits = decision instanceof NoLease none && LeaseDesk.isAtBarrier(none);
    if (events.isEmpty()) {
      if (waits) {
        barrier.park(workerId, command.replyTo(), (NoLease) decision);
        return Effect().noReply();
      }
      return Effect().reply(command.replyTo(), (NoLease) decision);
    }
    LeaseReply granted = grant;
    return batch(journaled, events, s -> {
      if (tookBack) {
        sendLeaseFences(s);
        checkpoint.ifPresent(c -> checkpoints.sendCheckpoint(s, c));
      }
      if (granted != null) {
        metrics.leasesGranted.increment();
        command.replyTo().tell(granted);
      } else if (waits) {
        barrier.park(workerId, command.replyTo(), (NoLease) decision);
      } else {
        command.replyTo().tell((NoLease) decision);
      }
      if (tookBack) {
        barrier.scheduleServeParked();
        scheduleReconcile();
      }
    });
  }

  /**
   * Whether {@code askId} is the newest lease request or completion seen from {@code workerId}
   * (and, if so, notes it). A copy of an ask, or an ask overtaken by a newer one, is not: the
   * worker no longer waits for its answer (the first copy's serves), so it gets none.
   */
  private boolean newestAsk(CoordinatorState state, String workerId, long askId) {
    Long newest = ctx.newestAsks.get(workerId);
    if (newest != null && askId <= newest) {
      metrics.asksIgnored.increment();
      context.getLog().debug("Ask {} of {} is a copy or overtaken (newest {}): not answered", askId, workerId, newest);
      return false;
    }
    ctx.newestAsks.put(workerId, askId);
    if (ctx.newestAsks.size() > 2 * state.workers().size() + 64) {
      ctx.newestAsks.keySet().retainAll(state.workerIds()); // workers gone ask no more
    }
    return true;
  }

  /**
   * Takes back the leases {@code workerId} holds, but {@code keep}: it asks only when it holds no
   * lease, or has just finished {@code keep}, so any other was granted to an ask whose answer it
   * never got (lost, or it stopped waiting) and would otherwise hold its splits until it expired.
   */
  private List<CoordinatorEvent> takeBackUnknown(CoordinatorState state, String workerId, long keep) {
    List<CoordinatorEvent> events = new ArrayList<>();
    CoordinatorState after = state;
    for (long leaseId : LeaseDesk.leasesHeldBy(state, workerId)) {
      if (leaseId == keep) {
        continue;
      }
      context.getLog().info("Taking back lease {}: granted to {}, which asks again without knowing of it", leaseId, workerId);
      metrics.leasesUnknownToHolder.increment();
      for (CoordinatorEvent event :
          LeaseDesk.takeBack(after, leaseId, workerId, watch.reported(leaseId, workerId), "its worker never got the grant")) {
        events.add(event);
        after = after.apply(event);
      }
    }
    return events;
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
    if (!newestAsk(state, workerId, command.askId())) {
      return Effect().noReply();
    }
    consecutiveFailures.remove(workerId);
    List<CoordinatorEvent> events = new ArrayList<>(takeBackUnknown(state, workerId, command.leaseId()));
    CoordinatorState after = state;
    for (CoordinatorEvent event : events) {
      after = after.apply(event);
    }
    boolean tookBack = !events.isEmpty();
    Optional<SplitCompleted> completed = LeaseDesk.completion(after, command.leaseId(), workerId, command.report());
    if (completed.isPresent()) {
      events.add(completed.get());
      after = after.apply(completed.get());
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
        barrier.park(workerId, command.replyTo(), (NoLease) decision);
        return Effect().noReply();
      }
      return Effect().reply(command.replyTo(), (NoLease) decision);
    }
    return batch(journaled, events, s -> {
      if (completed.isPresent()) {
        metrics.splitsAcked.increment();
      }
      if (tookBack) {
        sendLeaseFences(s); // before a checkpoint, so the shards save with those leases fenced
      }
      checkpoint.ifPresent(c -> checkpoints.sendCheckpoint(s, c));
      if (granted != null) {
        metrics.leasesGranted.increment();
        command.replyTo().tell(granted);
      } else if (waits) {
        barrier.park(workerId, command.replyTo(), (NoLease) decision);
      } else {
        command.replyTo().tell((NoLease) decision);
      }
      barrier.scheduleServeParked();
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
              barrier.scheduleServeParked();
              scheduleReconcile();
            })
        .thenNoReply();
  }

  /** Tells the running job's shards which of its leases are still out (async and ssp mode). */
  private void sendLeaseFences(CoordinatorState state) {
    state.activeJob()
        .ifPresent(job -> LeaseDesk.fences(state).forEach(fence -> recovery.fleet(job).tell(fence)));
  }

  // ------------------------------------------------------------------ membership

  // ------------------------------------------------------------------ operators: workers and batch

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
    barrier.scheduleServeParked();
    List<JobRun> ended = state.jobs().stream().filter(j -> j.state().isFinished() && !j.isArchived()).toList();
    if (!ended.isEmpty()) {
      List<CoordinatorEvent> archived = new ArrayList<>();
      ended.forEach(
          job -> archived.add(
              new CoordinatorEvent.JobArchived(job.jobId(), settings.retention())));
      return Effect()
          .persist(archived)
          .thenRun(s -> {
            ended.stream().filter(JobRun::wasStarted).forEach(recovery::stopShards);
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
      case INITIALIZING -> tasks.startInitializations(state, job);
      case RUNNING -> {
        membership.updateWorkers(state, job);
        tasks.startValidations(state, job);
      }
      case RECOVERING -> recovery.startRewind(job);
      case EVALUATING -> {
        if (job.lastCheckpoint().map(CheckpointRecord::coversEverything).orElse(false)) {
          tasks.startEvaluations(state, job);
          if (job.needsEnsembleEvaluation()) {
            tasks.startEnsembleEvaluation(state, job);
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

  // ------------------------------------------------------------------ checkpoints and recovery

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
    public Object decide(CoordinatorState state, String workerId, int failures) {
      return Coordinator.this.decide(state, workerId, failures);
    }

    @Override
    public ReplyEffect<CoordinatorEvent, CoordinatorState> batch(
        CoordinatorState journaled, List<CoordinatorEvent> events, java.util.function.Consumer<CoordinatorState> then) {
      return Coordinator.this.batch(journaled, events, then);
    }

    @Override
    public void sendLeaseFences(CoordinatorState state) {
      Coordinator.this.sendLeaseFences(state);
    }
  }

  private String workerId(ActorRef<?> worker) {
    return ctx.workerId(worker);
  }
}
