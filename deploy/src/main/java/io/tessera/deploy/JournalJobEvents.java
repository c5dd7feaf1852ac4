package io.tessera.deploy;

import akka.actor.typed.ActorSystem;
import akka.persistence.jdbc.query.javadsl.JdbcReadJournal;
import akka.persistence.query.EventEnvelope;
import akka.persistence.query.PersistenceQuery;
import akka.stream.javadsl.Sink;
import io.tessera.coordinator.Coordinator;
import io.tessera.coordinator.CoordinatorEvent;
import io.tessera.coordinator.admin.JobEventLog;
import java.lang.reflect.RecordComponent;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletionStage;

/**
 * A job's events, read from the coordinator's journal with akka-persistence-jdbc's read journal
 * (the journal this node was configured with: H2 or PostgreSQL). An event concerns a job when it
 * names it ({@code jobId}), or, for an operator command, when the command's detail does.
 */
final class JournalJobEvents implements JobEventLog {
  /** Lease bookkeeping, most of a job's events: left out unless asked for. */
  private static final Set<String> LEASE_EVENTS =
      Set.of("SplitLeased", "BackupLeased", "SplitCompleted", "LeaseReleased");
  private static final int DETAIL_CHARS = 400;

  private final ActorSystem<?> system;

  JournalJobEvents(ActorSystem<?> system) {
    this.system = system;
  }

  @Override
  public CompletionStage<List<JobEvent>> read(String jobId, long fromSequenceNr, int limit, boolean withLeases) {
    // Looked up on the first read, not when the node starts: opening the journal's database from
    // every coordinator node at start would change which process hosts an embedded H2 file.
    JdbcReadJournal journal =
        PersistenceQuery.get(system).getReadJournalFor(JdbcReadJournal.class, JdbcReadJournal.Identifier());
    return journal
        .currentEventsByPersistenceId(Coordinator.NAME, fromSequenceNr, Long.MAX_VALUE)
        .filter(envelope -> concerns(envelope.event(), jobId))
        .filter(envelope -> withLeases || !LEASE_EVENTS.contains(envelope.event().getClass().getSimpleName()))
        .take(limit)
        .map(JournalJobEvents::describe)
        .runWith(Sink.seq(), system);
  }

  /** Whether {@code event} names the job {@code jobId}, or a stage of the pipeline {@code jobId}. */
  static boolean concerns(Object event, String jobId) {
    if (event instanceof CoordinatorEvent.OperatorCommandRecorded recorded) {
      return mentions(recorded.record().detail(), jobId);
    }
    String named = jobIdOf(event);
    return named != null && (named.equals(jobId) || named.startsWith(jobId + "."));
  }

  private static boolean mentions(String text, String jobId) {
    for (String word : text.split("[^A-Za-z0-9_.-]+")) {
      if (word.equals(jobId) || word.startsWith(jobId + ".")) {
        return true;
      }
    }
    return false;
  }

  /** The {@code jobId} an event record carries, or null. */
  private static String jobIdOf(Object event) {
    RecordComponent[] components = event.getClass().getRecordComponents();
    if (components == null) {
      return null;
    }
    for (RecordComponent component : components) {
      if (component.getName().equals("jobId") && component.getType() == String.class) {
        try {
          return (String) component.getAccessor().invoke(event);
        } catch (ReflectiveOperationException e) {
          throw new IllegalStateException("cannot read the job id of " + event.getClass().getName(), e);
        }
      }
    }
    return null;
  }

  private static JobEvent describe(EventEnvelope envelope) {
    Object event = envelope.event();
    String text = event.toString();
    String detail = text.length() <= DETAIL_CHARS ? text : text.substring(0, DETAIL_CHARS) + "...";
    return new JobEvent(envelope.sequenceNr(), envelope.timestamp(), event.getClass().getSimpleName(), detail);
  }
}
