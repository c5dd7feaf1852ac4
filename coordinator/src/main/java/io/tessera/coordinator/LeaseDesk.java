package io.tessera.coordinator;

import io.tessera.coordinator.CoordinatorEvent.BackupLeased;
import io.tessera.coordinator.CoordinatorEvent.LeaseReleased;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorState.Assignment;
import io.tessera.coordinator.ledger.SplitLedger;
import io.tessera.coordinator.ledger.SplitLedger.Run;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseGranted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.LeaseReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLeaseReason;
import io.tessera.protocol.coordinator.CoordinatorProtocol.SplitReport;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The coordinator's lease decisions, as pure functions of its state: which splits a worker gets
 * next (or why none), and which event a completion or a give-back makes.
 *
 * <p>In {@code async} and {@code ssp} mode a lease is a run of up to {@code split-size} samples
 * from the lowest pending split. In {@code sync} mode it is the worker's share ({@code k}
 * micro-batches) of the step in progress, and the next step's work goes out only when every
 * contribution to this one is acked: that is the barrier. A share given back (its worker left)
 * goes to the next worker that asks, unchanged, so the step still gets exactly its samples.
 */
final class LeaseDesk {
  static final int MAX_CONSECUTIVE_WORKER_FAILURES = 3;

  /** How soon a worker waiting at the sync barrier asks again if no nudge comes first. */
  static final long BARRIER_RETRY_MILLIS = 500;

  private LeaseDesk() {}

  /**
   * The lease event for {@code workerId}'s next run of splits, or the {@link NoLease} that says
   * why not.
   *
   * @param consecutiveFailures leases this worker gave back in a row
   */
  static Object nextLease(CoordinatorState state, String workerId, int consecutiveFailures) {
    Optional<WorkerEntry> worker = state.worker(workerId);
    if (worker.isEmpty()) {
      return new NoLease(new NoLeaseReason.NotListed(), 500);
    }
    if (worker.get().draining()) {
      return new NoLease(new NoLeaseReason.Draining(), 60_000);
    }
    if (consecutiveFailures >= MAX_CONSECUTIVE_WORKER_FAILURES) {
      return new NoLease(new NoLeaseReason.BackingOff(MAX_CONSECUTIVE_WORKER_FAILURES), 30_000);
    }
    Optional<Assignment> assignment = state.assignment(workerId);
    if (assignment.isEmpty()) {
      NoLeaseReason why =
          state.activeJob()
              .<NoLeaseReason>map(j -> new NoLeaseReason.JobNotLeasing(j.jobId(), j.state()))
              .orElseGet(NoLeaseReason.NoJobRunning::new);
      return new NoLease(why, 1_000);
    }
    Assignment a = assignment.get();
    if (a.accumulationSteps() == 0) {
      return new NoLease(new NoLeaseReason.SurplusWorker(), 5_000);
    }
    JobRun job = a.job();
    MemberRun member = job.member(a.member());
    SplitLedger ledger = member.ledger();
    Optional<Run> run;
    if (job.isSync()) {
      Run round = member.round();
      if (round == null) {
        return new NoLease(new NoLeaseReason.StepsTaken(a.member()), 1_000);
      }
      if (!member.stepStarted() && job.pendingCheckpoint() != null) {
        return atBarrier(new NoLeaseReason.CheckpointTakingBetweenSteps());
      }
      run = ledger.nextRun(a.accumulationSteps(), round.first(), round.end());
      if (run.isEmpty()) {
        Optional<Long> straggler = backupCandidate(job, member, workerId);
        if (straggler.isPresent()) {
          return new BackupLeased(job.jobId(), a.member(), straggler.get(), state.nextLeaseId(), workerId);
        }
        return atBarrier(new NoLeaseReason.AwaitingContributions());
      }
    } else {
      if (job.pendingCheckpoint() != null) {
        // The shards are saving what the acked leases pushed; a new lease's pushes must not reach
        // a shard before the checkpoint does.
        return atBarrier(new NoLeaseReason.CheckpointTaking());
      }
      int perLease = Math.max(1, (job.spec().splitSize() + job.spec().microBatch() - 1) / job.spec().microBatch());
      run = ledger.nextRun(perLease, 0, ledger.totalSplits());
      if (run.isEmpty()) {
        return new NoLease(new NoLeaseReason.SplitsTaken(a.member()), 1_000);
      }
    }
    return new SplitLeased(
        job.jobId(), a.member(), run.get().first(), run.get().count(), state.nextLeaseId(), workerId);
  }

  /**
   * With {@code backup-workers = b}, an idle worker duplicates a contribution still out: the one
   * of the lowest splits that is held by another worker and not yet backed up, while the step has
   * had fewer than {@code b} backups.
   */
  private static Optional<Long> backupCandidate(JobRun job, MemberRun member, String workerId) {
    if (member.backups().size() >= job.spec().backupWorkers() || member.round() == null) {
      return Optional.empty();
    }
    Run round = member.round();
    SplitLedger ledger = member.ledger();
    for (int g = round.first(); g < round.end(); g++) {
      Optional<Long> lease = ledger.leaseAt(g);
      if (lease.isEmpty()) {
        continue;
      }
      long id = lease.get();
      boolean backedUp = member.backups().stream().anyMatch(b -> b.originalLeaseId() == id || b.workerId().equals(workerId));
      if (!backedUp && !workerId.equals(ledger.holderOfLease(id).orElse(null))) {
        return Optional.of(id);
      }
    }
    return Optional.empty();
  }

  /**
   * The answer for a sync worker that must wait for the step to move on. The coordinator may hold
   * such an ask and answer it with a lease as soon as the next step opens.
   */
  static NoLease atBarrier(NoLeaseReason.AtBarrier why) {
    return new NoLease(why, BARRIER_RETRY_MILLIS);
  }

  static boolean isAtBarrier(NoLease answer) {
    return answer.reason() instanceof NoLeaseReason.AtBarrier;
  }

  /** The lease a {@link CoordinatorEvent.Leased} event stands for, as the worker receives it. */
  static LeaseReply grant(CoordinatorState state, CoordinatorEvent.Leased leased) {
    return leased instanceof BackupLeased backup ? grant(state, backup) : grant(state, (SplitLeased) leased);
  }

  /** The lease a {@link BackupLeased} event stands for: the original's run and step rule. */
  private static LeaseReply grant(CoordinatorState state, BackupLeased backup) {
    JobRun job = state.job(backup.jobId()).orElseThrow();
    MemberRun member = job.member(backup.member());
    SplitLedger ledger = member.ledger();
    Run run = ledger.runOfLease(backup.originalLeaseId()).orElseThrow();
    return new LeaseGranted(
        new Lease(
            backup.leaseId(),
            job.jobId(),
            backup.member(),
            state.membershipEpoch(),
            ledger.positions(run),
            run.count(),
            job.dataset().trainSize(),
            job.spec(),
            new StepRule(
                ledger.positions(member.round()).size(), member.roundScale(), run.first(), member.round().first()),
            Stages.inputs(state, job, backup.member()),
            job.dataset().fingerprint()));
  }

  private static LeaseReply grant(CoordinatorState state, SplitLeased leased) {
    JobRun job = state.job(leased.jobId()).orElseThrow();
    MemberRun member = job.member(leased.member());
    SplitLedger ledger = member.ledger();
    Run run = new Run(leased.split(), leased.count());
    int k;
    StepRule rule;
    if (job.isSync()) {
      // One contribution, pushed at once, to a step of exactly the round's samples.
      k = leased.count();
      Run round = member.round();
      int stepSamples = ledger.positions(round).size();
      rule = new StepRule(stepSamples, member.roundScale(), leased.split(), round.first());
    } else {
      k =
          member.currentPlan().shares().stream()
              .filter(share -> share.workerId().equals(leased.workerId()))
              .mapToInt(WorkerShare::accumulationSteps)
              .findFirst()
              .orElse(1);
      rule = new StepRule(job.globalBatch(), job.learningRateScale(leased.member()), -1, -1);
    }
    return new LeaseGranted(
        new Lease(
            leased.leaseId(),
            job.jobId(),
            leased.member(),
            state.membershipEpoch(),
            ledger.positions(run),
            k,
            job.dataset().trainSize(),
            job.spec(),
            rule,
            Stages.inputs(state, job, leased.member()),
            job.dataset().fingerprint()));
  }

  /**
   * The ack of a live lease of the active job (of the splits its reported samples cover), or empty
   * when the lease was voided (re-leased, or rewound away): its gradients were accepted, but its
   * splits were or will be trained again.
   */
  static Optional<SplitCompleted> completion(
      CoordinatorState state, long leaseId, String workerId, SplitReport report) {
    return state.activeJob()
        .flatMap(
            job -> {
              for (MemberRun member : job.members()) {
                if (member.ledger() != null) {
                  // A backup's ack counts for the lease it duplicates, if that is still out.
                  long acked = member.backup(leaseId).map(MemberRun.Backup::originalLeaseId).orElse(leaseId);
                  Optional<Run> run = member.ledger().runOfLease(acked);
                  if (run.isPresent()) {
                    int covered = member.ledger().splitsCovered(acked, report.samples());
                    return Optional.of(
                        new SplitCompleted(
                            job.jobId(), member.member(), run.get().first(), covered, acked, workerId,
                            report.samples(), report.lossSum(), report.pushes(), report.computeNanos()));
                  }
                }
              }
              return Optional.empty();
            });
  }

  /**
   * The events that take lease {@code leaseId} back from {@code holder} before it completed (it
   * gave the lease back, left, or went silent): if {@code holder} reported windows of it done
   * (every shard took them), those splits are acked, which gives the rest back; otherwise the
   * whole lease is given back. Either way its run goes out again as it was, less what was acked.
   * Only a report of the lease's holder counts. Empty when the lease is no longer live (or is a
   * backup's copy, which holds no splits).
   */
  static List<CoordinatorEvent> takeBack(
      CoordinatorState state, long leaseId, String holder, Optional<SplitReport> reported, String reason) {
    boolean held =
        state.activeJob().stream()
            .flatMap(job -> job.members().stream())
            .anyMatch(m -> m.ledger() != null && m.ledger().holderOfLease(leaseId).filter(holder::equals).isPresent());
    if (held && reported.isPresent()) {
      Optional<SplitCompleted> acked = completion(state, leaseId, holder, reported.get());
      if (acked.isPresent() && acked.get().count() > 0) {
        return List.of(acked.get());
      }
    }
    return release(state, leaseId, reason).<List<CoordinatorEvent>>map(List::of).orElse(List.of());
  }

  /**
   * What the shards of the running {@code async} or {@code ssp} job are to be told of its leases:
   * per member, of the leases issued so far, those still out (see {@code
   * ShardProtocol.FenceLeases}). Empty in {@code sync} mode, whose shards count each part of a
   * step once whoever sends it.
   */
  static List<ShardFleet.Fence> fences(CoordinatorState state) {
    return state.activeJob()
        .filter(job -> job.state() == JobState.RUNNING && !job.isSync())
        .map(
            job -> job.members().stream()
                .filter(m -> m.ledger() != null)
                .map(
                    m -> new ShardFleet.Fence(
                        m.member(),
                        state.nextLeaseId(),
                        m.ledger().liveLeases().stream().map(SplitLedger.LiveLease::leaseId).toList()))
                .toList())
        .orElse(List.of());
  }

  /** The live leases {@code workerId} holds in the running job: split leases and backups. */
  static List<Long> leasesHeldBy(CoordinatorState state, String workerId) {
    List<Long> held = new ArrayList<>();
    state.activeJob().ifPresent(job -> {
      for (MemberRun member : job.members()) {
        if (member.ledger() != null) {
          member.ledger().liveLeases().stream()
              .filter(lease -> workerId.equals(lease.holder()))
              .forEach(lease -> held.add(lease.leaseId()));
        }
        member.backups().stream().filter(b -> b.workerId().equals(workerId)).forEach(b -> held.add(b.leaseId()));
      }
    });
    return held;
  }

  /** The give-back of a live lease, or empty when the lease is no longer live. */
  static Optional<LeaseReleased> release(CoordinatorState state, long leaseId, String reason) {
    return state.activeJob()
        .flatMap(
            job -> {
              for (MemberRun member : job.members()) {
                if (member.ledger() != null) {
                  Optional<Run> run = member.ledger().runOfLease(leaseId);
                  if (run.isPresent()) {
                    return Optional.of(
                        new LeaseReleased(job.jobId(), member.member(), run.get().first(), leaseId, reason));
                  }
                  Optional<MemberRun.Backup> backup = member.backup(leaseId);
                  if (backup.isPresent()) {
                    int first = member.ledger().runOfLease(backup.get().originalLeaseId()).map(Run::first).orElse(-1);
                    return Optional.of(new LeaseReleased(job.jobId(), member.member(), first, leaseId, reason));
                  }
                }
              }
              return Optional.empty();
            });
  }
}
