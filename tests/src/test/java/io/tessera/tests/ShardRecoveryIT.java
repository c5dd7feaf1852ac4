package io.tessera.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import io.tessera.deploy.NodeGuardian;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Losing the node that hosts parameter shards, in one JVM where the shards can be inspected: every
 * shard of the job comes back at the same checkpoint and version, and a checkpoint whose snapshot
 * was damaged is reported and replaced by the one before.
 */
class ShardRecoveryIT {
  private static final int EPOCHS = 12;

  @Test
  void afterANodeLossEveryShardIsAtTheSameCheckpointAndVersion() {
    try (TestCluster cluster = TestCluster.start("coordinator", "ps")) {
      ActorSystem<NodeGuardian.Command> psNode = cluster.addNode("ps");
      ActorSystem<NodeGuardian.Command> worker = cluster.addNode("worker");
      String jobId = cluster.submit(TestJobs.subset(EPOCHS, "1h"));
      cluster.awaitStatus(jobId, Duration.ofMinutes(2), "some training", s -> s.samplesDone() >= 3000);
      long checkpoint = cluster.requestCheckpoint(jobId);
      cluster.awaitStatus(jobId, Duration.ofMinutes(1), "checkpoint " + checkpoint, s -> s.lastCheckpointId() == checkpoint);
      assertFalse(cluster.hostedShards(psNode).isEmpty(), "the second ps node hosts no shard");

      // With the worker gone nothing moves the shards on after the rewind, so their versions can
      // be compared.
      cluster.stopNode(worker);
      cluster.stopNode(psNode);
      JobStatus recovered =
          cluster.awaitStatus(jobId, Duration.ofMinutes(1), "the rewind", s -> s.recoveryEpoch() == 1 && s.state() == JobState.RUNNING);

      assertEquals(checkpoint, recovered.lastCheckpointId());
      assertConsistent(cluster, jobId, 1, checkpoint);

      cluster.addNode("worker");
      JobStatus done = cluster.awaitFinished(jobId, Duration.ofMinutes(5));
      assertEquals(JobState.COMPLETED, done.state(), () -> "job failed: " + done.failure());
      assertEquals(done.splitsTotal(), done.splitsDone());
    }
  }

  @Test
  void aDamagedSnapshotIsReportedAndTheCheckpointBeforeIsUsed() throws Exception {
    try (TestCluster cluster = TestCluster.start("coordinator", "ps")) {
      ActorSystem<NodeGuardian.Command> psNode = cluster.addNode("ps");
      ActorSystem<NodeGuardian.Command> worker = cluster.addNode("worker");
      String jobId = cluster.submit(TestJobs.subset(EPOCHS, "1h"));
      cluster.awaitStatus(jobId, Duration.ofMinutes(2), "some training", s -> s.samplesDone() >= 3000);
      long first = cluster.requestCheckpoint(jobId);
      cluster.awaitStatus(jobId, Duration.ofMinutes(1), "checkpoint " + first, s -> s.lastCheckpointId() == first);
      cluster.awaitStatus(jobId, Duration.ofMinutes(1), "more training", s -> s.samplesDone() >= 9000);
      long second = cluster.requestCheckpoint(jobId);
      cluster.awaitStatus(jobId, Duration.ofMinutes(1), "checkpoint " + second, s -> s.lastCheckpointId() == second);

      // Flip one byte in the middle of each shard's newest snapshot (the second checkpoint's).
      damageNewestSnapshots(cluster, jobId);
      cluster.stopNode(worker);
      cluster.stopNode(psNode);

      // The rewind to the second checkpoint finds it unreadable and falls back to the first.
      JobStatus recovered =
          cluster.awaitStatus(jobId, Duration.ofMinutes(1), "the fall-back", s -> s.recoveryEpoch() == 2 && s.state() == JobState.RUNNING);
      assertEquals(first, recovered.lastCheckpointId(), "the damaged checkpoint must no longer be used");
      assertConsistent(cluster, jobId, 2, first);

      cluster.addNode("worker");
      JobStatus done = cluster.awaitFinished(jobId, Duration.ofMinutes(5));
      assertEquals(JobState.COMPLETED, done.state(), () -> "job failed: " + done.failure());
      assertEquals(done.splitsTotal(), done.splitsDone());
    }
  }

  /**
   * Every shard of the job is in {@code epoch} at {@code checkpoint}, at the same version: the
   * coordinator quiesces the job before a checkpoint (no lease out, so no push in flight), so
   * every shard saved the same pushes.
   */
  private static void assertConsistent(TestCluster cluster, String jobId, long epoch, long checkpoint) {
    List<ShardStatus> shards = new ArrayList<>();
    for (int shard = 0; shard < 2; shard++) {
      shards.add(cluster.shardStatus(jobId, 0, shard));
    }
    for (ShardStatus shard : shards) {
      assertEquals(epoch, shard.epoch(), shard.toString());
      assertEquals(checkpoint, shard.checkpointId(), shard.toString());
      assertEquals(shards.get(0).version(), shard.version(), () -> "versions differ: " + shards);
    }
    assertTrue(shards.get(0).version() > 0, "no optimizer step before the checkpoint: " + shards);
  }

  private static void damageNewestSnapshots(TestCluster cluster, String jobId) throws Exception {
    String url = "jdbc:h2:file:" + cluster.journal() + ";AUTO_SERVER=TRUE";
    try (Connection db = DriverManager.getConnection(url, "sa", "")) {
      for (int shard = 0; shard < 2; shard++) {
        String persistenceId = "ParameterShard|" + jobId + ":m0:s" + shard;
        long newest;
        byte[] payload;
        try (PreparedStatement select =
            db.prepareStatement(
                "SELECT \"sequence_number\", \"snapshot_payload\" FROM \"snapshot\" WHERE \"persistence_id\" = ?"
                    + " ORDER BY \"sequence_number\" DESC LIMIT 1")) {
          select.setString(1, persistenceId);
          try (ResultSet row = select.executeQuery()) {
            assertTrue(row.next(), "no snapshot for " + persistenceId);
            newest = row.getLong(1);
            payload = row.getBytes(2);
          }
        }
        payload[payload.length / 2] ^= 0x5A;
        try (PreparedStatement update =
            db.prepareStatement(
                "UPDATE \"snapshot\" SET \"snapshot_payload\" = ? WHERE \"persistence_id\" = ? AND \"sequence_number\" = ?")) {
          update.setBytes(1, payload);
          update.setString(2, persistenceId);
          update.setLong(3, newest);
          assertEquals(1, update.executeUpdate());
        }
      }
    }
  }
}
