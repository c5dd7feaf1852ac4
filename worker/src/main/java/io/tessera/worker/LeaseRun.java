package io.tessera.worker;

import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.worker.ShardClient.PulledParameters;
import io.tessera.worker.ShardClient.PushRequest;
import io.tessera.worker.train.MemberTrainer;
import java.util.List;

/**
 * Progress through one leased run of splits: where each shard is ({@link LeaseWindows}), the
 * window being trained (its pulled parameters and its encoded push, kept for a retry), and the
 * totals reported to the coordinator. The {@link Worker} does the messaging; this class the
 * arithmetic. Not thread-safe: it belongs to the worker actor.
 */
final class LeaseRun {

  /** A window computed: how long it took, and how much longer a simulated device would take. */
  record Computed(long nanos, long waitNanos) {}

  final Lease lease;
  final MemberContext member;
  /** Where each shard is in the lease, and the window to train next. */
  final LeaseWindows windows;
  double lossSum;
  int pushes;
  int stalePushes;
  long computeNanos;
  /** Failed pulls or pushes of the window in a row; an accepted push resets it. */
  int failures;
  PulledParameters pulled;
  LeaseWindows.Planned window;
  /** The window's push, until its answers are in; {@code null} when the window is to be pulled. */
  PushRequest push;
  double windowLoss;

  LeaseRun(Lease lease, MemberContext member) {
    this.lease = lease;
    this.member = member;
    this.windows = new LeaseWindows(lease, member.shards.ranges().size());
  }

  long leaseId() {
    return lease.leaseId();
  }

  boolean sync() {
    return lease.spec().mode() == TrainingMode.SYNC;
  }

  /**
   * Trains the next window of {@code accumulationSteps} micro-batches on {@code parameters} and
   * encodes its push as number {@code seq}.
   */
  Computed train(PulledParameters parameters, int accumulationSteps, long seq, String workerId) {
    pulled = parameters;
    window = windows.next(parameters.epoch(), lease.spec().microBatch() * accumulationSteps);
    int from = lease.split().from() + window.from();
    int to = lease.split().from() + window.to();

    long computeStart = System.nanoTime();
    MemberTrainer trainer = member.trainer;
    float[] gradientSum = new float[parameters.values().length];
    windowLoss = trainer.trainWindow(parameters.values(), lease.split().epoch(), from, to, gradientSum);
    long computed = System.nanoTime() - computeStart;
    long simulated = trainer.simulatedNanos(to - from);
    computeNanos += Math.max(computed, simulated);
    push =
        member.shards.encodePush(
            workerId, seq, parameters, to - from, gradientSum, lease.spec().wirePrecision(), lease.rule(),
            window.window(), window.targets());
    return new Computed(Math.max(computed, simulated), Math.max(0, simulated - computed));
  }

  /**
   * The shards answered the window's push: those that took it (or had it) move on. Too far behind
   * at some shards: the window is to be computed again on fresh parameters, for those only.
   */
  LeaseWindows.Result pushed(List<PushOutcome> outcomes) {
    LeaseWindows.Result result = windows.pushed(window, push.epoch(), outcomes);
    push = null;
    return result;
  }

  /** Counts the window every shard took; returns its samples. */
  int counted() {
    lossSum += windowLoss;
    pushes++;
    return window.samples();
  }

  /** What was trained of the lease so far: the samples every shard has, from its start. */
  CoordinatorProtocol.SplitReport report() {
    return new CoordinatorProtocol.SplitReport(windows.done(), lossSum, pushes, stalePushes, computeNanos);
  }
}
