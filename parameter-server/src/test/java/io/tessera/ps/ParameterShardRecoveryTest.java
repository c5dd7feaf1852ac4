package io.tessera.ps;

import static io.tessera.ps.TestingShards.TIMEOUT;
import static io.tessera.ps.TestingShards.answerPlan;
import static io.tessera.ps.TestingShards.errorText;
import static io.tessera.ps.TestingShards.setup;
import static io.tessera.ps.TestingShards.sgd;
import static io.tessera.ps.TestingShards.success;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.pattern.StatusReply;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ReportCorruptCheckpoint;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ResolveShardRecovery;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Accepted;
import io.tessera.protocol.ps.ShardProtocol.CheckpointSaved;
import io.tessera.protocol.ps.ShardProtocol.Duplicate;
import io.tessera.protocol.ps.ShardProtocol.EpochConfirmed;
import io.tessera.protocol.ps.ShardProtocol.Initialized;
import io.tessera.protocol.ps.ShardProtocol.Pulled;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.ps.ShardProtocol.ShardStatus;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.ps.TestingShards.Shard;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a parameter shard persists and how it comes back: checkpoints (a journaled marker and a
 * snapshot), stop-and-respawn recovery of the checkpoint the coordinator's plan names, missing
 * and corrupt checkpoints, the start-up conversation with the coordinator, and the epoch
 * commands of a rewind.
 */
class ParameterShardRecoveryTest {

  private static final float[] INITIAL = {1f, 2f, -3f, 0.5f};

  /** How long a test listens for a message that must not come after the shard had its say. */
  private static final Duration SILENCE = Duration.ofMillis(200);

  @TempDir static Path snapshots;

  private static ActorTestKit testKit;
  private static TestingShards shards;

  @BeforeAll
  static void start() {
    testKit =
        ActorTestKit.create("ParameterShardRecoveryTest", TestingShards.persistenceConfig(snapshots));
    shards = new TestingShards(testKit);
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  // ---------------------------------------------------------------- checkpoints

  @Test
  void takeCheckpointRepliesTheJournalSequenceNumberAndTheVersion() {
    Shard shard = shards.startFresh();
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    assertEquals(new Accepted(1), shard.push("w1", 1, 0, 1, new float[] {2f, 2f, 2f, 2f}));

    // ShardInitialized is entry 1 of the journal, so the first marker is entry 2.
    assertEquals(new CheckpointSaved(0, 7, 2, 1), shard.checkpoint(7));
    assertEquals(7, shard.status().checkpointId());

    assertEquals(new Accepted(2), shard.push("w1", 2, 1, 1, new float[] {2f, 2f, 2f, 2f}));
    assertEquals(new CheckpointSaved(0, 8, 3, 2), shard.checkpoint(8));
    ShardStatus status = shard.status();
    assertEquals(8, status.checkpointId());
    assertEquals(2, status.version());
  }

  @Test
  void takeCheckpointInAnotherEpochIsRefusedAndPersistsNothing() {
    Shard shard = shards.start(shards.newEntityId(), TestingShards.fresh(2));
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);

    for (long otherEpoch : new long[] {1, 3}) {
      String error = errorText(shard.tryCheckpoint(5, otherEpoch));
      assertTrue(error.contains(shard.entityId), error);
      assertTrue(error.contains("in epoch 2") && error.contains("for epoch " + otherEpoch), error);
    }
    assertEquals(0, shard.status().checkpointId());

    // Nothing was journaled for the refusals: the next marker is still entry 2.
    assertEquals(new CheckpointSaved(0, 5, 2, 0), success(shard.tryCheckpoint(5, 2)));
  }

  @Test
  void checkpointsTakenBackToBackEachGetTheirSnapshotWhileOldOnesAreDeleted() {
    // Each checkpoint deletes the snapshots of the ones before that the coordinator (keeping two)
    // no longer keeps, while the next ones arrive: each must still be snapshotted and answered.
    String entityId = shards.newEntityId();
    ShardSettings newestOnly = new ShardSettings(1e4, 1, TestingShards.SETTINGS.resolveTimeout(), 1000);
    Shard original = shards.start(entityId, TestingShards.FRESH, newestOnly);
    original.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    TestProbe<StatusReply<CheckpointSaved>> saved = testKit.createTestProbe();
    for (long id = 1; id <= 6; id++) {
      // Checkpoint k is journal entry k + 1: the coordinator keeps checkpoints id - 2 and id - 1.
      List<Long> keep = id == 1 ? List.of(1L) : List.of(id - 1, id);
      original.ref.tell(new ShardProtocol.TakeCheckpoint(id, 0, keep, saved.getRef()));
    }
    for (long id = 1; id <= 6; id++) {
      assertEquals(new CheckpointSaved(0, id, id + 1, 0), success(saved.receiveMessage(TIMEOUT)));
    }
    TestingShards.awaitSnapshots(testKit, snapshots, entityId, 5, 6, 7);
    original.stop();

    // The last two checkpoints are both restorable.
    for (long id = 5; id <= 6; id++) {
      Shard respawned = shards.start(entityId, new ShardRecoveryPlan(1, id, id + 1), newestOnly);
      assertEquals(id, respawned.status().checkpointId());
      assertArrayEquals(INITIAL, respawned.values());
      respawned.coordinator.expectNoMessage(Duration.ZERO);
      respawned.stop();
    }
  }

  @Test
  void takeCheckpointBeforeInitialisationIsRefused() {
    Shard shard = shards.startFresh();

    String error = errorText(shard.tryCheckpoint(1, 0));

    assertTrue(error.contains("not been initialised"), error);
    assertEquals(-1, shard.status().checkpointId());
  }

  // ---------------------------------------------------------------- stop and respawn

  @Test
  void aRespawnedShardRestoresExactlyTheCheckpointItsPlanNames() {
    String entityId = shards.newEntityId();
    Shard original = shards.start(entityId, TestingShards.FRESH);
    original.initialize(adamWSetup(), INITIAL);
    float[] g1 = {0.5f, -1.25f, 3f, 0.75f};
    float[] g2 = {-0.25f, 2f, 1f, -3.5f};
    assertEquals(new Accepted(1), original.push("w1", 1, 0, 2, g1));
    // Half a window pending at the checkpoint: it must come back too.
    assertEquals(new Accepted(1), original.push("w2", 1, 1, 1, g2));
    float[] atCheckpoint = original.values();
    assertEquals(new CheckpointSaved(0, 7, 2, 1), original.checkpoint(7));
    assertEquals(new Accepted(2), original.push("w2", 2, 1, 1, g1));
    float[] afterCheckpoint = original.values();
    assertNotEquals(atCheckpoint[0], afterCheckpoint[0]);
    original.stop();

    Shard respawned = shards.start(entityId, new ShardRecoveryPlan(1, 7, 2));

    Pulled pulled = respawned.pull(WirePrecision.FP32);
    assertArrayEquals(atCheckpoint, pulled.values().decode());
    assertEquals(1, pulled.version());
    assertEquals(1, pulled.epoch());
    ShardStatus status = respawned.status();
    assertTrue(status.initialized());
    assertEquals(7, status.checkpointId());
    assertEquals(1, status.epoch());
    assertEquals(1, status.version());
    assertEquals(1, status.pendingSamples());
    // The de-duplication record is the checkpoint's: w2's seq 1 was in, its seq 2 was not.
    assertEquals(new Duplicate(1), respawned.push("w2", 1, 1, 1, g2));
    // Replaying the lost push lands on the very same numbers: optimizer moments, step count and
    // pending gradient all came back bit for bit.
    assertEquals(new Accepted(2), respawned.push("w2", 2, 1, 1, g1));
    assertArrayEquals(afterCheckpoint, respawned.values());
    respawned.region.expectNoMessage(Duration.ZERO);
    respawned.coordinator.expectNoMessage(Duration.ZERO);
  }

  @Test
  void aPlanNamingCheckpointZeroRestoresTheInitialValues() {
    String entityId = shards.newEntityId();
    Shard original = shards.start(entityId, TestingShards.FRESH);
    original.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    assertEquals(new Accepted(1), original.push("w1", 1, 0, 1, new float[] {2f, 2f, 2f, 2f}));
    assertEquals(new CheckpointSaved(0, 1, 2, 1), original.checkpoint(1));
    original.stop();

    Shard respawned = shards.start(entityId, new ShardRecoveryPlan(1, 0, 1));

    Pulled pulled = respawned.pull(WirePrecision.FP32);
    assertArrayEquals(INITIAL, pulled.values().decode());
    assertEquals(0, pulled.version());
    ShardStatus status = respawned.status();
    assertEquals(0, status.checkpointId());
    assertEquals(1, status.epoch());
    // w1's push of version 0 is not part of checkpoint 0, so it is accepted again.
    assertEquals(new Accepted(1), respawned.push("w1", 1, 0, 1, new float[] {2f, 2f, 2f, 2f}));
    assertArrayEquals(new float[] {0f, 1f, -4f, -0.5f}, respawned.values());
  }

  @Test
  void aFreshPlanForAShardWithHistoryRestoresItsLatestSnapshot() {
    String entityId = shards.newEntityId();
    Shard original = shards.start(entityId, TestingShards.FRESH);
    original.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    assertEquals(new Accepted(1), original.push("w1", 1, 0, 1, new float[] {2f, 2f, 2f, 2f}));
    assertEquals(new CheckpointSaved(0, 3, 2, 1), original.checkpoint(3));
    float[] atCheckpoint = original.values();
    assertEquals(new Accepted(2), original.push("w1", 2, 1, 1, new float[] {2f, 2f, 2f, 2f}));
    original.stop();

    Shard respawned = shards.start(entityId, TestingShards.FRESH);

    assertArrayEquals(atCheckpoint, respawned.values());
    ShardStatus status = respawned.status();
    assertEquals(3, status.checkpointId());
    assertEquals(1, status.version());
    // It holds parameters already, so the job's initial values do not replace them.
    assertEquals(new Initialized(1, false), respawned.initialize(setup(sgd(0.5), 1, 1), INITIAL));
    assertArrayEquals(atCheckpoint, respawned.values());
  }

  @Test
  void aNewShardWithAFreshPlanHasNothingToRestore() {
    String entityId = shards.newEntityId();
    shards.start(entityId, TestingShards.FRESH).stop();

    Shard respawned = shards.start(entityId, TestingShards.FRESH);

    ShardStatus status = respawned.status();
    assertFalse(status.initialized());
    assertEquals(-1, status.checkpointId());
    respawned.coordinator.expectNoMessage(Duration.ZERO);
  }

  // ---------------------------------------------------------------- missing and corrupt checkpoints

  @Test
  void aCheckpointNoLongerKeptIsReportedAndTheShardPassivatesAndServesNothing() {
    String entityId = shards.newEntityId();
    ShardSettings newestOnly = new ShardSettings(1e4, 1, TestingShards.SETTINGS.resolveTimeout(), 1000);
    Shard original = shards.start(entityId, TestingShards.FRESH, newestOnly);
    original.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    // The coordinator keeps two complete checkpoints; checkpoint k is journal entry k + 1.
    for (long id = 1; id <= 4; id++) {
      List<Long> keep = id == 1 ? List.of(1L) : List.of(id - 1, id);
      assertEquals(id + 1, success(original.tryCheckpoint(id, 0, keep)).sequenceNr());
    }
    // Snapshots 3 to 5 stay; the deletion of the older ones runs on the store's own threads.
    TestingShards.awaitSnapshots(testKit, snapshots, entityId, 3, 4, 5);
    original.stop();

    Shard respawned = shards.start(entityId, new ShardRecoveryPlan(1, 1, 2), newestOnly);

    ReportCorruptCheckpoint report =
        respawned.coordinator.expectMessageClass(ReportCorruptCheckpoint.class, TIMEOUT);
    assertEquals(ShardProtocol.ShardAddress.parse(entityId).jobId(), report.jobId());
    assertEquals(0, report.member());
    assertEquals(0, report.shard());
    assertEquals(1, report.checkpointId());
    assertTrue(report.reason().contains("checkpoint 1") && report.reason().contains("missing"), report.reason());
    assertPassivated(respawned);
    assertServesNothing(respawned, report.reason());
    respawned.stop();

    // The failed attempt left the checkpoints that are still there intact: the coordinator's
    // fall-back to the newest one restores it.
    Shard fallBack = shards.start(entityId, new ShardRecoveryPlan(2, 4, 5), newestOnly);
    assertEquals(4, fallBack.status().checkpointId());
    assertArrayEquals(INITIAL, fallBack.values());
    fallBack.coordinator.expectNoMessage(Duration.ZERO);
  }

  @Test
  void aCheckpointWhoseSnapshotBytesAreDamagedIsReportedAsCorrupt() throws IOException {
    String entityId = shards.newEntityId();
    Shard original = shards.start(entityId, TestingShards.FRESH);
    original.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    assertEquals(2, original.checkpoint(7).sequenceNr());
    original.stop();
    List<Path> files = snapshotFiles(entityId, 2);
    assertEquals(1, files.size(), () -> "snapshot files: " + files);
    // The shard's own bytes end the file; the last four are their CRC32.
    byte[] bytes = Files.readAllBytes(files.get(0));
    bytes[bytes.length - 1] ^= 0x5a;
    Files.write(files.get(0), bytes);

    Shard respawned = shards.start(entityId, new ShardRecoveryPlan(0, 7, 2));

    ReportCorruptCheckpoint report =
        respawned.coordinator.expectMessageClass(ReportCorruptCheckpoint.class, TIMEOUT);
    assertEquals(7, report.checkpointId());
    assertTrue(report.reason().contains("checkpoint 7") && report.reason().contains("checksum"), report.reason());
    assertPassivated(respawned);
    assertServesNothing(respawned, report.reason());
  }

  // ---------------------------------------------------------------- start-up

  @Test
  void aStartingShardHoldsMessagesUntilTheCoordinatorAnswersAndAsksAgainWhenItDoesNot() {
    ShardSettings impatient = new ShardSettings(1e4, 5, Duration.ofMillis(300), 1000);
    Shard shard = shards.spawn(shards.newEntityId(), impatient);
    TestProbe<ShardStatus> status = testKit.createTestProbe();
    shard.ref.tell(new ShardProtocol.GetStatus(status.getRef()));

    ResolveShardRecovery unanswered = shard.coordinator.expectMessageClass(ResolveShardRecovery.class, TIMEOUT);
    // No answer within the resolve timeout: the shard asks again, still holding the GetStatus.
    answerPlan(shard.coordinator, shard.entityId, TestingShards.fresh(4));

    ShardStatus held = status.receiveMessage(TIMEOUT);
    assertEquals(4, held.epoch());
    assertFalse(held.initialized());
    // A late answer to the first question reaches no one: the plan in force stays.
    unanswered.replyTo().tell(TestingShards.fresh(9));
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    assertEquals(4, shard.pull(WirePrecision.FP32).epoch());
  }

  // ---------------------------------------------------------------- epochs

  @Test
  void rewindToANewerEpochAsksTheRegionToPassivateTheShardAndOtherwiseNothing() {
    Shard shard = shards.start(shards.newEntityId(), TestingShards.fresh(3));
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);

    for (long epoch : new long[] {2, 3}) {
      shard.ref.tell(new ShardProtocol.RewindTo(epoch));
      // The status reply comes after the rewind was handled, and a Passivate would be sent first.
      assertEquals(3, shard.status().epoch());
      shard.region.expectNoMessage(SILENCE);
    }

    shard.ref.tell(new ShardProtocol.RewindTo(4));
    assertPassivated(shard);
  }

  @Test
  void confirmEpochConfirmsTheSameEpochWithCheckpointAndVersionAndRefusesAnOlderOne() {
    Shard shard = shards.start(shards.newEntityId(), TestingShards.fresh(3));
    shard.initialize(setup(sgd(0.5), 1, 1), INITIAL);
    assertEquals(new Accepted(1), shard.push("w1", 1, 0, 1, new float[] {2f, 2f, 2f, 2f}));
    assertEquals(6, shard.checkpoint(6).checkpointId());
    assertEquals(new Accepted(2), shard.push("w1", 2, 1, 1, new float[] {2f, 2f, 2f, 2f}));

    assertEquals(new EpochConfirmed(0, 3, 6, 2), success(shard.confirmEpoch(3)));

    String error = errorText(shard.confirmEpoch(2));
    assertTrue(error.contains("already in epoch 3"), error);
    shard.region.expectNoMessage(SILENCE);
  }

  @Test
  void confirmEpochBeforeInitialisationIsRefused() {
    Shard shard = shards.startFresh();

    String error = errorText(shard.confirmEpoch(0));

    assertTrue(error.contains("not been initialised"), error);
  }

  // ---------------------------------------------------------------- helpers

  private static ShardSetup adamWSetup() {
    OptimizerSpec adamw =
        OptimizerSpec.builder()
            .optKind(OptimizerKind.ADAMW)
            .optLearningRate(0.01)
            .optWeightDecay(0.1)
            .build();
    List<Segment> weightAndBias =
        List.of(new Segment("w", 0, 0, 3, true), new Segment("b", 0, 3, 1, false));
    return new ShardSetup("job-1", 0, new ShardRange(0, 0, 4), weightAndBias, adamw, 2, 1, 10, TrainingMode.ASYNC, false);
  }

  private static void assertPassivated(Shard shard) {
    ClusterSharding.ShardCommand command = shard.region.receiveMessage(TIMEOUT);
    assertEquals(new ClusterSharding.Passivate<>(shard.ref), command);
  }

  /** Every command that needs the parameters is refused with {@code reason}. */
  private static void assertServesNothing(Shard shard, String reason) {
    assertEquals(reason, errorText(shard.tryPull(WirePrecision.FP32)));
    assertEquals(reason, errorText(shard.tryPush("w1", 1, 1, 0, 1, new float[] {1f, 1f, 1f, 1f})));
    assertEquals(reason, errorText(shard.tryCheckpoint(9, 1)));
    assertEquals(reason, errorText(shard.tryInitialize(setup(sgd(0.5), 1, 1), INITIAL)));
    assertFalse(shard.status().initialized());
  }

  /** The local snapshot store's files of the shard's snapshot at {@code sequenceNr}. */
  private static List<Path> snapshotFiles(String entityId, long sequenceNr) {
    String persistenceId = "ParameterShard|" + entityId;
    String prefix =
        "snapshot-" + URLEncoder.encode(persistenceId, StandardCharsets.UTF_8) + "-" + sequenceNr + "-";
    try (Stream<Path> files = Files.list(snapshots)) {
      return files.filter(file -> file.getFileName().toString().startsWith(prefix)).toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
