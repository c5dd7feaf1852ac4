package io.tessera.protocol.coordinator;

import akka.actor.typed.ActorRef;
import akka.pattern.StatusReply;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.worker.WorkerProtocol;
import java.util.List;

/** What workers and operators say to the coordinator, a Cluster Singleton on role coordinator. */
public final class CoordinatorProtocol {
  private CoordinatorProtocol() {}

  /** Everything the coordinator accepts from other nodes. */
  public sealed interface Command extends TesseraSerializable
      permits RequestLease,
          CompleteSplit,
          LeaseProgress,
          ReleaseLease,
          ResolveShardRecovery,
          ReportCorruptCheckpoint,
          DrainCompleted,
          AdminProtocol.Command,
          Local {}

  /**
   * The coordinator's own timer and adapter messages, declared in its behavior. They never cross
   * a node, so none is registered with the serializer: sending one remotely fails loudly, and
   * Akka's serialize-messages check (used in tests) skips them.
   */
  public non-sealed interface Local extends Command, akka.actor.NoSerializationVerificationNeeded {}


  public record JobAccepted(String jobId) implements TesseraSerializable {}


  public record PipelineAccepted(String pipelineId, List<String> jobIds) implements TesseraSerializable {}



  public record JobList(List<JobStatus> jobs) implements TesseraSerializable {}


  /**
   * An idle worker asks for work; replies {@link LeaseReply}.
   *
   * <p>{@code askId} numbers the worker's asks (this and {@link CompleteSplit}), rising with each
   * one it sends. A worker asks only when it holds no lease, so a lease the coordinator still
   * counts as held by it was granted to an ask whose answer it never got (lost, or it gave up
   * waiting): that lease is taken back, its splits going out again at once rather than when the
   * lease expires. An ask whose {@code askId} is not above the newest one seen from the worker is
   * a copy or overtaken, and is not answered.
   */
  public record RequestLease(ActorRef<WorkerProtocol.Command> worker, long askId, ActorRef<LeaseReply> replyTo)
      implements Command {}

  /**
   * A worker finished every push of a leased split and all were accepted; the split is acked and
   * the reply carries the worker's next lease, if there is one. {@code askId}: as in {@link
   * RequestLease}; any lease the worker holds besides {@code leaseId} is taken back.
   */
  public record CompleteSplit(
      ActorRef<WorkerProtocol.Command> worker,
      long leaseId,
      SplitReport report,
      long askId,
      ActorRef<LeaseReply> replyTo)
      implements Command {}

  /**
   * A worker's running account of a lease, sent after each window that every shard took (applied,
   * or had already) except the last, which {@link CompleteSplit} reports: {@code report} covers the
   * lease's samples from its start up to there. It is a sign of life, so the lease does not expire
   * while its holder makes progress ({@code tessera.coordinator.lease-timeout}), and it is what the
   * coordinator acknowledges of the lease if the lease ends without a completion (its holder gives
   * it back, leaves, or goes silent), so only the rest is leased again. Not journaled: a
   * coordinator that restarts has the rest, and the shards refuse to apply a split twice. No reply.
   */
  public record LeaseProgress(ActorRef<WorkerProtocol.Command> worker, long leaseId, SplitReport report)
      implements Command {}

  /**
   * A worker gives a lease back unfinished; its splits are leased again. {@code failed}: the worker
   * could not train it (repeated failures keep a worker from new leases for a while); otherwise it
   * is stopping, or the lease was overtaken (a {@code sync} step moved on without it).
   */
  public record ReleaseLease(ActorRef<WorkerProtocol.Command> worker, long leaseId, String reason, boolean failed)
      implements Command {}

  /**
   * A parameter shard is starting (for the first time, after a crash, after a move, or because it
   * was told to rewind) and asks where to start from. Replies {@link ShardRecoveryPlan}. A shard of
   * a running job that starts without having been told to is a lost shard: the coordinator rewinds
   * the whole job to its last complete checkpoint.
   */
  public record ResolveShardRecovery(
      String jobId, int member, int shard, ActorRef<ShardRecoveryPlan> replyTo) implements Command {}

  /**
   * Where a starting shard begins.
   *
   * @param epoch the recovery epoch it joins
   * @param checkpointId the checkpoint to restore; -1 when the shard is new and waits for its
   *     initial values
   * @param sequenceNr the journal position of that checkpoint's snapshot in the shard's journal
   * @param finished the job is not training (completed, failed, cancelled, paused, or no longer
   *     known): the shard serves pulls of that checkpoint (a later stage reads it) but takes no
   *     push, set-up or checkpoint, and stops once idle; a paused job's shards are rewound to a
   *     live plan when it resumes
   * @param leaseFence every lease issued before this one is void: a shard starts (or restarts,
   *     after a rewind voided every lease out) refusing their pushes, as after a {@code
   *     ShardProtocol.FenceLeases} with no live lease; 0 fences nothing
   */
  public record ShardRecoveryPlan(long epoch, long checkpointId, long sequenceNr, boolean finished, long leaseFence)
      implements TesseraSerializable {
    /** The plan of a shard whose job is live, fencing no lease. */
    public ShardRecoveryPlan(long epoch, long checkpointId, long sequenceNr) {
      this(epoch, checkpointId, sequenceNr, false, 0);
    }

    /** A plan fencing no lease. */
    public ShardRecoveryPlan(long epoch, long checkpointId, long sequenceNr, boolean finished) {
      this(epoch, checkpointId, sequenceNr, finished, 0);
    }

    public boolean isFresh() {
      return checkpointId < 0;
    }
  }

  /**
   * A shard found the snapshot of a checkpoint unreadable; the coordinator discards that
   * checkpoint and rewinds the job to the one before.
   */
  public record ReportCorruptCheckpoint(
      String jobId, int member, int shard, long checkpointId, String reason) implements Command {}


  public record CheckpointRequested(String jobId, long checkpointId) implements TesseraSerializable {}


  public record JobCancelled(List<String> jobIds) implements TesseraSerializable {
    public JobCancelled {
      jobIds = List.copyOf(jobIds);
    }
  }


  public record AuditLog(List<AuditRecord> records) implements TesseraSerializable {}

  /**
   * One acknowledged operator command.
   *
   * @param command what was asked, e.g. {@code submit}
   * @param detail the job it concerned and anything else worth keeping
   */
  public record AuditRecord(long sequence, long atMillis, String command, String detail)
      implements TesseraSerializable {}


  public record DrainStarted(List<String> workerIds) implements TesseraSerializable {}

  /** A draining worker has acked its work and leaves; it takes no more leases. */
  public record DrainCompleted(ActorRef<WorkerProtocol.Command> worker) implements Command {}


  public record GlobalBatchSet(String jobId, int globalBatch, double learningRateScale)
      implements TesseraSerializable {}


  public record WorkerList(List<WorkerInfo> workers) implements TesseraSerializable {}

  /**
   * One worker as the coordinator sees it.
   *
   * @param state {@code training}, {@code idle}, {@code draining} or {@code drained}
   * @param member the member it trains in the active job, or -1
   * @param accumulationSteps its {@code k} under the current plan (0 when it has no share)
   * @param drainMillis for a drained worker, the time from the drain request to its departure
   */
  public record WorkerInfo(
      String workerId, String state, int member, int accumulationSteps, int leasesHeld, long drainMillis)
      implements TesseraSerializable {}


  public record TrainingCurve(String jobId, int member, List<Double> stepLosses) implements TesseraSerializable {}


  public record ShardStatuses(String jobId, List<io.tessera.protocol.ps.ShardProtocol.ShardStatus> shards)
      implements TesseraSerializable {}

  /** The answer to a lease request. */
  public sealed interface LeaseReply extends TesseraSerializable permits LeaseGranted, NoLease {}

  public record LeaseGranted(Lease lease) implements LeaseReply {}

  /**
   * No work now; ask again after {@code retryAfterMillis} or when nudged.
   *
   * @param reason why not, as a type to branch on; {@link #describe()} words it for logs
   */
  public record NoLease(NoLeaseReason reason, long retryAfterMillis) implements LeaseReply {
    public NoLease {
      java.util.Objects.requireNonNull(reason, "reason");
    }

    /** The reason in words, as logged. */
    public String describe() {
      return reason.describe();
    }
  }

  /**
   * Why the coordinator gives a worker no lease: one type per kind of answer. Branch on the type,
   * never on {@link #describe()}, which is for people.
   */
  public sealed interface NoLeaseReason extends TesseraSerializable
      permits NoLeaseReason.NotListed,
          NoLeaseReason.Draining,
          NoLeaseReason.BackingOff,
          NoLeaseReason.NoJobRunning,
          NoLeaseReason.JobNotLeasing,
          NoLeaseReason.SurplusWorker,
          NoLeaseReason.StepsTaken,
          NoLeaseReason.SplitsTaken,
          NoLeaseReason.AtBarrier {
    /** The reason in words, for logs. */
    String describe();

    /** The worker is not (yet) in the coordinator's Receptionist listing. */
    record NotListed() implements NoLeaseReason {
      @Override
      public String describe() {
        return "worker is not in the Receptionist listing yet";
      }
    }

    /** The worker is draining: it finishes what it holds and takes nothing new. */
    record Draining() implements NoLeaseReason {
      @Override
      public String describe() {
        return "worker is draining";
      }
    }

    /** The worker gave back {@code failures} leases in a row and is benched for a while. */
    record BackingOff(int failures) implements NoLeaseReason {
      @Override
      public String describe() {
        return "worker failed " + failures + " leases in a row";
      }
    }

    /** No job is active (none queued, or none can start). */
    record NoJobRunning() implements NoLeaseReason {
      @Override
      public String describe() {
        return "no job is running";
      }
    }

    /**
     * The active job hands out no lease to this worker: it is not {@code RUNNING} (initializing,
     * recovering, evaluating, paused...), or, when it is, its current plan has no share for the
     * worker.
     */
    record JobNotLeasing(String jobId, JobState state) implements NoLeaseReason {
      @Override
      public String describe() {
        return "job " + jobId + " is " + state;
      }
    }

    /** There are more workers than micro-batches per step; this one has no share and waits. */
    record SurplusWorker() implements NoLeaseReason {
      @Override
      public String describe() {
        return "more workers than micro-batches per step; this one waits";
      }
    }

    /** In {@code sync} mode, every step of {@code member} is taken (no round is open). */
    record StepsTaken(int member) implements NoLeaseReason {
      @Override
      public String describe() {
        return "every step of member " + member + " is taken";
      }
    }

    /** In {@code async} or {@code ssp} mode, every split of {@code member} is leased or done. */
    record SplitsTaken(int member) implements NoLeaseReason {
      @Override
      public String describe() {
        return "every split of member " + member + " is leased or done";
      }
    }

    /**
     * The worker waits for the step (or the checkpoint) to move on. The coordinator may hold such
     * an ask and answer it with a lease as soon as work opens.
     */
    sealed interface AtBarrier extends NoLeaseReason
        permits CheckpointDue,
            CheckpointDueBetweenSteps,
            CheckpointTaking,
            CheckpointTakingBetweenSteps,
            AwaitingContributions {
      /** What the worker waits for. */
      String waitsFor();

      @Override
      default String describe() {
        return "sync barrier: " + waitsFor();
      }
    }

    /** A checkpoint is wanted ({@code async}/{@code ssp}); the leases out finish first. */
    record CheckpointDue() implements AtBarrier {
      @Override
      public String waitsFor() {
        return "a checkpoint is due; the leases out finish first";
      }
    }

    /** A checkpoint is wanted ({@code sync}); a member at its step boundary waits for it. */
    record CheckpointDueBetweenSteps() implements AtBarrier {
      @Override
      public String waitsFor() {
        return "a checkpoint is due between two steps";
      }
    }

    /** A checkpoint is being taken ({@code async}/{@code ssp}); no new lease may push before it. */
    record CheckpointTaking() implements AtBarrier {
      @Override
      public String waitsFor() {
        return "a checkpoint is being taken";
      }
    }

    /** A checkpoint is being taken between two steps ({@code sync}). */
    record CheckpointTakingBetweenSteps() implements AtBarrier {
      @Override
      public String waitsFor() {
        return "a checkpoint is being taken between two steps";
      }
    }

    /** The step's work is all out ({@code sync}); the next opens once every contribution is acked. */
    record AwaitingContributions() implements AtBarrier {
      @Override
      public String waitsFor() {
        return "waiting for the other contributions to this step";
      }
    }
  }

  /**
   * The right to train one split of one member.
   *
   * @param leaseId unique across the coordinator's life
   * @param membershipEpoch the worker membership this lease was planned for
   * @param accumulationSteps micro-batches per push ({@code k}) under that membership; in {@code
   *     sync} mode the lease is one contribution to a step, pushed at once
   * @param trainSize training samples the coordinator expects the worker to see
   * @param rule how the step the lease's pushes contribute to is taken
   * @param datasetFingerprint the fingerprint of the data the job's members were set up on (see
   *     {@code DatasetInfo}); a worker whose data differs gives the lease back rather than train on
   *     other images. Empty: not checked.
   */
  public record Lease(
      long leaseId,
      String jobId,
      int member,
      long membershipEpoch,
      Split split,
      int accumulationSteps,
      int trainSize,
      JobSpec spec,
      StepRule rule,
      WorkerProtocol.StageInputs inputs,
      String datasetFingerprint)
      implements TesseraSerializable {
    /** A lease whose data is checked by size only. */
    public Lease(
        long leaseId,
        String jobId,
        int member,
        long membershipEpoch,
        Split split,
        int accumulationSteps,
        int trainSize,
        JobSpec spec,
        StepRule rule,
        WorkerProtocol.StageInputs inputs) {
      this(leaseId, jobId, member, membershipEpoch, split, accumulationSteps, trainSize, spec, rule, inputs, "");
    }
  }

  /**
   * Positions {@code [from, to)} of epoch {@code epoch}'s shuffled order of training samples.
   *
   * @param index the split's number within its epoch
   */
  public record Split(int epoch, int index, int from, int to) implements TesseraSerializable {
    public int size() {
      return to - from;
    }
  }

  /** What a worker measured while training a split. */
  public record SplitReport(
      int samples, double lossSum, int pushes, int stalePushes, long computeNanos)
      implements TesseraSerializable {}

  /** Where a job is in its life. */
  public enum JobState {
    QUEUED,
    INITIALIZING,
    RUNNING,
    /** Rewinding every shard to the last complete checkpoint after a shard was lost. */
    RECOVERING,
    EVALUATING,
    COMPLETED,
    FAILED,
    /** Stopped by an operator before it completed. */
    CANCELLED,
    /**
     * Stopped by an operator, to be resumed: no leases, shards stopped, checkpoints kept. (Last,
     * because the journal stores a state by its position.)
     */
    PAUSED;

    public boolean isFinished() {
      return this == COMPLETED || this == FAILED || this == CANCELLED;
    }
  }

  /**
   * A job's progress.
   *
   * @param samplesDone training samples in acknowledged splits
   * @param samplesTotal training samples of the whole job: every member's epochs, less the splits
   *     early stopping skipped
   * @param recentLoss mean training loss over the most recently acknowledged splits (NaN before)
   * @param samplesPerSecond acknowledged samples per second over the last reporting interval
   * @param results each member's test result once evaluated
   * @param failure why the job failed or was cancelled, or empty
   * @param recoveryEpoch how many times the job was rewound to a checkpoint
   * @param lastCheckpointId the newest complete checkpoint (0: the initial values, -1: none)
   * @param stage the stage of its pipeline this job is ({@code main} for a one-stage job)
   * @param kind what the stage trains
   * @param ensemble the members measured together, once a stage of several classifier members is
   *     evaluated; null before and for other stages
   * @param stoppedAfterEpoch per member (in member order, once the job runs), the epoch after
   *     which early stopping ended its training; -1 for a member that trains, or trained, every
   *     epoch
   */
  public record JobStatus(
      String jobId,
      String name,
      JobState state,
      long samplesDone,
      long samplesTotal,
      int splitsDone,
      int splitsTotal,
      int liveWorkers,
      long membershipEpoch,
      double recentLoss,
      double samplesPerSecond,
      List<MemberResult> results,
      String failure,
      long recoveryEpoch,
      long lastCheckpointId,
      String stage,
      io.tessera.protocol.spec.StageKind kind,
      EnsembleResult ensemble,
      List<Integer> stoppedAfterEpoch)
      implements TesseraSerializable {}

  /**
   * One member's final result.
   *
   * @param testAccuracy on the test set (zero-shot for a {@code flip} stage; NaN for {@code
   *     mae-pretrain}, which reports only its loss)
   * @param testLoss the mean test loss (the masked-patch error for {@code mae-pretrain})
   * @param validationAccuracy on the validation split; NaN without one
   */
  public record MemberResult(
      int member, String name, int testSamples, double testAccuracy, double testLoss, double validationAccuracy)
      implements TesseraSerializable {
    /** A classifier's result without loss and validation figures. */
    public MemberResult(int member, String name, int testSamples, double testAccuracy) {
      this(member, name, testSamples, testAccuracy, Double.NaN, Double.NaN);
    }
  }

  /**
   * A classifier stage's members measured together on the test set.
   *
   * @param averaged accuracy of the averaged probabilities
   * @param majority accuracy of the majority vote
   * @param revoted accuracy of per-class re-voting (votes weighed by validation precision)
   */
  public record EnsembleResult(int testSamples, double averaged, double majority, double revoted)
      implements TesseraSerializable {}

  /** Every accumulation plan the coordinator made for a job, in order. */
  public record AccumulationHistory(
      String jobId, int globalBatch, int microBatch, List<AccumulationPlan> plans)
      implements TesseraSerializable {}

  /**
   * The k of each worker of one member under one worker membership.
   *
   * @param globalBatch the job's global batch the plan is for (an operator may change it)
   */
  public record AccumulationPlan(long membershipEpoch, int member, int globalBatch, List<WorkerShare> shares)
      implements TesseraSerializable {
    /** Micro-batches per round over all workers; times micro-batch it is the global batch. */
    public int totalMicroBatches() {
      return shares.stream().mapToInt(WorkerShare::accumulationSteps).sum();
    }
  }

  public record WorkerShare(String workerId, int accumulationSteps) implements TesseraSerializable {}
}
