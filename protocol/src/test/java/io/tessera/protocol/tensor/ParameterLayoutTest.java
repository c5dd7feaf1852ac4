package io.tessera.protocol.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** How a model's tensors are laid end to end and cut into shards. */
class ParameterLayoutTest {
  /** 10 + 20 + 6 = 36 values; b spans the cut at 18 when there are two shards. */
  private static final ParameterLayout SMALL =
      new ParameterLayout(
          List.of(
              new TensorSpec("a", new int[] {10}, false),
              new TensorSpec("b", new int[] {4, 5}, true),
              new TensorSpec("c", new int[] {2, 3}, false)));

  @Test
  void sizesAndOffsetsFollowTheOrderOfTheTensors() {
    assertEquals(36, SMALL.totalSize());
    assertEquals(0, SMALL.offsetOf("a"));
    assertEquals(10, SMALL.offsetOf("b"));
    assertEquals(30, SMALL.offsetOf("c"));
    assertThrows(IllegalArgumentException.class, () -> SMALL.offsetOf("d"));
  }

  @Test
  void aTensorSpanningTwoShardsGetsOneSegmentInEach() {
    List<ShardRange> ranges = SMALL.shardRanges(2);
    assertEquals(List.of(new ShardRange(0, 0, 18), new ShardRange(1, 18, 36)), ranges);

    assertEquals(
        List.of(new Segment("a", 0, 0, 10, false), new Segment("b", 0, 10, 8, true)),
        SMALL.segments(ranges.get(0)));
    assertEquals(
        List.of(new Segment("b", 8, 0, 12, true), new Segment("c", 0, 12, 6, false)),
        SMALL.segments(ranges.get(1)));
  }

  @Test
  void aTensorCanSpanManyShards() {
    ParameterLayout one = new ParameterLayout(List.of(new TensorSpec("w", new int[] {3, 5}, true)));

    List<ShardRange> ranges = one.shardRanges(4);

    assertEquals(
        List.of(
            new ShardRange(0, 0, 3),
            new ShardRange(1, 3, 7),
            new ShardRange(2, 7, 11),
            new ShardRange(3, 11, 15)),
        ranges);
    assertEquals(List.of(new Segment("w", 7, 0, 4, true)), one.segments(ranges.get(2)));
  }

  @Test
  void shardRangesCoverTheVectorExactlyWithSizesDifferingByAtMostOne() {
    Random random = new Random(5L);
    for (int trial = 0; trial < 300; trial++) {
      ParameterLayout layout = randomLayout(random);
      int total = layout.totalSize();
      int count = 1 + random.nextInt(40); // sometimes more shards than values
      List<ShardRange> ranges = layout.shardRanges(count);

      assertEquals(count, ranges.size());
      int expectedFrom = 0;
      int smallest = Integer.MAX_VALUE;
      int largest = 0;
      for (int i = 0; i < count; i++) {
        ShardRange range = ranges.get(i);
        assertEquals(i, range.index());
        assertEquals(expectedFrom, range.from(), "ranges must be contiguous");
        expectedFrom = range.to();
        smallest = Math.min(smallest, range.size());
        largest = Math.max(largest, range.size());
      }
      assertEquals(total, expectedFrom, "ranges must end at the vector's end");
      assertTrue(largest - smallest <= 1, "sizes " + smallest + ".." + largest);
    }
  }

  @Test
  void segmentsPlaceEveryValueOfEveryTensorInExactlyOneShard() {
    Random random = new Random(6L);
    for (int trial = 0; trial < 300; trial++) {
      ParameterLayout layout = randomLayout(random);
      List<ShardRange> ranges = layout.shardRanges(1 + random.nextInt(12));
      Map<String, int[]> seen = new HashMap<>();
      Map<String, TensorSpec> byName = new HashMap<>();
      for (TensorSpec tensor : layout.tensors()) {
        seen.put(tensor.name(), new int[tensor.size()]);
        byName.put(tensor.name(), tensor);
      }

      for (ShardRange range : ranges) {
        int shardPosition = 0;
        for (Segment segment : layout.segments(range)) {
          assertEquals(
              shardPosition, segment.shardOffset(), "segments must tile the shard in order");
          assertTrue(segment.length() > 0, "empty segment " + segment);
          assertEquals(
              byName.get(segment.tensor()).decay(), segment.decay(), "decay of " + segment);
          int flatStart = layout.offsetOf(segment.tensor()) + segment.tensorOffset();
          assertEquals(
              range.from() + segment.shardOffset(), flatStart, "flat position of " + segment);
          int[] counts = seen.get(segment.tensor());
          for (int k = 0; k < segment.length(); k++) {
            counts[segment.tensorOffset() + k]++;
          }
          shardPosition += segment.length();
        }
        assertEquals(range.size(), shardPosition, "segments must fill shard " + range.index());
      }

      for (Map.Entry<String, int[]> entry : seen.entrySet()) {
        for (int i = 0; i < entry.getValue().length; i++) {
          assertEquals(
              1, entry.getValue()[i], entry.getKey() + "[" + i + "] placed this many times");
        }
      }
    }
  }

  @Test
  void invalidLayoutsAndCountsAreRefused() {
    TensorSpec w = new TensorSpec("w", new int[] {2}, true);
    assertThrows(IllegalArgumentException.class, () -> new ParameterLayout(List.of(w, w)));
    assertThrows(IllegalArgumentException.class, () -> SMALL.shardRanges(0));
    assertThrows(IllegalArgumentException.class, () -> new ShardRange(0, 5, 4));
    assertThrows(IllegalArgumentException.class, () -> new ShardRange(-1, 0, 4));
  }

  @Test
  void tensorSpecValidatesAndProtectsItsShape() {
    int[] shape = {3, 4};
    TensorSpec spec = new TensorSpec("w", shape, true);
    shape[0] = 99;
    assertArrayEquals(new int[] {3, 4}, spec.shape(), "the constructor must copy the shape");
    spec.shape()[1] = 99;
    assertEquals(12, spec.size(), "the accessor must hand out a copy");

    assertThrows(IllegalArgumentException.class, () -> new TensorSpec("w", new int[] {3, 0}, true));
    assertThrows(IllegalArgumentException.class, () -> new TensorSpec("", new int[] {3}, true));
    assertThrows(
        IllegalArgumentException.class, () -> new TensorSpec("w", new int[] {65536, 65536}, true));
    assertEquals(new TensorSpec("w", new int[] {3, 4}, true), spec);
    assertTrue(
        !spec.equals(new TensorSpec("w", new int[] {3, 4}, false)), "decay is part of equality");
  }

  private static ParameterLayout randomLayout(Random random) {
    int tensors = 1 + random.nextInt(8);
    List<TensorSpec> specs = new ArrayList<>();
    for (int t = 0; t < tensors; t++) {
      int rank = 1 + random.nextInt(3);
      int[] shape = new int[rank];
      for (int d = 0; d < rank; d++) {
        shape[d] = 1 + random.nextInt(7);
      }
      specs.add(new TensorSpec("t" + t, shape, random.nextBoolean()));
    }
    return new ParameterLayout(specs);
  }
}
