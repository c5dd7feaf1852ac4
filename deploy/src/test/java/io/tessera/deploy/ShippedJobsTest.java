package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.TrainingMode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The example job specs under deploy/jobs, which the README documents, parse as they claim. */
class ShippedJobsTest {
  private static final Path JOBS = Path.of("jobs");

  private static JobSpec parse(String file) throws IOException {
    return JobSpecParser.parse(Files.readString(JOBS.resolve(file)));
  }

  @Test
  void everyShippedSpecParses() throws IOException {
    try (Stream<Path> files = Files.list(JOBS)) {
      List<Path> specs = files.filter(f -> f.toString().endsWith(".conf")).toList();
      assertTrue(specs.size() >= 4, "specs found: " + specs);
      for (Path spec : specs) {
        JobSpecParser.parse(Files.readString(spec));
      }
    }
  }

  @Test
  void theSyncAndEnsembleExamplesSayWhatTheReadmeSays() throws IOException {
    JobSpec sync = parse("fashion-mnist-sync.conf");
    assertEquals(TrainingMode.SYNC, sync.mode());
    assertEquals(1, sync.backupWorkers());

    JobSpec ensemble = parse("fashion-mnist-ensemble.conf");
    assertEquals(3, ensemble.members().size());
    assertEquals(2.0, ensemble.members().get(2).weight());
    assertEquals(3e-3, ensemble.optimizerOf(1).learningRate());
  }
}
