package io.tessera.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.coordinator.CoordinatorProtocol.Lease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Split;
import io.tessera.protocol.ps.ShardProtocol.Accepted;
import io.tessera.protocol.ps.ShardProtocol.Duplicate;
import io.tessera.protocol.ps.ShardProtocol.Overlap;
import io.tessera.protocol.ps.ShardProtocol.PushOutcome;
import io.tessera.protocol.ps.ShardProtocol.Stale;
import io.tessera.protocol.ps.ShardProtocol.StepRule;
import io.tessera.protocol.ps.ShardProtocol.Window;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.worker.WorkerProtocol.StageInputs;
import io.tessera.worker.LeaseWindows.Planned;
import io.tessera.worker.LeaseWindows.Result;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Which window a worker trains next when its shards answer differently: micro-batches of 4, a
 * lease of splits 10-15 of epoch 2 over 100 samples (25 splits per epoch), three shards.
 */
class LeaseWindowsTest {

  private static final JobSpec SPEC = JobSpec.builder().setName("windows").optGlobalBatch(16).optMicroBatch(4).build();
  private static final Lease LEASE =
      new Lease(7, "job-1", 0, 1, new Split(2, 10, 40, 64), 2, 100, SPEC, StepRule.of(16), StageInputs.NONE);
  private static final PushOutcome OK = new Accepted(1);

  private static boolean[] targets(boolean... flags) {
    return flags;
  }

  @Test
  void windowsTileTheLeaseAndNameItsSplits() {
    LeaseWindows windows = new LeaseWindows(LEASE, 3);

    Planned first = windows.next(0, 8);
    assertEquals(0, first.from());
    assertEquals(8, first.to());
    assertArrayEquals(targets(true, true, true), first.targets());
    assertEquals(new Window(7, 60, 2), first.window(), "epoch 2 starts at split 50; the lease at 60");
    assertEquals(Result.COMPLETE, windows.pushed(first, 0, List.of(OK, new Duplicate(1), OK)));
    assertEquals(8, windows.done());

    Planned last = windows.next(0, 100);
    assertEquals(new Window(7, 62, 4), last.window(), "cut at the lease's end");
    assertEquals(Result.COMPLETE, windows.pushed(last, 0, List.of(OK, OK, OK)));
    assertTrue(windows.finished());
  }

  @Test
  void aWindowRefusedAsStaleIsTrainedAgainForThoseShardsOverTheSameSamples() {
    LeaseWindows windows = new LeaseWindows(LEASE, 3);
    Planned first = windows.next(0, 8);

    assertEquals(Result.AGAIN, windows.pushed(first, 0, List.of(OK, new Stale(3), OK)));
    assertEquals(0, windows.done());

    Planned copy = windows.next(0, 4); // the accumulation count changed meanwhile
    assertEquals(0, copy.from());
    assertEquals(8, copy.to(), "the same samples");
    assertArrayEquals(targets(false, true, false), copy.targets());
    assertEquals(Result.COMPLETE, windows.pushed(copy, 0, Arrays.asList(null, OK, null)));
    assertEquals(8, windows.done());
    assertArrayEquals(targets(true, true, true), windows.next(0, 4).targets());
  }

  @Test
  void aShardThatHadPartOfAWindowGetsItsPartsOneByOne() {
    LeaseWindows windows = new LeaseWindows(LEASE, 3);
    Planned first = windows.next(0, 16); // splits 60-63

    assertEquals(Result.AGAIN, windows.pushed(first, 0, List.of(OK, new Overlap(1, 61), OK)));

    Planned part = windows.next(0, 16);
    assertEquals(new Window(7, 60, 1), part.window());
    assertArrayEquals(targets(false, true, false), part.targets());
    assertEquals(Result.COMPLETE, windows.pushed(part, 0, Arrays.asList(null, new Duplicate(1), null)));
    assertEquals(4, windows.done());

    Planned rest = windows.next(0, 16);
    assertEquals(new Window(7, 61, 3), rest.window(), "up to where the others are");
    assertArrayEquals(targets(false, true, false), rest.targets());
    assertEquals(Result.COMPLETE, windows.pushed(rest, 0, Arrays.asList(null, OK, null)));
    assertEquals(16, windows.done());
    assertArrayEquals(targets(true, true, true), windows.next(0, 16).targets());
  }

  @Test
  void shardsAheadGoBackToTheOthersAfterARewind() {
    LeaseWindows windows = new LeaseWindows(LEASE, 3);
    Planned first = windows.next(0, 8);
    assertEquals(Result.AGAIN, windows.pushed(first, 0, List.of(OK, new Stale(3), OK)));

    Planned afterRewind = windows.next(1, 4);

    assertEquals(0, afterRewind.from());
    assertEquals(4, afterRewind.to(), "a new window: what the others took is gone");
    assertArrayEquals(targets(true, true, true), afterRewind.targets());
    assertFalse(windows.finished());
  }
}
