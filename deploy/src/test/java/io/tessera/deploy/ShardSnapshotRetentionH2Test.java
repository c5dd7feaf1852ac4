package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.pattern.StatusReply;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ResolveShardRecovery;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Accepted;
import io.tessera.protocol.ps.ShardProtocol.CheckpointSaved;
import io.tessera.protocol.ps.ShardProtocol.Initialized;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import io.tessera.protocol.spec.LearningRateSchedule;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.ps.ParameterShard;
import io.tessera.ps.ShardCheckpoints;
import io.tessera.ps.ShardSettings;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A parameter shard's snapshots in the H2 snapshot store written through akka-persistence-jdbc, as
 * deployed (issue 14): after a run of abandoned checkpoints the last complete one still restores,
 * and the snapshots no kept checkpoint needs are gone, deleted through the JDBC plugin (which
 * ignores lower bounds in deletion criteria, so the shard deletes those between kept ones one by one).
 */
class ShardSnapshotRetentionH2Test {
  private static final Duration TIMEOUT = Duration.ofSeconds(30);
  private static final float[] INITIAL = {1f, 2f, -3f, 0.5f};
  private static final float[] GRADIENT = {2f, -2f, 1f, 4f};

  @TempDir Path dir;

  @Test
  void abandonedCheckpointsLeaveTheLastCompleteOneAndOnlyTheSnapshotsKeptCheckpointsNeed() throws SQLException {
    Path journal = dir.resolve("journal");
    Config configured =
        Persistence.configure(
            ConfigFactory.parseMap(
                    Map.of(
                        "tessera.persistence.database", "h2",
                        "tessera.persistence.h2.file", journal.toString(),
                        "akka.cluster.roles", List.of("ps"),
                        "akka.actor.provider", "local",
                        "akka.loglevel", "WARNING",
                        "akka.coordinated-shutdown.exit-jvm", "off",
                        "akka.coordinated-shutdown.run-by-jvm-shutdown-hook", "off"))
                .withFallback(ConfigFactory.load()));
    Persistence.createTables(configured);
    ActorTestKit testKit = ActorTestKit.create("ShardSnapshotRetentionH2Test", configured);
    try {
      String entityId = ShardProtocol.entityId("job-1", 0, 0);
      ShardSettings settings = new ShardSettings(1e4, 1, Duration.ofSeconds(5), 1000);

      ActorRef<ShardProtocol.Command> shard = start(testKit, entityId, new ShardRecoveryPlan(0, -1, 0), settings);
      TestProbe<StatusReply<Initialized>> initialized = testKit.createTestProbe();
      shard.tell(
          new ShardProtocol.Initialize(setup(), TensorPayload.encode(INITIAL, WirePrecision.FP32), initialized.getRef()));
      assertTrue(initialized.receiveMessage(TIMEOUT).isSuccess());
      assertEquals(new Accepted(1), push(testKit, shard, 1, 0));
      float[] atCheckpoint1 = pull(testKit, shard);
      assertEquals(2, checkpoint(testKit, shard, 1, 1L).sequenceNr());
      // Checkpoints 2 to 5 are abandoned; the coordinator keeps 0 and 1 (entries 1 and 2).
      for (long id = 2; id <= 5; id++) {
        assertEquals(new Accepted(id), push(testKit, shard, id, id - 1));
        assertEquals(id + 1, checkpoint(testKit, shard, id, 1L, 2L).sequenceNr());
      }
      awaitSnapshots(testKit, journal, entityId, Set.of(1L, 2L, 6L));
      // Checkpoint 5 had completed after all, and the coordinator keeps two: entry 1 goes too.
      assertEquals(7, checkpoint(testKit, shard, 6, 2L, 6L).sequenceNr());
      awaitSnapshots(testKit, journal, entityId, Set.of(2L, 6L, 7L));
      testKit.stop(shard, TIMEOUT);

      ActorRef<ShardProtocol.Command> rewound = start(testKit, entityId, new ShardRecoveryPlan(1, 1, 2), settings);
      TestProbe<ShardStatus> status = testKit.createTestProbe();
      rewound.tell(new ShardProtocol.GetStatus(status.getRef()));
      ShardStatus restored = status.receiveMessage(TIMEOUT);
      assertEquals(1, restored.checkpointId(), restored::toString);
      assertEquals(1, restored.version());
      assertArrayEquals(atCheckpoint1, pull(testKit, rewound));
    } finally {
      testKit.shutdownTestKit();
    }
  }

  /** Spawns the shard and answers its question to the coordinator with {@code plan}. */
  private static ActorRef<ShardProtocol.Command> start(
      ActorTestKit testKit, String entityId, ShardRecoveryPlan plan, ShardSettings settings) {
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    TestProbe<ClusterSharding.ShardCommand> region = testKit.createTestProbe();
    ActorRef<ShardProtocol.Command> shard =
        testKit.spawn(ParameterShard.create(entityId, region.getRef(), coordinator.getRef(), settings));
    coordinator.expectMessageClass(ResolveShardRecovery.class, TIMEOUT).replyTo().tell(plan);
    return shard;
  }

  private static ShardSetup setup() {
    OptimizerSpec sgd =
        OptimizerSpec.builder()
            .optKind(OptimizerKind.SGD)
            .optLearningRate(0.5)
            .optMomentum(0)
            .optWeightDecay(0)
            .optSchedule(LearningRateSchedule.CONSTANT)
            .build();
    return new ShardSetup(
        "job-1", 0, new ShardRange(0, 0, 4), List.of(new Segment("w", 0, 0, 4, false)), sgd, 1, 1, 100,
        TrainingMode.ASYNC, false);
  }

  private static PushOutcome push(ActorTestKit testKit, ActorRef<ShardProtocol.Command> shard, long seq, long baseVersion) {
    TestProbe<StatusReply<PushOutcome>> reply = testKit.createTestProbe();
    shard.tell(
        new ShardProtocol.Push(
            "w1", seq, 0, baseVersion, 1, TensorPayload.encode(GRADIENT, WirePrecision.FP32), StepRule.of(1), reply.getRef()));
    return reply.receiveMessage(TIMEOUT).getValue();
  }

  private static float[] pull(ActorTestKit testKit, ActorRef<ShardProtocol.Command> shard) {
    TestProbe<StatusReply<ShardProtocol.Pulled>> reply = testKit.createTestProbe();
    shard.tell(new ShardProtocol.Pull(WirePrecision.FP32, "", reply.getRef()));
    return reply.receiveMessage(TIMEOUT).getValue().values().decode();
  }

  private static CheckpointSaved checkpoint(
      ActorTestKit testKit, ActorRef<ShardProtocol.Command> shard, long checkpointId, Long... keep) {
    TestProbe<StatusReply<CheckpointSaved>> reply = testKit.createTestProbe();
    shard.tell(new ShardProtocol.TakeCheckpoint(checkpointId, 0, List.of(keep), reply.getRef()));
    StatusReply<CheckpointSaved> saved = reply.receiveMessage(TIMEOUT);
    assertTrue(saved.isSuccess(), saved::toString);
    return saved.getValue();
  }

  /** Waits until the shard's rows in the snapshot table are exactly those at {@code expected}. */
  private static void awaitSnapshots(ActorTestKit testKit, Path journal, String entityId, Set<Long> expected) {
    testKit
        .createTestProbe()
        .awaitAssert(
            TIMEOUT,
            () -> {
              assertEquals(new TreeSet<>(expected), snapshotSequenceNrs(journal, entityId));
              return null;
            });
  }

  private static Set<Long> snapshotSequenceNrs(Path journal, String entityId) throws SQLException {
    String url = "jdbc:h2:file:" + journal.toAbsolutePath() + ";AUTO_SERVER=TRUE";
    try (Connection db = DriverManager.getConnection(url, "sa", "");
        PreparedStatement select =
            db.prepareStatement("SELECT \"sequence_number\" FROM \"snapshot\" WHERE \"persistence_id\" = ?")) {
      select.setString(1, ShardCheckpoints.persistenceId(entityId));
      Set<Long> found = new TreeSet<>();
      try (ResultSet rows = select.executeQuery()) {
        while (rows.next()) {
          found.add(rows.getLong(1));
        }
      }
      return found;
    }
  }
}
