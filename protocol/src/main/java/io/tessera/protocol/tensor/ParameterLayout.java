package io.tessera.protocol.tensor;

import io.tessera.protocol.TesseraSerializable;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The order in which a model's tensors are laid end to end in one flat parameter vector, and how
 * that vector is cut into shards of (almost) equal bytes.
 */
public record ParameterLayout(List<TensorSpec> tensors) implements TesseraSerializable {

  public ParameterLayout {
    tensors = List.copyOf(tensors);
    Set<String> names = new HashSet<>();
    for (TensorSpec tensor : tensors) {
      if (!names.add(tensor.name())) {
        throw new IllegalArgumentException("tensor name " + tensor.name() + " appears twice");
      }
    }
  }

  /** Total number of values in the flat vector. */
  public int totalSize() {
    long total = 0;
    for (TensorSpec tensor : tensors) {
      total += tensor.size();
    }
    if (total > Integer.MAX_VALUE) {
      throw new IllegalStateException("model has more than 2^31 parameters");
    }
    return (int) total;
  }

  /** Where tensor {@code name} starts in the flat vector. */
  public int offsetOf(String name) {
    int offset = 0;
    for (TensorSpec tensor : tensors) {
      if (tensor.name().equals(name)) {
        return offset;
      }
      offset += tensor.size();
    }
    throw new IllegalArgumentException("no tensor named " + name);
  }

  /** Cuts the flat vector into {@code count} contiguous slices whose sizes differ by at most one. */
  public List<ShardRange> shardRanges(int count) {
    if (count <= 0) {
      throw new IllegalArgumentException("shard count must be positive");
    }
    long total = totalSize();
    List<ShardRange> ranges = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      ranges.add(new ShardRange(i, (int) (total * i / count), (int) (total * (i + 1) / count)));
    }
    return ranges;
  }

  /** The tensors, or parts of tensors, that fall inside {@code range}, in flat order. */
  public List<Segment> segments(ShardRange range) {
    List<Segment> segments = new ArrayList<>();
    int offset = 0;
    for (TensorSpec tensor : tensors) {
      int start = Math.max(offset, range.from());
      int end = Math.min(offset + tensor.size(), range.to());
      if (start < end) {
        segments.add(
            new Segment(tensor.name(), start - offset, start - range.from(), end - start, tensor.decay()));
      }
      offset += tensor.size();
    }
    return segments;
  }
}
