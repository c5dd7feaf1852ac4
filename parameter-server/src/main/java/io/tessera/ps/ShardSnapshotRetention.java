package io.tessera.ps;

import akka.actor.ActorRef;
import akka.persistence.DeleteSnapshotFailure;
import akka.persistence.DeleteSnapshotsFailure;
import akka.persistence.SnapshotMetadata;
import akka.persistence.SnapshotProtocol;
import akka.persistence.SnapshotSelectionCriteria;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Deletes the snapshots of one parameter shard that no rewind can need any more, so that a run of
 * abandoned checkpoints never pushes out the snapshot of a complete one (issue 14).
 *
 * <p>Akka's count-based retention cannot tell the two apart, so the shard snapshots without it and
 * this deletes: after each checkpoint's snapshot is stored, every older snapshot except those the
 * coordinator's complete checkpoints name and the newest {@code newestKept} positions. Below the
 * oldest named one everything goes with one request; between named ones each snapshot goes on its
 * own, because the JDBC snapshot store ignores a lower bound in a deletion criterion. Positions
 * already swept are remembered, so each snapshot is asked to go once per incarnation; a failed
 * deletion makes the next checkpoint sweep everything again. It never touches a named snapshot or
 * one newer than the checkpoint just stored, so deletions run alongside later checkpoints.
 *
 * <p>Not thread-safe: it belongs to its shard's actor.
 */
final class ShardSnapshotRetention {

  /**
   * What to delete after one checkpoint.
   *
   * @param upTo every snapshot at or below this journal position goes; 0 for none
   * @param each single snapshots above {@code upTo} that go, in increasing order
   */
  record Deletion(long upTo, List<Long> each) {
    Deletion {
      each = List.copyOf(each);
    }

    boolean isEmpty() {
      return upTo == 0 && each.isEmpty();
    }
  }

  private final String persistenceId;
  private final int newestKept;
  private final ActorRef snapshotStore;
  private final ActorRef replyTo;
  /** Every snapshot at or below this position has been asked to go. */
  private long deletedUpTo;
  /** The highest position the last sweep looked at; above it nothing has been asked to go. */
  private long sweptTo;
  /** The positions the last sweep kept because a complete checkpoint named them. */
  private Set<Long> keptLastTime = Set.of();

  /**
   * @param newestKept snapshots at the newest this many journal positions stay whatever the
   *     checkpoints (at least 1: the one just stored)
   * @param snapshotStore the shard's snapshot store plugin actor
   * @param replyTo where the store answers each deletion (see {@link #onAnswer})
   */
  ShardSnapshotRetention(String persistenceId, int newestKept, ActorRef snapshotStore, ActorRef replyTo) {
    if (newestKept < 1) {
      throw new IllegalArgumentException("newestKept must be at least 1, got " + newestKept);
    }
    this.persistenceId = persistenceId;
    this.newestKept = newestKept;
    this.snapshotStore = snapshotStore;
    this.replyTo = replyTo;
  }

  /**
   * The snapshot at {@code sequenceNr} is stored while complete checkpoints need the snapshots at
   * {@code keep}: asks the store to delete the older ones that nothing needs.
   *
   * @return what was asked, for the log and tests
   */
  Deletion afterCheckpoint(long sequenceNr, Collection<Long> keep) {
    Deletion deletion = plan(sequenceNr, keep);
    if (deletion.upTo() > 0) {
      snapshotStore.tell(
          new SnapshotProtocol.DeleteSnapshots(
              persistenceId, SnapshotSelectionCriteria.create(deletion.upTo(), Long.MAX_VALUE)),
          replyTo);
    }
    for (long position : deletion.each()) {
      // Timestamp 0: whichever snapshot is at that position.
      snapshotStore.tell(new SnapshotProtocol.DeleteSnapshot(new SnapshotMetadata(persistenceId, position, 0L)), replyTo);
    }
    return deletion;
  }

  /**
   * What {@link #afterCheckpoint} deletes, and notes it as asked.
   *
   * <p>Deletable are the positions up to {@code sequenceNr - newestKept} that {@code keep} does not
   * name: all of them below the oldest named one (or all, if none is named), and above it those not
   * asked before, or kept last time and no longer named (a discarded checkpoint).
   */
  Deletion plan(long sequenceNr, Collection<Long> keep) {
    long limit = sequenceNr - newestKept;
    TreeSet<Long> named = new TreeSet<>(keep);
    // With nothing named, everything up to the limit goes.
    long oldestNamed = named.isEmpty() ? limit + 1 : named.first();
    long upTo = Math.min(limit, oldestNamed - 1);
    long bulk = upTo > deletedUpTo ? upTo : 0;
    List<Long> each = new ArrayList<>();
    for (long position = Math.max(oldestNamed, sweptTo) + 1; position <= limit; position++) {
      if (!named.contains(position)) {
        each.add(position);
      }
    }
    for (long position : new TreeSet<>(keptLastTime)) {
      if (position > oldestNamed && position <= Math.min(limit, sweptTo) && !named.contains(position)) {
        each.add(position);
      }
    }
    each.sort(null);
    deletedUpTo = Math.max(deletedUpTo, upTo);
    sweptTo = Math.max(sweptTo, limit);
    keptLastTime = named;
    return new Deletion(bulk, each);
  }

  /**
   * The store's answer to a deletion. A failure is logged by the caller; the next checkpoint then
   * asks for every deletion again, which is harmless for those that did happen.
   *
   * @return the failure, or null if the deletion succeeded
   */
  Throwable onAnswer(SnapshotProtocol.Response answer) {
    Throwable failure = null;
    if (answer instanceof DeleteSnapshotsFailure f) {
      failure = f.cause();
    } else if (answer instanceof DeleteSnapshotFailure f) {
      failure = f.cause();
    }
    if (failure != null) {
      deletedUpTo = 0;
      sweptTo = 0;
      keptLastTime = Set.of();
    }
    return failure;
  }
}
