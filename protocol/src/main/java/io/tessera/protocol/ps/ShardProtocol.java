package io.tessera.protocol.ps;

import akka.actor.typed.ActorRef;
import akka.cluster.sharding.typed.javadsl.EntityTypeKey;
import akka.pattern.StatusReply;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.WirePrecision;
import java.util.List;

/**
 * What workers (and the coordinator) say to a parameter shard, a Cluster Sharding entity on role
 * {@code ps} that owns one slice of one ensemble member's parameters.
 */
public final class ShardProtocol {
  /** The sharded entity type; entity ids come from {@link #entityId}. */
  public static final EntityTypeKey<Command> ENTITY_TYPE_KEY =
      EntityTypeKey.create(Command.class, "ParameterShard");

  private ShardProtocol() {}

  /** The entity id of shard {@code shard} of member {@code member} of job {@code jobId}. */
  public static String entityId(String jobId, int member, int shard) {
    // '|' would clash with Akka's persistence-id separator; ':' cannot occur in a job id.
    return jobId + ":m" + member + ":s" + shard;
  }

  /** Which job, member and shard an entity id names. */
  public record ShardAddress(String jobId, int member, int shard) {
    /**
     * Reads an id made by {@link #entityId}.
     *
     * @throws IllegalArgumentException for anything else
     */
    public static ShardAddress parse(String entityId) {
      String[] parts = entityId.split(":");
      if (parts.length != 3 || !parts[1].startsWith("m") || !parts[2].startsWith("s")) {
        throw new IllegalArgumentException("not a parameter-shard entity id: " + entityId);
      }
      try {
        return new ShardAddress(
            parts[0], Integer.parseInt(parts[1].substring(1)), Integer.parseInt(parts[2].substring(1)));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("not a parameter-shard entity id: " + entityId, e);
      }
    }

    public String entityId() {
      return ShardProtocol.entityId(jobId, member, shard);
    }
  }

  /** Everything a parameter shard accepts. */
  public sealed interface Command extends TesseraSerializable
      permits Initialize,
          Pull,
          Push,
          GetStatus,
          TakeCheckpoint,
          RewindTo,
          ConfirmEpoch,
          UpdateRoster,
          FenceLeases,
          StopShard,
          Local {}

  /**
   * A shard's own messages (recovery plans, timers), declared in its behavior. They never cross a
   * node and are not registered with the serializer.
   */
  public non-sealed interface Local extends Command, akka.actor.NoSerializationVerificationNeeded {}

  /**
   * Gives a fresh shard its rules and initial values (fp32). Idempotent: a shard that already holds
   * parameters keeps them and answers {@code Initialized(fresh = false)}.
   */
  public record Initialize(
      ShardSetup setup, TensorPayload values, ActorRef<StatusReply<Initialized>> replyTo)
      implements Command {}

  /**
   * The slice and rules of one shard.
   *
   * @param range where the slice sits in the member's flat parameter vector
   * @param segments the tensors (or parts) inside the slice, for weight-decay masks and reports
   * @param globalBatch samples per optimizer step
   * @param staleness the most versions a push's base may lag behind
   * @param totalSteps planned optimizer steps, for the learning-rate schedule
   */
  public record ShardSetup(
      String jobId,
      int member,
      ShardRange range,
      List<Segment> segments,
      OptimizerSpec optimizer,
      int globalBatch,
      int staleness,
      long totalSteps,
      TrainingMode mode,
      boolean stalenessDamping)
      implements TesseraSerializable {}

  /** Reply to {@link Initialize}: the shard's version, and whether this call set it up. */
  public record Initialized(long version, boolean fresh) implements TesseraSerializable {}

  /**
   * Asks for the current parameters; replies {@link Pulled}, or an error if not initialised. In
   * {@code ssp} mode a training worker's pull (a non-empty {@code workerId}) is answered only
   * once that worker is no more than the staleness bound ahead of its member's slowest worker.
   */
  public record Pull(WirePrecision precision, String workerId, ActorRef<StatusReply<Pulled>> replyTo)
      implements Command {}

  /**
   * The shard's parameters as of {@code version} (the number of optimizer steps applied) in
   * recovery epoch {@code epoch}. Slices of one pull belong together only if their epochs agree.
   */
  public record Pulled(int shard, long epoch, long version, TensorPayload values)
      implements TesseraSerializable {}

  /**
   * Offers the sum of per-sample gradients over {@code samples} samples, computed on parameters of
   * {@code baseVersion} pulled in recovery epoch {@code epoch}. {@code (workerId, seq)} identifies
   * the push: a retry with the same pair is applied once. A push from another epoch is stale.
   * {@code rule} says which step the push belongs to and how that step is taken; {@code window}
   * says which work it is (the lease, and the splits its samples are), so that in {@code async} and
   * {@code ssp} mode a shard applies each split once whoever pushes it, and refuses a push whose
   * lease is no longer current. Replies a {@link PushOutcome}, or an error when the gradient is
   * malformed (wrong length, non-finite values, no samples, a norm above the configured bound, a
   * window outside the member's splits).
   */
  public record Push(
      String workerId,
      long seq,
      long epoch,
      long baseVersion,
      int samples,
      TensorPayload gradientSum,
      StepRule rule,
      Window window,
      ActorRef<StatusReply<PushOutcome>> replyTo)
      implements Command {
    /** A push that names no lease or splits ({@link Window#NONE}): tools and tests, not workers. */
    public Push(
        String workerId,
        long seq,
        long epoch,
        long baseVersion,
        int samples,
        TensorPayload gradientSum,
        StepRule rule,
        ActorRef<StatusReply<PushOutcome>> replyTo) {
      this(workerId, seq, epoch, baseVersion, samples, gradientSum, rule, Window.NONE, replyTo);
    }
  }

  /**
   * Which work a push carries: the window of lease {@code leaseId} whose samples are the member's
   * splits {@code [firstSplit, firstSplit + splits)}, numbered over all epochs as the coordinator's
   * split ledger numbers them (split {@code g} is micro-batch {@code g % splitsPerEpoch} of epoch
   * {@code g / splitsPerEpoch}).
   *
   * @param leaseId the lease the window belongs to; -1 for none
   * @param firstSplit the first split of the window; -1 for none
   * @param splits how many splits the window covers; 0 for none
   */
  public record Window(long leaseId, long firstSplit, int splits) implements TesseraSerializable {
    /** A push that names no lease and no splits: neither fenced nor de-duplicated by split. */
    public static final Window NONE = new Window(-1, -1, 0);

    /** Whether the push names its lease. */
    public boolean namesLease() {
      return leaseId >= 0;
    }

    /** Whether the push names the splits it covers. */
    public boolean namesSplits() {
      return firstSplit >= 0 && splits > 0;
    }

    /** One past the last split covered. */
    public long endSplit() {
      return firstSplit + splits;
    }
  }

  /**
   * How the step a push contributes to is taken, as the coordinator planned it when it leased the
   * work; it travels with the work so that an operator's change reaches the shards with the next
   * lease, and a rewind cannot bring an old rule back.
   *
   * @param stepSamples samples that make the step (the global batch; in {@code sync} mode the
   *     samples of this step, which is short at the end of an epoch)
   * @param learningRateScale factor on the scheduled learning rate
   * @param part in {@code sync} mode, the first split of the contribution: a shard applies each
   *     part of a step once, whoever sends it; -1 otherwise
   * @param step in {@code sync} mode, the first split of the step the contribution belongs to:
   *     steps are taken in order, so a contribution to a step a shard has already taken (a
   *     straggling backup's copy, computed on newer parameters) is stale; -1 otherwise
   */
  public record StepRule(int stepSamples, double learningRateScale, long part, long step)
      implements TesseraSerializable {
    public StepRule {
      if (stepSamples <= 0 || !(learningRateScale > 0) || Double.isInfinite(learningRateScale)) {
        throw new IllegalArgumentException(
            "a step needs positive samples and a positive learning-rate scale, got " + stepSamples + " and "
                + learningRateScale);
      }
    }

    /** An asynchronous push towards a step of {@code globalBatch} samples at the planned rate. */
    public static StepRule of(int globalBatch) {
      return new StepRule(globalBatch, 1.0, -1, -1);
    }
  }

  /** How a well-formed push was handled. */
  public sealed interface PushOutcome extends TesseraSerializable
      permits Accepted, Duplicate, Stale, Revoked, Overlap {}

  /** Counted towards the current step; {@code version} is the shard's version afterwards. */
  public record Accepted(long version) implements PushOutcome {}

  /**
   * Already counted, so nothing changed: applied earlier under the same {@code (workerId, seq)};
   * in {@code async} and {@code ssp} mode, every split of its window was applied before (pushed by
   * an earlier holder of the work); in {@code sync} mode, the same part of the step came from
   * another copy (a backup's, or an earlier holder's), or the step it belongs to is already taken.
   */
  public record Duplicate(long version) implements PushOutcome {}

  /** Refused: the base version lags more than the staleness bound; pull and recompute. */
  public record Stale(long version) implements PushOutcome {}

  /**
   * Refused ({@code async} and {@code ssp} mode): the push's lease is no longer current, because
   * the coordinator took it back (its holder gave it back, left, or went silent past the lease
   * timeout, and its splits went to another lease) or a rewind voided it. Nothing was applied; the
   * worker drops the lease without pushing again or giving it back. {@code reason} says which.
   */
  public record Revoked(long version, String reason) implements PushOutcome {}

  /**
   * Nothing applied ({@code async} and {@code ssp} mode): this shard had applied some of the
   * window's splits (an earlier holder of the work pushed them) but not all, and a gradient sum
   * cannot be applied in part. The window's splits from its first up to {@code uniformUntil}
   * (exclusive) are alike here, all applied or none; the worker pushes them to this shard as a
   * window of their own, then the rest.
   */
  public record Overlap(long version, long uniformUntil) implements PushOutcome {}

  /** Asks for counters; replies {@link ShardStatus}. */
  public record GetStatus(ActorRef<ShardStatus> replyTo) implements Command {}

  /**
   * A shard's counters, for tests, the admin API and metrics.
   *
   * @param epoch the recovery epoch the shard's parameters belong to
   * @param checkpointId the checkpoint the shard last took or was restored from (0: its initial
   *     values, -1: none)
   * @param maxClockLead in {@code ssp} mode, the most windows a worker was ahead of the slowest
   *     when one of its pulls was answered (never above the staleness bound)
   * @param fencedMessages roster updates and lease fences dropped because they came from an older
   *     membership epoch, or were older fences, than one already applied
   * @param pushers every worker whose push this shard accepted since it started
   * @param pushesRevoked pushes refused because their lease was no longer current ({@link Revoked})
   * @param splitsApplied in {@code async} and {@code ssp} mode, the distinct splits (global split
   *     ids, across every epoch) whose gradients are in the shard's numbers, as of its live state:
   *     what its last checkpoint or rewind restored plus what it accepted since
   * @param splitApplications in {@code async} and {@code ssp} mode, the splits named by the pushes
   *     the shard accepted, summed (a window of {@code k} splits counts {@code k}), over the same
   *     history as {@code splitsApplied} and counted apart from it: equal to it when each split was
   *     applied exactly once, larger if one was applied twice. Refused pushes ({@link Duplicate},
   *     {@link Overlap}, {@link Revoked}, {@link Stale}) count in neither
   */
  public record ShardStatus(
      String entityId,
      boolean initialized,
      long epoch,
      long checkpointId,
      long version,
      long pushesAccepted,
      long pushesStale,
      long pushesDuplicate,
      long pushesRejected,
      int pendingSamples,
      long maxClockLead,
      long fencedMessages,
      List<String> pushers,
      long pushesRevoked,
      long splitsApplied,
      long splitApplications)
      implements TesseraSerializable {
    /** A status without split counts. */
    public ShardStatus(
        String entityId,
        boolean initialized,
        long epoch,
        long checkpointId,
        long version,
        long pushesAccepted,
        long pushesStale,
        long pushesDuplicate,
        long pushesRejected,
        int pendingSamples,
        long maxClockLead,
        long fencedMessages,
        List<String> pushers,
        long pushesRevoked) {
      this(entityId, initialized, epoch, checkpointId, version, pushesAccepted, pushesStale, pushesDuplicate,
          pushesRejected, pendingSamples, maxClockLead, fencedMessages, pushers, pushesRevoked, 0, 0);
    }

    /** A status without revoked pushes or split counts. */
    public ShardStatus(
        String entityId,
        boolean initialized,
        long epoch,
        long checkpointId,
        long version,
        long pushesAccepted,
        long pushesStale,
        long pushesDuplicate,
        long pushesRejected,
        int pendingSamples,
        long maxClockLead,
        long fencedMessages,
        List<String> pushers) {
      this(entityId, initialized, epoch, checkpointId, version, pushesAccepted, pushesStale, pushesDuplicate,
          pushesRejected, pendingSamples, maxClockLead, fencedMessages, pushers, 0, 0, 0);
    }
  }

  /**
   * Saves a copy of the slice, its optimizer state and version as checkpoint {@code checkpointId}:
   * a marker event plus a snapshot. Replies {@link CheckpointSaved} once the snapshot is stored,
   * or an error (not initialised, another epoch, the snapshot store failed).
   *
   * <p>Once the snapshot is stored the shard deletes its older snapshots except those at {@code
   * keep} (and its newest few, see {@code tessera.ps.snapshots-kept}): the snapshots of
   * checkpoints that were abandoned, or that the coordinator no longer keeps.
   *
   * @param keep the journal positions ({@link CheckpointSaved#sequenceNr}) of this shard's parts
   *     of the complete checkpoints the coordinator keeps, each one a checkpoint the job may be
   *     rewound to (1 for the initial values, checkpoint 0)
   */
  public record TakeCheckpoint(
      long checkpointId, long epoch, List<Long> keep, ActorRef<StatusReply<CheckpointSaved>> replyTo)
      implements Command {
    public TakeCheckpoint {
      keep = List.copyOf(keep);
    }
  }

  /**
   * Checkpoint {@code checkpointId} of one shard is stored as the snapshot at {@code sequenceNr}
   * of the shard's journal.
   */
  public record CheckpointSaved(int shard, long checkpointId, long sequenceNr, long version)
      implements TesseraSerializable {}

  /**
   * The job was rewound to a checkpoint in recovery epoch {@code epoch}: a shard of an older epoch
   * stops, and on its next message starts again from the checkpoint the coordinator names.
   */
  public record RewindTo(long epoch) implements Command {}

  /**
   * Asks a shard to confirm it runs in {@code epoch}; a shard of an older epoch restarts first (see
   * {@link RewindTo}). Replies {@link EpochConfirmed}.
   */
  public record ConfirmEpoch(long epoch, ActorRef<StatusReply<EpochConfirmed>> replyTo)
      implements Command {}

  /**
   * The workers that train this shard's member under worker-membership epoch {@code
   * membershipEpoch}, from the coordinator. In {@code ssp} mode the slowest of them holds the others
   * back; a worker that leaves the roster no longer does, and one that enters starts level with
   * the slowest. An update from an older membership epoch than one applied is dropped and counted.
   */
  public record UpdateRoster(long membershipEpoch, List<String> workers) implements Command {}

  /**
   * From the coordinator ({@code async} and {@code ssp} jobs): of the leases issued before {@code
   * issuedBefore} (lease ids grow as leases are issued), only those in {@code live} are current; a
   * push naming any other is refused ({@link Revoked}). The coordinator sends one whenever it takes
   * a lease back, and after it restarts. For leases issued before a given point the live set only
   * shrinks, so a fence with a lower {@code issuedBefore} than one applied is dropped (and counted),
   * and one with the same {@code issuedBefore} narrows the live set: delayed, repeated or
   * reordered fences never bring a lease back. A shard that restarts gets its fence from its
   * {@code ShardRecoveryPlan}.
   */
  public record FenceLeases(long issuedBefore, List<Long> live) implements Command {
    public FenceLeases {
      live = List.copyOf(live);
    }
  }

  /**
   * From the coordinator, once the shard's job is over (completed, failed or cancelled) or paused:
   * the shard turns read-only (reads are answered, pushes refused) and stops once idle for {@code
   * tessera.ps.finished-idle-timeout}, keeping its checkpoints. A later message starts it again
   * read-only (see {@code ShardRecoveryPlan.finished}), which is how a later stage reads an
   * earlier stage's parameters.
   */
  public enum StopShard implements Command {
    INSTANCE
  }

  /** A shard runs in {@code epoch} from checkpoint {@code checkpointId}, at {@code version}. */
  public record EpochConfirmed(int shard, long epoch, long checkpointId, long version)
      implements TesseraSerializable {}
}
