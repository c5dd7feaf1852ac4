package io.tessera.worker.data;

import io.tessera.protocol.spec.DatasetSpec;
import io.tessera.protocol.worker.WorkerProtocol.DatasetInfo;

/**
 * The images one stage trains on, validates on and is tested on: the training images its limit
 * keeps, less the last {@code dataset.validation} of them, which are held out for validation.
 */
public record StageData(ImageSet train, ImageSet validation, ImageSet test, String fingerprint) {

  public static StageData of(FashionMnist data, DatasetSpec spec) {
    ImageSet kept = data.train().limit(spec.trainLimit());
    if (spec.validation() >= kept.size()) {
      throw new DatasetException(
          "dataset.validation (" + spec.validation() + ") leaves no training samples of the " + kept.size()
              + " this node has");
    }
    int trainSize = kept.size() - spec.validation();
    ImageSet validation = kept.range(trainSize, kept.size());
    ImageSet train = spec.validation() == 0 ? kept : kept.limit(trainSize);
    return new StageData(train, validation, data.test().limit(spec.testLimit()), data.fingerprint());
  }

  /** What the coordinator compares across workers; its train size is what the ledger cuts. */
  public DatasetInfo info() {
    return new DatasetInfo(train.size(), test.size(), fingerprint);
  }
}
