package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.deploy.reference.ReferenceTrainer;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.worker.data.FashionMnist;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The training modes through the real cluster (one JVM, a node per worker):
 *
 * <ul>
 *   <li>{@code sync}: the elastic barrier does not change the optimisation. A job trained by 1, 2
 *       or 3 workers (and by 3 with a backup worker) takes the same steps, from the same samples,
 *       as the single-process reference trainer, so every step's training loss agrees with the
 *       reference's to within floating-point noise (the workers' gradient sums are added in
 *       another order).
 *   <li>{@code ssp}: no worker is ever served parameters while more than the bound ahead of the
 *       slowest.
 *   <li>{@code async} with a staleness bound of 0: stale pushes are refused and counted, and the
 *       workers pull again and finish the job.
 * </ul>
 */
class TrainingModesIT {
  /** Two epochs of 2,048 samples at a global batch of 64: 64 steps. */
  private static final JobSpec SPEC = JobSpecParser.parse(TestJobs.subsetSpecText(2, "sync", 2048, 200));

  private static final double TOLERANCE = 1e-5;

  @Test
  void syncReproducesTheReferenceLossCurveAndSspAndAsyncKeepTheirBounds() {
    List<Double> reference =
        ReferenceTrainer.train(SPEC, 0, FashionMnist.load(TestJobs.subsetDir()), line -> {}).stepLosses();
    assertEquals(64, reference.size());

    try (TestCluster cluster = TestCluster.start("coordinator", "ps")) {
      for (int count = 1; count <= 3; count++) {
        int workers = count;
        cluster.addNode("worker");
        String jobId = cluster.submit(SPEC);
        JobStatus done = cluster.awaitFinished(jobId, Duration.ofMinutes(3));
        assertEquals(JobState.COMPLETED, done.state(), () -> "job failed: " + done.failure());

        AccumulationHistory history = cluster.accumulationHistory(jobId);
        AccumulationPlan last = history.plans().get(history.plans().size() - 1);
        assertEquals(workers, last.shares().size(), "plan: " + last);
        assertEquals(SPEC.microBatchesPerStep(), last.totalMicroBatches());

        List<Double> curve = cluster.trainingCurve(jobId, 0);
        assertEquals(reference.size(), curve.size(), workers + " worker(s): steps taken");
        double worst = 0;
        for (int step = 0; step < curve.size(); step++) {
          double difference = Math.abs(curve.get(step) - reference.get(step));
          worst = Math.max(worst, difference / Math.max(1.0, Math.abs(reference.get(step))));
        }
        System.out.printf("sync equivalence: %d worker(s), largest relative step-loss difference %.2e%n", workers, worst);
        double largest = worst;
        assertTrue(
            largest <= TOLERANCE,
            () -> workers + " worker(s) drift from the reference by " + largest + ": " + curve + " vs " + reference);
      }

      // Backup workers: each step is still taken once, from its exact samples.
      JobSpec withBackup = JobSpecParser.parse(TestJobs.with(TestJobs.subsetSpecText(2, "sync", 2048, 200), "backup-workers", 1));
      String jobId = cluster.submit(withBackup);
      JobStatus done = cluster.awaitFinished(jobId, Duration.ofMinutes(3));
      assertEquals(JobState.COMPLETED, done.state(), () -> "job failed: " + done.failure());
      List<Double> curve = cluster.trainingCurve(jobId, 0);
      double worst = 0;
      for (int step = 0; step < curve.size(); step++) {
        worst = Math.max(worst, Math.abs(curve.get(step) - reference.get(step)) / Math.max(1.0, Math.abs(reference.get(step))));
      }
      long dropped = 0;
      for (int shard = 0; shard < withBackup.shards(); shard++) {
        ShardProtocol.ShardStatus status = cluster.shardStatus(jobId, 0, shard);
        dropped += status.pushesDuplicate() + status.pushesStale();
      }
      System.out.printf(
          "sync equivalence: 3 workers, 1 backup, largest relative step-loss difference %.2e, %d late copies dropped%n",
          worst, dropped);
      assertTrue(dropped > 0, "no backup copy ever reached a shard");
      assertEquals(reference.size(), curve.size());
      double largest = worst;
      assertTrue(largest <= TOLERANCE, () -> "with a backup worker the curve drifts by " + largest);

      // SSP, three workers, at most one window ahead of the slowest.
      JobSpec ssp = JobSpecParser.parse(TestJobs.with(TestJobs.subsetSpecText(1, "ssp", 2048, 200), "staleness", 1));
      String sspJob = cluster.submit(ssp);
      assertEquals(JobState.COMPLETED, cluster.awaitFinished(sspJob, Duration.ofMinutes(3)).state());
      for (int shard = 0; shard < ssp.shards(); shard++) {
        ShardProtocol.ShardStatus status = cluster.shardStatus(sspJob, 0, shard);
        System.out.printf(
            "ssp: shard %d, most windows a served worker was ahead: %d (bound 1), %d workers pushed%n",
            shard, status.maxClockLead(), status.pushers().size());
        assertTrue(status.maxClockLead() <= 1, "ssp bound broken: " + status);
        assertEquals(3, status.pushers().size(), "every worker trained: " + status);
      }

      // Async with no staleness allowed: concurrent workers' pushes go stale, are refused and
      // counted, and the workers pull again.
      JobSpec strict = JobSpecParser.parse(TestJobs.with(TestJobs.subsetSpecText(1, "async", 2048, 200), "staleness", 0));
      String strictJob = cluster.submit(strict);
      JobStatus strictDone = cluster.awaitFinished(strictJob, Duration.ofMinutes(3));
      assertEquals(JobState.COMPLETED, strictDone.state(), () -> "job failed: " + strictDone.failure());
      assertEquals(2048L, strictDone.samplesDone());
      long stale = 0;
      for (int shard = 0; shard < strict.shards(); shard++) {
        stale += cluster.shardStatus(strictJob, 0, shard).pushesStale();
      }
      System.out.printf("async, staleness 0, 3 workers: %d stale pushes refused and re-pulled%n", stale);
      assertTrue(stale > 0, "three workers never pushed on an old version?");
    }
  }
}
