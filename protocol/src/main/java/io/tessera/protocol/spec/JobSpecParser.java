package io.tessera.protocol.spec;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigValueFactory;
import io.tessera.protocol.tensor.WirePrecision;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads a {@link JobSpec} from HOCON (or JSON, which is HOCON). Keys are spelled in kebab-case;
 * omitted keys take the builders' defaults; unknown keys are refused so that a typo does not
 * silently train with a default. Every value must be written in the text: {@code include} and
 * substitutions ({@code ${...}}) are refused (see {@link LiteralHocon}), and every size is capped
 * ({@link SpecLimits}).
 *
 * <pre>
 * name = "fmnist-vit"
 * epochs = 3
 * global-batch = 256
 * micro-batch = 64
 * model { patch-size = 7, dim = 64, depth = 4, heads = 4, mlp-dim = 128 }
 * optimizer { kind = adamw, learning-rate = 2e-3, warmup-steps = 50 }
 * members = [ { name = m0, seed = 1 } ]
 * </pre>
 */
public final class JobSpecParser {
  private static final Set<String> TOP_LEVEL =
      Set.of(
          "name",
          "dataset",
          "model",
          "optimizer",
          "global-batch",
          "micro-batch",
          "epochs",
          "split-size",
          "mode",
          "staleness",
          "shards",
          "members",
          "ensemble-size",
          "wire-precision",
          "seed",
          "checkpoint",
          "early-stopping",
          "staleness-damping",
          "backup-workers",
          "learning-rate-scaling",
          "stages",
          "kind",
          "from",
          "teacher",
          "mae",
          "flip",
          "distill",
          "compute-precision");
  private static final Set<String> MAE =
      Set.of("mask-ratio", "decoder-dim", "decoder-depth", "decoder-heads", "decoder-mlp-dim", "norm-pixel-loss");
  private static final Set<String> FLIP =
      Set.of("mask-ratio", "text-dim", "text-depth", "text-heads", "text-mlp-dim", "embed-dim", "unmasked-epochs");
  private static final Set<String> DISTILL = Set.of("alpha", "temperature");
  private static final Set<String> CHECKPOINT = Set.of("interval", "every-pushes");
  private static final Set<String> EARLY_STOPPING = Set.of("patience", "min-delta");
  private static final Set<String> DATASET = Set.of("name", "train-limit", "test-limit", "validation");
  private static final Set<String> MODEL =
      Set.of(
          "kind",
          "image-size",
          "channels",
          "patch-size",
          "dim",
          "depth",
          "heads",
          "mlp-dim",
          "classes",
          "parameters",
          "compute-micros-per-sample");
  private static final Set<String> OPTIMIZER =
      Set.of(
          "kind",
          "learning-rate",
          "weight-decay",
          "beta1",
          "beta2",
          "epsilon",
          "momentum",
          "nesterov",
          "schedule",
          "warmup-steps",
          "min-learning-rate");
  private static final Set<String> MEMBER = Set.of("name", "seed", "weight", "learning-rate", "weight-decay");

  private JobSpecParser() {}

  /**
   * The text of a spec as a config, read as {@link #parse(String)} and {@link #parsePipeline} read
   * it (no include, no substitution), for a caller that sets a key before parsing it.
   */
  public static Config read(String text) {
    return LiteralHocon.parse(text);
  }

  /**
   * Parses the text of a one-stage spec; syntax errors and invalid values become a {@link
   * SpecException}. A spec with {@code stages} is read by {@link #parsePipeline}.
   */
  public static JobSpec parse(String text) {
    Config config = LiteralHocon.parse(text);
    if (config.hasPath("stages")) {
      throw new SpecException("this job spec has stages: read it as a pipeline");
    }
    return parse(config);
  }

  /**
   * Parses a job spec of one or more stages. Keys outside {@code stages} are every stage's
   * defaults; each entry of {@code stages} needs a {@code name} and may set any job key ({@code
   * kind}, {@code from}, {@code model { ... }}, ...), its sections merging key by key with the
   * defaults. A spec without {@code stages} is a pipeline of one stage named {@code main}.
   */
  public static PipelineSpec parsePipeline(String text) {
    Config config = LiteralHocon.parse(text);
    try {
      if (!config.hasPath("stages")) {
        JobSpec only = parse(config);
        return new PipelineSpec(only.name(), List.of(only));
      }
      Config shared = config.withoutPath("stages");
      String name = shared.hasPath("name") ? shared.getString("name") : null;
      List<JobSpec> stages = new ArrayList<>();
      List<? extends ConfigObject> entries = config.getObjectList("stages");
      SpecException.require(
          entries.size() <= SpecLimits.MAX_STAGES,
          "stages",
          "may list at most " + SpecLimits.MAX_STAGES + " stages, has " + entries.size());
      for (int i = 0; i < entries.size(); i++) {
        Config entry = entries.get(i).toConfig();
        if (!entry.hasPath("name")) {
          throw new SpecException("stages[" + i + "].name is required");
        }
        String stageName = entry.getString("name");
        Config merged = entry.withoutPath("name").withFallback(shared);
        if (name != null) {
          merged = merged.withValue("name", ConfigValueFactory.fromAnyRef(name));
        }
        try {
          stages.add(build(merged, stageName));
        } catch (SpecException e) {
          throw new SpecException("stage '" + stageName + "': " + e.getMessage());
        }
      }
      return new PipelineSpec(name, stages);
    } catch (ConfigException.WrongType e) {
      throw new SpecException("job spec has a value of the wrong type: " + e.getMessage());
    } catch (ConfigException e) {
      throw new SpecException("job spec could not be read: " + e.getMessage());
    }
  }

  /** Builds a spec from an already parsed config whose root holds the job's keys. */
  public static JobSpec parse(Config config) {
    try {
      return build(config, "main");
    } catch (ConfigException.WrongType e) {
      throw new SpecException("job spec has a value of the wrong type: " + e.getMessage());
    } catch (ConfigException e) {
      throw new SpecException("job spec could not be read: " + e.getMessage());
    }
  }

  private static JobSpec build(Config c, String stageName) {
    refuseUnknown("", c.root(), TOP_LEVEL);
    if (c.hasPath("stages")) {
      throw new SpecException("stages cannot be nested");
    }
    JobSpec.Builder job = JobSpec.builder();
    job.optStage(stage(c, stageName));
    if (c.hasPath("name")) {
      job.setName(c.getString("name"));
    }
    if (c.hasPath("dataset")) {
      job.optDataset(dataset(c.getConfig("dataset")));
    }
    if (c.hasPath("model")) {
      job.optModel(model(c.getConfig("model")));
    }
    if (c.hasPath("optimizer")) {
      job.optOptimizer(optimizer(c.getConfig("optimizer")));
    }
    if (c.hasPath("global-batch")) {
      job.optGlobalBatch(intAt(c, "", "global-batch"));
    }
    if (c.hasPath("micro-batch")) {
      job.optMicroBatch(intAt(c, "", "micro-batch"));
    }
    if (c.hasPath("epochs")) {
      job.optEpochs(intAt(c, "", "epochs"));
    }
    if (c.hasPath("split-size")) {
      job.optSplitSize(intAt(c, "", "split-size"));
    }
    if (c.hasPath("mode")) {
      job.optMode(SpecNames.parse(TrainingMode.class, "mode", c.getString("mode")));
    }
    if (c.hasPath("staleness")) {
      job.optStaleness(intAt(c, "", "staleness"));
    }
    if (c.hasPath("shards")) {
      job.optShards(intAt(c, "", "shards"));
    }
    if (c.hasPath("members") && c.hasPath("ensemble-size")) {
      throw new SpecException("members and ensemble-size cannot both be given");
    }
    if (c.hasPath("members")) {
      job.optMembers(members(c));
    } else if (c.hasPath("ensemble-size")) {
      int size = intAt(c, "", "ensemble-size");
      SpecException.require(
          size > 0 && size <= SpecLimits.MAX_MEMBERS,
          "ensemble-size",
          "must be in 1.." + SpecLimits.MAX_MEMBERS + ", was " + size);
      List<MemberSpec> members = new ArrayList<>();
      for (int i = 0; i < size; i++) {
        members.add(new MemberSpec("m" + i, i + 1L));
      }
      job.optMembers(members);
    }
    if (c.hasPath("wire-precision")) {
      job.optWirePrecision(
          SpecNames.parse(WirePrecision.class, "wire-precision", c.getString("wire-precision")));
    }
    if (c.hasPath("checkpoint")) {
      job.optCheckpoint(checkpoint(c.getConfig("checkpoint")));
    }
    if (c.hasPath("early-stopping")) {
      job.optEarlyStopping(earlyStopping(c.getConfig("early-stopping")));
    }
    if (c.hasPath("seed")) {
      job.optSeed(longAt(c, "", "seed"));
    }
    if (c.hasPath("staleness-damping")) {
      job.optStalenessDamping(c.getBoolean("staleness-damping"));
    }
    if (c.hasPath("backup-workers")) {
      job.optBackupWorkers(intAt(c, "", "backup-workers"));
    }
    if (c.hasPath("learning-rate-scaling")) {
      job.optLearningRateScaling(
          SpecNames.parse(LearningRateScaling.class, "learning-rate-scaling", c.getString("learning-rate-scaling")));
    }
    return job.build();
  }

  private static StageSpec stage(Config c, String name) {
    StageSpec defaults = StageSpec.classify(name);
    StageKind kind =
        c.hasPath("kind") ? SpecNames.parse(StageKind.class, "kind", c.getString("kind")) : defaults.kind();
    return new StageSpec(
        name,
        kind,
        c.hasPath("from") ? c.getString("from") : "",
        c.hasPath("teacher") ? c.getString("teacher") : "",
        c.hasPath("mae") ? mae(c.getConfig("mae")) : defaults.mae(),
        c.hasPath("flip") ? flip(c.getConfig("flip")) : defaults.flip(),
        c.hasPath("distill") ? distill(c.getConfig("distill")) : defaults.distill(),
        c.hasPath("compute-precision") ? computePrecision(c.getString("compute-precision")) : defaults.compute());
  }

  private static ComputePrecision computePrecision(String value) {
    if (value.equalsIgnoreCase("bf16")) {
      throw new SpecException(
          "compute-precision bf16 is not available: DJL 0.36's PyTorch bindings cannot create bfloat16"
              + " tensors (the JVM aborts); use fp16 (with loss scaling, meant for GPUs) or fp32."
              + " Pulls and pushes can still travel as bf16 (wire-precision)");
    }
    return SpecNames.parse(ComputePrecision.class, "compute-precision", value);
  }

  private static MaeSpec mae(Config c) {
    refuseUnknown("mae.", c.root(), MAE);
    MaeSpec d = MaeSpec.defaults();
    return new MaeSpec(
        c.hasPath("mask-ratio") ? c.getDouble("mask-ratio") : d.maskRatio(),
        c.hasPath("decoder-dim") ? intAt(c, "mae.", "decoder-dim") : d.decoderDim(),
        c.hasPath("decoder-depth") ? intAt(c, "mae.", "decoder-depth") : d.decoderDepth(),
        c.hasPath("decoder-heads") ? intAt(c, "mae.", "decoder-heads") : d.decoderHeads(),
        c.hasPath("decoder-mlp-dim") ? intAt(c, "mae.", "decoder-mlp-dim") : d.decoderMlpDim(),
        c.hasPath("norm-pixel-loss") ? c.getBoolean("norm-pixel-loss") : d.normPixelLoss());
  }

  private static FlipSpec flip(Config c) {
    refuseUnknown("flip.", c.root(), FLIP);
    FlipSpec d = FlipSpec.defaults();
    return new FlipSpec(
        c.hasPath("mask-ratio") ? c.getDouble("mask-ratio") : d.maskRatio(),
        c.hasPath("text-dim") ? intAt(c, "flip.", "text-dim") : d.textDim(),
        c.hasPath("text-depth") ? intAt(c, "flip.", "text-depth") : d.textDepth(),
        c.hasPath("text-heads") ? intAt(c, "flip.", "text-heads") : d.textHeads(),
        c.hasPath("text-mlp-dim") ? intAt(c, "flip.", "text-mlp-dim") : d.textMlpDim(),
        c.hasPath("embed-dim") ? intAt(c, "flip.", "embed-dim") : d.embedDim(),
        c.hasPath("unmasked-epochs") ? intAt(c, "flip.", "unmasked-epochs") : d.unmaskedEpochs());
  }

  private static DistillSpec distill(Config c) {
    refuseUnknown("distill.", c.root(), DISTILL);
    DistillSpec d = DistillSpec.defaults();
    return new DistillSpec(
        c.hasPath("alpha") ? c.getDouble("alpha") : d.alpha(),
        c.hasPath("temperature") ? c.getDouble("temperature") : d.temperature());
  }

  private static CheckpointSpec checkpoint(Config c) {
    refuseUnknown("checkpoint.", c.root(), CHECKPOINT);
    CheckpointSpec defaults = CheckpointSpec.defaults();
    return new CheckpointSpec(
        c.hasPath("interval") ? c.getDuration("interval").toMillis() : defaults.intervalMillis(),
        c.hasPath("every-pushes") ? longAt(c, "checkpoint.", "every-pushes") : defaults.everyPushes());
  }

  private static EarlyStoppingSpec earlyStopping(Config c) {
    refuseUnknown("early-stopping.", c.root(), EARLY_STOPPING);
    EarlyStoppingSpec defaults = EarlyStoppingSpec.off();
    return new EarlyStoppingSpec(
        c.hasPath("patience") ? intAt(c, "early-stopping.", "patience") : defaults.patience(),
        c.hasPath("min-delta") ? c.getDouble("min-delta") : defaults.minDelta());
  }

  private static DatasetSpec dataset(Config c) {
    refuseUnknown("dataset.", c.root(), DATASET);
    DatasetSpec defaults = DatasetSpec.fashionMnist();
    return new DatasetSpec(
        c.hasPath("name") ? c.getString("name") : defaults.name(),
        c.hasPath("train-limit") ? intAt(c, "dataset.", "train-limit") : defaults.trainLimit(),
        c.hasPath("test-limit") ? intAt(c, "dataset.", "test-limit") : defaults.testLimit(),
        c.hasPath("validation") ? intAt(c, "dataset.", "validation") : defaults.validation());
  }

  private static ModelSpec model(Config c) {
    refuseUnknown("model.", c.root(), MODEL);
    ModelSpec.Builder model = ModelSpec.builder();
    if (c.hasPath("kind")) {
      model.optKind(SpecNames.parse(ModelKind.class, "model.kind", c.getString("kind")));
    }
    if (c.hasPath("image-size")) {
      model.optImageSize(intAt(c, "model.", "image-size"));
    }
    if (c.hasPath("channels")) {
      model.optChannels(intAt(c, "model.", "channels"));
    }
    if (c.hasPath("patch-size")) {
      model.optPatchSize(intAt(c, "model.", "patch-size"));
    }
    if (c.hasPath("dim")) {
      model.optDim(intAt(c, "model.", "dim"));
    }
    if (c.hasPath("depth")) {
      model.optDepth(intAt(c, "model.", "depth"));
    }
    if (c.hasPath("heads")) {
      model.optHeads(intAt(c, "model.", "heads"));
    }
    if (c.hasPath("mlp-dim")) {
      model.optMlpDim(intAt(c, "model.", "mlp-dim"));
    }
    if (c.hasPath("classes")) {
      model.optClasses(intAt(c, "model.", "classes"));
    }
    if (c.hasPath("parameters")) {
      model.optParameters(intAt(c, "model.", "parameters"));
    }
    if (c.hasPath("compute-micros-per-sample")) {
      model.optComputeMicrosPerSample(intAt(c, "model.", "compute-micros-per-sample"));
    }
    return model.build();
  }

  private static OptimizerSpec optimizer(Config c) {
    refuseUnknown("optimizer.", c.root(), OPTIMIZER);
    OptimizerSpec.Builder opt = OptimizerSpec.builder();
    if (c.hasPath("kind")) {
      opt.optKind(SpecNames.parse(OptimizerKind.class, "optimizer.kind", c.getString("kind")));
    }
    if (c.hasPath("learning-rate")) {
      opt.optLearningRate(c.getDouble("learning-rate"));
    }
    if (c.hasPath("weight-decay")) {
      opt.optWeightDecay(c.getDouble("weight-decay"));
    }
    if (c.hasPath("beta1")) {
      opt.optBeta1(c.getDouble("beta1"));
    }
    if (c.hasPath("beta2")) {
      opt.optBeta2(c.getDouble("beta2"));
    }
    if (c.hasPath("epsilon")) {
      opt.optEpsilon(c.getDouble("epsilon"));
    }
    if (c.hasPath("momentum")) {
      opt.optMomentum(c.getDouble("momentum"));
    }
    if (c.hasPath("nesterov")) {
      opt.optNesterov(c.getBoolean("nesterov"));
    }
    if (c.hasPath("schedule")) {
      opt.optSchedule(
          SpecNames.parse(LearningRateSchedule.class, "optimizer.schedule", c.getString("schedule")));
    }
    if (c.hasPath("warmup-steps")) {
      opt.optWarmupSteps(intAt(c, "optimizer.", "warmup-steps"));
    }
    if (c.hasPath("min-learning-rate")) {
      opt.optMinLearningRate(c.getDouble("min-learning-rate"));
    }
    return opt.build();
  }

  private static List<MemberSpec> members(Config c) {
    List<MemberSpec> members = new ArrayList<>();
    List<? extends ConfigObject> entries = c.getObjectList("members");
    for (int i = 0; i < entries.size(); i++) {
      ConfigObject entry = entries.get(i);
      refuseUnknown("members[" + i + "].", entry, MEMBER);
      Config m = entry.toConfig();
      String prefix = "members[" + i + "].";
      String name = m.hasPath("name") ? m.getString("name") : "m" + i;
      long seed = m.hasPath("seed") ? longAt(m, prefix, "seed") : i + 1L;
      double weight = m.hasPath("weight") ? m.getDouble("weight") : 1.0;
      double learningRate = m.hasPath("learning-rate") ? m.getDouble("learning-rate") : Double.NaN;
      double weightDecay = m.hasPath("weight-decay") ? m.getDouble("weight-decay") : Double.NaN;
      members.add(new MemberSpec(name, seed, weight, learningRate, weightDecay));
    }
    return members;
  }

  // Typesafe Config's getInt and getLong truncate a fraction (epochs = 1.5 reads as 1); where a
  // count belongs, a fraction is a mistake to report, not to round away.
  private static int intAt(Config c, String prefix, String key) {
    requireWhole(c, prefix, key);
    return c.getInt(key);
  }

  private static long longAt(Config c, String prefix, String key) {
    requireWhole(c, prefix, key);
    return c.getLong(key);
  }

  private static void requireWhole(Config c, String prefix, String key) {
    Object raw = c.getValue(key).unwrapped();
    if (!(raw instanceof Number || raw instanceof String)) {
      return; // lists and objects: getInt reports the wrong type
    }
    double value;
    try {
      value = Double.parseDouble(raw.toString().trim());
    } catch (NumberFormatException e) {
      return; // not a number at all: getInt reports the wrong type
    }
    if (value != Math.rint(value)) {
      throw new SpecException(prefix + key + " must be a whole number, was " + raw);
    }
  }

  private static void refuseUnknown(String prefix, ConfigObject object, Set<String> known) {
    Set<String> unknown = new TreeSet<>(object.keySet());
    unknown.removeAll(known);
    if (!unknown.isEmpty()) {
      throw new SpecException(
          "unknown key" + (unknown.size() > 1 ? "s " : " ") + prefix + String.join(", " + prefix, unknown)
              + " in job spec; known keys here: " + new TreeSet<>(known));
    }
  }
}
