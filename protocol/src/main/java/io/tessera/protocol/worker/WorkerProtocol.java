package io.tessera.protocol.worker;

import akka.actor.typed.ActorRef;
import akka.actor.typed.receptionist.ServiceKey;
import akka.pattern.StatusReply;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.spec.JobSpec;
import java.util.List;

/** What the coordinator says to a worker. Workers register under {@link #SERVICE_KEY}. */
public final class WorkerProtocol {
  /** Every worker registers with the Receptionist under this key; its listing is the pool. */
  public static final ServiceKey<Command> SERVICE_KEY =
      ServiceKey.create(Command.class, "tessera-worker");

  private WorkerProtocol() {}

  /** Everything a worker accepts from other nodes. */
  public sealed interface Command extends TesseraSerializable
      permits WorkAvailable,
          InitializeModel,
          SetAccumulation,
          Evaluate,
          EvaluateEnsemble,
          Drain,
          AbandonJob,
          LeasesVoided,
          Local {}

  /**
   * A worker's own timer and adapter messages, declared in its behavior. They never cross a node,
   * so none is registered with the serializer: sending one remotely fails loudly, and Akka's
   * serialize-messages check (used in tests) skips them.
   */
  public non-sealed interface Local extends Command, akka.actor.NoSerializationVerificationNeeded {}

  /** A nudge: there may be work; an idle worker asks the coordinator for a lease. */
  public enum WorkAvailable implements Command {
    INSTANCE
  }

  /**
   * Asks a worker to leave the pool: it finishes and pushes the window it is in, acks what it
   * trained of its lease ({@code CompleteSplit}, which gives the rest back), tells the coordinator
   * {@code DrainCompleted}, deregisters from the Receptionist and stops.
   */
  public enum Drain implements Command {
    INSTANCE
  }

  /**
   * Job {@code jobId} was cancelled or paused: the worker drops any lease of it without pushing or
   * acking what it computed, forgets the job's members and asks for other work. A window already
   * pushed reaches shards that refuse it (a cancelled job's restart read-only) or that the job's
   * resumption rewinds to a checkpoint (a paused job's).
   */
  public record AbandonJob(String jobId) implements Command {}

  /**
   * Job {@code jobId} was rewound to a checkpoint (a shard was lost, or an operator restored one)
   * and trains again: every lease of it numbered below {@code beforeLeaseId} is void. A worker
   * holding one drops it at once, whatever pull or push of it is still waiting for a shard, and
   * asks for a new lease, instead of finding out when that pull or push times out.
   */
  public record LeasesVoided(String jobId, long beforeLeaseId) implements Command {}

  /**
   * Asks a worker to build member {@code member} of a new job, draw its initial parameters from
   * the member's seed and hand every shard its slice. Replies {@link ModelInitialized} once all
   * shards acknowledged, or an error that says what went wrong (no data, model too large, ...).
   */
  public record InitializeModel(
      String jobId, int member, JobSpec spec, StageInputs inputs, ActorRef<StatusReply<ModelInitialized>> replyTo)
      implements Command {}

  /**
   * A member of a finished stage whose final parameters a worker reads (from its shards, which
   * hold the stage's final checkpoint).
   */
  public record SourceModel(String jobId, int member, JobSpec spec) implements TesseraSerializable {}

  /**
   * What a member of a stage reads from earlier stages.
   *
   * @param from the model its encoder starts from ({@code finetune}), or whose frozen encoder it
   *     reads ({@code linear-probe}); empty when none
   * @param teachers the members whose averaged softened predictions teach it ({@code distill})
   */
  public record StageInputs(List<SourceModel> from, List<SourceModel> teachers) implements TesseraSerializable {
    public static final StageInputs NONE = new StageInputs(List.of(), List.of());

    public StageInputs {
      from = List.copyOf(from);
      teachers = List.copyOf(teachers);
    }
  }

  /** Reply to {@link InitializeModel}: the model's size and the data the worker found. */
  public record ModelInitialized(
      String jobId, int member, int parameterCount, int tensorCount, DatasetInfo dataset)
      implements TesseraSerializable {}

  /**
   * What a worker found in its data directory for a job's dataset spec. All workers of a job must
   * see the same sizes and fingerprint.
   *
   * @param fingerprint a short digest of the labels, enough to tell two data sets apart
   */
  public record DatasetInfo(int trainSize, int testSize, String fingerprint)
      implements TesseraSerializable {}

  /**
   * The number of micro-batches to accumulate per push from now on, chosen by the coordinator so
   * that all live workers together make one global batch. Takes effect at the next push window.
   */
  public record SetAccumulation(String jobId, int member, long membershipEpoch, int accumulationSteps)
      implements Command {}

  /**
   * Asks a worker to pull a member's parameters and measure them on the test set and the
   * validation split; with {@code validationOnly}, on the validation split alone (what early
   * stopping asks while the member trains: the test set is read only for final reports). Replies
   * {@link EvaluationReport}.
   */
  public record Evaluate(
      String jobId,
      int member,
      JobSpec spec,
      StageInputs inputs,
      boolean validationOnly,
      ActorRef<StatusReply<EvaluationReport>> replyTo)
      implements Command {}

  /**
   * Test-set (and validation-split) results of one member. For a classifier {@code correct} counts
   * right answers; for a {@code flip} stage, right zero-shot answers; an {@code mae-pretrain} stage
   * reports only its loss (the masked-patch error) and no correct answers.
   */
  public record EvaluationReport(
      String jobId,
      int member,
      int samples,
      int correct,
      double meanLoss,
      long parameterVersion,
      int validationSamples,
      int validationCorrect)
      implements TesseraSerializable {
    public double accuracy() {
      return samples == 0 ? 0.0 : (double) correct / samples;
    }

    public double validationAccuracy() {
      return validationSamples == 0 ? Double.NaN : (double) validationCorrect / validationSamples;
    }
  }

  /**
   * Asks a worker to measure the members of a finished classifier stage together: each member's
   * accuracy, and the ensemble's by probability averaging, majority vote and per-class re-voting
   * (votes weighed by each member's validation precision on the class it predicts). Replies
   * {@link EnsembleReport}.
   */
  public record EvaluateEnsemble(
      String jobId, JobSpec spec, List<SourceModel> members, StageInputs inputs,
      ActorRef<StatusReply<EnsembleReport>> replyTo)
      implements Command {}

  /** An ensemble's test accuracies; member figures in member order. */
  public record EnsembleReport(
      String jobId,
      int testSamples,
      List<Double> memberAccuracy,
      List<Double> memberValidationAccuracy,
      double averaged,
      double majority,
      double revoted)
      implements TesseraSerializable {}
}
