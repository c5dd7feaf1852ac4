package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.coordinator.CoordinatorEvent;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AuditRecord;
import org.junit.jupiter.api.Test;

/** Which of the coordinator's events a job's event listing takes. */
class JournalJobEventsTest {
  private static CoordinatorEvent.OperatorCommandRecorded command(String detail) {
    return new CoordinatorEvent.OperatorCommandRecorded(new AuditRecord(1, 0, "pause", detail));
  }

  @Test
  void anEventConcernsTheJobItNamesAndThePipelineOfThatStage() {
    assertTrue(JournalJobEvents.concerns(new CoordinatorEvent.JobPaused("job-1"), "job-1"));
    assertTrue(JournalJobEvents.concerns(new CoordinatorEvent.JobPaused("job-1.pretrain"), "job-1"), "a stage");
    assertTrue(JournalJobEvents.concerns(new CoordinatorEvent.JobPaused("job-1.pretrain"), "job-1.pretrain"));
    assertFalse(JournalJobEvents.concerns(new CoordinatorEvent.JobPaused("job-12"), "job-1"), "another job");
    assertFalse(JournalJobEvents.concerns(new CoordinatorEvent.JobPaused("job-1"), "job-1.pretrain"));
    assertFalse(JournalJobEvents.concerns(new CoordinatorEvent.WorkerLeft("worker-a", true), "job-1"), "no job");
  }

  @Test
  void anOperatorCommandConcernsTheJobsItsDetailNames() {
    assertTrue(JournalJobEvents.concerns(command("job-3, job-1"), "job-1"));
    assertTrue(JournalJobEvents.concerns(command("job-1.pretrain to checkpoint 2"), "job-1"));
    assertFalse(JournalJobEvents.concerns(command("job-10 (fmnist)"), "job-1"));
    assertFalse(JournalJobEvents.concerns(command("127.0.0.1:2553 (1 worker(s))"), "job-1"));
  }
}
