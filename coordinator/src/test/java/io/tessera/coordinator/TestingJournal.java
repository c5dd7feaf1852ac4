package io.tessera.coordinator;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.typed.ActorRef;
import akka.actor.typed.javadsl.Adapter;
import akka.actor.typed.javadsl.Behaviors;
import akka.persistence.journal.inmem.InmemJournal;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Persistence settings for tests: Akka's in-memory journal, which lives as long as its actor system
 * and serializes every event with the real serializer, and a local snapshot store in a temporary
 * directory.
 */
public final class TestingJournal {
  private TestingJournal() {}

  public static Config inMemory(Path snapshotDir) {
    return ConfigFactory.parseString(
            String.join(
                "\n",
                "akka.persistence.journal.plugin = \"akka.persistence.journal.inmem\"",
                "akka.persistence.journal.inmem.test-serialization = on",
                "akka.persistence.snapshot-store.plugin = \"akka.persistence.snapshot-store.local\""))
        .withValue(
            "akka.persistence.snapshot-store.local.dir",
            ConfigValueFactory.fromAnyRef(snapshotDir.toAbsolutePath().toString()));
  }

  /**
   * Starts recording what the in-memory journal of {@code testKit}'s system stores for {@code
   * persistenceId}; everything stored after this returns is recorded.
   */
  public static Recording record(ActorTestKit testKit, String persistenceId) {
    Recording recording = new Recording();
    ActorRef<InmemJournal.Write> recorder =
        testKit.spawn(
            Behaviors.receiveMessage(
                write -> {
                  if (write.persistenceId().equals(persistenceId)) {
                    recording.events.add(write.event());
                  }
                  return Behaviors.same();
                }));
    // The classic subscription takes effect before it returns, so no write can slip past.
    Adapter.toClassic(testKit.system())
        .eventStream()
        .subscribe(Adapter.toClassic(recorder), InmemJournal.Write.class);
    return recording;
  }

  /** The events one persistent actor stored, in journal order. Thread-safe. */
  public static final class Recording {
    private final List<Object> events = new CopyOnWriteArrayList<>();

    private Recording() {}

    public List<Object> events() {
      return List.copyOf(events);
    }

    /** The stored events of {@code type}, in journal order. */
    public <T> List<T> events(Class<T> type) {
      return events.stream().filter(type::isInstance).map(type::cast).toList();
    }
  }
}
