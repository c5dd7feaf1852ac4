package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class JobProgressTest {
  private static final long SECOND = 1_000_000_000L;

  @Test
  void theRateIsSamplesPerSecondBetweenTwoTicks() {
    JobProgress progress = new JobProgress();
    assertEquals(0.0, progress.record("job-1", 0, 0));
    assertEquals(500.0, progress.record("job-1", 2_500, 5 * SECOND), 1e-9);
    assertEquals(500.0, progress.samplesPerSecond("job-1"), 1e-9);
    assertEquals(0.0, progress.samplesPerSecond("job-2"));
  }

  @Test
  void aRewindReadsAsNoProgressRatherThanANegativeRate() {
    JobProgress progress = new JobProgress();
    progress.record("job-1", 9_000, 0);
    assertEquals(0.0, progress.record("job-1", 5_000, 5 * SECOND));
    assertEquals(200.0, progress.record("job-1", 6_000, 10 * SECOND), 1e-9);
  }

  @Test
  void aNewJobStartsFromZero() {
    JobProgress progress = new JobProgress();
    progress.record("job-1", 0, 0);
    progress.record("job-1", 1_000, SECOND);
    assertEquals(0.0, progress.record("job-2", 50, 2 * SECOND));
  }
}
