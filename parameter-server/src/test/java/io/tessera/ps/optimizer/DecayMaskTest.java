package io.tessera.ps.optimizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.protocol.tensor.Segment;
import java.util.List;
import org.junit.jupiter.api.Test;

class DecayMaskTest {

  @Test
  void adjacentSegmentsWithTheSameDecayShareARun() {
    DecayMask mask =
        DecayMask.of(
            List.of(
                new Segment("a.weight", 10, 0, 4, true),
                new Segment("b.weight", 0, 4, 6, true),
                new Segment("b.bias", 0, 10, 2, false),
                new Segment("norm", 0, 12, 3, false),
                new Segment("c.weight", 0, 15, 5, true)),
            20);

    assertEquals(20, mask.size());
    assertEquals(3, mask.runs());
    assertEquals(List.of(0, 10, 15), List.of(mask.from(0), mask.from(1), mask.from(2)));
    assertEquals(List.of(10, 15, 20), List.of(mask.to(0), mask.to(1), mask.to(2)));
    assertTrue(mask.decays(0));
    assertFalse(mask.decays(1));
    assertTrue(mask.decays(2));
  }

  @Test
  void decaysAtAnswersPerValue() {
    DecayMask mask =
        DecayMask.of(
            List.of(
                new Segment("w", 0, 0, 3, true),
                new Segment("b", 0, 3, 1, false),
                new Segment("v", 0, 4, 2, true)),
            6);

    boolean[] expected = {true, true, true, false, true, true};
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], mask.decaysAt(i), "value " + i);
    }
    assertThrows(IndexOutOfBoundsException.class, () -> mask.decaysAt(6));
  }

  @Test
  void emptySliceHasNoRuns() {
    DecayMask mask = DecayMask.of(List.of(), 0);

    assertEquals(0, mask.size());
    assertEquals(0, mask.runs());
  }

  @Test
  void refusesSegmentsWithAGap() {
    List<Segment> gap = List.of(new Segment("w", 0, 0, 3, true), new Segment("b", 0, 4, 1, false));

    IllegalArgumentException error =
        assertThrows(IllegalArgumentException.class, () -> DecayMask.of(gap, 5));

    assertEquals(
        "segment of tensor b starts at 4 but the previous segment ends at 3; segments must lie end"
            + " to end in slice order",
        error.getMessage());
  }

  @Test
  void refusesSegmentsThatDoNotCoverTheSlice() {
    List<Segment> segments = List.of(new Segment("w", 0, 0, 3, true));

    IllegalArgumentException error =
        assertThrows(IllegalArgumentException.class, () -> DecayMask.of(segments, 4));

    assertEquals("segments cover [0, 3) but the slice has 4 values", error.getMessage());
  }

  @Test
  void sizeComesFromTheSegmentsWhenNotGiven() {
    DecayMask mask =
        DecayMask.of(List.of(new Segment("w", 0, 0, 3, true), new Segment("b", 0, 3, 1, false)));

    assertEquals(4, mask.size());
  }
}
