package io.tessera.coordinator;

import io.tessera.coordinator.CoordinatorEvent.LeaseReleased;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorState.Assignment;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseGranted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.SplitReport;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The coordinator's lease decisions, as pure functions of its state: which split a worker gets
 * next (or why none), and which event a completion or a give-back makes.
 */
final class LeaseDesk {
  static final int MAX_CONSECUTIVE_WORKER_FAILURES = 3;

  private LeaseDesk() {}

  /**
   * The lease event for {@code workerId}'s next split, or the {@link NoLease} that says why not.
   *
   * @param consecutiveFailures splits this worker gave back in a row
   */
  static Object nextLease(CoordinatorState state, String workerId, int consecutiveFailures) {
    if (state.worker(workerId).isEmpty()) {
      return new NoLease("worker is not in the Receptionist listing yet", 500);
    }
    if (consecutiveFailures >= MAX_CONSECUTIVE_WORKER_FAILURES) {
      return new NoLease("worker failed " + MAX_CONSECUTIVE_WORKER_FAILURES + " splits in a row", 30_000);
    }
    Optional<Assignment> assignment = state.assignment(workerId);
    if (assignment.isEmpty()) {
      String why = state.activeJob().map(j -> "job " + j.jobId() + " is " + j.state()).orElse("no job is running");
      return new NoLease(why, 1_000);
    }
    Assignment a = assignment.get();
    if (a.accumulationSteps() == 0) {
      return new NoLease("more workers than micro-batches per step; this one waits", 5_000);
    }
    OptionalInt split = a.job().member(a.member()).ledger().nextPending();
    if (split.isEmpty()) {
      return new NoLease("every split of member " + a.member() + " is leased or done", 1_000);
    }
    return new SplitLeased(a.job().jobId(), a.member(), split.getAsInt(), state.nextLeaseId(), workerId);
  }

  /** The lease a {@link SplitLeased} event stands for, as the worker receives it. */
  static LeaseReply grant(CoordinatorState state, SplitLeased leased) {
    JobRun job = state.job(leased.jobId()).orElseThrow();
    MemberRun member = job.member(leased.member());
    int k =
        member.currentPlan().shares().stream()
            .filter(share -> share.workerId().equals(leased.workerId()))
            .mapToInt(WorkerShare::accumulationSteps)
            .findFirst()
            .orElse(1);
    return new LeaseGranted(
        new Lease(
            leased.leaseId(),
            job.jobId(),
            leased.member(),
            state.membershipEpoch(),
            member.ledger().split(leased.split()),
            k,
            job.dataset().trainSize(),
            job.spec()));
  }

  /**
   * The ack of a live lease of the active job, or empty when the lease was voided (re-leased, or
   * rewound away): its gradients were accepted, but its split was or will be trained again.
   */
  static Optional<SplitCompleted> completion(CoordinatorState state, long leaseId, SplitReport report) {
    return state.activeJob()
        .flatMap(
            job -> {
              for (MemberRun member : job.members()) {
                if (member.ledger() != null) {
                  OptionalInt split = member.ledger().splitOfLease(leaseId);
                  if (split.isPresent()) {
                    return Optional.of(
                        new SplitCompleted(
                            job.jobId(), member.member(), split.getAsInt(), leaseId, report.samples(),
                            report.lossSum(), report.pushes()));
                  }
                }
              }
              return Optional.empty();
            });
  }

  /** The give-back of a live lease, or empty when the lease is no longer live. */
  static Optional<LeaseReleased> release(CoordinatorState state, long leaseId, String reason) {
    return state.activeJob()
        .flatMap(
            job -> {
              for (MemberRun member : job.members()) {
                if (member.ledger() != null) {
                  OptionalInt split = member.ledger().splitOfLease(leaseId);
                  if (split.isPresent()) {
                    return Optional.of(
                        new LeaseReleased(job.jobId(), member.member(), split.getAsInt(), leaseId, reason));
                  }
                }
              }
              return Optional.empty();
            });
  }
}
