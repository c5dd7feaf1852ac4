package io.tessera.coordinator.admin;

import java.util.List;
import java.util.concurrent.CompletionStage;

/**
 * What the coordinator journaled about one job, read back from the journal for operators ({@code
 * GET /api/jobs/{id}/events}, {@code bin/tessera events}). The node supplies it from the journal
 * it was configured with; without one the route answers 501.
 */
public interface JobEventLog {
  /**
   * The coordinator's events that name {@code jobId} (or a stage of the pipeline it names), from
   * journal position {@code fromSequenceNr} on, oldest first, at most {@code limit}; lease
   * bookkeeping (leases granted, acked, given back) only with {@code withLeases}, as it is most of
   * a job's events.
   */
  CompletionStage<List<JobEvent>> read(String jobId, long fromSequenceNr, int limit, boolean withLeases);

  /**
   * One journaled event.
   *
   * @param sequenceNr its position in the coordinator's journal (pass it + 1 as {@code from} for
   *     the next page)
   * @param type the event's name, e.g. {@code JobSubmitted}
   * @param detail the event's fields, shortened
   */
  record JobEvent(long sequenceNr, long timestampMillis, String type, String detail) {}
}
