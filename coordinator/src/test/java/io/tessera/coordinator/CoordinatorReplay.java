package io.tessera.coordinator;

import akka.actor.NoSerializationVerificationNeeded;
import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.persistence.typed.PersistenceId;
import akka.persistence.typed.RecoveryCompleted;
import akka.persistence.typed.SnapshotAdapter;
import akka.persistence.typed.SnapshotSelectionCriteria;
import akka.persistence.typed.javadsl.CommandHandler;
import akka.persistence.typed.javadsl.EventHandler;
import akka.persistence.typed.javadsl.EventSourcedBehavior;
import akka.persistence.typed.javadsl.Recovery;
import akka.persistence.typed.javadsl.SignalHandler;
import java.time.Duration;

/**
 * Reads the coordinator's journal the way a respawned coordinator does, with {@link
 * CoordinatorState#apply}, and reports the state it arrives at: from the newest snapshot plus the
 * events after it, or from every event. It never writes, so it can read beside a live coordinator.
 */
final class CoordinatorReplay
    extends EventSourcedBehavior<Object, CoordinatorEvent, CoordinatorReplay.Replayed> {

  /**
   * What a replay arrived at.
   *
   * @param fromSnapshot whether it started from a snapshot
   * @param eventsReplayed events applied after the snapshot (or from the start)
   */
  record Replayed(CoordinatorState state, boolean fromSnapshot, int eventsReplayed)
      implements NoSerializationVerificationNeeded {
    Replayed withEvent(CoordinatorEvent event) {
      return new Replayed(state.apply(event), fromSnapshot, eventsReplayed + 1);
    }
  }

  /** Replays the journal of {@link Coordinator#NAME} in {@code testKit}'s system. */
  static Replayed replay(ActorTestKit testKit, boolean useSnapshot, Duration timeout) {
    TestProbe<Replayed> probe = testKit.createTestProbe();
    ActorRef<Object> reader = testKit.spawn(create(useSnapshot, probe.getRef()));
    Replayed replayed = probe.receiveMessage(timeout);
    testKit.stop(reader, timeout);
    return replayed;
  }

  private static Behavior<Object> create(boolean useSnapshot, ActorRef<Replayed> replyTo) {
    return new CoordinatorReplay(useSnapshot, replyTo);
  }

  private final boolean useSnapshot;
  private final ActorRef<Replayed> replyTo;

  private CoordinatorReplay(boolean useSnapshot, ActorRef<Replayed> replyTo) {
    super(PersistenceId.ofUniqueId(Coordinator.NAME));
    this.useSnapshot = useSnapshot;
    this.replyTo = replyTo;
  }

  @Override
  public Replayed emptyState() {
    return new Replayed(CoordinatorState.empty(), false, 0);
  }

  @Override
  public CommandHandler<Object, CoordinatorEvent, Replayed> commandHandler() {
    return newCommandHandlerBuilder().forAnyState().onAnyCommand((state, command) -> Effect().none());
  }

  @Override
  public EventHandler<Replayed, CoordinatorEvent> eventHandler() {
    return newEventHandlerBuilder().forAnyState().onAnyEvent(Replayed::withEvent);
  }

  @Override
  public SignalHandler<Replayed> signalHandler() {
    return newSignalHandlerBuilder()
        .onSignal(RecoveryCompleted.instance(), state -> replyTo.tell(state))
        .build();
  }

  @Override
  public Recovery recovery() {
    return useSnapshot
        ? Recovery.withSnapshotSelectionCriteria(SnapshotSelectionCriteria.latest())
        : Recovery.withSnapshotSelectionCriteria(SnapshotSelectionCriteria.none());
  }

  @Override
  public SnapshotAdapter<Replayed> snapshotAdapter() {
    return new SnapshotAdapter<>() {
      @Override
      public Object toJournal(Replayed state) {
        throw new UnsupportedOperationException("a replay never writes a snapshot");
      }

      @Override
      public Replayed fromJournal(Object snapshot) {
        return new Replayed((CoordinatorState) snapshot, true, 0);
      }
    };
  }
}
