package io.tessera.ps;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import akka.actor.ActorRef;
import akka.persistence.DeleteSnapshotFailure;
import akka.persistence.DeleteSnapshotsSuccess;
import akka.persistence.SnapshotMetadata;
import akka.persistence.SnapshotSelectionCriteria;
import io.tessera.ps.ShardSnapshotRetention.Deletion;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Which snapshots {@link ShardSnapshotRetention} deletes after each checkpoint, without a snapshot
 * store: named ones and the newest stay, each other one is asked to go once, and again after a
 * failed deletion.
 */
class ShardSnapshotRetentionPlanTest {

  private static ShardSnapshotRetention keepingNewest(int newest) {
    return new ShardSnapshotRetention("ParameterShard|job-1:m0:s0", newest, ActorRef.noSender(), ActorRef.noSender());
  }

  @Test
  void everythingBelowTheOldestNamedGoesAtOnceAndTheUnnamedAboveItOneByOne() {
    ShardSnapshotRetention retention = keepingNewest(1);

    assertEquals(new Deletion(2, List.of(4L, 5L, 6L, 8L)), retention.plan(10, List.of(3L, 7L, 9L)));
  }

  @Test
  void eachSnapshotIsAskedToGoOnce() {
    ShardSnapshotRetention retention = keepingNewest(1);
    retention.plan(4, List.of(1L, 2L));

    assertEquals(new Deletion(0, List.of(4L)), retention.plan(5, List.of(1L, 2L)));
    assertEquals(new Deletion(0, List.of(5L)), retention.plan(6, List.of(1L, 2L)));
    // The oldest kept checkpoint moves on: what lies below it goes in one request.
    assertEquals(new Deletion(1, List.of()), retention.plan(7, List.of(2L, 6L)));
    assertEquals(new Deletion(0, List.of()), retention.plan(8, List.of(2L, 6L, 7L)));
  }

  @Test
  void aCheckpointNoLongerNamedBetweenKeptOnesGoes() {
    ShardSnapshotRetention retention = keepingNewest(1);
    retention.plan(5, List.of(1L, 2L, 4L));

    // Checkpoint at entry 2 turned out corrupt, and the coordinator discarded it.
    assertEquals(new Deletion(0, List.of(2L, 5L)), retention.plan(6, List.of(1L, 4L)));
  }

  @Test
  void theNewestStayWhateverIsNamed() {
    ShardSnapshotRetention retention = keepingNewest(3);

    assertEquals(new Deletion(0, List.of(2L, 3L, 4L)), retention.plan(7, List.of(1L)));
    assertEquals(new Deletion(0, List.of(5L)), retention.plan(8, List.of(1L)));
  }

  @Test
  void withNothingNamedEverythingButTheNewestGoes() {
    assertEquals(new Deletion(4, List.of()), keepingNewest(1).plan(5, List.of()));
    assertEquals(new Deletion(0, List.of()), keepingNewest(1).plan(1, List.of()));
  }

  @Test
  void aFailedDeletionIsAskedForAgainWithTheNextCheckpoint() {
    ShardSnapshotRetention retention = keepingNewest(1);
    assertEquals(new Deletion(1, List.of(3L, 4L)), retention.plan(5, List.of(2L)));
    assertEquals(
        null,
        retention.onAnswer(new DeleteSnapshotsSuccess(SnapshotSelectionCriteria.create(1, Long.MAX_VALUE))));
    assertEquals(new Deletion(0, List.of(5L)), retention.plan(6, List.of(2L)));

    RuntimeException down = new RuntimeException("database down");
    assertEquals(
        down,
        retention.onAnswer(new DeleteSnapshotFailure(new SnapshotMetadata("ParameterShard|job-1:m0:s0", 5, 0), down)));

    assertEquals(new Deletion(1, List.of(3L, 4L, 5L, 6L)), retention.plan(7, List.of(2L)));
  }

  @Test
  void theCheckpointJustTakenIsNeverDeletable() {
    assertThrows(IllegalArgumentException.class, () -> keepingNewest(0));
  }
}
