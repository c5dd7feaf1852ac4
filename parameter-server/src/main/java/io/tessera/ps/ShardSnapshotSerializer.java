package io.tessera.ps;

import akka.actor.ExtendedActorSystem;
import akka.serialization.JSerializer;
import akka.serialization.Serialization;
import akka.serialization.SerializationExtension;
import akka.serialization.Serializer;
import akka.serialization.Serializers;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.ps.optimizer.OptimizerState;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.zip.CRC32;

/**
 * The snapshot format of parameter shards: a checkpoint's numbers as bulk little-endian arrays,
 * framed by a magic word and a format version, and sealed with a CRC32.
 *
 * <pre>
 * "TSHD" | version (1 byte) | body length (int) | body | CRC32 of body (int)
 * body (version 1): setup (serializer id, manifest, bytes) | checkpoint id | version | pending
 *   samples | optimizer kind, steps, first moment, second moment | parameters | pending gradient |
 *   last sequence number per worker
 * body (version 2): as version 1, then samples applied (long) | pending sync parts (count, longs) |
 *   last sync step (long) | pending sync step (long)
 * body (version 3): as version 2, then the splits applied (count of words, int | words, longs)
 * body (version 4): as version 3, then the split applications (long)
 * </pre>
 *
 * <p>A snapshot that fails any check is not an exception here: it reads as {@link
 * ShardState#corrupt}, so the shard can say which checkpoint is bad and the coordinator can fall
 * back to the one before, instead of recovery failing blindly. Versions before the current one
 * stay readable: a version-1 snapshot reads with {@code version x global batch} samples applied
 * and no pending parts, one before version 3 with no splits recorded as applied, and one before
 * version 4 with as many split applications as splits recorded as applied.
 */
public final class ShardSnapshotSerializer extends JSerializer {
  public static final int IDENTIFIER = 714_208;
  static final byte FORMAT_VERSION = 4;
  private static final byte[] MAGIC = {'T', 'S', 'H', 'D'};
  private static final int HEADER = MAGIC.length + 1 + Integer.BYTES;
  private static final OptimizerKind[] KINDS = OptimizerKind.values();

  private final ExtendedActorSystem system;
  private volatile Serialization serialization;

  public ShardSnapshotSerializer(ExtendedActorSystem system) {
    this.system = system;
  }

  @Override
  public int identifier() {
    return IDENTIFIER;
  }

  @Override
  public boolean includeManifest() {
    return false;
  }

  // The serialization extension is the system this serializer belongs to; look it up on first use.
  private Serialization serialization() {
    Serialization current = serialization;
    if (current == null) {
      current = SerializationExtension.get(system);
      serialization = current;
    }
    return current;
  }

  @Override
  public byte[] toBinary(Object object) {
    ShardState state = (ShardState) object;
    if (!state.initialized() || state.image() == null) {
      throw new IllegalArgumentException("only an initialised shard with a checkpoint image can be snapshotted");
    }
    ShardImage image = state.image();
    Serializer setupSerializer = serialization().findSerializerFor(state.setup());
    byte[] setup = setupSerializer.toBinary(state.setup());
    byte[] manifest = Serializers.manifestFor(setupSerializer, state.setup()).getBytes(StandardCharsets.UTF_8);
    byte[][] workers = new byte[image.lastSeqByWorker().size()][];
    long[] seqs = new long[workers.length];
    int workerBytes = 0;
    int i = 0;
    for (Map.Entry<String, Long> entry : image.lastSeqByWorker().entrySet()) {
      workers[i] = entry.getKey().getBytes(StandardCharsets.UTF_8);
      seqs[i] = entry.getValue();
      workerBytes += Integer.BYTES + workers[i].length + Long.BYTES;
      i++;
    }
    OptimizerState optimizer = image.optimizer();
    long[] applied = image.appliedSplits();
    long bodyLength =
        Integer.BYTES * 3L + manifest.length + setup.length
            + Long.BYTES * 2L + Integer.BYTES
            + 1 + Long.BYTES + floatsLength(optimizer.first()) + floatsLength(optimizer.second())
            + floatsLength(image.parameters()) + floatsLength(image.pendingGradient())
            + Integer.BYTES + workerBytes
            + Long.BYTES + Integer.BYTES + (long) Long.BYTES * image.pendingParts().size() + Long.BYTES * 2L
            + Integer.BYTES + (long) Long.BYTES * applied.length
            + Long.BYTES;
    if (HEADER + bodyLength + Integer.BYTES > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("shard snapshot of " + bodyLength + " bytes is too large for one array");
    }
    ByteBuffer out = ByteBuffer.allocate((int) (HEADER + bodyLength + Integer.BYTES)).order(ByteOrder.LITTLE_ENDIAN);
    out.put(MAGIC).put(FORMAT_VERSION).putInt((int) bodyLength);
    int bodyStart = out.position();
    out.putInt(setupSerializer.identifier()).putInt(manifest.length).put(manifest).putInt(setup.length).put(setup);
    out.putLong(image.checkpointId()).putLong(image.version()).putInt(image.pendingSamples());
    out.put((byte) optimizer.kind().ordinal()).putLong(optimizer.steps());
    putFloats(out, optimizer.first());
    putFloats(out, optimizer.second());
    putFloats(out, image.parameters());
    putFloats(out, image.pendingGradient());
    out.putInt(workers.length);
    for (int w = 0; w < workers.length; w++) {
      out.putInt(workers[w].length).put(workers[w]).putLong(seqs[w]);
    }
    out.putLong(image.samplesApplied()).putInt(image.pendingParts().size());
    for (long part : image.pendingParts()) {
      out.putLong(part);
    }
    out.putLong(image.lastStep()).putLong(image.pendingStep());
    out.putInt(applied.length);
    for (long word : applied) {
      out.putLong(word);
    }
    out.putLong(image.splitApplications());
    CRC32 crc = new CRC32();
    crc.update(out.array(), bodyStart, out.position() - bodyStart);
    out.putInt((int) crc.getValue());
    return out.array();
  }

  @Override
  public Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
    try {
      return read(bytes);
    } catch (BufferUnderflowException | IllegalArgumentException | IllegalStateException e) {
      return ShardState.corrupt("snapshot of " + bytes.length + " bytes is unreadable: " + e.getMessage());
    }
  }

  private ShardState read(byte[] bytes) {
    ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    if (bytes.length < HEADER + Integer.BYTES) {
      return ShardState.corrupt("snapshot is truncated (" + bytes.length + " bytes)");
    }
    byte[] magic = new byte[MAGIC.length];
    in.get(magic);
    if (!java.util.Arrays.equals(magic, MAGIC)) {
      return ShardState.corrupt("snapshot does not start with the shard snapshot magic word");
    }
    byte version = in.get();
    if (version < 1 || version > FORMAT_VERSION) {
      return ShardState.corrupt(
          "snapshot format version " + version + " is not one this node reads (1.." + FORMAT_VERSION + ")");
    }
    int bodyLength = in.getInt();
    if (bodyLength < 0 || (long) HEADER + bodyLength + Integer.BYTES != bytes.length) {
      return ShardState.corrupt(
          "snapshot says its body is " + bodyLength + " bytes but holds " + (bytes.length - HEADER - Integer.BYTES));
    }
    CRC32 crc = new CRC32();
    crc.update(bytes, HEADER, bodyLength);
    int stored = ByteBuffer.wrap(bytes, HEADER + bodyLength, Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN).getInt();
    if ((int) crc.getValue() != stored) {
      return ShardState.corrupt("snapshot checksum does not match its contents (CRC32)");
    }
    int serializerId = in.getInt();
    String setupManifest = new String(take(in, in.getInt()), StandardCharsets.UTF_8);
    byte[] setupBytes = take(in, in.getInt());
    // A set-up this node cannot read (say, written by a build with other serializers) is a corrupt
    // snapshot like any other, not an exception out of recovery.
    scala.util.Try<Object> readSetup = serialization().deserialize(setupBytes, serializerId, setupManifest);
    if (readSetup.isFailure()) {
      return ShardState.corrupt(
          "snapshot's shard set-up is unreadable: " + readSetup.failed().get().getMessage());
    }
    if (!(readSetup.get() instanceof ShardSetup setup)) {
      return ShardState.corrupt(
          "snapshot's shard set-up is a " + readSetup.get().getClass().getName() + ", not a shard set-up");
    }
    long checkpointId = in.getLong();
    long shardVersion = in.getLong();
    int pendingSamples = in.getInt();
    int kind = in.get();
    if (kind < 0 || kind >= KINDS.length) {
      return ShardState.corrupt("snapshot names unknown optimizer kind " + kind);
    }
    long steps = in.getLong();
    float[] first = getFloats(in);
    float[] second = getFloats(in);
    float[] parameters = getFloats(in);
    float[] pending = getFloats(in);
    int workers = in.getInt();
    if (workers < 0 || workers > in.remaining()) {
      return ShardState.corrupt("snapshot lists " + workers + " workers");
    }
    Map<String, Long> lastSeq = new HashMap<>();
    for (int w = 0; w < workers; w++) {
      lastSeq.put(new String(take(in, in.getInt()), StandardCharsets.UTF_8), in.getLong());
    }
    long samplesApplied = shardVersion * setup.globalBatch();
    Set<Long> parts = new HashSet<>();
    long lastStep = -1;
    long pendingStep = -1;
    if (version >= 2) {
      samplesApplied = in.getLong();
      int count = in.getInt();
      if (count < 0 || (long) count * Long.BYTES > in.remaining()) {
        return ShardState.corrupt("snapshot lists " + count + " pending parts");
      }
      for (int p = 0; p < count; p++) {
        parts.add(in.getLong());
      }
      lastStep = in.getLong();
      pendingStep = in.getLong();
    }
    long[] applied = new long[0];
    if (version >= 3) {
      int words = in.getInt();
      if (words < 0 || (long) words * Long.BYTES > in.remaining()) {
        return ShardState.corrupt("snapshot lists " + words + " words of applied splits");
      }
      applied = new long[words];
      for (int w = 0; w < words; w++) {
        applied[w] = in.getLong();
      }
    }
    long splitApplications;
    if (version >= 4) {
      splitApplications = in.getLong();
      if (splitApplications < 0) {
        return ShardState.corrupt("snapshot counts " + splitApplications + " split applications");
      }
    } else {
      // Before version 4 the applications were not counted; the bit set, which lets each split in
      // once, says how many there were: one per split set.
      splitApplications = java.util.BitSet.valueOf(applied).cardinality();
    }
    if (parameters.length != setup.range().size()) {
      return ShardState.corrupt(
          "snapshot holds " + parameters.length + " values for a shard of " + setup.range().size());
    }
    if (pending.length != parameters.length) {
      return ShardState.corrupt(
          "snapshot holds a pending gradient of " + pending.length + " values for " + parameters.length
              + " parameters");
    }
    ShardImage image =
        new ShardImage(
            checkpointId,
            shardVersion,
            parameters,
            pending,
            pendingSamples,
            new OptimizerState(KINDS[kind], steps, first, second),
            lastSeq,
            samplesApplied,
            parts,
            lastStep,
            pendingStep,
            applied,
            splitApplications);
    return ShardState.restored(setup, image);
  }

  private static long floatsLength(float[] values) {
    return Integer.BYTES + (long) values.length * Float.BYTES;
  }

  private static void putFloats(ByteBuffer out, float[] values) {
    out.putInt(values.length);
    out.asFloatBuffer().put(values);
    out.position(out.position() + values.length * Float.BYTES);
  }

  private static float[] getFloats(ByteBuffer in) {
    int length = in.getInt();
    if (length < 0 || (long) length * Float.BYTES > in.remaining()) {
      throw new IllegalStateException("array of " + length + " floats does not fit in what remains");
    }
    float[] values = new float[length];
    in.asFloatBuffer().get(values);
    in.position(in.position() + length * Float.BYTES);
    return values;
  }

  private static byte[] take(ByteBuffer in, int length) {
    if (length < 0 || length > in.remaining()) {
      throw new IllegalStateException("field of " + length + " bytes does not fit in what remains");
    }
    byte[] bytes = new byte[length];
    in.get(bytes);
    return bytes;
  }
}
