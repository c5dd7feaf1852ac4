package io.tessera.deploy;

import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;

/** One line of job progress, as the demo and {@code status --watch} print it. */
final class ProgressLine {
  private ProgressLine() {}

  static String format(double elapsedSeconds, JobStatus status) {
    double percent = status.samplesTotal() == 0 ? 0 : 100.0 * status.samplesDone() / status.samplesTotal();
    return String.format(
        "[%5.0fs] %-12s %8d/%d samples %5.1f%%  %6.0f samples/s  loss %s  %d workers",
        elapsedSeconds,
        status.state(),
        status.samplesDone(),
        status.samplesTotal(),
        percent,
        status.samplesPerSecond(),
        Double.isNaN(status.recentLoss()) ? "  -   " : String.format("%.4f", status.recentLoss()),
        status.liveWorkers());
  }
}
