package io.tessera.tests;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValueFactory;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import java.nio.file.Path;

/** Job specs and data the integration suites share. */
final class TestJobs {
  private TestJobs() {}

  /** The Fashion-MNIST subset shipped in the repository (3,000 training, 1,000 test images). */
  static Path subsetDir() {
    return Path.of(System.getProperty("tessera.test.data-dir", "src/test/resources/fashion-mnist-subset"))
        .toAbsolutePath();
  }

  /** deploy/jobs/fashion-mnist-subset.conf, with {@code epochs} setting how long the job runs. */
  static String subsetSpecText(int epochs) {
    return subsetSpecText(epochs, "30s");
  }

  /** The same, checkpointing every {@code checkpointInterval} (HOCON duration, e.g. "3s"). */
  static String subsetSpecText(int epochs, String checkpointInterval) {
    Config spec =
        ConfigFactory.parseResources("jobs/fashion-mnist-subset.conf")
            .withValue("epochs", ConfigValueFactory.fromAnyRef(epochs))
            .withValue("checkpoint.interval", ConfigValueFactory.fromAnyRef(checkpointInterval));
    return spec.root().render(ConfigRenderOptions.concise());
  }

  /** The subset job in {@code mode} over the first {@code trainLimit} training samples. */
  static String subsetSpecText(int epochs, String mode, int trainLimit, int testLimit) {
    Config spec =
        ConfigFactory.parseString(subsetSpecText(epochs))
            .withValue("mode", ConfigValueFactory.fromAnyRef(mode))
            .withValue("dataset.train-limit", ConfigValueFactory.fromAnyRef(trainLimit))
            .withValue("dataset.test-limit", ConfigValueFactory.fromAnyRef(testLimit));
    return spec.root().render(ConfigRenderOptions.concise());
  }

  /** {@code specText} with {@code key} set to {@code value}. */
  static String with(String specText, String key, Object value) {
    return ConfigFactory.parseString(specText)
        .withValue(key, ConfigValueFactory.fromAnyRef(value))
        .root()
        .render(ConfigRenderOptions.concise());
  }

  /**
   * A job of the synthetic model (200 parameters, no DJL: workers may be {@code --simulated}): one
   * epoch of {@code trainLimit} samples at {@code microsPerSample} each, async, steps of 16 in
   * micro-batches of 8, two shards, no periodic checkpoint. {@link #with} changes the rest.
   */
  static String syntheticSpecText(String name, int trainLimit, int microsPerSample) {
    return """
        name = %s
        epochs = 1
        global-batch = 16
        micro-batch = 8
        split-size = 64
        shards = 2
        dataset { name = synthetic, train-limit = %d }
        model { kind = synthetic, parameters = 200, compute-micros-per-sample = %d }
        optimizer { kind = sgd, learning-rate = 0.1, momentum = 0, weight-decay = 0, schedule = constant }
        checkpoint.interval = 0
        """
        .formatted(name, trainLimit, microsPerSample);
  }

  static JobSpec synthetic(String name, int trainLimit, int microsPerSample) {
    return JobSpecParser.parse(syntheticSpecText(name, trainLimit, microsPerSample));
  }

  static JobSpec subset(int epochs) {
    return JobSpecParser.parse(subsetSpecText(epochs));
  }

  static JobSpec subset(int epochs, String checkpointInterval) {
    return JobSpecParser.parse(subsetSpecText(epochs, checkpointInterval));
  }
}
