package io.tessera.coordinator;

import io.tessera.coordinator.CoordinatorEvent.BackupLeased;
import io.tessera.coordinator.CoordinatorEvent.CheckpointAbandoned;
import io.tessera.coordinator.CoordinatorEvent.CheckpointCompleted;
import io.tessera.coordinator.CoordinatorEvent.CheckpointDiscarded;
import io.tessera.coordinator.CoordinatorEvent.CheckpointStarted;
import io.tessera.coordinator.CoordinatorEvent.JobFailed;
import io.tessera.coordinator.CoordinatorEvent.JobRecovered;
import io.tessera.coordinator.CoordinatorEvent.JobRewound;
import io.tessera.coordinator.CoordinatorEvent.OperatorCommandRecorded;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.LeaseReleased;
import io.tessera.coordinator.CoordinatorEvent.MemberEvaluated;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.GlobalBatchChanged;
import io.tessera.coordinator.CoordinatorEvent.WorkerDraining;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * Everything the coordinator knows that must survive a restart, rebuilt from its events by {@link
 * #apply}. Immutable; each event yields a new state.
 *
 * @param nextJobNumber number of the next submitted job ({@code job-N})
 * @param nextLeaseId id of the next lease; never reused
 * @param membershipEpoch increases with every worker that joins, drains or leaves, and when a
 *     member stopped early gives its workers to the others
 * @param workers live workers, ordered by id
 * @param jobs every job, in submission order
 * @param audit the newest acknowledged operator commands (the journal holds them all)
 * @param retired the newest drained workers: a late Receptionist listing that still names one
 *     does not bring it back
 */
public record CoordinatorState(
    long nextJobNumber,
    long nextLeaseId,
    long membershipEpoch,
    List<WorkerEntry> workers,
    List<JobRun> jobs,
    List<AuditRecord> audit,
    List<String> retired)
    implements TesseraSerializable {

  /**
   * Audit records kept in the state at most; archiving trims them further to the configured
   * {@code audit-kept} (see {@link CoordinatorEvent.Retention}).
   */
  static final int AUDIT_KEPT = 1000;

  /** Drained worker ids remembered; ids are unique per incarnation, so old ones never return. */
  static final int RETIRED_KEPT = 1000;

  public CoordinatorState {
    workers = List.copyOf(workers);
    jobs = List.copyOf(jobs);
    audit = List.copyOf(audit);
    retired = List.copyOf(retired);
  }

  public static CoordinatorState empty() {
    return new CoordinatorState(1, 1, 0, List.of(), List.of(), List.of(), List.of());
  }

  private CoordinatorState with(long epoch, List<WorkerEntry> nextWorkers, List<JobRun> nextJobs) {
    return new CoordinatorState(nextJobNumber, nextLeaseId, epoch, nextWorkers, nextJobs, audit, retired);
  }

  long nextAuditSequence() {
    return audit.isEmpty() ? 1 : audit.get(audit.size() - 1).sequence() + 1;
  }

  // ---------------------------------------------------------------- queries

  Optional<JobRun> job(String jobId) {
    return jobs.stream().filter(j -> j.jobId().equals(jobId)).findFirst();
  }

  /** The job being initialised, trained or evaluated; at most one at a time. */
  Optional<JobRun> activeJob() {
    return jobs.stream().filter(JobRun::isActive).findFirst();
  }

  /**
   * The job whose turn is next: the first queued, passing over a stage that reads an earlier stage
   * which is paused or queued behind it (it waits rather than failing for want of its input).
   */
  Optional<JobRun> firstQueued() {
    return jobs.stream().filter(j -> j.state() == JobState.QUEUED && !waitsForAnotherStage(j)).findFirst();
  }

  private boolean waitsForAnotherStage(JobRun job) {
    return Stages.sources(job).stream()
        .map(this::job)
        .flatMap(Optional::stream)
        .anyMatch(source -> source.state() == JobState.PAUSED || source.state() == JobState.QUEUED);
  }

  Optional<WorkerEntry> worker(String workerId) {
    return workers.stream().filter(w -> w.workerId().equals(workerId)).findFirst();
  }

  List<String> workerIds() {
    return workers.stream().map(WorkerEntry::workerId).toList();
  }

  /** The member a worker trains in the running job, and its {@code k}, if it has a share. */
  Optional<Assignment> assignment(String workerId) {
    Optional<JobRun> job = activeJob().filter(j -> j.state() == JobState.RUNNING);
    if (job.isEmpty()) {
      return Optional.empty();
    }
    for (MemberRun member : job.get().members()) {
      AccumulationPlan plan = member.currentPlan();
      if (member.wantsWork() && plan != null && plan.membershipEpoch() == membershipEpoch) {
        for (WorkerShare share : plan.shares()) {
          if (share.workerId().equals(workerId)) {
            return Optional.of(new Assignment(job.get(), member.member(), share.accumulationSteps()));
          }
        }
      }
    }
    return Optional.empty();
  }

  /** A worker's place in the running job. */
  record Assignment(JobRun job, int member, int accumulationSteps) {}

  /** Workers that may be given work: live and not draining, in id order. */
  List<WorkerEntry> schedulable() {
    return workers.stream().filter(w -> !w.draining()).toList();
  }

  // ---------------------------------------------------------------- transitions

  CoordinatorState apply(CoordinatorEvent event) {
    if (event instanceof JobSubmitted e) {
      List<JobRun> next = new ArrayList<>(jobs);
      next.add(JobRun.queued(e.jobId(), e.spec(), e.submittedAtMillis()));
      // The stages of a pipeline (job-N.stage) share its number.
      long number = Math.max(nextJobNumber, jobNumber(e.jobId()) + 1);
      return new CoordinatorState(number, nextLeaseId, membershipEpoch, workers, next, audit, retired);
    } else if (event instanceof JobInitializationStarted e) {
      return withJob(e.jobId(), j -> j.withState(JobState.INITIALIZING));
    } else if (event instanceof MemberInitialized e) {
      return withJob(
              e.jobId(), j -> j.withMemberInitialized(e.member(), e.dataset(), e.parameterCount(), e.atMillis()))
          .replanned();
    } else if (event instanceof WorkerJoined e) {
      List<WorkerEntry> next = new ArrayList<>(workers);
      next.removeIf(w -> w.workerId().equals(e.workerId()));
      next.add(new WorkerEntry(e.workerId(), e.worker()));
      next.sort(Comparator.comparing(WorkerEntry::workerId));
      return with(membershipEpoch + 1, next, jobs).replanned();
    } else if (event instanceof WorkerDraining e) {
      List<WorkerEntry> next = workers.stream().map(w -> w.workerId().equals(e.workerId()) ? w.asDraining() : w).toList();
      return with(membershipEpoch + 1, next, jobs).replanned();
    } else if (event instanceof WorkerLeft e) {
      List<WorkerEntry> next = new ArrayList<>(workers);
      next.removeIf(w -> w.workerId().equals(e.workerId()));
      List<JobRun> released = new ArrayList<>();
      for (JobRun job : jobs) {
        released.add(job.isActive() ? releaseLeasesOf(job, e.workerId()) : job);
      }
      List<String> nextRetired = retired;
      if (e.drained()) {
        List<String> more = new ArrayList<>(retired);
        more.add(e.workerId());
        while (more.size() > RETIRED_KEPT) {
          more.remove(0);
        }
        nextRetired = more;
      }
      return new CoordinatorState(nextJobNumber, nextLeaseId, membershipEpoch + 1, next, released, audit, nextRetired)
          .replanned();
    } else if (event instanceof SplitLeased e) {
      return new CoordinatorState(nextJobNumber, e.leaseId() + 1, membershipEpoch, workers, jobs, audit, retired)
          .withJob(
              e.jobId(),
              j -> j.withMember(
                  e.member(), m -> m.withLedger(m.ledger().lease(e.split(), e.count(), e.leaseId(), e.workerId()))));
    } else if (event instanceof BackupLeased e) {
      return new CoordinatorState(nextJobNumber, e.leaseId() + 1, membershipEpoch, workers, jobs, audit, retired)
          .withJob(
              e.jobId(),
              j -> j.withMember(
                  e.member(), m -> m.withBackup(new MemberRun.Backup(e.leaseId(), e.originalLeaseId(), e.workerId()))));
    } else if (event instanceof SplitCompleted e) {
      List<WorkerEntry> measured =
          workers.stream()
              .map(w -> w.workerId().equals(e.workerId()) ? w.withSpeedSample(e.samples(), e.computeNanos()) : w)
              .toList();
      return with(membershipEpoch, measured, jobs)
          .withJob(
              e.jobId(),
              j -> j.withSplitCompleted(e.member(), e.leaseId(), e.count(), e.samples(), e.lossSum(), e.pushes()))
          .replanned();
    } else if (event instanceof LeaseReleased e) {
      return withJob(
          e.jobId(),
          j -> j.withMember(e.member(), m -> m.withLedger(m.ledger().release(e.leaseId())).withoutBackup(e.leaseId()))
              .evaluatingIfTrained());
    } else if (event instanceof GlobalBatchChanged e) {
      return withJob(e.jobId(), j -> j.withGlobalBatch(e.globalBatch(), e.learningRateScale())).replanned();
    } else if (event instanceof MemberEvaluated e) {
      return withJob(
          e.jobId(),
          j ->
              j.withMemberEvaluated(
                  e.member(),
                  new MemberResult(
                      e.member(), j.member(e.member()).name(), e.testSamples(), e.testAccuracy(), e.testLoss(),
                      e.validationAccuracy())));
    } else if (event instanceof CoordinatorEvent.MemberValidated e) {
      return withJob(e.jobId(), j -> j.withMember(e.member(), m -> m.withValidation(e.epoch(), e.accuracy())));
    } else if (event instanceof CoordinatorEvent.MemberStoppedEarly e) {
      // Its workers go to the members still training: a new membership epoch, so that each of
      // them is told its new share and (in ssp mode) the shards their new roster.
      return with(membershipEpoch + 1, workers, jobs)
          .withJob(e.jobId(), j -> j.withMemberStoppedEarly(e.member(), e.epoch()))
          .replanned();
    } else if (event instanceof CoordinatorEvent.EnsembleEvaluated e) {
      return withJob(e.jobId(), j -> j.withEnsembleEvaluated(e.result()));
    } else if (event instanceof JobFailed e) {
      return withJob(e.jobId(), j -> j.failed(e.reason()));
    } else if (event instanceof CheckpointStarted e) {
      return withJob(e.jobId(), j -> j.withCheckpointStarted(e.checkpointId(), e.atMillis()));
    } else if (event instanceof CheckpointCompleted e) {
      return withJob(e.jobId(), j -> j.withCheckpointCompleted(e.checkpointId(), e.positions(), e.kept()));
    } else if (event instanceof CheckpointAbandoned e) {
      return withJob(e.jobId(), j -> j.withCheckpointAbandoned(e.checkpointId()));
    } else if (event instanceof CheckpointDiscarded e) {
      return withJob(e.jobId(), j -> j.withCheckpointDiscarded(e.checkpointId()));
    } else if (event instanceof JobRewound e) {
      return withJob(e.jobId(), j -> j.rewoundTo(e.epoch(), e.checkpointId()));
    } else if (event instanceof JobRecovered e) {
      return withJob(e.jobId(), JobRun::recovered).replanned();
    } else if (event instanceof CoordinatorEvent.JobCancelled e) {
      return withJob(e.jobId(), j -> j.cancelled(e.reason())).replanned();
    } else if (event instanceof CoordinatorEvent.JobPaused e) {
      return withJob(e.jobId(), JobRun::paused);
    } else if (event instanceof CoordinatorEvent.MemberLearningRateSet e) {
      return withJob(e.jobId(), j -> j.withLearningRateFactor(e.member(), e.factor()));
    } else if (event instanceof CoordinatorEvent.JobResumed e) {
      return withJob(e.jobId(), JobRun::resumed);
    } else if (event instanceof CoordinatorEvent.JobArchived e) {
      return withJob(e.jobId(), JobRun::archived).retaining(e.retention());
    } else if (event instanceof OperatorCommandRecorded e) {
      List<AuditRecord> next = new ArrayList<>(audit);
      next.add(e.record());
      while (next.size() > AUDIT_KEPT) {
        next.remove(0);
      }
      return new CoordinatorState(nextJobNumber, nextLeaseId, membershipEpoch, workers, jobs, next, retired);
    }
    throw new IllegalArgumentException("unknown coordinator event " + event.getClass().getName());
  }

  /** N of {@code job-N} or {@code job-N.stage}; -1 for an id of another form. */
  static long jobNumber(String jobId) {
    String number = jobId.startsWith("job-") ? jobId.substring(4) : "";
    int dot = number.indexOf('.');
    try {
      return Long.parseLong(dot < 0 ? number : number.substring(0, dot));
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  private CoordinatorState withJob(String jobId, UnaryOperator<JobRun> change) {
    List<JobRun> next = new ArrayList<>(jobs.size());
    boolean found = false;
    for (JobRun job : jobs) {
      if (job.jobId().equals(jobId)) {
        next.add(change.apply(job));
        found = true;
      } else {
        next.add(job);
      }
    }
    if (!found) {
      throw new IllegalStateException("event for unknown job " + jobId);
    }
    return with(membershipEpoch, workers, next);
  }

  /**
   * Keeps the newest archived jobs, and any that a stage not yet finished reads; of those kept,
   * only the newest few keep their plans and loss curves; and the newest audit records.
   */
  private CoordinatorState retaining(CoordinatorEvent.Retention retention) {
    int finishedKept = retention.finishedKept();
    int detailedKept = retention.detailedKept();
    Set<String> read = new HashSet<>();
    jobs.stream().filter(j -> !j.state().isFinished()).forEach(j -> read.addAll(Stages.sources(j)));
    List<JobRun> archived = jobs.stream().filter(JobRun::isArchived).toList();
    Set<String> dropped = new HashSet<>();
    int excess = archived.size() - finishedKept;
    for (JobRun job : archived) {
      if (excess > 0 && !read.contains(job.jobId())) {
        dropped.add(job.jobId());
        excess--;
      }
    }
    List<JobRun> kept = archived.stream().filter(j -> !dropped.contains(j.jobId())).toList();
    Set<String> plain = new HashSet<>();
    for (int i = 0; i < kept.size() - detailedKept; i++) {
      if (kept.get(i).hasDetail()) {
        plain.add(kept.get(i).jobId());
      }
    }
    List<AuditRecord> keptAudit =
        audit.size() > retention.auditKept() ? audit.subList(audit.size() - retention.auditKept(), audit.size()) : audit;
    if (dropped.isEmpty() && plain.isEmpty() && keptAudit == audit) {
      return this;
    }
    List<JobRun> next = new ArrayList<>();
    for (JobRun job : jobs) {
      if (!dropped.contains(job.jobId())) {
        next.add(plain.contains(job.jobId()) ? job.withoutDetail() : job);
      }
    }
    return new CoordinatorState(nextJobNumber, nextLeaseId, membershipEpoch, workers, next, keptAudit, retired);
  }

  private static JobRun releaseLeasesOf(JobRun job, String workerId) {
    JobRun next = job;
    for (MemberRun member : job.members()) {
      if (member.ledger() != null) {
        next = next.withMember(member.member(), m -> m.withWorkerGone(workerId));
      }
    }
    return next.evaluatingIfTrained();
  }

  /**
   * Re-divides the schedulable workers among the running job's members that want work (training
   * and not stopped early), by the members' weights, and records a new plan for every member whose
   * workers, membership epoch or global batch changed. A plan in force is kept otherwise, so
   * measured speeds (which, in {@code sync} mode, size the shares) do not re-plan on every ack.
   * Deterministic, so replaying events yields the same plans.
   */
  private CoordinatorState replanned() {
    Optional<JobRun> running = activeJob().filter(j -> j.state() == JobState.RUNNING);
    if (running.isEmpty()) {
      return this;
    }
    JobRun job = running.get();
    List<Integer> training =
        job.members().stream().filter(MemberRun::wantsWork).map(MemberRun::member).toList();
    List<Double> weights = training.stream().map(m -> job.spec().members().get(m).weight()).toList();
    List<WorkerEntry> pool = schedulable();
    Map<Integer, List<String>> division =
        AccumulationPlanner.divide(pool.stream().map(WorkerEntry::workerId).toList(), training, weights);
    JobRun next = job;
    for (Map.Entry<Integer, List<String>> entry : division.entrySet()) {
      AccumulationPlan current = job.member(entry.getKey()).currentPlan();
      boolean sameWorkers =
          current != null
              && current.globalBatch() == job.globalBatch()
              && current.shares().stream().map(WorkerShare::workerId).toList().equals(entry.getValue());
      if (sameWorkers && current.membershipEpoch() == membershipEpoch) {
        continue;
      }
      List<WorkerShare> shares = sameWorkers ? current.shares() : shares(job, entry.getValue());
      AccumulationPlan plan = new AccumulationPlan(membershipEpoch, entry.getKey(), job.globalBatch(), shares);
      next = next.withMember(entry.getKey(), m -> m.withPlan(plan));
    }
    final JobRun replanned = next;
    return withJob(job.jobId(), j -> replanned);
  }

  /** Shares of a step for {@code workerIds}: by measured speed in {@code sync} mode, else even. */
  private List<WorkerShare> shares(JobRun job, List<String> workerIds) {
    List<Double> speeds =
        workerIds.stream()
            .map(id -> job.isSync() ? worker(id).map(WorkerEntry::samplesPerSecond).orElse(0.0) : 0.0)
            .toList();
    return AccumulationPlanner.shares(job.splitsPerStep(), workerIds, speeds);
  }
}
