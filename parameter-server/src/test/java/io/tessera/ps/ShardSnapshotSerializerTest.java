package io.tessera.ps;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.typed.javadsl.Adapter;
import akka.serialization.Serialization;
import akka.serialization.SerializationExtension;
import akka.serialization.Serializer;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.ps.ShardState.Live;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The snapshot format of parameter shards, through Akka's serialization as the snapshot store
 * uses it: a real shard state comes back equal, and bytes that are damaged in any way read as
 * {@link ShardState#corrupt} with a reason that says what is wrong, never as an exception, so
 * that the shard can report the checkpoint instead of its recovery failing blindly.
 */
class ShardSnapshotSerializerTest {

  /** "TSHD", the format version, the body length. */
  private static final int HEADER = 9;

  private static final List<Segment> WEIGHT_AND_BIAS =
      List.of(new Segment("w", 0, 0, 3, true), new Segment("b", 0, 3, 1, false));
  private static final float[] STEP_GRADIENT = {0.5f, -1.25f, 3f, 0.75f};

  private static ActorTestKit testKit;
  private static Serialization serialization;

  private ShardState original;
  private byte[] bytes;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("ShardSnapshotSerializerTest");
    serialization = SerializationExtension.get(Adapter.toClassic(testKit.system()));
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  /**
   * A shard that took an optimizer step, holds half a window, has seen two workers and has applied
   * splits 3 and 70, one of them twice by its audit counter (three split applications).
   */
  @BeforeEach
  void checkpointAShard() {
    ShardSetup setup = setup(4);
    ShardState initial =
        ShardState.empty().initialize(setup, TensorPayload.encode(new float[] {1f, 2f, -3f, 0.5f}, WirePrecision.FP32));
    Live live = initial.live();
    live.optimizer.step(live.parameters, STEP_GRADIENT.clone(), 0.01);
    live.version = 1;
    live.pendingGradient[0] = 0.25f;
    live.pendingGradient[3] = -7f;
    live.pendingSamples = 3;
    live.lastSeqByWorker.put("worker-a/gpu0", 5L);
    live.lastSeqByWorker.put("worker-b/cpu", 9L);
    live.samplesApplied = 2;
    live.pendingParts.add(48L);
    live.lastStep = 40;
    live.pendingStep = 48;
    live.appliedSplits.set(3);
    live.appliedSplits.set(70);
    live.splitApplications = 3;
    original = initial.checkpoint(9);
    bytes = serialization.serialize(original).get();
  }

  // ---------------------------------------------------------------- round trip

  @Test
  void aShardStateIsBoundToThisSerializerAndComesBackEqual() {
    Serializer serializer = serialization.findSerializerFor(original);
    assertInstanceOf(ShardSnapshotSerializer.class, serializer);
    assertEquals(ShardSnapshotSerializer.IDENTIFIER, serializer.identifier());
    assertEquals("TSHD", new String(bytes, 0, 4, StandardCharsets.US_ASCII));
    assertEquals(ShardSnapshotSerializer.FORMAT_VERSION, bytes[4]);

    ShardState copy = read(bytes);

    assertFalse(copy.isCorrupt(), copy::corruption);
    assertTrue(copy.initialized());
    assertEquals(original.setup(), copy.setup());
    assertNotSame(original.image(), copy.image());
    assertEquals(original.image(), copy.image());
    assertEquals(9, copy.checkpointId());
    assertEquals(1, copy.live().version);
    assertEquals(3, copy.live().pendingSamples);
    assertArrayEquals(original.image().parameters(), copy.live().parameters);
    assertArrayEquals(original.image().pendingGradient(), copy.live().pendingGradient);
    assertEquals(original.image().lastSeqByWorker(), copy.live().lastSeqByWorker);
    assertEquals(2, copy.live().samplesApplied);
    assertEquals(java.util.Set.of(48L), copy.live().pendingParts);
    assertEquals(40, copy.live().lastStep);
    assertEquals(48, copy.live().pendingStep);
    assertEquals(java.util.BitSet.valueOf(new long[] {1L << 3, 1L << 6}), copy.live().appliedSplits);
    assertEquals(3, copy.image().splitApplications());
    assertEquals(3, copy.live().splitApplications, "the counter, not the bit set's cardinality");
    // The restored optimizer carries on exactly like the original (AdamW: moments and steps).
    original.live().optimizer.step(original.live().parameters, STEP_GRADIENT.clone(), 0.01);
    copy.live().optimizer.step(copy.live().parameters, STEP_GRADIENT.clone(), 0.01);
    assertArrayEquals(original.live().parameters, copy.live().parameters);
    assertEquals(original.live().optimizer.snapshot(), copy.live().optimizer.snapshot());
  }

  @Test
  void aShardWithoutParametersIsNotWritten() {
    assertThrows(IllegalArgumentException.class, () -> serialization.serialize(ShardState.empty()).get());
  }

  /** The split applications that version 4 added. */
  private static final int SPLIT_APPLICATIONS_BYTES = Long.BYTES;

  /** The applied splits that version 3 added: their word count and two words. */
  private static final int APPLIED_SPLITS_BYTES = Integer.BYTES + 2 * Long.BYTES;

  @Test
  void theSplitApplicationsAreTheCountOfTheLiveStateAndCoveredByTheChecksum() {
    assertEquals(3, original.image().splitApplications());
    ShardImage other = original.live().image(9);
    assertEquals(original.image(), other);
    original.live().splitApplications = 4;
    ShardImage counted = original.live().image(9);
    assertFalse(original.image().equals(counted), "the counter is part of the image's equality");
    byte[] four = serialization.serialize(new ShardState(original.setup(), original.live(), counted, null)).get();
    assertEquals(4, read(four).live().splitApplications);

    // The counter is the body's last field: damage to it is caught by the checksum.
    byte[] damaged = bytes.clone();
    damaged[damaged.length - 4 - 1] ^= 0x01;
    assertCorrupt(damaged, "checksum", "split applications changed");
  }

  @Test
  void aNegativeSplitApplicationCountIsNamed() {
    byte[] damaged = resealed((copy, at) -> putLong(copy, copy.length - 4 - Long.BYTES, -2));
    assertCorrupt(damaged, "counts -2 split applications", "negative split applications");
  }

  @Test
  void aVersionThreeSnapshotIsStillReadWithOneApplicationPerSplitApplied() {
    // Written the way version 3 wrote it: the body ends with the applied splits' words.
    byte[] v3 = new byte[bytes.length - SPLIT_APPLICATIONS_BYTES];
    System.arraycopy(bytes, 0, v3, 0, v3.length - 4);
    v3[4] = 3;
    putInt(v3, 5, v3.length - HEADER - 4);
    CRC32 crc = new CRC32();
    crc.update(v3, HEADER, v3.length - HEADER - 4);
    putInt(v3, v3.length - 4, (int) crc.getValue());

    ShardState copy = read(v3);

    assertFalse(copy.isCorrupt(), copy::corruption);
    assertArrayEquals(original.image().parameters(), copy.live().parameters);
    assertEquals(java.util.BitSet.valueOf(new long[] {1L << 3, 1L << 6}), copy.live().appliedSplits);
    assertEquals(2, copy.live().splitApplications, "the applied bit set's cardinality");
    assertEquals(2, copy.image().splitApplications());
  }

  @Test
  void aVersionTwoSnapshotIsStillReadWithNoSplitApplied() {
    byte[] v2 = new byte[bytes.length - APPLIED_SPLITS_BYTES - SPLIT_APPLICATIONS_BYTES];
    System.arraycopy(bytes, 0, v2, 0, v2.length - 4);
    v2[4] = 2;
    putInt(v2, 5, v2.length - HEADER - 4);
    CRC32 crc = new CRC32();
    crc.update(v2, HEADER, v2.length - HEADER - 4);
    putInt(v2, v2.length - 4, (int) crc.getValue());

    ShardState copy = read(v2);

    assertFalse(copy.isCorrupt(), copy::corruption);
    assertArrayEquals(original.image().parameters(), copy.live().parameters);
    assertEquals(2, copy.live().samplesApplied);
    assertEquals(java.util.Set.of(48L), copy.live().pendingParts);
    assertTrue(copy.live().appliedSplits.isEmpty());
    assertEquals(0, copy.live().splitApplications);
  }

  @Test
  void aVersionOneSnapshotIsStillRead() {
    // Version 1 ended after the workers' sequence numbers: no samples applied, no sync parts.
    int tail = Long.BYTES + Integer.BYTES + Long.BYTES + 2 * Long.BYTES // samples, parts (one), steps
        + APPLIED_SPLITS_BYTES + SPLIT_APPLICATIONS_BYTES;
    byte[] v1 = new byte[bytes.length - tail];
    System.arraycopy(bytes, 0, v1, 0, v1.length - 4);
    v1[4] = 1;
    putInt(v1, 5, v1.length - HEADER - 4);
    CRC32 crc = new CRC32();
    crc.update(v1, HEADER, v1.length - HEADER - 4);
    putInt(v1, v1.length - 4, (int) crc.getValue());

    ShardState copy = read(v1);

    assertFalse(copy.isCorrupt(), copy::corruption);
    assertArrayEquals(original.image().parameters(), copy.live().parameters);
    assertEquals(1, copy.live().version);
    assertEquals(1L * original.setup().globalBatch(), copy.live().samplesApplied, "one step of the global batch");
    assertTrue(copy.live().pendingParts.isEmpty());
    assertEquals(-1, copy.live().lastStep);
    assertTrue(copy.live().appliedSplits.isEmpty());
    assertEquals(0, copy.live().splitApplications);
  }

  // ---------------------------------------------------------------- damaged bytes

  @Test
  void flippingAnySingleByteIsDetectedAndNamed() {
    for (int i = 0; i < bytes.length; i++) {
      byte[] damaged = bytes.clone();
      damaged[i] ^= (byte) 0xff;
      String expected =
          i < 4 ? "magic word"
              : i == 4 ? "format version"
              : i < HEADER ? "says its body is"
              : "checksum";
      assertCorrupt(damaged, expected, "byte " + i + " of " + bytes.length + " flipped");
    }
  }

  @Test
  void everyTruncationIsDetected() {
    for (int length = 0; length < bytes.length; length++) {
      byte[] truncated = Arrays.copyOf(bytes, length);
      String expected = length < HEADER + 4 ? "truncated" : "says its body is";
      assertCorrupt(truncated, expected, "truncated to " + length + " bytes");
    }
    byte[] extended = Arrays.copyOf(bytes, bytes.length + 1);
    assertCorrupt(extended, "says its body is", "one byte too many");
  }

  @Test
  void aWrongMagicWordIsNamed() {
    byte[] damaged = bytes.clone();
    System.arraycopy("TKRY".getBytes(StandardCharsets.US_ASCII), 0, damaged, 0, 4);
    assertCorrupt(damaged, "magic word", "wrong magic");
  }

  @Test
  void anUnknownFormatVersionIsNamed() {
    for (byte version : new byte[] {0, 5, 127}) {
      byte[] damaged = bytes.clone();
      damaged[4] = version;
      assertCorrupt(damaged, "format version " + version + " is not one this node reads", "version " + version);
    }
  }

  // Damage behind a valid checksum: the structural checks must hold on their own.

  @Test
  void anUnknownOptimizerKindIsNamed() {
    byte[] damaged = resealed((copy, at) -> copy[at.kind] = (byte) OptimizerKind.values().length);
    assertCorrupt(damaged, "unknown optimizer kind " + OptimizerKind.values().length, "optimizer kind");
  }

  @Test
  void anArrayLongerThanTheSnapshotIsNamed() {
    byte[] damaged = resealed((copy, at) -> putInt(copy, at.parameters, Integer.MAX_VALUE / 2));
    assertCorrupt(damaged, "does not fit", "parameter count");
  }

  @Test
  void aNegativeWorkerCountIsNamed() {
    byte[] damaged = resealed((copy, at) -> putInt(copy, at.workers, -1));
    assertCorrupt(damaged, "lists -1 workers", "worker count");
  }

  @Test
  void aSetUpThisNodeCannotReadIsNamed() {
    // Say a snapshot from a build whose set-up serializer this node lacks.
    byte[] damaged = resealed((copy, at) -> putInt(copy, HEADER, 999_999));
    assertCorrupt(damaged, "set-up", "set-up serializer id");
  }

  @Test
  void parametersThatDoNotMatchTheSetUpAreCorrupt() {
    ShardState threeValues =
        ShardState.empty().initialize(setup(3), TensorPayload.encode(new float[] {1f, 2f, 3f}, WirePrecision.FP32));
    // The four-value set-up with the numbers of a three-value shard.
    ShardState mismatched = new ShardState(setup(4), threeValues.live(), threeValues.image(), null);

    assertCorrupt(serialization.serialize(mismatched).get(), "holds 3 values for a shard of 4", "3 of 4 values");
  }

  @Test
  void aPendingGradientThatDoesNotMatchTheParametersIsCorrupt() {
    ShardImage image = original.image();
    ShardImage shortPending =
        new ShardImage(
            image.checkpointId(),
            image.version(),
            image.parameters(),
            new float[3],
            image.pendingSamples(),
            image.optimizer(),
            image.lastSeqByWorker(),
            image.samplesApplied(),
            image.pendingParts(),
            image.lastStep(),
            image.pendingStep(),
            image.appliedSplits(),
            image.splitApplications());
    ShardState mismatched = new ShardState(original.setup(), original.live(), shortPending, null);

    assertCorrupt(
        serialization.serialize(mismatched).get(), "pending gradient of 3 values", "short pending gradient");
  }

  // ---------------------------------------------------------------- helpers

  private static ShardSetup setup(int size) {
    OptimizerSpec adamw =
        OptimizerSpec.builder().optKind(OptimizerKind.ADAMW).optLearningRate(0.01).optWeightDecay(0.1).build();
    List<Segment> segments =
        size == 4 ? WEIGHT_AND_BIAS : List.of(new Segment("w", 0, 0, size, true));
    return new ShardSetup("job-1", 0, new ShardRange(0, 0, size), segments, adamw, 2, 1, 10, TrainingMode.ASYNC, false);
  }

  private static ShardState read(byte[] bytes) {
    Object state = serialization.deserialize(bytes, ShardSnapshotSerializer.IDENTIFIER, "").get();
    return assertInstanceOf(ShardState.class, state);
  }

  private static void assertCorrupt(byte[] bytes, String reasonPart, String what) {
    ShardState state = read(bytes);
    assertTrue(state.isCorrupt(), () -> what + " went unnoticed");
    assertFalse(state.initialized(), what);
    assertTrue(state.corruption().contains(reasonPart), () -> what + ": " + state.corruption());
  }

  /** A copy of the snapshot with {@code damage} done to it and its CRC recomputed. */
  private byte[] resealed(BiConsumer<byte[], Layout> damage) {
    byte[] damaged = bytes.clone();
    damage.accept(damaged, new Layout(damaged));
    CRC32 crc = new CRC32();
    crc.update(damaged, HEADER, damaged.length - HEADER - 4);
    putInt(damaged, damaged.length - 4, (int) crc.getValue());
    return damaged;
  }

  private static void putInt(byte[] bytes, int offset, int value) {
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(offset, value);
  }

  private static void putLong(byte[] bytes, int offset, long value) {
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(offset, value);
  }

  /** Where the fields of a version-1 body begin, found by walking it. */
  private static final class Layout {
    final int kind;
    final int parameters;
    final int workers;

    Layout(byte[] bytes) {
      ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
      in.position(HEADER + Integer.BYTES); // set-up serializer id
      skip(in, in.getInt()); // manifest
      skip(in, in.getInt()); // set-up
      skip(in, Long.BYTES * 2 + Integer.BYTES); // checkpoint id, version, pending samples
      kind = in.position();
      skip(in, 1 + Long.BYTES); // kind, steps
      skip(in, in.getInt() * Float.BYTES); // first moment
      skip(in, in.getInt() * Float.BYTES); // second moment
      parameters = in.position();
      skip(in, in.getInt() * Float.BYTES);
      skip(in, in.getInt() * Float.BYTES); // pending gradient
      workers = in.position();
    }

    private static void skip(ByteBuffer in, int length) {
      in.position(in.position() + length);
    }
  }
}
