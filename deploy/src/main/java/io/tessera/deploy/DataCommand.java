package io.tessera.deploy;

import io.tessera.worker.data.DatasetException;
import io.tessera.worker.data.DatasetFetcher;
import io.tessera.worker.data.FetchResult;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** {@code bin/tessera data fetch}: obtains Fashion-MNIST and verifies it. */
final class DataCommand {
  static final String DEFAULT_DATA_DIR = "data/fashion-mnist";

  private DataCommand() {}

  static int run(List<String> args) {
    CommandLine line = CommandLine.parse(args, Set.of("data-dir", "from"), Set.of());
    if (line.positional().size() != 1 || !line.positional().get(0).equals("fetch")) {
      throw new CommandLine.UsageException("usage: bin/tessera data fetch [--data-dir DIR] [--from DIR]");
    }
    try {
      fetch(Path.of(line.option("data-dir").orElse(DEFAULT_DATA_DIR)), line.option("from").map(Path::of));
      return 0;
    } catch (DatasetException e) {
      System.err.println("tessera: " + e.getMessage());
      return 1;
    }
  }

  /** Makes sure the data is in {@code target}, printing what it does. */
  static void fetch(Path target, Optional<Path> from) {
    FetchResult result =
        DatasetFetcher.standard().fetch(target, from, message -> System.out.println("data: " + message));
    System.out.println(
        result.alreadyPresent()
            ? "data: Fashion-MNIST is ready in " + result.directory()
            : "data: Fashion-MNIST verified and installed in " + result.directory());
  }
}
