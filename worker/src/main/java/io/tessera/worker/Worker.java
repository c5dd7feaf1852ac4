package io.tessera.worker;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.Behavior;
import akka.actor.typed.PostStop;
import akka.actor.typed.Scheduler;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.AskPattern;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.actor.typed.javadsl.ReceiveBuilder;
import akka.actor.typed.javadsl.TimerScheduler;
import akka.actor.typed.receptionist.Receptionist;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.japi.function.Function;
import akka.pattern.StatusReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseGranted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.Revoked;
import io.tessera.protocol.ps.ShardProtocol.Stale;
import io.tessera.protocol.spec.ComputePrecision;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.AbandonJob;
import io.tessera.protocol.worker.WorkerProtocol.Command;
import io.tessera.protocol.worker.WorkerProtocol.Drain;
import io.tessera.protocol.worker.WorkerProtocol.EnsembleReport;
import io.tessera.protocol.worker.WorkerProtocol.EvaluateEnsemble;
import io.tessera.protocol.worker.WorkerProtocol.Evaluate;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import io.tessera.protocol.worker.WorkerProtocol.InitializeModel;
import io.tessera.protocol.worker.WorkerProtocol.LeasesVoided;
import io.tessera.protocol.worker.WorkerProtocol.Local;
import io.tessera.protocol.worker.WorkerProtocol.ModelInitialized;
import io.tessera.protocol.worker.WorkerProtocol.SetAccumulation;
import io.tessera.protocol.worker.WorkerProtocol.SourceModel;
import io.tessera.protocol.worker.WorkerProtocol.StageInputs;
import io.tessera.protocol.worker.WorkerProtocol.WorkAvailable;
import io.tessera.worker.ShardClient.PulledParameters;
import io.tessera.worker.data.StageData;
import io.tessera.worker.eval.EnsembleVote;
import io.tessera.worker.train.Classifies;
import io.tessera.worker.train.MemberTrainer;
import io.tessera.worker.train.StageTrainers;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Trains on one device: registers with the Receptionist, asks the coordinator for leases, and
 * trains each leased run of splits in accumulation windows of {@code k} micro-batches: pull the
 * member's parameters from its shards, run the micro-batches forward and backward while gradients
 * add up, push the gradient sum once (naming the lease and the splits it covers), report each
 * window every shard took to the coordinator, and ack the lease when every push was accepted. A
 * shard that refuses a push because the lease is no longer current (the coordinator took it back)
 * ends the lease there: the worker drops it and asks for other work. It also sets
 * up a new member's shards, evaluates members (alone, or a stage's members together as an
 * ensemble) on request, and drains when asked: it finishes the window it is in, acks what it
 * trained, and leaves. A member of a later pipeline stage reads what it needs of earlier stages
 * (an encoder to start from, teachers) from their shards when its context is built.
 *
 * <p>Its states, each a behaviour of its own (set-up, evaluation, accumulation plans, a cancelled
 * job's contexts and a superseded ask's answer are handled alike in all of them):
 *
 * <ul>
 *   <li><b>asking</b>, the first: a lease request is out. Its answer moves on: a lease to
 *       <em>training</em> (or, if it cannot be trained here, given back, to <em>idle</em>); no
 *       lease, or no answer in time, to <em>idle</em>. A coordinator node leaving sends the
 *       request again at once (only the newest ask's answer counts; a lease granted to an older
 *       one is given back). Drain: to <em>draining</em>.
 *   <li><b>idle</b>: nothing held or asked, until the ask-again timer fires, the coordinator says
 *       work is available, or a job is abandoned: to <em>asking</em>. Drain: the worker leaves.
 *   <li><b>training</b> a lease, window by window (pull, compute, push; a failed pull or push is
 *       retried after a backoff). Every window pushed: to <em>completing</em>. The lease revoked
 *       at a shard, a sync contribution stale, its job abandoned or the lease voided by a rewind:
 *       to <em>asking</em>. Too many failures: the lease is given back, to <em>idle</em>. Drain:
 *       still <em>training</em>, but the window in flight is the last; then to <em>draining</em>
 *       with the completion of what was pushed, or, if the lease is lost, the worker leaves.
 *   <li><b>completing</b>: a finished lease's completion is out. Its answer, which is also the
 *       answer to a lease request, moves on as in <em>asking</em>; no answer: it is sent again
 *       (up to the retry limit), at once if a coordinator node leaves. Drain: to <em>draining</em>.
 *   <li><b>draining</b>: a lease request or a completion is out and the worker was told to drain.
 *       It waits for the answer (sending a completion again as <em>completing</em> does), gives
 *       back a lease the answer grants, and leaves.
 * </ul>
 *
 * <p>Leaving tells the coordinator the drain is complete, leaves the Receptionist and stops.
 * Answers about a lease the worker no longer trains (its pull or push answered late) are dropped.
 *
 * <p>The actor runs on a dispatcher of its own ({@link WorkerSettings#DISPATCHER}), so the DJL
 * work in its handlers blocks only this worker. Its DJL arrays are closed when it stops.
 */
public final class Worker extends AbstractBehavior<Command> {

  public static Behavior<Command> create(
      ActorRef<CoordinatorProtocol.Command> coordinator,
      DataCatalog data,
      WorkerSettings settings,
      Device device) {
    return Behaviors.setup(
        context ->
            Behaviors.withTimers(
                timers -> new Worker(context, timers, coordinator, data, settings, device)));
  }

  private final TimerScheduler<Command> timers;
  private final ActorRef<CoordinatorProtocol.Command> coordinator;
  private final DataCatalog data;
  private final WorkerSettings settings;
  private final ClusterSharding sharding;
  /** Chaos tests' fault injection for shard messages and the coordinator's lease traffic; off otherwise. */
  private final MessageFaults faults;
  private final Device device;
  private final String workerId;
  private final WorkerMetrics metrics = new WorkerMetrics();
  private final Map<String, MemberContext> members = new HashMap<>();
  private final Map<String, SetAccumulation> accumulation = new HashMap<>();
  private final long registeredAtNanos = System.nanoTime();

  private NDManager manager;
  /** Numbers the asks to the coordinator: only the answer to the newest one counts. */
  private long askGeneration;
  private long nextSeq = 1;
  private boolean firstPushAccepted;

  private Worker(
      ActorContext<Command> context,
      TimerScheduler<Command> timers,
      ActorRef<CoordinatorProtocol.Command> coordinator,
      DataCatalog data,
      WorkerSettings settings,
      Device device) {
    super(context);
    this.timers = timers;
    this.coordinator = coordinator;
    this.data = data;
    this.settings = settings;
    this.sharding = ClusterSharding.get(context.getSystem());
    this.faults = MessageFaults.get(context.getSystem());
    this.device = device;
    this.workerId = ActorRefResolver.get(context.getSystem()).toSerializationFormat(context.getSelf());
    context.getSystem().receptionist().tell(Receptionist.register(WorkerProtocol.SERVICE_KEY, context.getSelf()));
    akka.cluster.typed.Cluster.get(context.getSystem())
        .subscriptions()
        .tell(
            akka.cluster.typed.Subscribe.create(
                context.messageAdapter(
                    akka.cluster.ClusterEvent.MemberRemoved.class,
                    removed -> new NodeRemoved(removed.member().address().toString(), removed.member().hasRole("coordinator"))),
                akka.cluster.ClusterEvent.MemberRemoved.class));
    context.getLog().info("Worker {} on {} ready", workerId, device);
    sendRequestLease();
  }

  // ------------------------------------------------------------------ local messages

  private record LeaseAnswered(LeaseReply reply, Throwable failure, long askedAtNanos, long generation)
      implements Local {}

  /**
   * A node left the cluster. If it could host the coordinator, an ask in flight may have gone to
   * the coordinator that died with it, and no answer will come before the ask times out (10 s):
   * the worker asks again at once, and the new coordinator answers when it is up.
   */
  record NodeRemoved(String address, boolean coordinatorRole) implements Local {}

  private record ParametersPulled(long leaseId, PulledParameters parameters, Throwable failure, long startNanos)
      implements Local {}

  /** A simulated device has had the time its window would take; the push may go. */
  private record WindowReady(long leaseId) implements Local {}

  private record GradientsPushed(long leaseId, List<PushOutcome> outcomes, Throwable failure, long startNanos)
      implements Local {}

  private record EvaluationPulled(Evaluate request, PulledParameters parameters, Throwable failure)
      implements Local {}

  /** A lease whose pushes were all accepted, until the coordinator answers its completion. */
  private record PendingCompletion(long leaseId, CoordinatorProtocol.SplitReport report, int attempts) {
    PendingCompletion again() {
      return new PendingCompletion(leaseId, report, attempts + 1);
    }
  }

  private enum AskForWork implements Local {
    INSTANCE
  }

  private enum RetryWindow implements Local {
    INSTANCE
  }

  // ------------------------------------------------------------------ states

  /** The first state: the constructor has sent the first lease request. */
  @Override
  public Receive<Command> createReceive() {
    return asking();
  }

  /** Nothing held or asked; the {@link AskForWork} timer is set. */
  private Receive<Command> idle() {
    return withCommonHandlers(
        newReceiveBuilder()
            .onMessage(AskForWork.class, tick -> askForLease())
            .onMessage(WorkAvailable.class, nudge -> askForLease())
            .onMessage(
                AbandonJob.class,
                abandon -> {
                  forgetJob(abandon.jobId());
                  return askForLease();
                })
            .onMessage(
                Drain.class,
                drain -> {
                  startDrain("idle");
                  return leave();
                }),
        null);
  }

  /** A lease request is out; its answer is the one of generation {@link #askGeneration}. */
  private Receive<Command> asking() {
    return withCommonHandlers(
        newReceiveBuilder()
            .onMessage(LeaseAnswered.class, this::newest, answer -> onAnswer(answer, null, false))
            .onMessage(
                NodeRemoved.class,
                NodeRemoved::coordinatorRole,
                removed -> {
                  logAskAgain(removed);
                  sendRequestLease();
                  return Behaviors.same();
                })
            .onMessage(
                Drain.class,
                drain -> {
                  startDrain("idle");
                  return draining(null);
                }),
        null);
  }

  /** Training {@code run}; when {@code draining}, the window in flight is its last. */
  private Receive<Command> training(LeaseRun run, boolean draining) {
    return withCommonHandlers(
        newReceiveBuilder()
            // Answers about an earlier lease (dropped while its pull or push was out) fall through.
            .onMessage(
                ParametersPulled.class,
                pulled -> pulled.leaseId() == run.leaseId(),
                pulled -> onParametersPulled(run, draining, pulled))
            .onMessage(
                WindowReady.class, ready -> ready.leaseId() == run.leaseId() && run.push != null, ready -> pushWindow(run))
            .onMessage(
                GradientsPushed.class,
                pushed -> pushed.leaseId() == run.leaseId(),
                pushed -> onGradientsPushed(run, draining, pushed))
            .onMessage(RetryWindow.class, retry -> onRetryWindow(run))
            .onMessage(AbandonJob.class, abandon -> onAbandonJob(run, draining, abandon))
            .onMessage(
                LeasesVoided.class,
                voided -> run.lease.jobId().equals(voided.jobId()) && run.leaseId() < voided.beforeLeaseId(),
                voided -> onLeaseVoided(run, draining, voided))
            .onMessage(
                Drain.class,
                drain -> !draining,
                drain -> {
                  startDrain("finishing the window of lease " + run.leaseId());
                  return training(run, true);
                }),
        run.member);
  }

  /** The completion of a finished lease is out; its answer is the one of {@link #askGeneration}. */
  private Receive<Command> completing(PendingCompletion pending) {
    return withCommonHandlers(
        newReceiveBuilder()
            .onMessage(LeaseAnswered.class, this::newest, answer -> onAnswer(answer, pending, false))
            .onMessage(
                NodeRemoved.class,
                NodeRemoved::coordinatorRole,
                removed -> {
                  logAskAgain(removed);
                  sendCompletion(pending); // idempotent: a coordinator that has it answers as before
                  return Behaviors.same();
                })
            .onMessage(
                Drain.class,
                drain -> {
                  startDrain("idle");
                  return draining(pending);
                }),
        null);
  }

  /**
   * Told to drain while a lease request ({@code pending} is {@code null}) or a completion is out:
   * its answer is awaited, then the worker leaves.
   */
  private Receive<Command> draining(PendingCompletion pending) {
    return withCommonHandlers(
        newReceiveBuilder()
            .onMessage(LeaseAnswered.class, this::newest, answer -> onAnswer(answer, pending, true)),
        null);
  }

  /**
   * Adds what every state handles alike to {@code builder}, after the state's own handlers (the
   * first that matches a message handles it), and builds the state. {@code inUse} is the context
   * of the member being trained, if any: it is not closed when another job's member is set up.
   * Messages the state has no use for (a pull or push answered for a lease no longer held, a
   * timer or a nudge that no longer applies) are dropped.
   */
  private Receive<Command> withCommonHandlers(ReceiveBuilder<Command> builder, MemberContext inUse) {
    builder
        .onMessage(SetAccumulation.class, this::onSetAccumulation)
        .onMessage(InitializeModel.class, request -> onInitializeModel(request, inUse))
        .onMessage(Evaluate.class, request -> onEvaluate(request, inUse))
        .onMessage(EvaluationPulled.class, pulled -> onEvaluationPulled(pulled, inUse))
        .onMessage(EvaluateEnsemble.class, request -> onEvaluateEnsemble(request, inUse))
        .onMessage(
            AbandonJob.class,
            abandon -> {
              forgetJob(abandon.jobId());
              return Behaviors.same();
            })
        .onMessage(LeaseAnswered.class, this::onSupersededAnswer);
    for (Class<? extends Command> late :
        List.of(
            ParametersPulled.class, WindowReady.class, GradientsPushed.class, RetryWindow.class, AskForWork.class,
            WorkAvailable.class, NodeRemoved.class, LeasesVoided.class, Drain.class)) {
      builder.onMessage(late, ignored -> Behaviors.same());
    }
    return builder.onSignal(PostStop.class, this::onPostStop).build();
  }

  // ------------------------------------------------------------------ leases

  /** Sends a lease request and waits for its answer. */
  private Behavior<Command> askForLease() {
    sendRequestLease();
    return asking();
  }

  private void sendRequestLease() {
    ActorRef<Command> self = getContext().getSelf();
    long askId = ++askGeneration;
    askCoordinator(askId, replyTo -> new CoordinatorProtocol.RequestLease(self, askId, replyTo));
  }

  private void sendCompletion(PendingCompletion pending) {
    ActorRef<Command> self = getContext().getSelf();
    long askId = ++askGeneration;
    askCoordinator(
        askId, replyTo -> new CoordinatorProtocol.CompleteSplit(self, pending.leaseId(), pending.report(), askId, replyTo));
  }

  /**
   * Sends ask {@code askId} (the newest, {@link #askGeneration}) to the coordinator through the
   * node's {@link MessageFaults}; its answer, or its failure, arrives as a {@link LeaseAnswered}.
   * {@code message} may be built on another thread, so it must not touch the actor's state.
   */
  private void askCoordinator(long askId, Function<ActorRef<LeaseReply>, CoordinatorProtocol.Command> message) {
    long asked = System.nanoTime();
    Duration timeout = settings.coordinatorTimeout();
    Scheduler scheduler = getContext().getSystem().scheduler();
    getContext().pipeToSelf(
        faults.ask(() -> AskPattern.ask(coordinator, message, timeout, scheduler), timeout),
        (reply, failure) -> new LeaseAnswered(reply, failure, asked, askId));
  }

  /** Whether {@code answer} answers the newest ask, the one a state waits for. */
  private boolean newest(LeaseAnswered answer) {
    return answer.generation() == askGeneration;
  }

  private void logAskAgain(NodeRemoved removed) {
    getContext().getLog().info(
        "Coordinator node {} left while an ask was out: asking the coordinator again", removed.address());
  }

  /**
   * The answer to an ask that was sent again: the newer ask's answer decides. A lease granted to
   * the older one would be held by nobody: give it back at once.
   */
  private Behavior<Command> onSupersededAnswer(LeaseAnswered answer) {
    if (answer.reply() instanceof LeaseGranted granted) {
      release(granted.lease(), "granted to an ask the worker had sent again", false);
    }
    return Behaviors.same();
  }

  /**
   * The answer to the newest ask: a lease request, or the completion {@code pending} when that
   * is not {@code null}.
   */
  private Behavior<Command> onAnswer(LeaseAnswered answer, PendingCompletion pending, boolean draining) {
    if (answer.failure() == null) {
      metrics.leaseRoundTrip.record(System.nanoTime() - answer.askedAtNanos());
    }
    if (pending != null && answer.failure() != null && pending.attempts() < settings.maxWindowRetries()) {
      // The ack may be lost (say, the coordinator is moving); the work is done, so say it again
      // rather than have the split trained twice.
      getContext().getLog().warn(
          "Coordinator did not answer the completion of lease {}: {}", pending.leaseId(), answer.failure().getMessage());
      PendingCompletion again = pending.again();
      sendCompletion(again);
      return draining ? draining(again) : completing(again);
    }
    if (draining) {
      if (answer.reply() instanceof LeaseGranted granted) {
        // Granted before the coordinator knew of the drain: hand it straight back.
        release(granted.lease(), "worker is draining", false);
      }
      return leave();
    }
    if (answer.failure() != null) {
      getContext().getLog().debug("No answer from the coordinator: {}", answer.failure().getMessage());
      return askLater(settings.retryBackoff());
    } else if (answer.reply() instanceof NoLease none) {
      getContext().getLog().debug("No lease: {}", none.describe());
      return askLater(Duration.ofMillis(none.retryAfterMillis()));
    } else if (answer.reply() instanceof LeaseGranted granted) {
      return startLease(granted.lease());
    }
    return idle(); // no other answers exist; with no timer set, a WorkAvailable nudge moves on
  }

  /** Waits {@code delay}, idle, before asking again. */
  private Behavior<Command> askLater(Duration delay) {
    timers.startSingleTimer(AskForWork.INSTANCE, delay);
    return idle();
  }

  private Behavior<Command> startLease(Lease lease) {
    timers.cancel(AskForWork.INSTANCE);
    MemberContext member;
    try {
      member = member(lease.jobId(), lease.member(), lease.spec(), lease.inputs(), null);
      int trainSize = member.trainer.dataset().trainSize();
      if (trainSize != lease.trainSize()) {
        throw new IllegalStateException(
            "this node has " + trainSize + " training samples, the job expects " + lease.trainSize()
                + " (data directory " + data.directory() + ")");
      }
      String fingerprint = member.trainer.dataset().fingerprint();
      if (!lease.datasetFingerprint().isEmpty() && !lease.datasetFingerprint().equals(fingerprint)) {
        // Same size, other images (a node that joined with other files): training here would mix
        // data the job was not set up on into its parameters.
        throw new IllegalStateException(
            "this node's data (fingerprint " + fingerprint + " in " + data.directory() + ") is not the data the job"
                + " was set up on (fingerprint " + lease.datasetFingerprint() + "); give every worker node the same files");
      }
    } catch (RuntimeException e) {
      return giveBack(lease, "cannot train here: " + e.getMessage());
    }
    noteAccumulation(
        new SetAccumulation(lease.jobId(), lease.member(), lease.membershipEpoch(), lease.accumulationSteps()));
    LeaseRun run = new LeaseRun(lease, member);
    pullWindow(run);
    return training(run, false);
  }

  /** Gives {@code lease} back as failed here, and asks for other work after the backoff. */
  private Behavior<Command> giveBack(Lease lease, String reason) {
    getContext().getLog().warn("Giving back lease {}: {}", lease.leaseId(), reason);
    release(lease, reason, true);
    return askLater(settings.retryBackoff());
  }

  private void release(Lease lease, String reason, boolean failed) {
    CoordinatorProtocol.ReleaseLease release =
        new CoordinatorProtocol.ReleaseLease(getContext().getSelf(), lease.leaseId(), reason, failed);
    faults.tell(() -> coordinator.tell(release)); // if lost, the worker's next ask takes the lease back
  }

  /** A lease ended without a completion: leave if draining, otherwise ask for other work. */
  private Behavior<Command> leaseEnded(boolean draining) {
    return draining ? leave() : askForLease();
  }

  private Behavior<Command> onSetAccumulation(SetAccumulation update) {
    noteAccumulation(update);
    return Behaviors.same();
  }

  private void noteAccumulation(SetAccumulation update) {
    String key = update.jobId() + ":" + update.member();
    SetAccumulation known = accumulation.get(key);
    if (known == null || update.membershipEpoch() >= known.membershipEpoch()) {
      accumulation.put(key, update);
    } else {
      metrics.fencedMessages.increment(); // planned for an older membership: overtaken
    }
  }

  /** Micro-batches in the next window: a sync lease is one contribution, pushed at once. */
  private int accumulationSteps(Lease lease) {
    if (lease.spec().mode() == TrainingMode.SYNC) {
      return lease.accumulationSteps();
    }
    SetAccumulation known = accumulation.get(lease.jobId() + ":" + lease.member());
    int k = known == null ? lease.accumulationSteps() : known.accumulationSteps();
    return Math.max(1, k);
  }

  // ------------------------------------------------------------------ one accumulation window

  private void pullWindow(LeaseRun run) {
    long start = System.nanoTime();
    long leaseId = run.leaseId();
    getContext().pipeToSelf(
        run.member.shards.pull(run.lease.spec().wirePrecision(), workerId),
        (pulled, failure) -> new ParametersPulled(leaseId, pulled, failure, start));
  }

  private Behavior<Command> onParametersPulled(LeaseRun run, boolean draining, ParametersPulled message) {
    if (message.failure() != null) {
      return windowFailed(run, draining, "pull", message.failure());
    }
    metrics.pullLatency.record(System.nanoTime() - message.startNanos());
    metrics.pullBytes.increment(message.parameters().bytes());
    LeaseRun.Computed computed = run.train(message.parameters(), accumulationSteps(run.lease), nextSeq++, workerId);
    metrics.windowCompute.record(computed.nanos());
    if (computed.waitNanos() > 0) {
      timers.startSingleTimer(new WindowReady(run.leaseId()), Duration.ofNanos(computed.waitNanos()));
      return Behaviors.same();
    }
    return pushWindow(run);
  }

  private Behavior<Command> pushWindow(LeaseRun run) {
    long start = System.nanoTime();
    long leaseId = run.leaseId();
    getContext().pipeToSelf(
        run.member.shards.push(run.push),
        (outcomes, failure) -> new GradientsPushed(leaseId, outcomes, failure, start));
    return Behaviors.same();
  }

  private Behavior<Command> onGradientsPushed(LeaseRun run, boolean draining, GradientsPushed message) {
    if (message.failure() != null) {
      return windowFailed(run, draining, "push", message.failure());
    }
    metrics.pushLatency.record(System.nanoTime() - message.startNanos());
    metrics.pushBytes.increment(run.push.bytes());
    run.failures = 0;
    Optional<Revoked> revoked =
        message.outcomes().stream().filter(Revoked.class::isInstance).map(Revoked.class::cast).findFirst();
    if (revoked.isPresent()) {
      return dropRevoked(run, draining, revoked.get());
    }
    boolean stale = message.outcomes().stream().anyMatch(o -> o instanceof Stale);
    if (stale) {
      run.stalePushes++;
      metrics.stalePushes.increment();
      if (run.sync()) {
        run.push = null;
        // The job was rewound (another recovery epoch) or the shards collect another step: the
        // contribution cannot be applied to another step, so the lease is over. (A part that a
        // backup's copy already counted is answered Duplicate, and acked as done.)
        release(run.lease, "the step moved on without this contribution", false);
        return leaseEnded(draining);
      }
    }
    // Shards that took the window (or had it) move on. Too far behind at some shards: fetch fresh
    // parameters and compute this window again, for those shards only; a shard that had part of
    // it gets its parts one by one. So every shard applies each split once (its slices may come
    // from different pulls).
    if (run.pushed(message.outcomes()) == LeaseWindows.Result.AGAIN) {
      pullWindow(run);
      return Behaviors.same();
    }
    if (!firstPushAccepted) {
      firstPushAccepted = true;
      long millis = (System.nanoTime() - registeredAtNanos) / 1_000_000;
      metrics.firstPushMillis.update(millis);
      getContext().getLog().info("Worker {}: first push accepted {} ms after registering", workerId, millis);
    }
    metrics.samples.increment(run.counted());
    if (draining || run.windows.finished()) {
      // Done, or draining: ack what was trained, the rest goes back.
      PendingCompletion pending = new PendingCompletion(run.leaseId(), run.report(), 0);
      sendCompletion(pending);
      return draining ? draining(pending) : completing(pending);
    }
    // A sign of life, and what the coordinator acks should the lease end before its completion.
    CoordinatorProtocol.LeaseProgress progress =
        new CoordinatorProtocol.LeaseProgress(getContext().getSelf(), run.leaseId(), run.report());
    faults.tell(() -> coordinator.tell(progress)); // built here: a delayed send runs on another thread
    pullWindow(run);
    return Behaviors.same();
  }

  /**
   * A shard refused the lease's push: the coordinator took the lease back (given back, expired,
   * its worker thought gone, or voided by a rewind) and its splits were or will be trained under
   * another lease. The lease is dropped, without pushing again or giving it back, and the worker
   * asks for other work.
   */
  private Behavior<Command> dropRevoked(LeaseRun run, boolean draining, Revoked revoked) {
    getContext().getLog().info("Dropping lease {}: {}", run.leaseId(), revoked.reason());
    metrics.revokedLeases.increment();
    timers.cancel(RetryWindow.INSTANCE);
    return leaseEnded(draining);
  }

  private Behavior<Command> windowFailed(LeaseRun run, boolean draining, String what, Throwable failure) {
    run.failures++;
    if (refused(failure)) {
      // A shard refused the gradient itself (say, non-finite values): sending it again cannot
      // help, so the retry computes the window afresh.
      run.push = null;
    }
    getContext().getLog().warn(
        "Lease {}: {} failed ({} of {}): {}",
        run.leaseId(), what, run.failures, settings.maxWindowRetries(), failure.getMessage());
    if (run.failures > settings.maxWindowRetries()) {
      Behavior<Command> next = giveBack(run.lease, what + " failed " + run.failures + " times: " + failure.getMessage());
      return draining ? leave() : next;
    }
    timers.startSingleTimer(RetryWindow.INSTANCE, settings.retryBackoff().multipliedBy(run.failures));
    return Behaviors.same();
  }

  private static boolean refused(Throwable failure) {
    for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
      if (cause instanceof StatusReply.ErrorMessage) {
        return true;
      }
    }
    return false;
  }

  private Behavior<Command> onRetryWindow(LeaseRun run) {
    if (run.push != null) {
      return pushWindow(run); // same sequence number: shards that already applied it answer Duplicate
    }
    pullWindow(run);
    return Behaviors.same();
  }

  // ------------------------------------------------------------------ cancelled jobs

  /**
   * The job was cancelled: its lease is dropped without a push or an ack (a push in flight reaches
   * shards that refuse it), its members' contexts are closed, and the worker asks for other work.
   */
  private Behavior<Command> onAbandonJob(LeaseRun run, boolean draining, AbandonJob abandon) {
    boolean held = run.lease.jobId().equals(abandon.jobId());
    if (held) {
      getContext().getLog().info("Dropping lease {}: job {} was cancelled or paused", run.leaseId(), abandon.jobId());
      timers.cancel(RetryWindow.INSTANCE);
    }
    forgetJob(abandon.jobId());
    return held ? leaseEnded(draining) : Behaviors.same();
  }

  /** Forgets a cancelled job's accumulation plans and closes its members' contexts. */
  private void forgetJob(String jobId) {
    accumulation.keySet().removeIf(key -> key.startsWith(jobId + ":"));
    members.entrySet().removeIf(
        entry -> {
          if (entry.getValue().jobId.equals(jobId)) {
            entry.getValue().close();
            return true;
          }
          return false;
        });
  }

  /**
   * The job was rewound: a lease of it granted before is void. It is dropped at once (answers
   * still on their way are ignored, as for any lease no longer held) and a new one asked for.
   */
  private Behavior<Command> onLeaseVoided(LeaseRun run, boolean draining, LeasesVoided voided) {
    getContext().getLog().info("Dropping lease {}: job {} was rewound to a checkpoint", run.leaseId(), voided.jobId());
    timers.cancel(RetryWindow.INSTANCE);
    return leaseEnded(draining);
  }

  // ------------------------------------------------------------------ draining

  /**
   * Told to drain. With a window in flight the push's answer completes the lease; with a
   * completion or a lease request in flight its answer does. Otherwise there is nothing to finish.
   */
  private void startDrain(String doing) {
    timers.cancel(AskForWork.INSTANCE);
    getContext().getLog().info("Worker {} draining: {}", workerId, doing);
  }

  /** Tells the coordinator this worker is gone, leaves the Receptionist listing and stops. */
  private Behavior<Command> leave() {
    coordinator.tell(new CoordinatorProtocol.DrainCompleted(getContext().getSelf()));
    getContext().getSystem().receptionist().tell(Receptionist.deregister(WorkerProtocol.SERVICE_KEY, getContext().getSelf()));
    getContext().getLog().info("Worker {} drained", workerId);
    return Behaviors.stopped();
  }

  // ------------------------------------------------------------------ set-up and evaluation

  private Behavior<Command> onInitializeModel(InitializeModel request, MemberContext inUse) {
    try {
      MemberContext member = member(request.jobId(), request.member(), request.spec(), request.inputs(), inUse);
      JobSpec spec = request.spec();
      float[] values = member.initialValues();
      long totalSteps = spec.optimizerSteps(member.trainer.dataset().trainSize());
      ModelInitialized initialized =
          new ModelInitialized(
              request.jobId(),
              request.member(),
              values.length,
              member.trainer.layout().tensors().size(),
              member.trainer.dataset());
      getContext().getLog().info(
          "Setting up {} member {}: {} parameters in {} shards", request.jobId(), request.member(), values.length, spec.shards());
      member.shards
          .initialize(spec, member.trainer.layout(), totalSteps, values)
          .whenComplete(
              (done, failure) ->
                  request.replyTo().tell(
                      failure == null
                          ? StatusReply.success(initialized)
                          : StatusReply.error("shards did not take their initial values: " + failure.getMessage())));
    } catch (RuntimeException e) {
      getContext().getLog().warn("Cannot set up {} member {}: {}", request.jobId(), request.member(), e.getMessage());
      request.replyTo().tell(StatusReply.error(e.getMessage()));
    }
    return Behaviors.same();
  }

  private Behavior<Command> onEvaluate(Evaluate request, MemberContext inUse) {
    try {
      MemberContext member = member(request.jobId(), request.member(), request.spec(), request.inputs(), inUse);
      getContext().pipeToSelf(
          member.shards.pull(WirePrecision.FP32, ""),
          (pulled, failure) -> new EvaluationPulled(request, pulled, failure));
    } catch (RuntimeException e) {
      request.replyTo().tell(StatusReply.error(e.getMessage()));
    }
    return Behaviors.same();
  }

  private Behavior<Command> onEvaluationPulled(EvaluationPulled message, MemberContext inUse) {
    Evaluate request = message.request();
    if (message.failure() != null) {
      request.replyTo().tell(StatusReply.error("could not pull parameters: " + message.failure().getMessage()));
      return Behaviors.same();
    }
    MemberTrainer.Score score;
    try {
      MemberContext member = member(request.jobId(), request.member(), request.spec(), request.inputs(), inUse);
      float[] values = message.parameters().values();
      score = request.validationOnly() ? member.trainer.validate(values) : member.trainer.evaluate(values);
    } catch (RuntimeException e) {
      getContext().getLog().warn("Cannot evaluate {} member {}: {}", request.jobId(), request.member(), e.getMessage());
      request.replyTo().tell(StatusReply.error(e.getMessage()));
      return Behaviors.same();
    }
    long version = Arrays.stream(message.parameters().versions()).min().orElse(0);
    request.replyTo().tell(
        StatusReply.success(
            new EvaluationReport(
                request.jobId(), request.member(), score.samples(), score.correct(),
                score.samples() == 0 ? score.summedLoss() : score.summedLoss() / score.samples(), version,
                score.validationSamples(), score.validationCorrect())));
    return Behaviors.same();
  }

  /**
   * Measures a finished stage's members together: each member's class probabilities on the
   * validation split and the test set, then the ensemble by averaging, majority vote and per-class
   * re-vote. The members' parameters are read from their shards, which hold the final values.
   */
  private Behavior<Command> onEvaluateEnsemble(EvaluateEnsemble request, MemberContext inUse) {
    try {
      int count = request.members().size();
      float[][] test = new float[count][];
      float[][] validation = new float[count][];
      StageData images = null;
      for (int i = 0; i < count; i++) {
        SourceModel source = request.members().get(i);
        MemberContext member = member(source.jobId(), source.member(), source.spec(), inputsOf(request.inputs(), source.member()), inUse);
        if (!(member.trainer instanceof Classifies classifier)) {
          throw new IllegalArgumentException(
              "stage '" + source.spec().stage().name() + "' does not train classifiers; it has no ensemble to measure");
        }
        float[] values = readSource(source);
        images = classifier.data();
        test[i] = classifier.probabilities(values, images.test());
        validation[i] = classifier.probabilities(values, images.validation());
      }
      EnsembleVote.Scores scores =
          EnsembleVote.score(
              test, images.test().labels(), images.validation().size() == 0 ? new float[0][] : validation,
              images.validation().labels(), request.spec().model().classes());
      EnsembleReport report =
          new EnsembleReport(
              request.jobId(), images.test().size(), boxed(scores.memberAccuracy()),
              boxed(scores.memberValidationAccuracy()), scores.averaged(), scores.majority(), scores.revoted());
      getContext().getLog().info(
          "{}: ensemble of {} on {} test images: averaged {}, majority {}, re-voted {}",
          request.jobId(), count, report.testSamples(), report.averaged(), report.majority(), report.revoted());
      request.replyTo().tell(StatusReply.success(report));
    } catch (RuntimeException e) {
      getContext().getLog().warn("Cannot evaluate the ensemble of {}: {}", request.jobId(), e.getMessage());
      request.replyTo().tell(StatusReply.error(e.getMessage()));
    }
    return Behaviors.same();
  }

  /**
   * Member {@code member}'s inputs, given member 0's: the same teachers, and the member of the
   * source stage that member {@code member} starts from (they pair up modulo the source's size).
   */
  private static StageInputs inputsOf(StageInputs first, int member) {
    if (first.from().isEmpty()) {
      return first;
    }
    SourceModel source = first.from().get(0);
    SourceModel paired = new SourceModel(source.jobId(), member % source.spec().members().size(), source.spec());
    return new StageInputs(List.of(paired), first.teachers());
  }

  private static List<Double> boxed(double[] values) {
    List<Double> boxed = new ArrayList<>(values.length);
    for (double value : values) {
      boxed.add(value);
    }
    return boxed;
  }

  /**
   * The final parameters of an earlier stage's member, read from its shards. This blocks the
   * worker while the pull is answered (the shards run on other dispatchers), which happens only
   * when a member's context is built or an ensemble measured.
   */
  private float[] readSource(SourceModel source) {
    ShardClient client =
        new ShardClient(
            sharding, source.jobId(), source.member(), StageTrainers.layoutOf(source.spec()), source.spec().shards(),
            settings.shardTimeout(), faults);
    String what = "the final parameters of " + source.jobId() + " member " + source.member();
    try {
      return client.pull(WirePrecision.FP32, "").toCompletableFuture()
          .get(settings.shardTimeout().toMillis() * 2, TimeUnit.MILLISECONDS)
          .values();
    } catch (ExecutionException e) {
      throw new IllegalStateException("could not read " + what + ": " + e.getCause().getMessage(), e);
    } catch (TimeoutException e) {
      throw new IllegalStateException("could not read " + what + ": no answer from its shards", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading " + what, e);
    }
  }

  // ------------------------------------------------------------------ members

  /**
   * The context of a member, built on first use; contexts of other jobs are closed then, but for
   * {@code inUse} (the member being trained, or {@code null}).
   */
  private MemberContext member(String jobId, int member, JobSpec spec, StageInputs inputs, MemberContext inUse) {
    String key = jobId + ":" + member;
    MemberContext existing = members.get(key);
    if (existing != null) {
      return existing;
    }
    members.entrySet().removeIf(
        entry -> {
          if (!entry.getValue().jobId.equals(jobId) && entry.getValue() != inUse) {
            entry.getValue().close();
            return true;
          }
          return false;
        });
    if (spec.stage().compute() == ComputePrecision.FP16 && !device.isGpu()) {
      getContext().getLog().warn(
          "{} computes in fp16 on {}: it works, but CPUs run fp16 slower than fp32", jobId, device);
    }
    MemberContext created =
        new MemberContext(
            jobId, member, spec, inputs, data, this::manager, sharding, settings.shardTimeout(), faults,
            this::readSource);
    members.put(key, created);
    return created;
  }

  /** The worker's DJL manager on its device, created when the first real model needs it. */
  private NDManager manager() {
    if (manager == null) {
      manager = NDManager.newBaseManager(device);
    }
    return manager;
  }

  private Behavior<Command> onPostStop(PostStop signal) {
    members.values().forEach(MemberContext::close);
    members.clear();
    if (manager != null) {
      manager.close();
    }
    return Behaviors.same();
  }
}
