package io.tessera.coordinator;

/**
 * Training throughput of the active job: acknowledged samples per second between the two most
 * recent progress ticks. Runtime only; it starts over after a restart, and over a tick in which
 * the job rewound to a checkpoint (fewer samples done than before) it reads 0, not a negative
 * rate.
 */
final class JobProgress {
  private String jobId;
  private long lastSamples;
  private long lastNanos;
  private double rate;

  /** Records the job's acknowledged samples at {@code nanos} and returns the current rate. */
  double record(String job, long samplesDone, long nanos) {
    if (!job.equals(jobId)) {
      jobId = job;
      rate = 0;
    } else if (nanos > lastNanos) {
      rate = Math.max(0, samplesDone - lastSamples) * 1e9 / (nanos - lastNanos);
    }
    lastSamples = samplesDone;
    lastNanos = nanos;
    return rate;
  }

  double samplesPerSecond(String job) {
    return job.equals(jobId) ? rate : 0.0;
  }
}
