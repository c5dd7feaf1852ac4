package io.tessera.deploy.export;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.modality.Classifications;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.Batchifier;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import io.tessera.worker.data.ImageSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A classifier exported by {@code bin/tessera export}: a directory holding DJL's parameter file
 * ({@code Model.save}) and a {@link ModelCard}. {@link #load} builds the block the card describes
 * and loads the parameters with DJL's {@code Model.load}; what it answers is what the job's
 * member answered at the checkpoint it was exported from.
 *
 * <p>Not thread-safe; close it to free the model's native memory.
 */
public final class ExportedModel implements AutoCloseable {
  /**
   * Images per batch when classifying many: the workers' evaluation batch, so a test set is
   * scored in the batches (and so with the same rounding) the job's evaluation used.
   */
  public static final int BATCH = 256;

  /** The property recording where the DJL parameter file came from. */
  private static final String SOURCE_PROPERTY = "tessera.source";

  private final ModelCard card;
  private final Model model;

  private ExportedModel(ModelCard card, Model model) {
    this.card = card;
    this.model = model;
  }

  /**
   * Writes a model directory: DJL's parameter file {@code <name>-0000.params} for {@code values}
   * (a flat vector in the worker model's layout) and the card. {@code dir} is created if missing;
   * files of these names in it are replaced.
   */
  public static void write(Path dir, ModelCard card, float[] values) throws IOException {
    Files.createDirectories(dir);
    try (Model model = Model.newInstance(card.name(), Device.cpu())) {
      VitClassifierBlock block = new VitClassifierBlock(card.model());
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, block.inputShape(1));
      block.setValues(values);
      // Always epoch 0: the file name Model.load finds is then <name>-0000.params.
      model.setProperty("Epoch", "0");
      model.setProperty(SOURCE_PROPERTY, card.source().jobId() + " member " + card.source().member()
          + " checkpoint " + card.source().checkpointId());
      model.save(dir, card.name());
    }
    card.write(dir);
  }

  /**
   * Loads a directory written by {@link #write}: reads the card, builds the {@link
   * VitClassifierBlock} it describes and has DJL's {@code Model.load(dir, name)} fill it.
   *
   * @throws IOException if the directory lacks its card or parameter file
   * @throws MalformedModelException if the parameter file does not fit the card's model
   * @throws IllegalArgumentException if the card is not one this build reads
   */
  public static ExportedModel load(Path dir) throws IOException, MalformedModelException {
    ModelCard card = ModelCard.read(dir);
    Model model = Model.newInstance(card.name(), Device.cpu());
    try {
      model.setBlock(new VitClassifierBlock(card.model()));
      model.load(dir, card.name());
      return new ExportedModel(card, model);
    } catch (IOException | MalformedModelException | RuntimeException e) {
      model.close();
      throw e;
    }
  }

  public ModelCard card() {
    return card;
  }

  /** The DJL model, its block a {@link VitClassifierBlock}. */
  public Model model() {
    return model;
  }

  /** A predictor of class probabilities, named by the card's class names. Close it after use. */
  public Predictor<GreyscaleImage, Classifications> newPredictor() {
    return model.newPredictor(new Classifier());
  }

  /** Class probabilities of each image, in batches of {@link #BATCH}. */
  public List<Classifications> classify(List<GreyscaleImage> images) throws TranslateException {
    try (Predictor<GreyscaleImage, Classifications> predictor = newPredictor()) {
      return inBatches(predictor, images);
    }
  }

  /** Class scores (logits) of each image, in batches of {@link #BATCH}. */
  public List<float[]> logits(List<GreyscaleImage> images) throws TranslateException {
    try (Predictor<GreyscaleImage, float[]> predictor = model.newPredictor(new Scores())) {
      return inBatches(predictor, images);
    }
  }

  /**
   * How many of {@code images} the model classifies as labelled, taking each image's most probable
   * class, in batches of {@link #BATCH} from the first image on: the workers' evaluation.
   */
  public Evaluation evaluate(ImageSet images) throws TranslateException {
    int correct = 0;
    try (Predictor<GreyscaleImage, float[]> predictor = model.newPredictor(new Scores())) {
      for (int from = 0; from < images.size(); from += BATCH) {
        List<GreyscaleImage> batch = new ArrayList<>();
        for (int i = from; i < Math.min(images.size(), from + BATCH); i++) {
          batch.add(GreyscaleImage.of(images, i));
        }
        List<float[]> scores = predictor.batchPredict(batch);
        for (int i = 0; i < scores.size(); i++) {
          if (argMax(scores.get(i)) == images.label(from + i)) {
            correct++;
          }
        }
      }
    }
    return new Evaluation(images.size(), correct);
  }

  /** Images scored and how many of them were classified as labelled. */
  public record Evaluation(int images, int correct) {
    public double accuracy() {
      return images == 0 ? Double.NaN : (double) correct / images;
    }
  }

  private static <O> List<O> inBatches(Predictor<GreyscaleImage, O> predictor, List<GreyscaleImage> images)
      throws TranslateException {
    List<O> out = new ArrayList<>(images.size());
    for (int from = 0; from < images.size(); from += BATCH) {
      out.addAll(predictor.batchPredict(images.subList(from, Math.min(images.size(), from + BATCH))));
    }
    return out;
  }

  /** The first index of the largest score, as {@code argMax} breaks ties. */
  static int argMax(float[] scores) {
    int best = 0;
    for (int i = 1; i < scores.length; i++) {
      if (scores[i] > scores[best]) {
        best = i;
      }
    }
    return best;
  }

  @Override
  public void close() {
    model.close();
  }

  /** Images in, class scores out: the part both translators share. */
  private abstract class ImageTranslator<O> implements Translator<GreyscaleImage, O> {
    @Override
    public NDList processInput(TranslatorContext context, GreyscaleImage image) {
      int size = card.model().imageSize();
      if (image.size() != size) {
        throw new IllegalArgumentException("the model reads " + size + "x" + size + " images, got " + image);
      }
      float[] values = new float[size * size];
      byte[] pixels = image.pixels();
      for (int i = 0; i < values.length; i++) {
        // As the workers normalise (ImageSet.copyPixels): the division, not a multiplication.
        values[i] = (pixels[i] & 0xFF) / ModelCard.PIXEL_SCALE;
      }
      return new NDList(context.getNDManager().create(values, new Shape(1, size, size)));
    }

    @Override
    public Batchifier getBatchifier() {
      return Batchifier.STACK;
    }
  }

  /** Probabilities (softmax of the scores) named by class. */
  private final class Classifier extends ImageTranslator<Classifications> {
    @Override
    public Classifications processOutput(TranslatorContext context, NDList list) {
      float[] probabilities = list.singletonOrThrow().softmax(0).toFloatArray();
      List<Double> values = new ArrayList<>(probabilities.length);
      for (float p : probabilities) {
        values.add((double) p);
      }
      return new Classifications(card.classNames(), values);
    }
  }

  /** The raw class scores. */
  private final class Scores extends ImageTranslator<float[]> {
    @Override
    public float[] processOutput(TranslatorContext context, NDList list) {
      NDArray logits = list.singletonOrThrow();
      return logits.toFloatArray();
    }
  }
}
