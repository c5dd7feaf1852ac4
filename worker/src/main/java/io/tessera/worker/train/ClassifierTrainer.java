package io.tessera.worker.train;

import ai.djl.ndarray.NDManager;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.StageKind;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.worker.data.ImageSet;
import io.tessera.worker.data.StageData;
import io.tessera.worker.model.TrainableModel;
import java.util.ArrayList;
import java.util.List;

/**
 * Trains and evaluates a ViT classifier on Fashion-MNIST with DJL: from scratch ({@code
 * classify}), from an earlier stage's encoder ({@code finetune}; the carrying over happens when the
 * member is set up), or as the student of an earlier stage's members ({@code distill}), whose
 * averaged softened probabilities it learns alongside the labels.
 */
public final class ClassifierTrainer implements MemberTrainer, Classifies {
  private static final int EVALUATION_BATCH = 256;

  private final JobSpec spec;
  private final TrainableModel model;
  private final TrainingSession session;
  private final BatchAssembler assembler;
  private final StageData data;
  private final List<Teacher> teachers;
  private int orderEpoch = -1;
  private int[] order;

  /**
   * A teacher: a finished member's model with its final parameters, and the batch layout its
   * model reads (it may cut images into other patches than the student).
   */
  public record Teacher(TrainingSession session, BatchAssembler assembler) implements AutoCloseable {
    /** A teacher of {@code spec}'s model holding {@code parameters}. */
    public static Teacher of(JobSpec spec, float[] parameters, NDManager manager) {
      TrainingSession session = new TrainingSession(TrainableModel.of(spec.model()), manager);
      session.load(parameters);
      return new Teacher(session, new BatchAssembler(spec.model()));
    }

    @Override
    public void close() {
      session.close();
    }
  }

  public ClassifierTrainer(JobSpec spec, StageData data, NDManager manager, List<Teacher> teachers) {
    if (spec.stage().kind() == StageKind.DISTILL && teachers.isEmpty()) {
      throw new IllegalArgumentException("distill stage '" + spec.stage().name() + "' has no teacher");
    }
    this.spec = spec;
    this.data = data;
    BatchAssembler.checkCompatible(spec.model(), data.train());
    this.model = TrainableModel.of(spec.model());
    this.assembler = new BatchAssembler(spec.model());
    this.session = new TrainingSession(model, manager, spec.stage().compute());
    this.teachers = List.copyOf(teachers);
  }

  @Override
  public ParameterLayout layout() {
    return model.layout();
  }

  @Override
  public DatasetInfo dataset() {
    return data.info();
  }

  @Override
  public StageData data() {
    return data;
  }

  @Override
  public float[] initialValues(long seed) {
    return model.initialValues(seed);
  }

  @Override
  public double trainWindow(float[] parameters, int epoch, int from, int to, float[] gradientSum) {
    session.load(parameters);
    int[] samples = order(epoch);
    double loss = 0;
    for (int micro = from; micro < to; micro += spec.microBatch()) {
      int end = Math.min(micro + spec.microBatch(), to);
      Batch batch = assembler.assemble(data.train(), samples, micro, end);
      loss +=
          teachers.isEmpty()
              ? session.accumulate(batch)
              : session.accumulate(batch, teacherProbabilities(samples, micro, end), spec.stage().distill());
    }
    session.drainGradients(gradientSum);
    return loss;
  }

  /** The teachers' softened probabilities of samples {@code [from, to)}, averaged. */
  private float[] teacherProbabilities(int[] samples, int from, int to) {
    float[] averaged = null;
    for (Teacher teacher : teachers) {
      float[] soft =
          teacher.session().softened(teacher.assembler().assemble(data.train(), samples, from, to), spec.stage().distill().temperature());
      if (averaged == null) {
        averaged = soft;
      } else {
        for (int i = 0; i < soft.length; i++) {
          averaged[i] += soft[i];
        }
      }
    }
    for (int i = 0; i < averaged.length; i++) {
      averaged[i] /= teachers.size();
    }
    return averaged;
  }

  @Override
  public Score evaluate(float[] parameters) {
    session.load(parameters);
    Counted test = count(data.test());
    Counted validation = count(data.validation());
    return new Score(data.test().size(), test.correct(), test.loss(), data.validation().size(), validation.correct());
  }

  @Override
  public Score validate(float[] parameters) {
    session.load(parameters);
    return new Score(0, 0, 0, data.validation().size(), count(data.validation()).correct());
  }

  private record Counted(int correct, double loss) {}

  /** Correct answers and the summed loss over a set. */
  private Counted count(ImageSet images) {
    int correct = 0;
    double loss = 0;
    for (int from = 0; from < images.size(); from += EVALUATION_BATCH) {
      TrainingSession.BatchScore score =
          session.score(assembler.assembleRange(images, from, Math.min(from + EVALUATION_BATCH, images.size())));
      correct += score.correct();
      loss += score.summedLoss();
    }
    return new Counted(correct, loss);
  }

  @Override
  public float[] probabilities(float[] parameters, ImageSet images) {
    session.load(parameters);
    List<float[]> parts = new ArrayList<>();
    int total = 0;
    for (int from = 0; from < images.size(); from += EVALUATION_BATCH) {
      float[] part =
          session.score(assembler.assembleRange(images, from, Math.min(from + EVALUATION_BATCH, images.size())))
              .probabilities();
      parts.add(part);
      total += part.length;
    }
    float[] all = new float[total];
    int offset = 0;
    for (float[] part : parts) {
      System.arraycopy(part, 0, all, offset, part.length);
      offset += part.length;
    }
    return all;
  }

  /** The sample order of {@code epoch}, computed once per epoch. */
  private int[] order(int epoch) {
    if (epoch != orderEpoch) {
      order = SampleOrder.forEpoch(spec.seed(), epoch, data.train().size());
      orderEpoch = epoch;
    }
    return order;
  }

  @Override
  public void close() {
    session.close();
    teachers.forEach(Teacher::close);
  }
}
