package io.tessera.deploy;

import io.tessera.deploy.reference.ReferenceTrainer;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.SpecException;
import io.tessera.worker.data.DatasetException;
import io.tessera.worker.data.FashionMnist;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/** {@code bin/tessera reference SPEC}: the single-process yardstick run. */
final class ReferenceCommand {
  private ReferenceCommand() {}

  static int run(List<String> args) {
    CommandLine line = CommandLine.parse(args, Set.of("data-dir", "threads"), Set.of());
    if (line.positional().size() != 1) {
      throw new CommandLine.UsageException("usage: bin/tessera reference SPEC [--data-dir DIR]");
    }
    if (System.getProperty("ai.djl.pytorch.num_threads") == null) {
      System.setProperty(
          "ai.djl.pytorch.num_threads",
          String.valueOf(line.intOption("threads", Runtime.getRuntime().availableProcessors())));
    }
    System.setProperty("ai.djl.offline", "true");
    try {
      JobSpec spec = JobSpecParser.parse(Files.readString(Path.of(line.positional().get(0))));
      FashionMnist data = FashionMnist.load(Path.of(line.option("data-dir").orElse(DataCommand.DEFAULT_DATA_DIR)));
      ReferenceTrainer.Result result = ReferenceTrainer.train(spec, 0, data, System.out::println);
      System.out.printf(
          "reference: %d samples in %d optimizer steps, %.0f samples/s, test accuracy %.4f on %d images%n",
          result.trainedSamples(), result.optimizerSteps(), result.samplesPerSecond(), result.testAccuracy(),
          result.testSamples());
      return 0;
    } catch (IOException e) {
      System.err.println("tessera: cannot read " + line.positional().get(0) + ": " + e.getMessage());
      return 1;
    } catch (SpecException | DatasetException e) {
      System.err.println("tessera: " + e.getMessage());
      return 1;
    }
  }
}
