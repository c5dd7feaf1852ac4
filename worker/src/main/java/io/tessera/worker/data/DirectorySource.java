package io.tessera.worker.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.function.Consumer;

/** Files that already lie in a local directory, such as one the operator names with --from. */
record DirectorySource(String label, Path dir) implements DatasetSource {

  @Override
  public String description() {
    return label + " " + dir;
  }

  @Override
  public Path provide(Set<String> fileNames, Path scratch, Consumer<String> progress)
      throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new IOException("directory does not exist");
    }
    return dir;
  }
}
