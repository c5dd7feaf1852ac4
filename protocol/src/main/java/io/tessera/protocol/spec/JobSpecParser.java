package io.tessera.protocol.spec;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigSyntax;
import io.tessera.protocol.tensor.WirePrecision;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads a {@link JobSpec} from HOCON (or JSON, which is HOCON). Keys are spelled in kebab-case;
 * omitted keys take the builders' defaults; unknown keys are refused so that a typo does not
 * silently train with a default.
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
          "staleness-damping",
          "backup-workers",
          "learning-rate-scaling");
  private static final Set<String> CHECKPOINT = Set.of("interval", "every-pushes");
  private static final Set<String> DATASET = Set.of("name", "train-limit", "test-limit");
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

  /** Parses spec text; syntax errors and invalid values become a {@link SpecException}. */
  public static JobSpec parse(String text) {
    Config config;
    try {
      config =
          ConfigFactory.parseString(text, ConfigParseOptions.defaults().setSyntax(ConfigSyntax.CONF))
              .resolve();
    } catch (ConfigException e) {
      throw new SpecException("job spec is not valid HOCON: " + e.getMessage());
    }
    return parse(config);
  }

  /** Builds a spec from an already parsed config whose root holds the job's keys. */
  public static JobSpec parse(Config config) {
    try {
      return build(config);
    } catch (ConfigException.WrongType e) {
      throw new SpecException("job spec has a value of the wrong type: " + e.getMessage());
    } catch (ConfigException e) {
      throw new SpecException("job spec could not be read: " + e.getMessage());
    }
  }

  private static JobSpec build(Config c) {
    refuseUnknown("", c.root(), TOP_LEVEL);
    JobSpec.Builder job = JobSpec.builder();
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
      SpecException.require(size > 0 && size <= 64, "ensemble-size", "must be in 1..64, was " + size);
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

  private static CheckpointSpec checkpoint(Config c) {
    refuseUnknown("checkpoint.", c.root(), CHECKPOINT);
    CheckpointSpec defaults = CheckpointSpec.defaults();
    return new CheckpointSpec(
        c.hasPath("interval") ? c.getDuration("interval").toMillis() : defaults.intervalMillis(),
        c.hasPath("every-pushes") ? longAt(c, "checkpoint.", "every-pushes") : defaults.everyPushes());
  }

  private static DatasetSpec dataset(Config c) {
    refuseUnknown("dataset.", c.root(), DATASET);
    DatasetSpec defaults = DatasetSpec.fashionMnist();
    return new DatasetSpec(
        c.hasPath("name") ? c.getString("name") : defaults.name(),
        c.hasPath("train-limit") ? intAt(c, "dataset.", "train-limit") : defaults.trainLimit(),
        c.hasPath("test-limit") ? intAt(c, "dataset.", "test-limit") : defaults.testLimit());
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
