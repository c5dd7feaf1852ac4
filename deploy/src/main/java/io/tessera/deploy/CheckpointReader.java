package io.tessera.deploy;

import akka.actor.ExtendedActorSystem;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Adapter;
import akka.actor.typed.javadsl.Behaviors;
import akka.serialization.Serialization;
import akka.serialization.SerializationExtension;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.tessera.coordinator.Coordinator;
import io.tessera.coordinator.CoordinatorEvent;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.ps.ShardCheckpoints;
import io.tessera.worker.train.StageTrainers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import scala.util.Try;

/**
 * Reads what a finished or stopped job left in the journal and snapshot store (the demo's H2 file,
 * or a cluster's PostgreSQL) without a running cluster: the job specs the coordinator journalled
 * and a member's parameters at its shards' last checkpoint. What {@code reconstruct} and {@code
 * export} share. Opens one connection and a local actor system for the serializers; close it.
 */
final class CheckpointReader implements AutoCloseable {
  /** The H2 file tools read when given neither {@code --journal} nor {@code --postgres-url}: the demo's. */
  static final String DEFAULT_JOURNAL = "data/demo/journal";

  private static final String LAST_SNAPSHOT =
      "SELECT \"snapshot_payload\" FROM \"snapshot\" WHERE \"persistence_id\" = ?"
          + " ORDER BY \"sequence_number\" DESC LIMIT 1";
  private static final String COORDINATOR_EVENTS =
      "SELECT \"event_payload\", \"event_ser_id\", \"event_ser_manifest\" FROM \"event_journal\""
          + " WHERE \"persistence_id\" = ? AND NOT \"deleted\" ORDER BY \"sequence_number\"";

  private final String description;
  private final Connection connection;
  private final ActorSystem<Void> system;

  private CheckpointReader(String description, Connection connection) {
    this.description = description;
    this.connection = connection;
    Config config =
        ConfigFactory.parseMap(
                Map.of(
                    "akka.actor.provider", "local",
                    "akka.loglevel", "WARNING",
                    // Only the serializers are wanted; ending this system must not end the JVM.
                    "akka.coordinated-shutdown.exit-jvm", "off",
                    "akka.coordinated-shutdown.run-by-jvm-shutdown-hook", "off"))
            .withFallback(ConfigFactory.load());
    this.system = ActorSystem.create(Behaviors.empty(), "checkpoint-reader", config);
  }

  /**
   * Opens the store a command line names: {@code --postgres-url URL}, else the H2 file {@code
   * --journal FILE} (without its {@code .mv.db} suffix; the demo's by default).
   *
   * @throws IllegalStateException if there is no such H2 file or the database cannot be reached
   */
  static CheckpointReader open(CommandLine line) {
    try {
      if (line.option("postgres-url").isPresent()) {
        String url = line.option("postgres-url").get();
        return new CheckpointReader(url.replaceAll("password=[^&]*", "password=..."), DriverManager.getConnection(url));
      }
      Path journal = Path.of(line.option("journal").orElse(DEFAULT_JOURNAL)).toAbsolutePath();
      if (!Files.exists(Path.of(journal + ".mv.db"))) {
        throw new IllegalStateException(
            "no H2 journal at " + journal + ".mv.db (give the file without its .mv.db suffix with --journal,"
                + " or --postgres-url)");
      }
      return new CheckpointReader(
          journal + ".mv.db", DriverManager.getConnection("jdbc:h2:file:" + journal + ";AUTO_SERVER=TRUE", "sa", ""));
    } catch (SQLException e) {
      throw new IllegalStateException("cannot open the snapshot store: " + e.getMessage(), e);
    }
  }

  /** The store, for messages: the H2 file or the PostgreSQL URL (without its password). */
  String description() {
    return description;
  }

  /**
   * What the coordinator journalled of a job.
   *
   * @param spec the stage's spec as submitted
   * @param evaluations the members' final test results, by member index (none before the job ended)
   */
  record JournalledJob(String jobId, JobSpec spec, Map<Integer, CoordinatorEvent.MemberEvaluated> evaluations) {}

  /**
   * Every job the coordinator's journal holds, in submission order, read from its events. A long
   * journal takes a while: every event is read (the spec of a job comes with its first).
   * Events this build cannot read (from another version) are skipped.
   */
  Map<String, JournalledJob> journalledJobs() {
    Serialization serialization = SerializationExtension.get(Adapter.toClassic(system));
    Map<String, JobSpec> specs = new LinkedHashMap<>();
    Map<String, Map<Integer, CoordinatorEvent.MemberEvaluated>> evaluations = new HashMap<>();
    try (PreparedStatement query = connection.prepareStatement(COORDINATOR_EVENTS)) {
      query.setFetchSize(1000);
      query.setString(1, Coordinator.NAME);
      try (ResultSet rows = query.executeQuery()) {
        while (rows.next()) {
          Try<Object> event = serialization.deserialize(rows.getBytes(1), rows.getInt(2), rows.getString(3));
          if (event.isFailure()) {
            continue;
          }
          if (event.get() instanceof CoordinatorEvent.JobSubmitted submitted) {
            specs.put(submitted.jobId(), submitted.spec());
          } else if (event.get() instanceof CoordinatorEvent.MemberEvaluated evaluated) {
            evaluations.computeIfAbsent(evaluated.jobId(), id -> new HashMap<>()).put(evaluated.member(), evaluated);
          }
        }
      }
    } catch (SQLException e) {
      throw new IllegalStateException("cannot read the coordinator's journal in " + description + ": " + e.getMessage(), e);
    }
    Map<String, JournalledJob> jobs = new LinkedHashMap<>();
    specs.forEach(
        (id, spec) -> jobs.put(id, new JournalledJob(id, spec, Map.copyOf(evaluations.getOrDefault(id, Map.of())))));
    return jobs;
  }

  /**
   * A member's parameters at a checkpoint.
   *
   * @param checkpointId the oldest of its shards' last checkpoints (all equal once a job has ended)
   * @param values the flat parameter vector, in the stage's layout
   */
  record Checkpoint(long checkpointId, int shards, float[] values) {}

  /**
   * The member's parameters at its shards' last checkpoint, assembled into one flat vector.
   *
   * @throws IllegalStateException if a shard has no checkpoint, or holds a slice other than the
   *     one {@code stage}'s model puts there (the spec is not the job's)
   */
  Checkpoint read(String jobId, int member, JobSpec stage) {
    ParameterLayout layout = StageTrainers.layoutOf(stage);
    List<ShardRange> ranges = layout.shardRanges(stage.shards());
    float[] values = new float[layout.totalSize()];
    long checkpointId = -1;
    try (PreparedStatement query = connection.prepareStatement(LAST_SNAPSHOT)) {
      for (ShardRange range : ranges) {
        String entityId = ShardProtocol.entityId(jobId, member, range.index());
        query.setString(1, ShardCheckpoints.persistenceId(entityId));
        byte[] payload;
        try (ResultSet rows = query.executeQuery()) {
          if (!rows.next()) {
            throw new IllegalStateException(
                "no checkpoint of shard " + entityId + " in the snapshot store: is the job id right, and did"
                    + " the stage take a checkpoint?");
          }
          payload = rows.getBytes(1);
        }
        ShardCheckpoints.Checkpoint checkpoint =
            ShardCheckpoints.decode((ExtendedActorSystem) Adapter.toClassic(system), payload);
        if (!checkpoint.range().equals(range)) {
          throw new IllegalStateException(
              "shard " + entityId + " holds " + checkpoint.range() + " but the spec's model puts " + range
                  + " there: the spec is not the one " + jobId + " was trained with");
        }
        checkpointId = checkpointId < 0 ? checkpoint.checkpointId() : Math.min(checkpointId, checkpoint.checkpointId());
        System.arraycopy(checkpoint.parameters(), 0, values, range.from(), range.size());
      }
    } catch (SQLException e) {
      throw new IllegalStateException("cannot read the snapshot store: " + e.getMessage(), e);
    }
    return new Checkpoint(checkpointId, ranges.size(), values);
  }

  @Override
  public void close() {
    try {
      connection.close();
    } catch (SQLException e) {
      // Nothing was written; a failing close loses nothing.
    } finally {
      system.terminate();
    }
  }
}
