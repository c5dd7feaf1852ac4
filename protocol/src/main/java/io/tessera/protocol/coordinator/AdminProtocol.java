package io.tessera.protocol.coordinator;

import akka.actor.typed.ActorRef;
import akka.pattern.StatusReply;
import io.tessera.protocol.TesseraSerializable;
import java.util.List;

/**
 * What operators ask of a job's life, as opposed to what workers and shards say while it trains
 * ({@link CoordinatorProtocol}). The coordinator answers every command with a {@link StatusReply}
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
      permits PauseJob, ResumeJob, RestoreCheckpoint, ListCheckpoints, SetLearningRate {}

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
