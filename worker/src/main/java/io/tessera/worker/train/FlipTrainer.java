package io.tessera.worker.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import io.tessera.protocol.spec.FlipSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.worker.data.Captions;
import io.tessera.worker.data.ImageSet;
import io.tessera.worker.data.StageData;
import io.tessera.worker.model.FlipModel;
import io.tessera.worker.model.MaeModel;
import io.tessera.worker.model.ModelParameters;
import io.tessera.worker.model.PatchMasking;

/**
 * Trains a FLIP-style image-text model ({@code flip}) on Fashion-MNIST with captions made from the
 * class names: each training image is paired with its class's caption in one of several templates
 * (drawn from the seed, the epoch and its position), its encoder sees a random {@code mask-ratio}
 * of its patches (none in the last {@code unmasked-epochs}), and the loss is the symmetric InfoNCE
 * over the micro-batch. Evaluation is zero-shot: each test image is given the class whose prompts
 * (every template, their embeddings averaged) lie closest to it.
 */
public final class FlipTrainer implements MemberTrainer {
  /** Words of the longest caption, padding included: "a close-up photo of a t-shirt top". */
  public static final int MAX_TOKENS = 10;
  private static final int EVALUATION_BATCH = 256;

  private final JobSpec spec;
  private final FlipSpec flip;
  private final StageData data;
  private final Captions captions;
  private final FlipModel model;
  private final NDManager manager;
  private final ModelParameters parameters;
  private final BatchAssembler assembler;
  private final Shape patchShape;
  private int orderEpoch = -1;
  private int[] order;

  public FlipTrainer(JobSpec spec, StageData data, NDManager parent) {
    this.spec = spec;
    this.flip = spec.stage().flip();
    this.data = data;
    BatchAssembler.checkCompatible(spec.model(), data.train());
    this.captions = Captions.fashionMnist(MAX_TOKENS);
    this.model = model(spec);
    this.manager = parent.newSubManager();
    this.parameters = new ModelParameters(model.layout(), manager);
    this.assembler = new BatchAssembler(spec.model());
    this.patchShape = new Shape(spec.model().patchCount(), spec.model().patchValues());
  }

  /** The image-text model of {@code spec}'s stage, sized for the Fashion-MNIST captions. */
  static FlipModel model(JobSpec spec) {
    Captions captions = Captions.fashionMnist(MAX_TOKENS);
    return new FlipModel(spec.model(), spec.stage().flip(), captions.vocabularySize(), captions.maxTokens());
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
  public float[] initialValues(long seed) {
    return model.initialValues(seed);
  }

  /** The mask ratio in {@code epoch}: none in the stage's last {@code unmasked-epochs}. */
  double maskRatio(int epoch) {
    return epoch >= spec.epochs() - flip.unmaskedEpochs() ? 0 : flip.maskRatio();
  }

  @Override
  public double trainWindow(float[] values, int epoch, int from, int to, float[] gradientSum) {
    parameters.load(values);
    int[] samples = order(epoch);
    double loss = 0;
    for (int micro = from; micro < to; micro += spec.microBatch()) {
      int end = Math.min(micro + spec.microBatch(), to);
      Batch batch = assembler.assemble(data.train(), samples, micro, end);
      int[] positions = new int[end - micro];
      int[] templates = new int[positions.length];
      for (int i = 0; i < positions.length; i++) {
        positions[i] = micro + i;
        templates[i] = captions.templateFor(spec.seed(), epoch, positions[i]);
      }
      try (NDScope scope = new NDScope()) {
        Autograd.record(true);
        NDArray patches = manager.create(batch.patches(), new Shape(batch.size()).addAll(patchShape));
        NDArray keep = null;
        double ratio = maskRatio(epoch);
        if (ratio > 0) {
          keep = MaeModel.indices(manager, PatchMasking.draw(spec.seed(), epoch, positions, spec.model().patchCount(), ratio))[0];
        }
        NDArray images = model.images(parameters, patches, keep);
        NDArray texts = texts(batch.labels(), templates);
        NDArray summed =
            FlipModel.summedInfoNce(images, texts, model.inverseTemperature(parameters), manager.eye(batch.size()));
        Autograd.backward(summed);
        loss += summed.getFloat();
      } finally {
        Autograd.record(false);
      }
    }
    try (NDScope scope = new NDScope()) {
      parameters.drainGradientsInto(gradientSum);
    }
    return loss;
  }

  /** Text embeddings of the captions of {@code labels}, each in its template. */
  private NDArray texts(long[] labels, int[] templates) {
    int tokens = captions.maxTokens();
    int vocabulary = captions.vocabularySize();
    float[] oneHot = new float[labels.length * tokens * vocabulary];
    float[] present = new float[labels.length * tokens];
    for (int i = 0; i < labels.length; i++) {
      long[] ids = captions.tokens((int) labels[i], templates[i]);
      for (int t = 0; t < tokens; t++) {
        if (ids[t] != 0) {
          oneHot[(i * tokens + t) * vocabulary + (int) ids[t]] = 1f;
          present[i * tokens + t] = 1f;
        }
      }
    }
    return model.texts(
        parameters,
        manager.create(oneHot, new Shape(labels.length, tokens, vocabulary)),
        manager.create(present, new Shape(labels.length, tokens)));
  }

  /**
   * Zero-shot class embeddings {@code (classes, embed)}: every template's caption of each class,
   * embedded and averaged, as unit vectors.
   */
  private NDArray classEmbeddings() {
    int classes = captions.classes();
    int templates = captions.templates();
    long[] labels = new long[classes * templates];
    int[] which = new int[labels.length];
    for (int c = 0; c < classes; c++) {
      for (int t = 0; t < templates; t++) {
        labels[c * templates + t] = c;
        which[c * templates + t] = t;
      }
    }
    NDArray all = texts(labels, which).reshape(classes, templates, -1).mean(new int[] {1});
    return all.div(all.norm(new int[] {-1}, true));
  }

  @Override
  public Score evaluate(float[] values) {
    parameters.load(values);
    try (NDScope scope = new NDScope()) {
      Autograd.record(false);
      NDArray prompts = classEmbeddings();
      int test = zeroShotCorrect(data.test(), prompts);
      int validation = zeroShotCorrect(data.validation(), prompts);
      return new Score(data.test().size(), test, Double.NaN, data.validation().size(), validation);
    }
  }

  private int zeroShotCorrect(ImageSet images, NDArray prompts) {
    int correct = 0;
    for (int from = 0; from < images.size(); from += EVALUATION_BATCH) {
      int to = Math.min(from + EVALUATION_BATCH, images.size());
      Batch batch = assembler.assembleRange(images, from, to);
      try (NDScope scope = new NDScope()) {
        NDArray patches = manager.create(batch.patches(), new Shape(batch.size()).addAll(patchShape));
        long[] predicted = model.images(parameters, patches, null).matMul(prompts.transpose()).argMax(1).toLongArray();
        for (int i = 0; i < predicted.length; i++) {
          correct += predicted[i] == batch.labels()[i] ? 1 : 0;
        }
      }
    }
    return correct;
  }

  private int[] order(int epoch) {
    if (epoch != orderEpoch) {
      order = SampleOrder.forEpoch(spec.seed(), epoch, data.train().size());
      orderEpoch = epoch;
    }
    return order;
  }

  @Override
  public void close() {
    parameters.close();
    manager.close();
  }
}
