package io.tessera.ps.optimizer;

import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.tensor.Segment;
import java.util.Arrays;
import java.util.List;

/**
 * Measures how close an AdamW step comes to the machine's memory bandwidth, on one thread.
 *
 * <p>An AdamW step over a large slice does a handful of flops per value and moves 28 bytes (reads
 * p, g, m, v and writes p, m, v), so memory bandwidth, not arithmetic, should bound it. The
 * probes are an in-place {@code a += s * b} (12 bytes per value, the same read-then-overwrite
 * pattern as the optimizer, so no hidden write-allocate traffic) and a STREAM-style triad {@code a
 * = b + s * c} (counted as 12 bytes, as STREAM does, though the cache also reads {@code a} before
 * writing it). Not a test: run it with {@code java ... OptimizerBandwidthBench [values] [reps]}.
 */
public final class OptimizerBandwidthBench {

  private static final int WARM_UP_REPS = 5;

  private OptimizerBandwidthBench() {}

  public static void main(String[] args) {
    int size = args.length > 0 ? Integer.parseInt(args[0]) : 25_000_000;
    int reps = args.length > 1 ? Integer.parseInt(args[1]) : 10;
    System.out.printf(
        "slice of %,d floats (%.0f MB per array), %d timed reps after %d warm-up, java %s%n",
        size, size * 4 / 1e6, reps, WARM_UP_REPS, System.getProperty("java.version"));

    double adamw = adamW(size, reps);
    double axpy = inPlaceAxpy(size, reps);
    double triad = triad(size, reps);

    System.out.printf("AdamW step        %6.2f GB/s  (28 B/value)%n", adamw);
    System.out.printf("probe a += s*b    %6.2f GB/s  (12 B/value)%n", axpy);
    System.out.printf("probe a = b + s*c %6.2f GB/s  (12 B/value, STREAM counting)%n", triad);
    System.out.printf("AdamW / in-place probe = %.2f%n", adamw / axpy);
    System.out.printf("AdamW / triad probe    = %.2f%n", adamw / triad);
  }

  private static double adamW(int size, int reps) {
    int biasLength = Math.min(size, 1000);
    List<Segment> segments =
        List.of(
            new Segment("weight", 0, 0, size - biasLength, true),
            new Segment("bias", 0, size - biasLength, biasLength, false));
    OptimizerSpec spec = OptimizerSpec.builder().optKind(OptimizerKind.ADAMW).build();
    Optimizer optimizer = Optimizer.create(spec, size, segments);
    float[] params = pattern(size, 0.5f);
    float[] gradient = pattern(size, 0.01f);

    Timing timing = new Timing(reps);
    for (int rep = -WARM_UP_REPS; rep < reps; rep++) {
      long start = System.nanoTime();
      optimizer.step(params, gradient, 1e-4);
      timing.record(rep, System.nanoTime() - start);
    }
    report("AdamW", timing, params[size / 2]);
    return 28.0 * size / timing.bestSeconds() / 1e9;
  }

  private static double inPlaceAxpy(int size, int reps) {
    float[] a = pattern(size, 1f);
    float[] b = pattern(size, 0.001f);
    Timing timing = new Timing(reps);
    for (int rep = -WARM_UP_REPS; rep < reps; rep++) {
      long start = System.nanoTime();
      axpy(a, b, 0.5f);
      timing.record(rep, System.nanoTime() - start);
    }
    report("a += s*b", timing, a[size / 2]);
    return 12.0 * size / timing.bestSeconds() / 1e9;
  }

  private static double triad(int size, int reps) {
    float[] a = new float[size];
    float[] b = pattern(size, 1f);
    float[] c = pattern(size, 0.001f);
    Timing timing = new Timing(reps);
    for (int rep = -WARM_UP_REPS; rep < reps; rep++) {
      long start = System.nanoTime();
      triad(a, b, c, 0.5f);
      timing.record(rep, System.nanoTime() - start);
    }
    report("a = b + s*c", timing, a[size / 2]);
    return 12.0 * size / timing.bestSeconds() / 1e9;
  }

  private static void axpy(float[] a, float[] b, float s) {
    for (int i = 0; i < a.length; i++) {
      a[i] += s * b[i];
    }
  }

  private static void triad(float[] a, float[] b, float[] c, float s) {
    for (int i = 0; i < a.length; i++) {
      a[i] = b[i] + s * c[i];
    }
  }

  /** Values in [-scale, scale) without a random generator, which would dominate set-up time. */
  private static float[] pattern(int size, float scale) {
    float[] values = new float[size];
    for (int i = 0; i < size; i++) {
      values[i] = scale * ((int) ((long) i * 7919 % 2001) / 1000f - 1f);
    }
    return values;
  }

  /** Printing a value of the result keeps the JIT from dropping the loops as dead code. */
  private static void report(String name, Timing timing, float sample) {
    System.out.printf(
        "  %-12s best %7.2f ms, median %7.2f ms  (sample %s)%n",
        name, timing.bestSeconds() * 1e3, timing.medianSeconds() * 1e3, sample);
  }

  /** Wall times of the timed repetitions; warm-up repetitions have negative numbers. */
  private static final class Timing {
    private final long[] nanos;

    Timing(int reps) {
      nanos = new long[reps];
    }

    void record(int rep, long elapsed) {
      if (rep >= 0) {
        nanos[rep] = elapsed;
      }
    }

    double bestSeconds() {
      return Arrays.stream(nanos).min().orElseThrow() / 1e9;
    }

    double medianSeconds() {
      long[] sorted = nanos.clone();
      Arrays.sort(sorted);
      return sorted[sorted.length / 2] / 1e9;
    }
  }
}
