package io.tessera.coordinator;

import akka.actor.typed.ActorRef;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.spec.JobSpec;
import java.util.List;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;

/** What the coordinator journals. Replayed in order, these rebuild its state exactly. */
public sealed interface CoordinatorEvent extends TesseraSerializable {

  /** A job was accepted and queued. */
  record JobSubmitted(String jobId, JobSpec spec, long submittedAtMillis) implements CoordinatorEvent {}

  /** The job reached the head of the queue; its members' shards are being set up. */
  record JobInitializationStarted(String jobId) implements CoordinatorEvent {}

  /** A worker built a member's model and all of its shards acknowledged their initial values. */
  record MemberInitialized(
      String jobId, int member, DatasetInfo dataset, int parameterCount, long atMillis)
      implements CoordinatorEvent {}

  /** A worker appeared in the Receptionist listing. */
  record WorkerJoined(String workerId, ActorRef<WorkerProtocol.Command> worker)
      implements CoordinatorEvent {}

  /**
   * A worker left the listing (stopped, or its node was downed), or finished draining ({@code
   * drained}); a drained worker is not taken back if a late listing still names it.
   */
  record WorkerLeft(String workerId, boolean drained) implements CoordinatorEvent {}

  /** An operator asked a worker to leave; it gets no new work and finishes what it holds. */
  record WorkerDraining(String workerId) implements CoordinatorEvent {}

  /** A lease was granted: a run of splits, or a backup copy of one. */
  sealed interface Leased extends CoordinatorEvent permits SplitLeased, BackupLeased {
    long leaseId();
  }

  /** Splits {@code [split, split + count)} of a member were leased to a worker. */
  record SplitLeased(String jobId, int member, int split, int count, long leaseId, String workerId)
      implements Leased {}

  /**
   * In {@code sync} mode with backup workers: an idle worker was leased a copy of lease {@code
   * originalLeaseId}'s contribution to the step in progress, under lease {@code leaseId}.
   */
  record BackupLeased(String jobId, int member, long originalLeaseId, long leaseId, String workerId)
      implements Leased {}

  /**
   * The worker holding a lease reported its pushes accepted: the first {@code count} splits of
   * the lease are acked (all of them, unless it drained mid-lease) and the rest goes back to the
   * pool.
   *
   * @param computeNanos the worker's compute time for those samples (its speed, for planning)
   */
  record SplitCompleted(
      String jobId,
      int member,
      int split,
      int count,
      long leaseId,
      String workerId,
      int samples,
      double lossSum,
      int pushes,
      long computeNanos)
      implements CoordinatorEvent {}

  /** A lease was given back unfinished; its splits are pending again. */
  record LeaseReleased(String jobId, int member, int split, long leaseId, String reason)
      implements CoordinatorEvent {}

  /**
   * An operator changed a running job's global batch; plans follow, and the learning rate is
   * scaled by {@code learningRateScale} from now on.
   */
  record GlobalBatchChanged(String jobId, int globalBatch, double learningRateScale)
      implements CoordinatorEvent {}

  /** A member's final parameters were measured on the test set. */
  record MemberEvaluated(
      String jobId, int member, int testSamples, double testAccuracy, double testLoss, double validationAccuracy)
      implements CoordinatorEvent {}

  /** Early stopping scored a training member on the validation split after epoch {@code epoch}. */
  record MemberValidated(String jobId, int member, int epoch, double accuracy) implements CoordinatorEvent {}

  /**
   * Early stopping ended a member's training after epoch {@code epoch}: its validation accuracy
   * has not beaten {@code bestAccuracy} (after epoch {@code bestEpoch}) for the stage's patience;
   * the splits it had not trained are skipped.
   */
  record MemberStoppedEarly(String jobId, int member, int epoch, int bestEpoch, double bestAccuracy)
      implements CoordinatorEvent {}

  /** A classifier stage's members were measured together on the test set. */
  record EnsembleEvaluated(String jobId, CoordinatorProtocol.EnsembleResult result) implements CoordinatorEvent {}

  /** The job cannot go on; {@code reason} says why. */
  record JobFailed(String jobId, String reason) implements CoordinatorEvent {}

  /** Checkpoint {@code checkpointId} was asked of every shard; it covers the splits acked now. */
  record CheckpointStarted(String jobId, long checkpointId, long atMillis) implements CoordinatorEvent {}

  /**
   * Every shard saved the checkpoint; the job keeps its newest {@code kept} complete checkpoints.
   */
  record CheckpointCompleted(
      String jobId, long checkpointId, List<CheckpointRecord.ShardPosition> positions, int kept)
      implements CoordinatorEvent {}

  /** Not every shard saved the checkpoint in time; the one before stays the newest. */
  record CheckpointAbandoned(String jobId, long checkpointId, String reason) implements CoordinatorEvent {}

  /** A shard could not read its part of a complete checkpoint; it is no longer used. */
  record CheckpointDiscarded(String jobId, long checkpointId, String reason) implements CoordinatorEvent {}

  /**
   * A shard was lost (or a checkpoint discarded): the job goes back to checkpoint {@code
   * checkpointId} in recovery epoch {@code epoch}, and its ledgers to that checkpoint's cut.
   */
  record JobRewound(String jobId, long epoch, long checkpointId, String reason) implements CoordinatorEvent {}

  /** Every shard runs in the new epoch from the checkpoint; the job goes on. */
  record JobRecovered(String jobId, long epoch) implements CoordinatorEvent {}

  /** An operator cancelled the job; it is over, and the leases out are void. */
  record JobCancelled(String jobId, String reason) implements CoordinatorEvent {}

  /**
   * An operator paused the job: it leaves its turn, its leases and the checkpoint it was taking
   * are void, its shards stop; ledgers and checkpoints stay for when it is resumed.
   */
  record JobPaused(String jobId) implements CoordinatorEvent {}

  /**
   * An operator set member {@code member}'s learning rate: its scheduled rate is multiplied by
   * {@code factor} (the new rate over the spec's) from its next step on.
   */
  record MemberLearningRateSet(String jobId, int member, double factor) implements CoordinatorEvent {}

  /** An operator resumed a paused job: it is queued again, ahead of jobs submitted after it. */
  record JobResumed(String jobId) implements CoordinatorEvent {}

  /**
   * A finished job was archived (see {@code JobRun.archived}) and its shards told to stop; the
   * coordinator's state is then trimmed to {@code retention}.
   */
  record JobArchived(String jobId, Retention retention) implements CoordinatorEvent {}

  /**
   * How much history the coordinator's state keeps, recorded with each archiving so that a replay
   * trims exactly as the coordinator did.
   *
   * @param finishedKept archived jobs kept, the newest (and any that a stage not yet finished
   *     reads)
   * @param detailedKept of those, the newest that keep their accumulation plans and loss curves
   * @param auditKept the newest audit records kept (the journal holds every one)
   */
  record Retention(int finishedKept, int detailedKept, int auditKept) implements TesseraSerializable {
    public Retention {
      if (finishedKept < 1 || detailedKept < 0 || detailedKept > finishedKept || auditKept < 1) {
        throw new IllegalArgumentException(
            "tessera.coordinator: finished-jobs-kept and audit-kept must be at least 1, finished-jobs-detailed in"
                + " 0..finished-jobs-kept; were " + finishedKept + ", " + auditKept + " and " + detailedKept);
      }
    }
  }

  /** An operator command was acknowledged (the audit log). */
  record OperatorCommandRecorded(CoordinatorProtocol.AuditRecord record) implements CoordinatorEvent {}
}
