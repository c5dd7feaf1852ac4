package io.tessera.deploy.export;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigSyntax;
import com.typesafe.config.ConfigValueFactory;
import io.tessera.protocol.spec.ModelKind;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.spec.SpecNames;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What an exported model directory says about its model, in {@value #FILE_NAME} next to DJL's
 * parameter file: enough to build the block again ({@link VitClassifierBlock}), to feed it images
 * the way it was trained on them, to name its classes, and where it came from.
 *
 * @param name the prefix of DJL's parameter file ({@code name-0000.params}), as {@code
 *     Model.load(dir, name)} wants it
 * @param model the ViT's dimensions
 * @param classNames one per class, indexed by label
 * @param source the job, member and checkpoint it was exported from
 */
public record ModelCard(String name, ModelSpec model, List<String> classNames, Source source) {
  /** The file's name in an exported directory. */
  public static final String FILE_NAME = "tessera-model.json";

  /** Written into every card; a reader refuses newer versions and reads every older one. */
  public static final int FORMAT_VERSION = 1;

  private static final String FORMAT = "tessera-model";

  /**
   * Inputs are greyscale pixels divided by this, with no mean taken off and no deviation divided
   * by: what the workers feed the ViT in training. Written into the card so a reader that
   * normalises otherwise can tell.
   */
  public static final float PIXEL_SCALE = 255f;

  /**
   * Where the model came from.
   *
   * @param checkpointId the checkpoint its parameters were read from
   * @param testAccuracy the member's test accuracy as the job reported it; NaN if not known
   * @param testSamples how many test images that accuracy is over; 0 if not known
   */
  public record Source(
      String jobId,
      String stage,
      String stageKind,
      String member,
      int memberIndex,
      long checkpointId,
      double testAccuracy,
      int testSamples) {}

  public ModelCard {
    if (!name.matches("[A-Za-z0-9_.-]{1,64}")) {
      throw new IllegalArgumentException("model name must be 1-64 letters, digits, '_', '.' or '-', was '" + name + "'");
    }
    if (model.kind() != ModelKind.VIT_CLASSIFIER) {
      throw new IllegalArgumentException("only vit-classifier models can be exported, not " + SpecNames.of(model.kind()));
    }
    if (classNames.size() != model.classes()) {
      throw new IllegalArgumentException(
          model.classes() + " classes but " + classNames.size() + " class names: " + classNames);
    }
    classNames = List.copyOf(classNames);
  }

  /** {@code text} made into a {@link #name}: characters a file name could trip on become '-'. */
  public static String nameFor(String text) {
    String name = text.replaceAll("[^A-Za-z0-9_.-]", "-");
    name = name.length() > 64 ? name.substring(0, 64) : name;
    return name.isEmpty() || name.startsWith(".") ? "model" + name : name;
  }

  /** Writes the card into {@code dir} as {@value #FILE_NAME}. */
  public void write(Path dir) throws IOException {
    Map<String, Object> modelKeys = new LinkedHashMap<>();
    modelKeys.put("kind", SpecNames.of(model.kind()));
    modelKeys.put("image-size", model.imageSize());
    modelKeys.put("channels", model.channels());
    modelKeys.put("patch-size", model.patchSize());
    modelKeys.put("dim", model.dim());
    modelKeys.put("depth", model.depth());
    modelKeys.put("heads", model.heads());
    modelKeys.put("mlp-dim", model.mlpDim());
    modelKeys.put("classes", model.classes());
    Map<String, Object> input = new LinkedHashMap<>();
    input.put("layout", "NCHW");
    input.put("pixel-scale", (double) PIXEL_SCALE);
    input.put("mean", 0.0);
    input.put("std", 1.0);
    input.put(
        "note",
        "greyscale, image-size x image-size, value = pixel / pixel-scale; Fashion-MNIST garments are light on"
            + " black, so invert photos of dark garments on light backgrounds");
    Map<String, Object> from = new LinkedHashMap<>();
    from.put("job", source.jobId());
    from.put("stage", source.stage());
    from.put("stage-kind", source.stageKind());
    from.put("member", source.member());
    from.put("member-index", source.memberIndex());
    from.put("checkpoint", source.checkpointId());
    if (!Double.isNaN(source.testAccuracy())) {
      from.put("test-accuracy", source.testAccuracy());
      from.put("test-samples", source.testSamples());
    }
    Map<String, Object> card = new LinkedHashMap<>();
    card.put("format", FORMAT);
    card.put("format-version", FORMAT_VERSION);
    card.put("name", name);
    card.put("model", modelKeys);
    card.put("input", input);
    card.put("class-names", classNames);
    card.put("source", from);
    String json =
        ConfigValueFactory.fromMap(card)
            .render(ConfigRenderOptions.concise().setJson(true).setFormatted(true));
    Files.writeString(dir.resolve(FILE_NAME), json + "\n", StandardCharsets.UTF_8);
  }

  /**
   * Reads {@value #FILE_NAME} from {@code dir}.
   *
   * @throws IOException if the file is missing or unreadable
   * @throws IllegalArgumentException if it is not a card this build can read, saying why
   */
  public static ModelCard read(Path dir) throws IOException {
    Path file = dir.resolve(FILE_NAME);
    if (!Files.isRegularFile(file)) {
      throw new IOException(dir + " holds no " + FILE_NAME + ": not a directory written by bin/tessera export");
    }
    Config c;
    try {
      c = ConfigFactory.parseString(
          Files.readString(file, StandardCharsets.UTF_8), ConfigParseOptions.defaults().setSyntax(ConfigSyntax.JSON));
    } catch (ConfigException e) {
      throw new IllegalArgumentException(file + " is not valid JSON: " + e.getMessage(), e);
    }
    try {
      if (!FORMAT.equals(c.getString("format"))) {
        throw new IllegalArgumentException(file + " is not a " + FORMAT + " card");
      }
      int version = c.getInt("format-version");
      if (version < 1 || version > FORMAT_VERSION) {
        throw new IllegalArgumentException(
            file + " has format version " + version + "; this build reads versions 1 to " + FORMAT_VERSION);
      }
      Config input = c.getConfig("input");
      if (input.getDouble("pixel-scale") != PIXEL_SCALE || input.getDouble("mean") != 0 || input.getDouble("std") != 1) {
        throw new IllegalArgumentException(
            file + " normalises inputs as (pixel / " + input.getDouble("pixel-scale") + " - " + input.getDouble("mean")
                + ") / " + input.getDouble("std") + "; this build feeds pixel / " + PIXEL_SCALE);
      }
      Config m = c.getConfig("model");
      if (!m.getString("kind").equals(SpecNames.of(ModelKind.VIT_CLASSIFIER))) {
        throw new IllegalArgumentException(
            file + " holds a " + m.getString("kind") + " model; this build reads vit-classifier models");
      }
      ModelSpec model =
          ModelSpec.builder()
              .optKind(ModelKind.VIT_CLASSIFIER)
              .optImageSize(m.getInt("image-size"))
              .optChannels(m.getInt("channels"))
              .optPatchSize(m.getInt("patch-size"))
              .optDim(m.getInt("dim"))
              .optDepth(m.getInt("depth"))
              .optHeads(m.getInt("heads"))
              .optMlpDim(m.getInt("mlp-dim"))
              .optClasses(m.getInt("classes"))
              .build();
      Config s = c.getConfig("source");
      Source source =
          new Source(
              s.getString("job"),
              s.getString("stage"),
              s.getString("stage-kind"),
              s.getString("member"),
              s.getInt("member-index"),
              s.getLong("checkpoint"),
              s.hasPath("test-accuracy") ? s.getDouble("test-accuracy") : Double.NaN,
              s.hasPath("test-samples") ? s.getInt("test-samples") : 0);
      return new ModelCard(c.getString("name"), model, c.getStringList("class-names"), source);
    } catch (ConfigException | io.tessera.protocol.spec.SpecException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }
}
