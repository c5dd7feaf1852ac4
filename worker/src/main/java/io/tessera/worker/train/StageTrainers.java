package io.tessera.worker.train;

import ai.djl.ndarray.NDManager;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.ModelKind;
import io.tessera.protocol.spec.StageKind;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.worker.WorkerProtocol.SourceModel;
import io.tessera.protocol.worker.WorkerProtocol.StageInputs;
import io.tessera.worker.data.StageData;
import io.tessera.worker.model.MaeModel;
import io.tessera.worker.model.TrainableModel;
import io.tessera.worker.model.WeightTransfer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Builds the trainer of a stage's member from its kind, and knows the parameter layout each kind
 * of stage leaves in its shards, so that a later stage can read it back by name.
 */
public final class StageTrainers {
  /** The tensors a stage carries over from the stage it starts from: the encoder's. */
  public static final List<String> CARRIED_PREFIXES = List.of("encoder.");

  private StageTrainers() {}

  /**
   * The trainer of member {@code member} of {@code spec}'s stage. It visits the training data in
   * the member's own order ({@link JobSpec#orderSeed}).
   *
   * @param data the member's images; not read for a synthetic model
   * @param manager the worker's DJL manager, asked for only by real models
   * @param inputs the earlier stages' members this one reads
   * @param read the final parameters of an earlier stage's member (blocking)
   * @throws IllegalArgumentException if the stage needs an input the coordinator did not send
   */
  public static MemberTrainer create(
      JobSpec job,
      int member,
      Supplier<StageData> data,
      Supplier<NDManager> manager,
      StageInputs inputs,
      Function<SourceModel, float[]> read) {
    if (job.model().kind() == ModelKind.SYNTHETIC) {
      return new SyntheticTrainer(job);
    }
    JobSpec spec = job.withSeed(job.orderSeed(member));
    return switch (spec.stage().kind()) {
      case CLASSIFY, FINETUNE -> new ClassifierTrainer(spec, data.get(), manager.get(), List.of());
      case MAE_PRETRAIN -> new MaeTrainer(spec, data.get(), manager.get());
      case FLIP -> new FlipTrainer(spec, data.get(), manager.get());
      case LINEAR_PROBE -> {
        SourceModel source = source(spec, inputs);
        yield new LinearProbeTrainer(
            spec, data.get(), manager.get(), source.spec(), layoutOf(source.spec()), read.apply(source));
      }
      case DISTILL -> {
        if (inputs.teachers().isEmpty()) {
          throw new IllegalArgumentException(
              "distill stage '" + spec.stage().name() + "' was sent no teachers (stage '" + spec.stage().teacher()
                  + "' has no finished members)");
        }
        List<ClassifierTrainer.Teacher> teachers = new ArrayList<>();
        try {
          for (SourceModel teacher : inputs.teachers()) {
            teachers.add(ClassifierTrainer.Teacher.of(teacher.spec(), read.apply(teacher), manager.get()));
          }
          yield new ClassifierTrainer(spec, data.get(), manager.get(), teachers);
        } catch (RuntimeException e) {
          teachers.forEach(ClassifierTrainer.Teacher::close);
          throw e;
        }
      }
    };
  }

  /**
   * Initial values of a member of {@code spec}'s stage: the trainer's own for {@code seed}, and,
   * for a {@code finetune} stage or a {@code distill} stage with a {@code from}, the encoder of the
   * stage it starts from carried over by name.
   *
   * @throws IllegalArgumentException if the encoder tensors do not match by name and shape
   */
  public static float[] initialValues(
      JobSpec spec, MemberTrainer trainer, long seed, StageInputs inputs, Function<SourceModel, float[]> read) {
    float[] values = trainer.initialValues(seed);
    boolean carries =
        spec.stage().kind() == StageKind.FINETUNE
            || (spec.stage().kind() == StageKind.DISTILL && !spec.stage().from().isEmpty());
    if (carries && spec.model().kind() != ModelKind.SYNTHETIC) {
      SourceModel source = source(spec, inputs);
      WeightTransfer.carryOver(
          layoutOf(source.spec()), read.apply(source), trainer.layout(), values, CARRIED_PREFIXES,
          "stage '" + spec.stage().name() + "' from stage '" + spec.stage().from() + "'");
    }
    return values;
  }

  /**
   * The parameter layout a member of {@code spec}'s stage keeps in its shards.
   *
   * @throws IllegalArgumentException for a linear probe, whose head's shape depends on the encoder
   *     it probes, and for synthetic models
   */
  public static ParameterLayout layoutOf(JobSpec spec) {
    if (spec.model().kind() == ModelKind.SYNTHETIC) {
      throw new IllegalArgumentException("a synthetic model has no parameters another stage could read");
    }
    return switch (spec.stage().kind()) {
      case CLASSIFY, FINETUNE, DISTILL -> TrainableModel.of(spec.model()).layout();
      case MAE_PRETRAIN -> new MaeModel(spec.model(), spec.stage().mae()).layout();
      case FLIP -> FlipTrainer.model(spec).layout();
      case LINEAR_PROBE ->
          throw new IllegalArgumentException(
              "linear probe '" + spec.stage().name() + "' holds only a head; no later stage can read it");
    };
  }

  private static SourceModel source(JobSpec spec, StageInputs inputs) {
    if (inputs.from().isEmpty()) {
      throw new IllegalArgumentException(
          "stage '" + spec.stage().name() + "' starts from stage '" + spec.stage().from()
              + "', but was sent none of its members");
    }
    return inputs.from().get(0);
  }
}
