package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;
import static io.tessera.protocol.spec.SpecException.requireAtMost;

import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.tensor.WirePrecision;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Everything the cluster needs to run a training job. Built with {@link #builder()} or parsed from
 * a HOCON file by {@link JobSpecParser}.
 *
 * <p>The global batch is the number of samples whose gradients make one optimizer step. Each
 * worker runs {@code k} micro-batches between pushes (delayed updates); the coordinator chooses
 * every worker's {@code k} so that the micro-batches of all live workers add up to the global
 * batch, whatever the number of workers.
 *
 * @param name a label for reports
 * @param globalBatch samples per optimizer step; a multiple of {@code microBatch}
 * @param microBatch samples per forward/backward pass on a worker
 * @param epochs passes over the training data
 * @param splitSize in {@code async} and {@code ssp} mode, samples per lease (the work a worker
 *     takes at once); {@code sync} mode leases each worker its share of one step instead
 * @param mode how shards combine pushes: {@code async}, {@code ssp} or {@code sync}
 * @param staleness in {@code async} mode, how many versions behind a push's base may be; in {@code
 *     ssp} mode, how many windows a worker may run ahead of its member's slowest worker
 * @param shards parameter shards per member
 * @param members the models trained; one unless this is an ensemble
 * @param wirePrecision number format of pulled parameters and pushed gradients
 * @param seed seeds the order in which training samples are visited
 * @param checkpoint when the job's shards checkpoint
 * @param stalenessDamping in {@code async} mode, scale each push by {@code 1 / (1 + lag)}
 * @param backupWorkers in {@code sync} mode, how many idle workers may duplicate a step's slowest
 *     contributions; the first copy to arrive counts and the rest are dropped
 * @param learningRateScaling how the learning rate follows an operator's change of the global
 *     batch
 * @param stage what this stage of its job trains, and from which earlier stages
 * @param earlyStopping when a member stops before the last epoch, judged on the validation split
 */
public record JobSpec(
    String name,
    DatasetSpec dataset,
    ModelSpec model,
    OptimizerSpec optimizer,
    int globalBatch,
    int microBatch,
    int epochs,
    int splitSize,
    TrainingMode mode,
    int staleness,
    int shards,
    List<MemberSpec> members,
    WirePrecision wirePrecision,
    long seed,
    CheckpointSpec checkpoint,
    boolean stalenessDamping,
    int backupWorkers,
    LearningRateScaling learningRateScaling,
    StageSpec stage,
    EarlyStoppingSpec earlyStopping)
    implements TesseraSerializable {

  public JobSpec {
    require(name != null && !name.isBlank(), "name", "is required");
    require(
        name.length() <= SpecLimits.MAX_NAME_LENGTH,
        "name",
        "must be at most " + SpecLimits.MAX_NAME_LENGTH + " characters");
    require(dataset != null, "dataset", "is required");
    require(model != null, "model", "is required");
    require(optimizer != null, "optimizer", "is required");
    require(mode != null, "mode", "is required");
    require(wirePrecision != null, "wire-precision", "is required");
    require(checkpoint != null, "checkpoint", "is required");
    require(learningRateScaling != null, "learning-rate-scaling", "is required");
    require(stage != null, "stage", "is required");
    require(earlyStopping != null, "early-stopping", "is required");
    if (earlyStopping.enabled()) {
      require(
          stage.kind().classifies(),
          "early-stopping",
          "applies to classifier stages (classify, finetune, linear-probe, distill), not " + SpecNames.of(stage.kind()));
      require(
          dataset.validation() > 0,
          "early-stopping",
          "needs a validation split to judge by: set dataset.validation to a number of training samples");
      require(
          model.kind() != ModelKind.SYNTHETIC,
          "early-stopping",
          "needs a model that answers a validation split; synthetic models do not");
      // Epochs 0 .. epochs-2 are scored (the last is followed by the final evaluation), and the
      // earliest stop comes patience epochs after the first score.
      require(
          earlyStopping.patience() < epochs - 1,
          "early-stopping.patience",
          "(" + earlyStopping.patience() + ") must be less than epochs - 1 (" + (epochs - 1)
              + "), or nothing could stop early");
    }
    require(
        stage.kind() != StageKind.FLIP || stage.flip().unmaskedEpochs() <= epochs,
        "flip.unmasked-epochs",
        "(" + stage.flip().unmaskedEpochs() + ") cannot exceed epochs (" + epochs + ")");
    require(
        model.kind() != ModelKind.SYNTHETIC || stage.kind() == StageKind.CLASSIFY,
        "model.kind",
        "synthetic models train plain stages only, not " + SpecNames.of(stage.kind()));
    require(
        backupWorkers >= 0 && backupWorkers <= SpecLimits.MAX_BACKUP_WORKERS,
        "backup-workers",
        "must be in 0.." + SpecLimits.MAX_BACKUP_WORKERS + ", was " + backupWorkers);
    require(
        backupWorkers == 0 || mode == TrainingMode.SYNC,
        "backup-workers",
        "applies to mode = sync only (the mode is " + SpecNames.of(mode) + ")");
    require(
        !stalenessDamping || mode == TrainingMode.ASYNC,
        "staleness-damping",
        "applies to mode = async only (the mode is " + SpecNames.of(mode) + ")");
    require(
        (model.kind() == ModelKind.SYNTHETIC) == dataset.isSynthetic(),
        "dataset.name",
        "must be 'synthetic' exactly when model.kind is synthetic");
    require(microBatch > 0, "micro-batch", "must be positive, was " + microBatch);
    requireAtMost(microBatch, SpecLimits.MAX_MICRO_BATCH, "micro-batch");
    require(globalBatch > 0, "global-batch", "must be positive, was " + globalBatch);
    requireAtMost(globalBatch, SpecLimits.MAX_GLOBAL_BATCH, "global-batch");
    require(
        globalBatch % microBatch == 0,
        "global-batch",
        "(" + globalBatch + ") must be a multiple of micro-batch (" + microBatch + ")");
    require(epochs > 0, "epochs", "must be positive, was " + epochs);
    requireAtMost(epochs, SpecLimits.MAX_EPOCHS, "epochs");
    require(splitSize > 0, "split-size", "must be positive, was " + splitSize);
    requireAtMost(splitSize, SpecLimits.MAX_SPLIT_SIZE, "split-size");
    require(
        splitSize >= microBatch,
        "split-size",
        "(" + splitSize + ") must be at least micro-batch (" + microBatch + ")");
    require(staleness >= 0, "staleness", "must be >= 0, was " + staleness);
    requireAtMost(staleness, SpecLimits.MAX_STALENESS, "staleness");
    require(
        shards > 0 && shards <= SpecLimits.MAX_SHARDS,
        "shards",
        "must be in 1.." + SpecLimits.MAX_SHARDS + ", was " + shards);
    require(members != null && !members.isEmpty(), "members", "must name at least one member");
    require(
        members.size() <= SpecLimits.MAX_MEMBERS,
        "members",
        "may list at most " + SpecLimits.MAX_MEMBERS + " members, has " + members.size());
    Set<String> names = new HashSet<>();
    for (MemberSpec member : members) {
      require(names.add(member.name()), "members", "has the name '" + member.name() + "' twice");
    }
    members = List.copyOf(members);
    requireWithinLimits(dataset, model, stage, microBatch, epochs, members.size());
  }

  /** The caps of {@link SpecLimits} on what the stage as a whole makes the nodes allocate. */
  private static void requireWithinLimits(
      DatasetSpec dataset, ModelSpec model, StageSpec stage, int microBatch, int epochs, int members) {
    long parameters = ModelSize.parameters(model, stage);
    require(
        parameters <= SpecLimits.MAX_PARAMETERS_PER_MEMBER,
        "model",
        "of this " + SpecNames.of(stage.kind()) + " stage has " + parameters + " parameters; at most "
            + SpecLimits.MAX_PARAMETERS_PER_MEMBER + " per member");
    require(
        parameters * members <= SpecLimits.MAX_PARAMETERS_PER_STAGE,
        "members",
        "(" + members + ") of " + parameters + " parameters each make " + parameters * members
            + " parameters; at most " + SpecLimits.MAX_PARAMETERS_PER_STAGE + " over all members");
    long activations = ModelSize.activations(model, stage, microBatch);
    require(
        activations <= SpecLimits.MAX_ACTIVATIONS,
        "micro-batch",
        "(" + microBatch + ") would keep about " + activations + " activation values per pass of this model; at most "
            + SpecLimits.MAX_ACTIVATIONS + ": lower micro-batch or the model's size");
    int trainSize = dataset.trainLimit() > 0 ? dataset.trainLimit() : SpecLimits.FASHION_MNIST_TRAIN_SAMPLES;
    long perEpoch = (trainSize + microBatch - 1L) / microBatch;
    long microBatches = perEpoch * epochs * members;
    require(
        microBatches <= SpecLimits.MAX_MICRO_BATCHES,
        "epochs",
        "(" + epochs + ") x micro-batches per epoch (" + perEpoch + ") x members (" + members + ") make "
            + microBatches + " micro-batches for the coordinator to track; at most " + SpecLimits.MAX_MICRO_BATCHES
            + ": raise micro-batch or lower epochs");
  }

  /**
   * The seed of member {@code member}'s visiting order (and of its masks and caption templates):
   * the job's {@code seed} for member 0, so a one-member job visits samples as the reference
   * trainer does, and a seed of its own for every other member, so an ensemble's members see the
   * data in different orders and disagree where they can.
   */
  public long orderSeed(int member) {
    return member == 0 ? seed : seed + member * 0x9E37_79B9_7F4A_7C15L;
  }

  /** This spec with another seed, everything else equal. */
  public JobSpec withSeed(long newSeed) {
    return new JobSpec(
        name, dataset, model, optimizer, globalBatch, microBatch, epochs, splitSize, mode, staleness, shards, members,
        wirePrecision, newSeed, checkpoint, stalenessDamping, backupWorkers, learningRateScaling, stage,
        earlyStopping);
  }

  /** This spec with another stage, everything else equal. */
  public JobSpec withStage(StageSpec newStage) {
    return new JobSpec(
        name, dataset, model, optimizer, globalBatch, microBatch, epochs, splitSize, mode, staleness, shards, members,
        wirePrecision, seed, checkpoint, stalenessDamping, backupWorkers, learningRateScaling, newStage,
        earlyStopping);
  }

  /** Micro-batches that make one global batch. */
  public int microBatchesPerStep() {
    return globalBatch / microBatch;
  }

  /** The optimizer member {@code member}'s shards apply: the job's, with its overrides. */
  public OptimizerSpec optimizerOf(int member) {
    return members.get(member).optimizer(optimizer);
  }

  /** Optimizer steps the job will apply when the training set has {@code trainSize} samples. */
  public long optimizerSteps(int trainSize) {
    return (long) epochs * trainSize / globalBatch;
  }

  /** Splits in one epoch over {@code trainSize} samples; the last one may be short. */
  public int splitsPerEpoch(int trainSize) {
    return (trainSize + splitSize - 1) / splitSize;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Builds a {@link JobSpec}; {@code name} is required, everything else has a default. */
  public static final class Builder {
    private String name;
    private DatasetSpec dataset = DatasetSpec.fashionMnist();
    private ModelSpec model = ModelSpec.builder().build();
    private OptimizerSpec optimizer = OptimizerSpec.builder().build();
    private int globalBatch = 256;
    private int microBatch = 64;
    private int epochs = 1;
    private int splitSize = 1024;
    private TrainingMode mode = TrainingMode.ASYNC;
    private int staleness = 4;
    private int shards = 2;
    private List<MemberSpec> members = List.of(new MemberSpec("m0", 1L));
    private WirePrecision wirePrecision = WirePrecision.FP32;
    private long seed = 42L;
    private CheckpointSpec checkpoint = CheckpointSpec.defaults();
    private boolean stalenessDamping = false;
    private int backupWorkers = 0;
    private LearningRateScaling learningRateScaling = LearningRateScaling.LINEAR;
    private StageSpec stage = StageSpec.classify("main");
    private EarlyStoppingSpec earlyStopping = EarlyStoppingSpec.off();

    private Builder() {}

    public Builder setName(String name) {
      this.name = name;
      return this;
    }

    public Builder optDataset(DatasetSpec dataset) {
      this.dataset = dataset;
      return this;
    }

    public Builder optModel(ModelSpec model) {
      this.model = model;
      return this;
    }

    public Builder optOptimizer(OptimizerSpec optimizer) {
      this.optimizer = optimizer;
      return this;
    }

    public Builder optGlobalBatch(int globalBatch) {
      this.globalBatch = globalBatch;
      return this;
    }

    public Builder optMicroBatch(int microBatch) {
      this.microBatch = microBatch;
      return this;
    }

    public Builder optEpochs(int epochs) {
      this.epochs = epochs;
      return this;
    }

    public Builder optSplitSize(int splitSize) {
      this.splitSize = splitSize;
      return this;
    }

    public Builder optMode(TrainingMode mode) {
      this.mode = mode;
      return this;
    }

    public Builder optStaleness(int staleness) {
      this.staleness = staleness;
      return this;
    }

    public Builder optShards(int shards) {
      this.shards = shards;
      return this;
    }

    public Builder optMembers(List<MemberSpec> members) {
      this.members = members;
      return this;
    }

    public Builder optWirePrecision(WirePrecision wirePrecision) {
      this.wirePrecision = wirePrecision;
      return this;
    }

    public Builder optSeed(long seed) {
      this.seed = seed;
      return this;
    }

    public Builder optCheckpoint(CheckpointSpec checkpoint) {
      this.checkpoint = checkpoint;
      return this;
    }

    public Builder optStalenessDamping(boolean stalenessDamping) {
      this.stalenessDamping = stalenessDamping;
      return this;
    }

    public Builder optBackupWorkers(int backupWorkers) {
      this.backupWorkers = backupWorkers;
      return this;
    }

    public Builder optLearningRateScaling(LearningRateScaling learningRateScaling) {
      this.learningRateScaling = learningRateScaling;
      return this;
    }

    public Builder optStage(StageSpec stage) {
      this.stage = stage;
      return this;
    }

    public Builder optEarlyStopping(EarlyStoppingSpec earlyStopping) {
      this.earlyStopping = earlyStopping;
      return this;
    }

    public JobSpec build() {
      return new JobSpec(
          name,
          dataset,
          model,
          optimizer,
          globalBatch,
          microBatch,
          epochs,
          splitSize,
          mode,
          staleness,
          shards,
          members,
          wirePrecision,
          seed,
          checkpoint,
          stalenessDamping,
          backupWorkers,
          learningRateScaling,
          stage,
          earlyStopping);
    }
  }
}
