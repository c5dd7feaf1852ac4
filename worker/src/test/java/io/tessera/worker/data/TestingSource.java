package io.tessera.worker.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A {@link DatasetSource} for tests: either fails with a fixed reason, as an absent apt or an
 * unreachable host would, or hands out a directory. Records what it was asked for.
 */
final class TestingSource implements DatasetSource {

  private final String description;
  private final String failure;
  private final Path dir;
  private final List<Set<String>> requests = new ArrayList<>();

  private TestingSource(String description, String failure, Path dir) {
    this.description = description;
    this.failure = failure;
    this.dir = dir;
  }

  static TestingSource failing(String description, String failure) {
    return new TestingSource(description, failure, null);
  }

  static TestingSource serving(String description, Path dir) {
    return new TestingSource(description, null, dir);
  }

  /** The file names of each call to {@link #provide}, in order. */
  List<Set<String>> requests() {
    return requests;
  }

  @Override
  public String description() {
    return description;
  }

  @Override
  public Path provide(Set<String> fileNames, Path scratch, Consumer<String> progress)
      throws IOException {
    requests.add(fileNames);
    if (failure != null) {
      throw new IOException(failure);
    }
    return dir;
  }
}
