package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.ps.ShardProtocol;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A long-running coordinator through a real cluster (H2 journal, simulated workers): a mistaken
 * huge job is cancelled while it runs, its shards stop and the queue moves on; and after hundreds
 * of small jobs the coordinator's snapshot and its recovery time are what they were after a few
 * dozen, because finished jobs are archived and only the newest kept.
 */
class JobLifecycleIT {
  /**
   * Finished jobs (and audit records) the coordinator keeps in the retention test: small, so that
   * every bound is reached by the first measurement and 200 jobs overflow it many times over.
   */
  private static final int KEPT = 20;

  private static Map<String, Object> database(Path journal, int finishedKept) {
    Map<String, Object> settings = new HashMap<>(TestCluster.h2(journal));
    settings.put("tessera.worker.use-gpus", false); // synthetic models only: no GPU probe, no DJL
    settings.put("tessera.coordinator.finished-jobs-kept", finishedKept);
    settings.put("tessera.coordinator.audit-kept", finishedKept); // one submission per job
    // A shard woken by a push that was on its way when its job stopped goes again this soon.
    settings.put("tessera.ps.finished-idle-timeout", "3s");
    return settings;
  }

  @Test
  void aHugeJobIsCancelledWhileItRunsItsShardsStopAndTheNextJobRuns() {
    try (TestCluster cluster = TestCluster.start(database(TestCluster.freshJournal(), 100), "coordinator", "ps")) {
      cluster.addNode("worker");
      // 100,000 samples at 2 ms each: over three minutes of work for one worker.
      String huge = cluster.submit(TestJobs.synthetic("mistake", 100_000, 2_000));
      String next = cluster.submit(TestJobs.synthetic("next", 256, 0));
      cluster.awaitStatus(huge, Duration.ofMinutes(1), "training", s -> s.state() == JobState.RUNNING && s.samplesDone() > 0);
      List<String> hugeShards = List.of(ShardProtocol.entityId(huge, 0, 0), ShardProtocol.entityId(huge, 0, 1));
      assertTrue(cluster.hostedShards(cluster.seedNode()).containsAll(hugeShards), "its shards run");

      assertEquals(List.of(huge), cluster.cancel(huge));

      JobStatus done = cluster.awaitFinished(next, Duration.ofMinutes(1));
      assertEquals(JobState.COMPLETED, done.state(), () -> "the next job did not run: " + done);
      JobStatus cancelled = cluster.status(huge);
      assertEquals(JobState.CANCELLED, cancelled.state());
      assertTrue(cancelled.samplesDone() < cancelled.samplesTotal(), cancelled.toString());
      cluster.awaitStatus(huge, Duration.ofSeconds(30), "its shards to stop",
          s -> hugeShards.stream().noneMatch(cluster.hostedShards(cluster.seedNode())::contains));
      AuditRecord audit =
          cluster.auditLog().stream().filter(r -> r.command().equals("cancel")).findFirst().orElseThrow();
      assertEquals(huge, audit.detail());
    }
  }

  @Test
  void aPausedJobGivesItsTurnAndItsShardsUpAndResumedFinishesEverySample() {
    try (TestCluster cluster = TestCluster.start(database(TestCluster.freshJournal(), 100), "coordinator", "ps")) {
      cluster.addNode("worker");
      // 6,000 samples at 1 ms each: several seconds of work, paused part-way.
      String paused = cluster.submit(TestJobs.synthetic("paused", 6_000, 1_000));
      String next = cluster.submit(TestJobs.synthetic("meanwhile", 256, 0));
      cluster.awaitStatus(paused, Duration.ofMinutes(1), "training", s -> s.state() == JobState.RUNNING && s.samplesDone() > 0);
      long checkpoint = cluster.requestCheckpoint(paused);
      JobStatus saved = cluster.awaitStatus(paused, Duration.ofMinutes(1), "checkpoint " + checkpoint,
          s -> s.lastCheckpointId() >= checkpoint);
      List<String> shards = List.of(ShardProtocol.entityId(paused, 0, 0), ShardProtocol.entityId(paused, 0, 1));

      assertEquals(
          List.of(paused),
          cluster.<AdminProtocol.JobsChanged>admin(replyTo -> new AdminProtocol.PauseJob(paused, replyTo)).jobIds());

      JobStatus meanwhile = cluster.awaitFinished(next, Duration.ofMinutes(1));
      assertEquals(JobState.COMPLETED, meanwhile.state(), () -> "the next job did not run: " + meanwhile);
      cluster.awaitStatus(paused, Duration.ofSeconds(30), "its shards to stop",
          s -> shards.stream().noneMatch(cluster.hostedShards(cluster.seedNode())::contains));
      JobStatus whilePaused = cluster.status(paused);
      assertEquals(JobState.PAUSED, whilePaused.state());
      assertTrue(whilePaused.samplesDone() >= saved.samplesDone() && whilePaused.samplesDone() < 6_000, whilePaused::toString);

      cluster.<AdminProtocol.JobsChanged>admin(replyTo -> new AdminProtocol.ResumeJob(paused, replyTo));
      JobStatus done = cluster.awaitFinished(paused, Duration.ofMinutes(2));
      assertEquals(JobState.COMPLETED, done.state(), done::toString);
      assertEquals(6_000, done.samplesDone(), "every sample trained, from the checkpoint on");
      assertEquals(done.samplesTotal(), done.samplesDone());
      assertEquals(1, done.recoveryEpoch(), "resumed once, by a rewind to its checkpoint");
      List<String> commands = cluster.auditLog().stream().map(AuditRecord::command).toList();
      assertTrue(commands.containsAll(List.of("pause", "resume")), commands::toString);
    }
  }

  @Test
  void twoHundredJobsLeaveTheSnapshotAndTheRecoveryTimeAsTheyWereAfterFifty() throws Exception {
    Path journal = TestCluster.freshJournal();
    Duration newCoordinator = timeToAnswer(TestCluster.freshJournal(), 0);
    List<Measure> measures = new ArrayList<>();
    int submitted = 0;
    for (int phase : new int[] {50, 100, 200}) {
      try (TestCluster cluster = TestCluster.start(database(journal, KEPT), "coordinator", "ps", "worker")) {
        String last = null;
        for (; submitted < phase; submitted++) {
          last = cluster.submit(TestJobs.synthetic("small-" + submitted, 32, 0));
        }
        JobStatus done = cluster.awaitFinished(last, Duration.ofMinutes(5));
        assertEquals(JobState.COMPLETED, done.state(), done::toString);
        List<JobStatus> kept = cluster.jobs();
        assertTrue(kept.size() <= KEPT, "the coordinator keeps at most " + KEPT + " finished jobs: " + kept.size());
        assertEquals(done.jobId(), kept.get(kept.size() - 1).jobId(), "the newest are kept");
      }
      Duration recovery = timeToAnswer(journal, phase);
      measures.add(new Measure(phase, newestSnapshotBytes(journal), recovery));
    }
    for (Measure m : measures) {
      System.out.printf(
          "coordinator after %d jobs: newest snapshot %d bytes; a restarted node answers in %d ms"
              + " (one with an empty journal: %d ms)%n",
          m.jobs(), m.snapshotBytes(), m.recovery().toMillis(), newCoordinator.toMillis());
    }
    Measure fifty = measures.get(0);
    Measure twoHundred = measures.get(2);
    assertTrue(fifty.snapshotBytes() > 0, "no snapshot after 50 jobs");
    assertTrue(
        twoHundred.snapshotBytes() <= fifty.snapshotBytes() * 1.15,
        () -> "the snapshot grew with the job count: " + measures);
    // Node start-up (cluster join, singleton hand-over) dominates; the journal adds at most a
    // bounded replay (a snapshot of <= KEPT jobs plus fewer than 500 events).
    assertTrue(
        twoHundred.recovery().toMillis() <= newCoordinator.toMillis() * 2 + 2_000,
        () -> "recovery after 200 jobs took " + twoHundred.recovery() + ", a new coordinator " + newCoordinator);

    // A snapshot that cannot be read is skipped: the state is rebuilt from every event.
    damageNewestSnapshot(journal);
    Duration fromEvents = timeToAnswer(journal, 200);
    System.out.printf(
        "coordinator after 200 jobs, its snapshot damaged: recovered from every event, answers in %d ms%n",
        fromEvents.toMillis());
  }

  private static void damageNewestSnapshot(Path journal) throws Exception {
    String url = "jdbc:h2:file:" + journal + ";AUTO_SERVER=TRUE";
    try (Connection db = DriverManager.getConnection(url, "sa", "");
        PreparedStatement update =
            db.prepareStatement(
                "UPDATE \"snapshot\" SET \"snapshot_payload\" = ? WHERE \"persistence_id\" = ?")) {
      update.setBytes(1, new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
      update.setString(2, "tessera-coordinator");
      assertTrue(update.executeUpdate() > 0, "no coordinator snapshot to damage");
    }
  }

  private record Measure(int jobs, long snapshotBytes, Duration recovery) {}

  /**
   * Starts a one-node cluster on {@code journal} and times until its coordinator has recovered and
   * answers a status question about the newest job (or any, with none).
   */
  private static Duration timeToAnswer(Path journal, int jobs) {
    long start = System.nanoTime();
    try (TestCluster cluster = TestCluster.start(database(journal, KEPT), "coordinator", "ps")) {
      List<JobStatus> known = cluster.jobs();
      Duration took = Duration.ofNanos(System.nanoTime() - start);
      if (jobs > 0) {
        assertEquals("job-" + jobs, known.get(known.size() - 1).jobId(), "recovered up to the newest job");
      }
      return took;
    }
  }

  private static long newestSnapshotBytes(Path journal) throws Exception {
    String url = "jdbc:h2:file:" + journal + ";AUTO_SERVER=TRUE";
    try (Connection db = DriverManager.getConnection(url, "sa", "");
        PreparedStatement select =
            db.prepareStatement(
                "SELECT LENGTH(\"snapshot_payload\") FROM \"snapshot\" WHERE \"persistence_id\" = ?"
                    + " ORDER BY \"sequence_number\" DESC LIMIT 1")) {
      select.setString(1, "tessera-coordinator");
      try (ResultSet row = select.executeQuery()) {
        return row.next() ? row.getLong(1) : 0;
      }
    }
  }
}
