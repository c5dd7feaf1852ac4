package io.tessera.worker;

import io.tessera.protocol.spec.DatasetSpec;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;
import io.tessera.worker.data.DatasetException;
import io.tessera.worker.data.FashionMnist;
import java.nio.file.Path;

/**
 * The data a node's workers train on, read once from the node's data directory and shared by all
 * of its workers (read-only after loading).
 */
public final class DataCatalog {
  private final Path directory;
  private FashionMnist fashionMnist;

  public DataCatalog(Path directory) {
    this.directory = directory;
  }

  public Path directory() {
    return directory;
  }

  /**
   * Fashion-MNIST from the data directory, loaded on first use.
   *
   * @throws DatasetException if the files are missing or corrupt, saying what to do
   */
  public synchronized FashionMnist fashionMnist() {
    if (fashionMnist == null) {
      fashionMnist = FashionMnist.load(directory);
    }
    return fashionMnist;
  }

  /** What a job with {@code spec} sees here, to compare across workers. */
  public DatasetInfo describe(DatasetSpec spec) {
    FashionMnist data = fashionMnist();
    return new DatasetInfo(
        data.train().limit(spec.trainLimit()).size(),
        data.test().limit(spec.testLimit()).size(),
        data.fingerprint());
  }
}
