package io.tessera.deploy;

import ai.djl.MalformedModelException;
import ai.djl.modality.Classifications;
import ai.djl.translate.TranslateException;
import io.tessera.deploy.export.ExportedModel;
import io.tessera.deploy.export.GreyscaleImage;
import io.tessera.deploy.export.ModelCard;
import io.tessera.worker.data.DatasetException;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.data.ImageSet;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code bin/tessera predict}: classifies picture files with a model directory written by {@code
 * bin/tessera export}, one line per file (file, class, probability), or scores it on a
 * Fashion-MNIST test set and prints its test accuracy, which for the whole test set is the
 * accuracy the job reported for the member.
 */
final class PredictCommand {
  private PredictCommand() {}

  static int run(List<String> args) {
    CommandLine line = CommandLine.parse(args, Set.of("model", "data-dir", "limit"), Set.of("invert"));
    Path dir = Path.of(line.option("model").orElseThrow(() -> new CommandLine.UsageException("--model DIR is required")));
    List<String> files = line.positional();
    if (files.isEmpty() == line.option("data-dir").isEmpty()) {
      throw new CommandLine.UsageException("give image files to classify, or --data-dir DIR to score a test set (not both)");
    }
    int limit = line.intOption("limit", 0);
    if (limit < 0) {
      throw new CommandLine.UsageException("--limit must be 0 (all) or more, was " + limit);
    }
    try (ExportedModel model = ExportedModel.load(dir)) {
      if (line.option("data-dir").isPresent()) {
        return score(model, Path.of(line.option("data-dir").get()), limit);
      }
      return classify(model, files, line.flag("invert"));
    } catch (IOException | MalformedModelException | TranslateException | DatasetException | IllegalArgumentException e) {
      System.err.println("tessera: " + e.getMessage());
      return 1;
    }
  }

  private static int classify(ExportedModel model, List<String> files, boolean invert)
      throws IOException, TranslateException {
    int size = model.card().model().imageSize();
    List<GreyscaleImage> images = new ArrayList<>();
    for (String file : files) {
      images.add(GreyscaleImage.read(Path.of(file), size, invert));
    }
    List<Classifications> results = model.classify(images);
    int width = files.stream().mapToInt(String::length).max().orElse(0);
    for (int i = 0; i < files.size(); i++) {
      Classifications.Classification best = results.get(i).best();
      System.out.printf("%-" + width + "s  %-12s %.4f%n", files.get(i), best.getClassName(), best.getProbability());
    }
    return 0;
  }

  private static int score(ExportedModel model, Path dataDir, int limit) throws TranslateException {
    ImageSet test = FashionMnist.load(dataDir).test().limit(limit);
    ExportedModel.Evaluation result = model.evaluate(test);
    System.out.printf("Test accuracy: %.4f (%d images)%n", result.accuracy(), result.images());
    ModelCard.Source source = model.card().source();
    if (!Double.isNaN(source.testAccuracy())) {
      System.out.printf(
          "predict: %s reported %.4f on %d test images for member %s at its end%n",
          source.jobId(), source.testAccuracy(), source.testSamples(), source.member());
    }
    return 0;
  }
}
