package io.tessera.protocol.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.NoLeaseReason;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class NoLeaseReasonTest {
  @Test
  void everyKindIsWordedAsTheCoordinatorAlwaysLoggedIt() {
    Map<NoLeaseReason, String> words = new LinkedHashMap<>();
    words.put(new NoLeaseReason.NotListed(), "worker is not in the Receptionist listing yet");
    words.put(new NoLeaseReason.Draining(), "worker is draining");
    words.put(new NoLeaseReason.BackingOff(3), "worker failed 3 leases in a row");
    words.put(new NoLeaseReason.NoJobRunning(), "no job is running");
    words.put(new NoLeaseReason.JobNotLeasing("job-1", JobState.EVALUATING), "job job-1 is EVALUATING");
    words.put(new NoLeaseReason.SurplusWorker(), "more workers than micro-batches per step; this one waits");
    words.put(new NoLeaseReason.StepsTaken(1), "every step of member 1 is taken");
    words.put(new NoLeaseReason.SplitsTaken(2), "every split of member 2 is leased or done");
    words.put(new NoLeaseReason.CheckpointDue(), "sync barrier: a checkpoint is due; the leases out finish first");
    words.put(new NoLeaseReason.CheckpointDueBetweenSteps(), "sync barrier: a checkpoint is due between two steps");
    words.put(new NoLeaseReason.CheckpointTaking(), "sync barrier: a checkpoint is being taken");
    words.put(
        new NoLeaseReason.CheckpointTakingBetweenSteps(), "sync barrier: a checkpoint is being taken between two steps");
    words.put(
        new NoLeaseReason.AwaitingContributions(), "sync barrier: waiting for the other contributions to this step");
    words.forEach((reason, text) -> {
      assertEquals(text, reason.describe());
      assertEquals(text, new NoLease(reason, 500).describe());
      assertEquals(text.startsWith("sync barrier: "), waits(reason), reason.toString());
    });
    // Every kind has a line above: the sealed hierarchy's leaves, counted.
    assertEquals(leaves(NoLeaseReason.class), words.size());
  }

  @Test
  void aNoLeaseAlwaysSaysWhy() {
    assertThrows(NullPointerException.class, () -> new NoLease(null, 500));
    assertFalse(waits(new NoLeaseReason.Draining()));
    assertTrue(waits(new NoLeaseReason.AwaitingContributions()));
  }

  private static boolean waits(NoLeaseReason reason) {
    return reason instanceof NoLeaseReason.AtBarrier;
  }

  private static int leaves(Class<?> type) {
    if (!type.isSealed()) {
      return 1;
    }
    int n = 0;
    for (Class<?> permitted : type.getPermittedSubclasses()) {
      n += leaves(permitted);
    }
    return n;
  }
}
