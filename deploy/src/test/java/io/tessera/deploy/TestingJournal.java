package io.tessera.deploy;

import akka.Done;
import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.typed.ActorRef;
import akka.actor.typed.javadsl.Adapter;
import akka.actor.typed.javadsl.AskPattern;
import akka.pattern.Patterns;
import akka.persistence.SnapshotMetadata;
import akka.persistence.SnapshotProtocol;
import akka.persistence.typed.PersistenceId;
import akka.persistence.typed.javadsl.CommandHandler;
import akka.persistence.typed.javadsl.EventHandler;
import akka.persistence.typed.javadsl.EventSourcedBehavior;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.tessera.coordinator.Coordinator;
import io.tessera.coordinator.CoordinatorEvent;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.ps.ShardCheckpoints;
import io.tessera.ps.TestingShardCheckpoints;
import io.tessera.worker.train.StageTrainers;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * An H2 journal and snapshot store written through akka-persistence-jdbc as a job's coordinator
 * and parameter shards write them, without a cluster or any training: the coordinator's events
 * (the submitted specs, the members' test results) and shard snapshots of checkpoints.
 */
final class TestingJournal implements AutoCloseable {
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  private final ActorTestKit testKit;
  private final ActorRef<Append> coordinator;

  /** Creates the tables in H2 file {@code file} (without {@code .mv.db}) and opens it. */
  TestingJournal(Path file) {
    Config config =
        ConfigFactory.parseMap(
                Map.of(
                    "tessera.persistence.database", "h2",
                    "tessera.persistence.h2.file", file.toString(),
                    "akka.cluster.roles", List.of("ps"),
                    "akka.actor.provider", "local",
                    "akka.loglevel", "WARNING",
                    "akka.coordinated-shutdown.exit-jvm", "off",
                    "akka.coordinated-shutdown.run-by-jvm-shutdown-hook", "off"))
            .withFallback(ConfigFactory.load());
    Config configured = Persistence.configure(config);
    Persistence.createTables(configured);
    testKit = ActorTestKit.create("TestingJournal", configured);
    coordinator = testKit.spawn(new CoordinatorJournal());
  }

  /** Journals {@code events} as the coordinator does, after those journalled before. */
  void journal(CoordinatorEvent... events) {
    AskPattern.<Append, Done>ask(coordinator, replyTo -> new Append(List.of(events), replyTo), TIMEOUT, testKit.scheduler())
        .toCompletableFuture()
        .join();
  }

  /**
   * Saves checkpoint {@code checkpointId} of member {@code member} holding {@code values}: every
   * shard's snapshot, as the shards save theirs.
   */
  void checkpoint(String jobId, int member, JobSpec spec, float[] values, long checkpointId) {
    ParameterLayout layout = StageTrainers.layoutOf(spec);
    akka.actor.ActorRef snapshotStore =
        akka.persistence.Persistence.get(Adapter.toClassic(testKit.system()))
            .snapshotStoreFor("jdbc-snapshot-store", ConfigFactory.empty());
    for (ShardRange range : layout.shardRanges(spec.shards())) {
      Object state = TestingShardCheckpoints.checkpointed(jobId, member, spec, layout, range, values, checkpointId);
      String persistenceId = ShardCheckpoints.persistenceId(ShardProtocol.entityId(jobId, member, range.index()));
      Object reply =
          Patterns.ask(
                  snapshotStore,
                  new SnapshotProtocol.SaveSnapshot(new SnapshotMetadata(persistenceId, checkpointId, 0L), state),
                  TIMEOUT)
              .toCompletableFuture()
              .join();
      if (!(reply instanceof akka.persistence.SaveSnapshotSuccess)) {
        throw new IllegalStateException("snapshot of " + persistenceId + " not saved: " + reply);
      }
    }
  }

  @Override
  public void close() {
    testKit.shutdownTestKit();
  }

  private record Append(List<CoordinatorEvent> events, ActorRef<Done> replyTo) {}

  /** Journals what it is given under the coordinator's persistence id. */
  private static final class CoordinatorJournal extends EventSourcedBehavior<Append, CoordinatorEvent, Integer> {
    CoordinatorJournal() {
      super(PersistenceId.ofUniqueId(Coordinator.NAME));
    }

    @Override
    public Integer emptyState() {
      return 0;
    }

    @Override
    public CommandHandler<Append, CoordinatorEvent, Integer> commandHandler() {
      return newCommandHandlerBuilder()
          .forAnyState()
          .onCommand(Append.class, (state, append) -> Effect().persist(append.events()).thenReply(append.replyTo(), s -> Done.getInstance()))
          .build();
    }

    @Override
    public EventHandler<Integer, CoordinatorEvent> eventHandler() {
      return newEventHandlerBuilder().forAnyState().onAnyEvent((state, event) -> state + 1);
    }
  }
}
