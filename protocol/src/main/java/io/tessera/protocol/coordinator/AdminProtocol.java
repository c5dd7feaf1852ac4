package io.tessera.protocol.coordinator;

import akka.actor.typed.ActorRef;
import akka.pattern.StatusReply;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditLog;
import io.tessera.protocol.coordinator.CoordinatorProtocol.CheckpointRequested;
import io.tessera.protocol.coordinator.CoordinatorProtocol.DrainStarted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.GlobalBatchSet;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobAccepted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobCancelled;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobList;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.PipelineAccepted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardStatuses;
import io.tessera.protocol.coordinator.CoordinatorProtocol.TrainingCurve;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerList;
import io.tessera.protocol.spec.JobSpec;
import java.util.List;

/**
 * What operators ask of the coordinator (jobs, their checkpoints, workers, the audit log), apart
 * from what workers and shards say to it while a job trains ({@link CoordinatorProtocol}); the
 * answers' data types (job status, worker listing, ...) live there. The coordinator answers every command with a {@link StatusReply}
 * whose error says what was wrong (an unknown job, a job in a state that does not allow it), and
 * journals and audits each one it acknowledges, so that none is lost in a fail-over.
 *
 * <p>A {@code jobId} may name a pipeline ({@code job-N}): pause and resume then apply to each of
 * its stages that allows it.
 */
public final class AdminProtocol {
  private AdminProtocol() {}

  /** The operator commands, served by the coordinator next to the commands of the training protocol. */
  public sealed interface Command extends CoordinatorProtocol.Command
      permits SubmitJob,
          SubmitPipeline,
          GetJobStatus,
          ListJobs,
          GetAccumulationHistory,
          RequestCheckpoint,
          CancelJob,
          GetAuditLog,
          DrainWorkers,
          SetGlobalBatch,
          ListWorkers,
          GetTrainingCurve,
          GetShardStatuses,
          PauseJob,
          ResumeJob,
          RestoreCheckpoint,
          ListCheckpoints,
          SetLearningRate {}

  /** Queues a job; replies {@link JobAccepted} with the id it will be known by. */
  public record SubmitJob(JobSpec spec, ActorRef<StatusReply<JobAccepted>> replyTo)
      implements Command {}

  /**
   * Queues a job of several stages, run in order; replies {@link PipelineAccepted} with the id of
   * each stage's job ({@code job-N.<stage>}). A later stage fails if a stage it builds on failed.
   */
  public record SubmitPipeline(
      io.tessera.protocol.spec.PipelineSpec pipeline, ActorRef<StatusReply<PipelineAccepted>> replyTo)
      implements Command {}

  /** Replies the {@link JobStatus} of one job, or an error naming the unknown id. */
  public record GetJobStatus(String jobId, ActorRef<StatusReply<JobStatus>> replyTo)
      implements Command {}

  /** Replies every known job's {@link JobStatus}, oldest first. */
  public record ListJobs(ActorRef<JobList> replyTo) implements Command {}

  /** Replies the {@link AccumulationHistory} of a job: every plan of k's it handed out. */
  public record GetAccumulationHistory(
      String jobId, ActorRef<StatusReply<AccumulationHistory>> replyTo) implements Command {}

  /** An operator asks for a checkpoint now; replies the id of the checkpoint started. */
  public record RequestCheckpoint(String jobId, ActorRef<StatusReply<CheckpointRequested>> replyTo)
      implements Command {}

  /**
   * An operator stops a job that is queued or running: its leases end (workers drop them without
   * pushing), its parameter shards stop, and it ends {@link JobState#CANCELLED}; journaled and
   * audited. {@code jobId} may be a pipeline's id ({@code job-N}), which cancels every stage of it
   * that has not finished. A later stage that reads a cancelled one fails when its turn comes.
   * Replies {@link JobCancelled} naming the jobs cancelled, or an error naming an unknown or
   * already finished job.
   */
  public record CancelJob(String jobId, ActorRef<StatusReply<JobCancelled>> replyTo) implements Command {}

  /** Replies the {@link AuditLog}: the operator commands the coordinator acknowledged. */
  public record GetAuditLog(ActorRef<AuditLog> replyTo) implements Command {}

  /**
   * An operator asks workers to leave: {@code target} is a worker id, or a node address ({@code
   * akka://tessera@host:port}) for every worker on that node. Each finishes the window it is in,
   * pushes it, acks what it trained, gives back the rest of its lease and leaves the pool.
   * Replies {@link DrainStarted}, or an error naming an unknown target.
   */
  public record DrainWorkers(String target, ActorRef<StatusReply<DrainStarted>> replyTo) implements Command {}

  /**
   * An operator changes a running job's global batch. Accumulation counts are re-planned so the
   * workers' micro-batches add up to the new batch, and the learning rate follows the job's {@code
   * learning-rate-scaling}. Replies {@link GlobalBatchSet}, or an error (not running, not a
   * multiple of the micro-batch).
   */
  public record SetGlobalBatch(String jobId, int globalBatch, ActorRef<StatusReply<GlobalBatchSet>> replyTo)
      implements Command {}

  /** Replies the {@link WorkerList}: the live workers and the recently drained ones. */
  public record ListWorkers(ActorRef<WorkerList> replyTo) implements Command {}

  /**
   * Replies the {@link TrainingCurve} of one member: the mean training loss of every optimizer
   * step, in {@code sync} mode (where a step is an exact set of samples); empty in other modes.
   */
  public record GetTrainingCurve(String jobId, int member, ActorRef<StatusReply<TrainingCurve>> replyTo)
      implements Command {}

  /**
   * Replies the {@link ShardStatuses} of every parameter shard of a job's members (counters:
   * version, epoch, accepted, stale and duplicate pushes, the workers that pushed), or an error
   * naming an unknown job or a shard that did not answer.
   */
  public record GetShardStatuses(String jobId, ActorRef<StatusReply<ShardStatuses>> replyTo) implements Command {}

  /**
   * Stops a queued or running job without ending it: no more leases, the workers drop the ones
   * they hold (and the job's models), its parameter shards stop after keeping their state in the
   * journal, and the next queued job may run meanwhile. The job keeps its checkpoints; on {@link
   * ResumeJob} it goes back to the newest (work since then is trained again), so take a checkpoint
   * first to keep it ({@code bin/tessera pause} does). A job initialising or evaluating cannot be
   * paused. Replies {@link JobsChanged} naming the jobs paused.
   */
  public record PauseJob(String jobId, ActorRef<StatusReply<JobsChanged>> replyTo) implements Command {}

  /**
   * Puts a paused job back in the queue, ahead of jobs submitted after it. When its turn comes,
   * every shard is rewound to the job's newest checkpoint in a new recovery epoch and training goes
   * on from there (a job paused before it started starts afresh). Replies {@link JobsChanged}.
   */
  public record ResumeJob(String jobId, ActorRef<StatusReply<JobsChanged>> replyTo) implements Command {}

  /** The jobs a pause or resume applied to. */
  public record JobsChanged(List<String> jobIds) implements TesseraSerializable {
    public JobsChanged {
      jobIds = List.copyOf(jobIds);
    }
  }

  /**
   * Takes a running, recovering or paused job back to one of its checkpoints ({@link
   * ListCheckpoints}): the checkpoints after it are dropped, and the job rewinds to it as after a
   * lost shard (a paused job does so when resumed). Replies {@link CheckpointRestored}.
   */
  public record RestoreCheckpoint(String jobId, long checkpointId, ActorRef<StatusReply<CheckpointRestored>> replyTo)
      implements Command {}

  /**
   * @param checkpointsDropped the newer checkpoints given up
   */
  public record CheckpointRestored(String jobId, long checkpointId, List<Long> checkpointsDropped)
      implements TesseraSerializable {
    public CheckpointRestored {
      checkpointsDropped = List.copyOf(checkpointsDropped);
    }
  }

  /** Replies the job's complete checkpoints, oldest first ({@link CheckpointList}). */
  public record ListCheckpoints(String jobId, ActorRef<StatusReply<CheckpointList>> replyTo) implements Command {}

  public record CheckpointList(String jobId, List<CheckpointInfo> checkpoints) implements TesseraSerializable {
    public CheckpointList {
      checkpoints = List.copyOf(checkpoints);
    }
  }

  /**
   * One complete checkpoint.
   *
   * @param checkpointId 0 is the initial values
   * @param startedAtMillis when it was started (the splits acknowledged then are the ones it holds)
   * @param splitsDone of {@code splitsTotal}, the splits (micro-batches) it includes, over every
   *     member; -1 for a finished job's checkpoints, whose ledgers are no longer kept
   * @param shards shards that saved their part
   */
  public record CheckpointInfo(long checkpointId, long startedAtMillis, long splitsDone, long splitsTotal, int shards)
      implements TesseraSerializable {}

  /**
   * Sets member {@code member}'s learning rate (its peak rate: the schedule's warm-up and decay
   * still apply) of a job that has not finished, from the member's next step on. The coordinator
   * keeps it as a factor on the spec's rate; a later change of the global batch scales it further.
   * Replies {@link LearningRateSet}, or an error (no such job or member, a rate that is not a
   * positive number, or more than {@link #MAX_LEARNING_RATE_FACTOR} times the spec's).
   */
  public record SetLearningRate(
      String jobId, int member, double learningRate, ActorRef<StatusReply<LearningRateSet>> replyTo)
      implements Command {}

  /** How far from the spec's rate an operator may move a member's: either way. */
  public static final double MAX_LEARNING_RATE_FACTOR = 1_000;

  /**
   * @param factor the new rate over the spec's
   */
  public record LearningRateSet(String jobId, int member, double learningRate, double factor)
      implements TesseraSerializable {}
}
