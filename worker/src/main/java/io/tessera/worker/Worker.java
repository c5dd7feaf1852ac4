package io.tessera.worker;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.Behavior;
import akka.actor.typed.PostStop;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.actor.typed.javadsl.TimerScheduler;
import akka.actor.typed.receptionist.Receptionist;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
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
import io.tessera.protocol.worker.WorkerProtocol.Command;
import io.tessera.protocol.worker.WorkerProtocol.Drain;
import io.tessera.protocol.worker.WorkerProtocol.EnsembleReport;
import io.tessera.protocol.worker.WorkerProtocol.EvaluateEnsemble;
import io.tessera.protocol.worker.WorkerProtocol.Evaluate;
import io.tessera.protocol.worker.WorkerProtocol.EvaluationReport;
import io.tessera.protocol.worker.WorkerProtocol.InitializeModel;
import io.tessera.protocol.worker.WorkerProtocol.Local;
import io.tessera.protocol.worker.WorkerProtocol.ModelInitialized;
import io.tessera.protocol.worker.WorkerProtocol.SetAccumulation;
import io.tessera.protocol.worker.WorkerProtocol.SourceModel;
import io.tessera.protocol.worker.WorkerProtocol.StageInputs;
import io.tessera.protocol.worker.WorkerProtocol.WorkAvailable;
import io.tessera.worker.ShardClient.PulledParameters;
import io.tessera.worker.ShardClient.PushRequest;
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
  /** Chaos tests' fault injection for shard messages and progress reports; off otherwise. */
  private final MessageFaults faults;
  private final Device device;
  private final String workerId;
  private final WorkerMetrics metrics = new WorkerMetrics();
  private final Map<String, MemberContext> members = new HashMap<>();
  private final Map<String, SetAccumulation> accumulation = new HashMap<>();
  private final long registeredAtNanos = System.nanoTime();

  private NDManager manager;
  private LeaseRun current;
  private boolean leaseRequested;
  /** Numbers the asks to the coordinator: only the answer to the newest one counts. */
  private long askGeneration;
  private PendingCompletion completion;
  private long nextSeq = 1;
  private boolean firstPushAccepted;
  private boolean draining;

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
    requestLease();
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
  private record PendingCompletion(long leaseId, CoordinatorProtocol.SplitReport report, int attempts) {}

  private enum AskForWork implements Local {
    INSTANCE
  }

  private enum RetryWindow implements Local {
    INSTANCE
  }

  /** Progress through one leased run of splits. */
  private static final class LeaseRun {
    final Lease lease;
    final MemberContext member;
    /** Where each shard is in the lease, and the window to train next. */
    final LeaseWindows windows;
    double lossSum;
    int pushes;
    int stalePushes;
    long computeNanos;
    int failures;
    PulledParameters pulled;
    LeaseWindows.Planned window;
    PushRequest push;
    double windowLoss;

    LeaseRun(Lease lease, MemberContext member) {
      this.lease = lease;
      this.member = member;
      this.windows = new LeaseWindows(lease, member.shards.ranges().size());
    }

    boolean sync() {
      return lease.spec().mode() == TrainingMode.SYNC;
    }

    /** What was trained of the lease so far: the samples every shard has, from its start. */
    CoordinatorProtocol.SplitReport report() {
      return new CoordinatorProtocol.SplitReport(windows.done(), lossSum, pushes, stalePushes, computeNanos);
    }
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(WorkAvailable.class, this::onWorkAvailable)
        .onMessage(SetAccumulation.class, this::onSetAccumulation)
        .onMessage(InitializeModel.class, this::onInitializeModel)
        .onMessage(Evaluate.class, this::onEvaluate)
        .onMessage(EvaluateEnsemble.class, this::onEvaluateEnsemble)
        .onMessage(Drain.class, this::onDrain)
        .onMessage(WorkerProtocol.AbandonJob.class, this::onAbandonJob)
        .onMessage(WorkerProtocol.LeasesVoided.class, this::onLeasesVoided)
        .onMessage(LeaseAnswered.class, this::onLeaseAnswered)
        .onMessage(NodeRemoved.class, this::onNodeRemoved)
        .onMessage(ParametersPulled.class, this::onParametersPulled)
        .onMessage(WindowReady.class, this::onWindowReady)
        .onMessage(GradientsPushed.class, this::onGradientsPushed)
        .onMessage(EvaluationPulled.class, this::onEvaluationPulled)
        .onMessage(AskForWork.class, this::onAskForWork)
        .onMessage(RetryWindow.class, this::onRetryWindow)
        .onSignal(PostStop.class, this::onPostStop)
        .build();
  }

  // ------------------------------------------------------------------ leases

  private Behavior<Command> onWorkAvailable(WorkAvailable nudge) {
    if (current == null) {
      requestLease();
    }
    return this;
  }

  private Behavior<Command> onAskForWork(AskForWork tick) {
    if (current == null) {
      requestLease();
    }
    return this;
  }

  private void requestLease() {
    if (leaseRequested || draining) {
      return;
    }
    leaseRequested = true;
    long asked = System.nanoTime();
    long generation = ++askGeneration;
    getContext().ask(
        LeaseReply.class,
        coordinator,
        settings.coordinatorTimeout(),
        replyTo -> new CoordinatorProtocol.RequestLease(getContext().getSelf(), replyTo),
        (reply, failure) -> new LeaseAnswered(reply, failure, asked, generation));
  }

  private Behavior<Command> onNodeRemoved(NodeRemoved removed) {
    if (removed.coordinatorRole() && leaseRequested && !draining) {
      getContext().getLog().info(
          "Coordinator node {} left while an ask was out: asking the coordinator again", removed.address());
      if (completion != null) {
        sendCompletion(); // the completion is idempotent: a coordinator that has it answers as before
      } else {
        leaseRequested = false;
        requestLease();
      }
    }
    return this;
  }

  private Behavior<Command> onLeaseAnswered(LeaseAnswered answer) {
    if (answer.generation() != askGeneration) {
      // The answer to an ask that was sent again: the newer ask's answer decides. A lease granted
      // to the older one would be held by nobody: give it back at once.
      if (answer.reply() instanceof LeaseGranted granted) {
        release(granted.lease(), "granted to an ask the worker had sent again", false);
      }
      return this;
    }
    leaseRequested = false;
    if (answer.failure() == null) {
      metrics.leaseRoundTrip.record(System.nanoTime() - answer.askedAtNanos());
    }
    if (completion != null) {
      if (answer.failure() != null && completion.attempts() < settings.maxWindowRetries()) {
        // The ack may be lost (say, the coordinator is moving); the work is done, so say it again
        // rather than have the split trained twice.
        getContext().getLog().warn(
            "Coordinator did not answer the completion of lease {}: {}",
            completion.leaseId(), answer.failure().getMessage());
        completion = new PendingCompletion(completion.leaseId(), completion.report(), completion.attempts() + 1);
        sendCompletion();
        return this;
      }
      completion = null;
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
      timers.startSingleTimer(AskForWork.INSTANCE, settings.retryBackoff());
    } else if (answer.reply() instanceof NoLease none) {
      getContext().getLog().debug("No lease: {}", none.describe());
      timers.startSingleTimer(AskForWork.INSTANCE, Duration.ofMillis(none.retryAfterMillis()));
    } else if (answer.reply() instanceof LeaseGranted granted) {
      startLease(granted.lease());
    }
    return this;
  }

  private void startLease(Lease lease) {
    timers.cancel(AskForWork.INSTANCE);
    MemberContext member;
    try {
      member = member(lease.jobId(), lease.member(), lease.spec(), lease.inputs());
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
      giveBack(lease, "cannot train here: " + e.getMessage());
      return;
    }
    noteAccumulation(
        new SetAccumulation(lease.jobId(), lease.member(), lease.membershipEpoch(), lease.accumulationSteps()));
    current = new LeaseRun(lease, member);
    pullWindow();
  }

  private void giveBack(Lease lease, String reason) {
    getContext().getLog().warn("Giving back lease {}: {}", lease.leaseId(), reason);
    release(lease, reason, true);
    current = null;
    timers.startSingleTimer(AskForWork.INSTANCE, settings.retryBackoff());
  }

  private void release(Lease lease, String reason, boolean failed) {
    coordinator.tell(new CoordinatorProtocol.ReleaseLease(getContext().getSelf(), lease.leaseId(), reason, failed));
  }

  private Behavior<Command> onSetAccumulation(SetAccumulation update) {
    noteAccumulation(update);
    return this;
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

  private void pullWindow() {
    LeaseRun run = current;
    long start = System.nanoTime();
    long leaseId = run.lease.leaseId();
    getContext().pipeToSelf(
        run.member.shards.pull(run.lease.spec().wirePrecision(), workerId),
        (pulled, failure) -> new ParametersPulled(leaseId, pulled, failure, start));
  }

  private Behavior<Command> onParametersPulled(ParametersPulled message) {
    if (current == null || current.lease.leaseId() != message.leaseId()) {
      return this;
    }
    if (message.failure() != null) {
      return windowFailed("pull", message.failure());
    }
    metrics.pullLatency.record(System.nanoTime() - message.startNanos());
    metrics.pullBytes.increment(message.parameters().bytes());
    LeaseRun run = current;
    run.pulled = message.parameters();
    JobSpec spec = run.lease.spec();
    run.window = run.windows.next(message.parameters().epoch(), spec.microBatch() * accumulationSteps(run.lease));
    int from = run.lease.split().from() + run.window.from();
    int to = run.lease.split().from() + run.window.to();

    long computeStart = System.nanoTime();
    MemberTrainer trainer = run.member.trainer;
    float[] gradientSum = new float[run.pulled.values().length];
    run.windowLoss = trainer.trainWindow(run.pulled.values(), run.lease.split().epoch(), from, to, gradientSum);
    long computed = System.nanoTime() - computeStart;
    long simulated = trainer.simulatedNanos(to - from);
    run.computeNanos += Math.max(computed, simulated);
    metrics.windowCompute.record(Math.max(computed, simulated));
    run.push =
        run.member.shards.encodePush(
            workerId, nextSeq++, run.pulled, to - from, gradientSum, spec.wirePrecision(), run.lease.rule(),
            run.window.window(), run.window.targets());
    if (simulated > computed) {
      timers.startSingleTimer(new WindowReady(run.lease.leaseId()), Duration.ofNanos(simulated - computed));
    } else {
      pushWindow();
    }
    return this;
  }

  private Behavior<Command> onWindowReady(WindowReady ready) {
    if (current != null && current.lease.leaseId() == ready.leaseId() && current.push != null) {
      pushWindow();
    }
    return this;
  }

  private void pushWindow() {
    long start = System.nanoTime();
    long leaseId = current.lease.leaseId();
    getContext().pipeToSelf(
        current.member.shards.push(current.push),
        (outcomes, failure) -> new GradientsPushed(leaseId, outcomes, failure, start));
  }

  private Behavior<Command> onGradientsPushed(GradientsPushed message) {
    if (current == null || current.lease.leaseId() != message.leaseId()) {
      return this;
    }
    if (message.failure() != null) {
      return windowFailed("push", message.failure());
    }
    LeaseRun run = current;
    metrics.pushLatency.record(System.nanoTime() - message.startNanos());
    metrics.pushBytes.increment(run.push.bytes());
    run.failures = 0;
    Optional<Revoked> revoked =
        message.outcomes().stream().filter(Revoked.class::isInstance).map(Revoked.class::cast).findFirst();
    if (revoked.isPresent()) {
      return dropRevoked(run, revoked.get());
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
        current = null;
        if (draining) {
          return leave();
        }
        requestLease();
        return this;
      }
    }
    // Shards that took the window (or had it) move on. Too far behind at some shards: fetch fresh
    // parameters and compute this window again, for those shards only; a shard that had part of
    // it gets its parts one by one. So every shard applies each split once (its slices may come
    // from different pulls).
    LeaseWindows.Result result = run.windows.pushed(run.window, run.push.epoch(), message.outcomes());
    run.push = null;
    if (result == LeaseWindows.Result.AGAIN) {
      pullWindow();
      return this;
    }
    if (!firstPushAccepted) {
      firstPushAccepted = true;
      long millis = (System.nanoTime() - registeredAtNanos) / 1_000_000;
      metrics.firstPushMillis.update(millis);
      getContext().getLog().info("Worker {}: first push accepted {} ms after registering", workerId, millis);
    }
    run.lossSum += run.windowLoss;
    run.pushes++;
    metrics.samples.increment(run.window.samples());
    if (!draining && !run.windows.finished()) {
      // A sign of life, and what the coordinator acks should the lease end before its completion.
      CoordinatorProtocol.LeaseProgress progress =
          new CoordinatorProtocol.LeaseProgress(getContext().getSelf(), run.lease.leaseId(), run.report());
      faults.tell(() -> coordinator.tell(progress)); // built here: a delayed send runs on another thread
      pullWindow();
    } else {
      completeSplit(run); // done, or draining: ack what was trained, the rest goes back
    }
    return this;
  }

  /**
   * A shard refused the lease's push: the coordinator took the lease back (given back, expired,
   * its worker thought gone, or voided by a rewind) and its splits were or will be trained under
   * another lease. The lease is dropped, without pushing again or giving it back, and the worker
   * asks for other work.
   */
  private Behavior<Command> dropRevoked(LeaseRun run, Revoked revoked) {
    getContext().getLog().info("Dropping lease {}: {}", run.lease.leaseId(), revoked.reason());
    metrics.revokedLeases.increment();
    current = null;
    timers.cancel(RetryWindow.INSTANCE);
    if (draining) {
      return leave();
    }
    requestLease();
    return this;
  }

  private void completeSplit(LeaseRun run) {
    current = null;
    completion = new PendingCompletion(run.lease.leaseId(), run.report(), 0);
    sendCompletion();
  }

  private void sendCompletion() {
    leaseRequested = true;
    PendingCompletion pending = completion;
    long asked = System.nanoTime();
    long generation = ++askGeneration;
    getContext().ask(
        LeaseReply.class,
        coordinator,
        settings.coordinatorTimeout(),
        replyTo ->
            new CoordinatorProtocol.CompleteSplit(getContext().getSelf(), pending.leaseId(), pending.report(), replyTo),
        (reply, failure) -> new LeaseAnswered(reply, failure, asked, generation));
  }

  private Behavior<Command> windowFailed(String what, Throwable failure) {
    LeaseRun run = current;
    run.failures++;
    if (refused(failure)) {
      // A shard refused the gradient itself (say, non-finite values): sending it again cannot
      // help, so the retry computes the window afresh.
      run.push = null;
    }
    getContext().getLog().warn(
        "Lease {}: {} failed ({} of {}): {}",
        run.lease.leaseId(), what, run.failures, settings.maxWindowRetries(), failure.getMessage());
    if (run.failures > settings.maxWindowRetries()) {
      giveBack(run.lease, what + " failed " + run.failures + " times: " + failure.getMessage());
      if (draining) {
        return leave();
      }
    } else {
      timers.startSingleTimer(RetryWindow.INSTANCE, settings.retryBackoff().multipliedBy(run.failures));
    }
    return this;
  }

  private static boolean refused(Throwable failure) {
    for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
      if (cause instanceof StatusReply.ErrorMessage) {
        return true;
      }
    }
    return false;
  }

  private Behavior<Command> onRetryWindow(RetryWindow retry) {
    if (current == null) {
      return this;
    }
    if (current.push != null) {
      pushWindow(); // same sequence number: shards that already applied it answer Duplicate
    } else {
      pullWindow();
    }
    return this;
  }

  // ------------------------------------------------------------------ cancelled jobs

  /**
   * The job was cancelled: its lease is dropped without a push or an ack (a push in flight reaches
   * shards that refuse it), its members' contexts are closed, and the worker asks for other work.
   */
  private Behavior<Command> onAbandonJob(WorkerProtocol.AbandonJob abandon) {
    boolean held = current != null && current.lease.jobId().equals(abandon.jobId());
    if (held) {
      getContext().getLog().info("Dropping lease {}: job {} was cancelled or paused", current.lease.leaseId(), abandon.jobId());
      current = null;
      timers.cancel(RetryWindow.INSTANCE);
    }
    accumulation.keySet().removeIf(key -> key.startsWith(abandon.jobId() + ":"));
    members.entrySet().removeIf(
        entry -> {
          if (entry.getValue().jobId.equals(abandon.jobId())) {
            entry.getValue().close();
            return true;
          }
          return false;
        });
    if (draining && held && completion == null && !leaseRequested) {
      return leave();
    }
    if (current == null && completion == null) {
      requestLease();
    }
    return this;
  }

  /**
   * The job was rewound: a lease of it granted before is void. It is dropped at once (answers
   * still on their way are ignored, as for any lease no longer held) and a new one asked for.
   */
  private Behavior<Command> onLeasesVoided(WorkerProtocol.LeasesVoided voided) {
    if (current == null || !current.lease.jobId().equals(voided.jobId()) || current.lease.leaseId() >= voided.beforeLeaseId()) {
      return this;
    }
    getContext().getLog().info("Dropping lease {}: job {} was rewound to a checkpoint", current.lease.leaseId(), voided.jobId());
    current = null;
    timers.cancel(RetryWindow.INSTANCE);
    if (draining && completion == null && !leaseRequested) {
      return leave();
    }
    if (completion == null) {
      requestLease();
    }
    return this;
  }

  // ------------------------------------------------------------------ draining

  private Behavior<Command> onDrain(Drain drain) {
    if (draining) {
      return this;
    }
    draining = true;
    timers.cancel(AskForWork.INSTANCE);
    getContext().getLog().info(
        "Worker {} draining: {}", workerId, current == null ? "idle" : "finishing the window of lease " + current.lease.leaseId());
    // With a window in flight the push's answer completes the lease; with a completion or a lease
    // request in flight its answer does. Otherwise there is nothing to finish.
    if (current == null && completion == null && !leaseRequested) {
      return leave();
    }
    return this;
  }

  /** Tells the coordinator this worker is gone, leaves the Receptionist listing and stops. */
  private Behavior<Command> leave() {
    coordinator.tell(new CoordinatorProtocol.DrainCompleted(getContext().getSelf()));
    getContext().getSystem().receptionist().tell(Receptionist.deregister(WorkerProtocol.SERVICE_KEY, getContext().getSelf()));
    getContext().getLog().info("Worker {} drained", workerId);
    return Behaviors.stopped();
  }

  // ------------------------------------------------------------------ set-up and evaluation

  private Behavior<Command> onInitializeModel(InitializeModel request) {
    try {
      MemberContext member = member(request.jobId(), request.member(), request.spec(), request.inputs());
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
    return this;
  }

  private Behavior<Command> onEvaluate(Evaluate request) {
    try {
      MemberContext member = member(request.jobId(), request.member(), request.spec(), request.inputs());
      getContext().pipeToSelf(
          member.shards.pull(WirePrecision.FP32, ""),
          (pulled, failure) -> new EvaluationPulled(request, pulled, failure));
    } catch (RuntimeException e) {
      request.replyTo().tell(StatusReply.error(e.getMessage()));
    }
    return this;
  }

  private Behavior<Command> onEvaluationPulled(EvaluationPulled message) {
    Evaluate request = message.request();
    if (message.failure() != null) {
      request.replyTo().tell(StatusReply.error("could not pull parameters: " + message.failure().getMessage()));
      return this;
    }
    MemberTrainer.Score score;
    try {
      MemberContext member = member(request.jobId(), request.member(), request.spec(), request.inputs());
      float[] values = message.parameters().values();
      score = request.validationOnly() ? member.trainer.validate(values) : member.trainer.evaluate(values);
    } catch (RuntimeException e) {
      getContext().getLog().warn("Cannot evaluate {} member {}: {}", request.jobId(), request.member(), e.getMessage());
      request.replyTo().tell(StatusReply.error(e.getMessage()));
      return this;
    }
    long version = Arrays.stream(message.parameters().versions()).min().orElse(0);
    request.replyTo().tell(
        StatusReply.success(
            new EvaluationReport(
                request.jobId(), request.member(), score.samples(), score.correct(),
                score.samples() == 0 ? score.summedLoss() : score.summedLoss() / score.samples(), version,
                score.validationSamples(), score.validationCorrect())));
    return this;
  }

  /**
   * Measures a finished stage's members together: each member's class probabilities on the
   * validation split and the test set, then the ensemble by averaging, majority vote and per-class
   * re-vote. The members' parameters are read from their shards, which hold the final values.
   */
  private Behavior<Command> onEvaluateEnsemble(EvaluateEnsemble request) {
    try {
      int count = request.members().size();
      float[][] test = new float[count][];
      float[][] validation = new float[count][];
      StageData images = null;
      for (int i = 0; i < count; i++) {
        SourceModel source = request.members().get(i);
        MemberContext member = member(source.jobId(), source.member(), source.spec(), inputsOf(request.inputs(), source.member()));
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
    return this;
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

  /** The context of a member, built on first use; contexts of other jobs are closed then. */
  private MemberContext member(String jobId, int member, JobSpec spec, StageInputs inputs) {
    String key = jobId + ":" + member;
    MemberContext existing = members.get(key);
    if (existing != null) {
      return existing;
    }
    members.entrySet().removeIf(
        entry -> {
          boolean inUse = current != null && current.member == entry.getValue();
          if (!entry.getValue().jobId.equals(jobId) && !inUse) {
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
    return this;
  }
}
