package io.tessera.protocol.serialization;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.ExtendedActorSystem;
import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.javadsl.Adapter;
import akka.pattern.StatusReply;
import akka.serialization.SerializationExtension;
import com.esotericsoftware.kryo.io.Output;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.TensorSpec;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.testkit.WireRoundTrip;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Kryo serializer refuses what it must: unregistered classes on the way out, and on the way in
 * garbage, truncated or padded messages, class names, and every length prefix that exceeds its
 * configured maximum or the bytes actually left. Hostile bytes are made by hand or by mutating real
 * serialized messages, so the tests follow the wire format rather than re-implement it.
 */
class KryoSerializerHardeningTest {
  private static final int TIGHT_TENSOR_VALUES = 16;
  private static final int TIGHT_COLLECTION_SIZE = 8;
  private static final int TIGHT_STRING_BYTES = 64;
  private static final int TIGHT_MESSAGE_BYTES = 2048;

  private static ActorTestKit testKit;

  /** The serializer Akka binds, with reference.conf's limits. */
  private static KryoSerializer serializer;

  /** Same registrations, tiny limits, so that limit checks can be driven with real messages. */
  private static KryoSerializer tight;

  /** Implements the marker, so Akka hands it to Kryo, but no registrar names it. */
  record NeverRegistered(String text) implements TesseraSerializable {}

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("KryoSerializerHardeningTest", WireRoundTrip.clusterTestConfig());
    ExtendedActorSystem classic = (ExtendedActorSystem) Adapter.toClassic(testKit.system());
    serializer =
        (KryoSerializer)
            SerializationExtension.get(classic).findSerializerFor(new ShardProtocol.Accepted(1L));
    Config limits =
        ConfigFactory.parseString(
                String.join(
                    "\n",
                    "max-message-bytes = " + TIGHT_MESSAGE_BYTES,
                    "max-tensor-values = " + TIGHT_TENSOR_VALUES,
                    "max-collection-size = " + TIGHT_COLLECTION_SIZE,
                    "max-string-bytes = " + TIGHT_STRING_BYTES))
            .withFallback(classic.settings().config().getConfig("tessera.serialization"));
    tight = new KryoSerializer(classic, limits);
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  // ---------------------------------------------------------------- serialize

  @Test
  void unregisteredClassIsRefusedOnSerializeNamingTheClass() {
    IllegalArgumentException error =
        assertThrows(
            IllegalArgumentException.class, () -> serializer.toBinary(new NeverRegistered("x")));
    assertContains(error, NeverRegistered.class.getName());
    assertContains(error, "not registered");
  }

  @Test
  void unregisteredClassInsideARegisteredMessageIsRefused() {
    @SuppressWarnings({"unchecked", "rawtypes"})
    CoordinatorProtocol.JobList smuggled =
        new CoordinatorProtocol.JobList((List) List.of(new NeverRegistered("x")));

    IllegalArgumentException error =
        assertThrows(IllegalArgumentException.class, () -> serializer.toBinary(smuggled));
    assertContains(error, NeverRegistered.class.getName());
  }

  @Test
  void messageLargerThanTheConfiguredMaximumIsRefusedOnBothSides() {
    ShardProtocol.Accepted small = new ShardProtocol.Accepted(7L);
    assertEquals(small, tight.fromBinary(tight.toBinary(small)), "small messages must still pass");

    ShardProtocol.Pulled large = pulled(new float[TIGHT_MESSAGE_BYTES / 4 + 1]);
    IllegalArgumentException onWrite =
        assertThrows(IllegalArgumentException.class, () -> tight.toBinary(large));
    assertContains(onWrite, ShardProtocol.Pulled.class.getName());

    byte[] bytes = serializer.toBinary(large);
    assertTrue(bytes.length > TIGHT_MESSAGE_BYTES);
    IllegalArgumentException onRead =
        assertThrows(IllegalArgumentException.class, () -> tight.fromBinary(bytes));
    assertContains(onRead, "max-message-bytes");
  }

  @Test
  void valuesTheReaderWouldRefuseAreRefusedOnWriteAlready() {
    // Otherwise a persisted event or snapshot could be written and then never replayed.
    assertRefusedOnWrite(
        new CoordinatorProtocol.JobAccepted("j".repeat(TIGHT_STRING_BYTES + 1)), "string");
    assertRefusedOnWrite(plan(TIGHT_COLLECTION_SIZE + 1), "list");
    assertRefusedOnWrite(pulled(new float[TIGHT_TENSOR_VALUES + 1]), "tensor");
    assertRefusedOnWrite(
        new TensorSpec("deep", ones(TIGHT_COLLECTION_SIZE + 1), false), "int array");
    List<CoordinatorProtocol.WorkerShare> withNull = new ArrayList<>();
    withNull.add(null);
    assertRefusedOnWrite(new CoordinatorProtocol.AccumulationPlan(1L, 0, 64, withNull), "null");
  }

  // ---------------------------------------------------------------- garbage

  @Test
  void randomGarbageIsRefused() {
    Random random = new Random(0x7e55e7aL);
    for (int trial = 0; trial < 5_000; trial++) {
      byte[] garbage = new byte[1 + random.nextInt(96)];
      random.nextBytes(garbage);
      refused(serializer, garbage);
    }
  }

  @Test
  void emptyMessageIsRefused() {
    refused(serializer, new byte[0]);
  }

  @Test
  void unknownClassIdIsRefused() {
    assertContains(refused(serializer, varint(5_000 + 2)), "unregistered class ID");
  }

  @Test
  void nullIsNotAMessage() {
    refused(serializer, new byte[] {0});
    refused(serializer, new byte[] {0, 0});
  }

  @Test
  void registeredValuesThatAreNotMessagesAreRefusedAtTheTop() {
    // Kryo knows String and Integer, but no Tessera message is one: bytes that decode to them did
    // not come from a bound class.
    refused(serializer, serializer.toBinary("hello"));
    refused(serializer, serializer.toBinary(42));
  }

  @Test
  void classNamesOnTheWireAreRefused() {
    // Kryo's "class by name" marker (1), a name id, the name, then a valid Accepted body: with
    // registration required nothing may be looked up by name, even a registered class.
    byte[] real = serializer.toBinary(new ShardProtocol.Accepted(43L));
    byte[] body = Arrays.copyOfRange(real, varintLength(real, 0), real.length);
    Output named = new Output(256);
    named.writeVarInt(1, true);
    named.writeVarInt(0, true);
    named.writeString(ShardProtocol.Accepted.class.getName());
    named.writeBytes(body);

    refused(serializer, named.toBytes());
  }

  @Test
  void deeplyNestedListsAreRefusedWithoutExhaustingTheStack() {
    byte[] empty = serializer.toBinary(new CoordinatorProtocol.JobList(List.of()));
    int classPrefix = varintLength(empty, 0);
    assertEquals(0, empty[empty.length - 1], "an empty list ends in size 0");
    byte[] listClass = Arrays.copyOfRange(empty, classPrefix, empty.length - 1);
    byte[] nested = nestedLists(listClass, 200_000);

    // Inside a message, and bare at the top, where no record serializer wraps the failure.
    ByteArrayOutputStream inMessage = new ByteArrayOutputStream();
    inMessage.write(empty, 0, classPrefix);
    inMessage.writeBytes(nested);
    for (byte[] bomb : List.of(inMessage.toByteArray(), nested)) {
      IllegalArgumentException error = refused(serializer, bomb);
      for (Throwable cause = error; cause != null; cause = cause.getCause()) {
        assertTrue(!(cause instanceof StackOverflowError), "refused only by overflowing the stack");
      }
      assertContains(error, "depth");
    }
  }

  @Test
  void legitimateNestingWellWithinTheDepthLimitPasses() {
    byte[] empty = serializer.toBinary(new CoordinatorProtocol.JobList(List.of()));
    int classPrefix = varintLength(empty, 0);
    byte[] listClass = Arrays.copyOfRange(empty, classPrefix, empty.length - 1);
    ByteArrayOutputStream message = new ByteArrayOutputStream();
    message.write(empty, 0, classPrefix);
    message.writeBytes(nestedLists(listClass, KryoSerializer.MAX_DEPTH / 2));

    Object value = serializer.fromBinary(message.toByteArray());
    assertTrue(value instanceof CoordinatorProtocol.JobList, String.valueOf(value));
  }

  /** {@code depth} lists, each holding the next, the innermost empty. */
  private static byte[] nestedLists(byte[] listClass, int depth) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int level = 0; level < depth; level++) {
      out.writeBytes(listClass);
      out.write(1);
    }
    out.writeBytes(listClass);
    out.write(0);
    return out.toByteArray();
  }

  // ---------------------------------------------------------------- truncated and padded

  @Test
  void everyTruncationOfARealMessageIsRefused() {
    TestProbe<StatusReply<ShardProtocol.Initialized>> probe = testKit.createTestProbe();
    ShardProtocol.Initialize message =
        new ShardProtocol.Initialize(
            new ShardProtocol.ShardSetup(
                "job-1",
                0,
                new ShardRange(0, 0, 5),
                List.of(new Segment("w", 0, 0, 5, true)),
                JobSpec.builder().setName("t").build().optimizer(),
                256,
                4,
                100L,
                io.tessera.protocol.spec.TrainingMode.ASYNC,
                false),
            TensorPayload.encode(new float[] {1f, 2f, 3f, 4f, 5f}, WirePrecision.FP32),
            probe.getRef());
    byte[] bytes = serializer.toBinary(message);
    assertEquals(message, serializer.fromBinary(bytes), "the untruncated message must pass");

    for (int length = 0; length < bytes.length; length++) {
      refused(serializer, Arrays.copyOf(bytes, length));
    }
  }

  @Test
  void trailingBytesAreRefused() {
    byte[] bytes = serializer.toBinary(new CoordinatorProtocol.JobAccepted("job-7f3a"));
    byte[] padded = Arrays.copyOf(bytes, bytes.length + 1);

    assertContains(refused(serializer, padded), "1 unread bytes");
  }

  // ---------------------------------------------------------------- strings

  @Test
  void stringLongerThanTheConfiguredMaximumIsRefused() {
    CoordinatorProtocol.JobAccepted atLimit =
        new CoordinatorProtocol.JobAccepted("j".repeat(TIGHT_STRING_BYTES));
    assertEquals(atLimit, tight.fromBinary(serializer.toBinary(atLimit)));

    byte[] over =
        serializer.toBinary(
            new CoordinatorProtocol.JobAccepted("j".repeat(TIGHT_STRING_BYTES + 1)));
    assertContains(
        refused(tight, over),
        "string of "
            + (TIGHT_STRING_BYTES + 1)
            + " exceeds the configured maximum of "
            + TIGHT_STRING_BYTES);
  }

  @Test
  void stringLengthPrefixBeyondTheLimitOrTheRemainingBytesIsRefused() {
    byte[] text = "job-7f3a".getBytes(StandardCharsets.UTF_8);
    byte[] bytes = serializer.toBinary(new CoordinatorProtocol.JobAccepted("job-7f3a"));
    int start = indexOf(bytes, text);
    assertEquals(text.length, bytes[start - 1], "the string's length prefix precedes it");

    byte[] beyondRemaining = splice(bytes, start - 1, start, varint(100));
    assertContains(
        refused(serializer, beyondRemaining), "string of 100 needs 100 bytes but only 8 remain");

    byte[] beyondLimit = splice(bytes, start - 1, start, varint(2 * 1024 * 1024));
    assertContains(refused(serializer, beyondLimit), "exceeds the configured maximum of 1048576");

    byte[] negative = splice(bytes, start - 1, start, varint(-1));
    refused(serializer, negative);
  }

  @Test
  void actorPathLongerThanTheStringMaximumIsRefused() {
    TestProbe<ShardProtocol.ShardStatus> probe = testKit.createTestProbe();
    String path = ActorRefResolver.get(testKit.system()).toSerializationFormat(probe.getRef());
    assertTrue(
        path.length() > TIGHT_STRING_BYTES, "probe path must exceed the tight limit: " + path);

    byte[] bytes = serializer.toBinary(new ShardProtocol.GetStatus(probe.getRef()));
    assertContains(refused(tight, bytes), "actor path of " + path.length() + " exceeds");
  }

  // ---------------------------------------------------------------- lists

  @Test
  void listLargerThanTheConfiguredMaximumIsRefused() {
    CoordinatorProtocol.AccumulationPlan atLimit = plan(TIGHT_COLLECTION_SIZE);
    assertEquals(atLimit, tight.fromBinary(serializer.toBinary(atLimit)));

    byte[] over = serializer.toBinary(plan(TIGHT_COLLECTION_SIZE + 1));
    assertContains(
        refused(tight, over),
        "list of "
            + (TIGHT_COLLECTION_SIZE + 1)
            + " exceeds the configured maximum of "
            + TIGHT_COLLECTION_SIZE);
  }

  @Test
  void listSizePrefixBeyondTheLimitOrTheRemainingBytesIsRefused() {
    byte[] bytes = serializer.toBinary(new CoordinatorProtocol.JobList(List.of()));
    int size = bytes.length - 1;
    assertEquals(0, bytes[size], "an empty list ends in size 0");

    assertContains(
        refused(serializer, splice(bytes, size, size + 1, varint(50))),
        "list of 50 needs 50 bytes but only 0 remain");
    assertContains(
        refused(serializer, splice(bytes, size, size + 1, varint(1_000_001))),
        "list of 1000001 exceeds the configured maximum of 1000000");
  }

  @Test
  void nullListElementOffTheWireIsRefused() {
    byte[] bytes = serializer.toBinary(new CoordinatorProtocol.JobList(List.of()));
    // size 1, then Kryo's null class id as the one element
    refused(serializer, splice(bytes, bytes.length - 1, bytes.length, new byte[] {1, 0}));
  }

  @Test
  void shapeLongerThanTheConfiguredMaximumIsRefused() {
    TensorSpec atLimit = new TensorSpec("w", ones(TIGHT_COLLECTION_SIZE), true);
    assertEquals(atLimit, tight.fromBinary(serializer.toBinary(atLimit)));

    byte[] over = serializer.toBinary(new TensorSpec("w", ones(TIGHT_COLLECTION_SIZE + 1), true));
    assertContains(
        refused(tight, over), "int array of " + (TIGHT_COLLECTION_SIZE + 1) + " exceeds");
  }

  // ---------------------------------------------------------------- tensors

  @Test
  void tensorLongerThanTheConfiguredMaximumIsRefused() {
    ShardProtocol.Pulled atLimit = pulled(new float[TIGHT_TENSOR_VALUES]);
    assertEquals(atLimit, tight.fromBinary(serializer.toBinary(atLimit)));

    byte[] over = serializer.toBinary(pulled(new float[TIGHT_TENSOR_VALUES + 1]));
    assertContains(
        refused(tight, over),
        "tensor of "
            + (TIGHT_TENSOR_VALUES + 1)
            + " exceeds the configured maximum of "
            + TIGHT_TENSOR_VALUES);
  }

  @Test
  void tensorLengthPrefixBeyondTheLimitOrTheRemainingBytesIsRefused() {
    TensorPayload payload =
        TensorPayload.encode(new float[] {1.5f, -2.25f, 3.125f, 1e-3f}, WirePrecision.FP32);
    byte[] bytes = serializer.toBinary(new ShardProtocol.Pulled(1, 0L, 42L, payload));
    int start = indexOf(bytes, payload.bytes());
    assertEquals(4, bytes[start - 1], "the value count precedes the values");
    assertEquals(
        WirePrecision.FP32.ordinal(), bytes[start - 2], "the precision precedes the count");

    String needs = refused(serializer, splice(bytes, start - 1, start, varint(100))).getMessage();
    assertTrue(needs.contains("tensor of 100 needs 400 bytes but only"), needs);

    assertContains(
        refused(serializer, splice(bytes, start - 1, start, varint(2_097_153))),
        "tensor of 2097153 exceeds the configured maximum of 2097152");
  }

  @Test
  void tensorWithAnUnknownPrecisionIsRefused() {
    TensorPayload payload = TensorPayload.encode(new float[] {1f, 2f}, WirePrecision.BF16);
    byte[] bytes = serializer.toBinary(new ShardProtocol.Pulled(0, 0L, 1L, payload));
    int start = indexOf(bytes, payload.bytes());
    assertEquals(WirePrecision.BF16.ordinal(), bytes[start - 2]);

    assertContains(
        refused(
            serializer, splice(bytes, start - 2, start - 1, varint(WirePrecision.values().length))),
        "unknown wire precision");
  }

  @Test
  void tensorWhoseCountDisagreesWithItsBytesIsRefused() {
    TensorPayload payload = TensorPayload.encode(new float[] {1f, 2f, 3f, 4f}, WirePrecision.FP32);
    byte[] bytes = serializer.toBinary(new ShardProtocol.Pulled(1, 0L, 42L, payload));
    int start = indexOf(bytes, payload.bytes());

    // One value fewer than the bytes that follow: whatever is read next, bytes are left over.
    refused(serializer, splice(bytes, start - 1, start, varint(3)));
    // One more than the bytes that follow.
    refused(serializer, splice(bytes, start - 1, start, varint(5)));
  }

  @Test
  void tensorPayloadRefusesABytesArrayThatDoesNotMatchItsLength() {
    assertThrows(
        IllegalArgumentException.class,
        () -> new TensorPayload(WirePrecision.FP32, 4, new byte[15]));
    assertThrows(
        IllegalArgumentException.class,
        () -> new TensorPayload(WirePrecision.FP32, 4, new byte[17]));
    assertThrows(
        IllegalArgumentException.class,
        () -> new TensorPayload(WirePrecision.BF16, 3, new byte[4]));
    assertThrows(
        IllegalArgumentException.class,
        () -> new TensorPayload(WirePrecision.FP16, -1, new byte[0]));
    assertThrows(
        IllegalArgumentException.class, () -> new TensorPayload(WirePrecision.FP16, 0, null));
    assertThrows(IllegalArgumentException.class, () -> new TensorPayload(null, 0, new byte[0]));
    assertEquals(3, new TensorPayload(WirePrecision.BF16, 3, new byte[6]).length());
  }

  // ---------------------------------------------------------------- configuration

  @Test
  void registrarThatIsNotAKryoRegistrarFailsAtStartNamingTheKey() {
    ExtendedActorSystem classic = (ExtendedActorSystem) Adapter.toClassic(testKit.system());
    Config broken =
        ConfigFactory.parseString("registrars.bogus = \"java.lang.String\"")
            .withFallback(classic.settings().config().getConfig("tessera.serialization"));

    IllegalStateException error =
        assertThrows(IllegalStateException.class, () -> new KryoSerializer(classic, broken));
    assertContains(error, "tessera.serialization.registrars.bogus");
  }

  @Test
  void wireIdsAreExplicitAndUnique() {
    WireRegistry registry =
        new WireRegistry(new com.esotericsoftware.kryo.Kryo(), new WireLimits(1024, 16, 8, 64));
    registry.add(100, ShardProtocol.Accepted.class);

    IllegalStateException taken =
        assertThrows(
            IllegalStateException.class, () -> registry.add(100, ShardProtocol.Stale.class));
    assertContains(taken, ShardProtocol.Accepted.class.getName());
    assertThrows(IllegalArgumentException.class, () -> registry.add(99, ShardProtocol.Stale.class));
  }

  @Test
  void bothSerializersWriteTheSameBytes() {
    // The tight serializer is only useful as a stand-in for a receiver if it reads the same format.
    CoordinatorProtocol.JobAccepted message = new CoordinatorProtocol.JobAccepted("job-7f3a");
    assertArrayEquals(serializer.toBinary(message), tight.toBinary(message));
  }

  // ---------------------------------------------------------------- helpers

  private static IllegalArgumentException refused(KryoSerializer reader, byte[] bytes) {
    IllegalArgumentException error =
        assertThrows(
            IllegalArgumentException.class,
            () -> reader.fromBinary(bytes),
            () -> "accepted " + bytes.length + " hostile bytes " + preview(bytes));
    String message = String.valueOf(error.getMessage());
    assertTrue(
        message.startsWith("cannot read Tessera message") || message.contains("max-message-bytes"),
        message);
    return error;
  }

  private static void assertRefusedOnWrite(Object message, String what) {
    IllegalArgumentException error =
        assertThrows(
            IllegalArgumentException.class, () -> tight.toBinary(message), message::toString);
    assertContains(error, what);
  }

  private static void assertContains(Throwable error, String text) {
    String message = String.valueOf(error.getMessage());
    assertTrue(message.contains(text), () -> "expected '" + text + "' in: " + message);
  }

  private static ShardProtocol.Pulled pulled(float[] values) {
    for (int i = 0; i < values.length; i++) {
      values[i] = i * 0.5f;
    }
    return new ShardProtocol.Pulled(3, 0L, 9L, TensorPayload.encode(values, WirePrecision.FP32));
  }

  private static CoordinatorProtocol.AccumulationPlan plan(int workers) {
    List<CoordinatorProtocol.WorkerShare> shares = new ArrayList<>();
    for (int i = 0; i < workers; i++) {
      shares.add(new CoordinatorProtocol.WorkerShare("w" + i, 1 + i));
    }
    return new CoordinatorProtocol.AccumulationPlan(4L, 0, 64, shares);
  }

  private static int[] ones(int dims) {
    int[] shape = new int[dims];
    Arrays.fill(shape, 1);
    return shape;
  }

  private static byte[] varint(int value) {
    Output output = new Output(8);
    output.writeVarInt(value, true);
    return output.toBytes();
  }

  private static int varintLength(byte[] bytes, int from) {
    int at = from;
    while ((bytes[at] & 0x80) != 0) {
      at++;
    }
    return at - from + 1;
  }

  /** The position of the only occurrence of {@code needle}; fails if there is none or several. */
  private static int indexOf(byte[] haystack, byte[] needle) {
    int found = -1;
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      if (Arrays.equals(haystack, i, i + needle.length, needle, 0, needle.length)) {
        assertEquals(-1, found, "pattern occurs more than once");
        found = i;
      }
    }
    assertTrue(found >= 0, "pattern not found");
    return found;
  }

  private static byte[] splice(byte[] bytes, int from, int to, byte[] replacement) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(bytes, 0, from);
    out.writeBytes(replacement);
    out.write(bytes, to, bytes.length - to);
    return out.toByteArray();
  }

  private static String preview(byte[] bytes) {
    return Arrays.toString(Arrays.copyOf(bytes, Math.min(bytes.length, 24)));
  }
}
