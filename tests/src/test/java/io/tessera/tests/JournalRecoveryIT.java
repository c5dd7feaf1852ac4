package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Stop-and-respawn through the real JDBC journal and snapshot store: a cluster is stopped while a
 * job runs and a new one started on the same database. The coordinator recovers every
 * acknowledged event (the job, its ledger, the audit log); the parameter shards restore their last
 * complete checkpoint; the job finishes. Run against H2, and against PostgreSQL when {@code
 * TESSERA_TEST_POSTGRES_URL} names one (.ci/run sets it).
 */
class JournalRecoveryIT {
  private static final int EPOCHS = 6;

  @Test
  void aJobSurvivesAClusterRestartOnH2() {
    runAcrossARestart(TestCluster.h2(TestCluster.freshJournal()));
  }

  @Test
  void aJobSurvivesAClusterRestartOnPostgres() throws Exception {
    String url = System.getenv("TESSERA_TEST_POSTGRES_URL");
    assumeTrue(
        url != null && !url.isBlank(),
        "skipped: TESSERA_TEST_POSTGRES_URL is not set (e.g. jdbc:postgresql://127.0.0.1:5432/test?user=postgres)");
    dropTables(url);
    runAcrossARestart(TestCluster.postgres(url));
  }

  private static void runAcrossARestart(Map<String, Object> database) {
    String jobId;
    JobStatus before;
    try (TestCluster first = TestCluster.start(database, "coordinator", "ps")) {
      first.addNode("worker");
      jobId = first.submit(TestJobs.subset(EPOCHS, "2s"));
      before =
          first.awaitStatus(jobId, Duration.ofMinutes(2), "progress and a checkpoint",
              s -> s.samplesDone() >= EPOCHS * 3000L / 3 && s.lastCheckpointId() >= 1);
    }

    try (TestCluster second = TestCluster.start(database, "coordinator", "ps")) {
      JobStatus recovered = second.status(jobId);
      assertEquals(before.name(), recovered.name());
      assertTrue(recovered.samplesDone() >= before.samplesDone(), "acknowledged splits were lost: " + recovered);
      assertTrue(recovered.lastCheckpointId() >= before.lastCheckpointId(), "a complete checkpoint was lost: " + recovered);

      second.addNode("worker");
      JobStatus done = second.awaitFinished(jobId, Duration.ofMinutes(5));
      assertEquals(JobState.COMPLETED, done.state(), () -> "job failed: " + done.failure());
      assertEquals(done.splitsTotal(), done.splitsDone());
      assertTrue(done.recoveryEpoch() >= 1, "the shards should have been restored from a checkpoint");
      CoordinatorProtocol.AuditRecord submit = second.auditLog().get(0);
      assertEquals("submit", submit.command());
      assertTrue(submit.detail().startsWith(jobId), submit.toString());
    }
  }

  private static void dropTables(String url) throws Exception {
    try (Connection db = DriverManager.getConnection(url); Statement sql = db.createStatement()) {
      sql.execute("DROP TABLE IF EXISTS event_tag, event_journal, snapshot CASCADE");
    }
  }
}
