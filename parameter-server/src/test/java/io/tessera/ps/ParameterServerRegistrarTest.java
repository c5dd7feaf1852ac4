package io.tessera.ps;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import com.typesafe.config.ConfigFactory;
import io.tessera.protocol.ps.ShardProtocol.ShardSetup;
import io.tessera.protocol.spec.LearningRateSchedule;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.testkit.WireRoundTrip;
import io.tessera.ps.ShardEvent.CheckpointTaken;
import io.tessera.ps.ShardEvent.ShardInitialized;
import io.tessera.ps.optimizer.Optimizer;
import io.tessera.ps.optimizer.OptimizerState;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The parameter server's journal events and optimizer state go through the Kryo serializer
 * registered by this module's reference.conf: the events come back equal, and a restored
 * optimizer state carries the optimizer on exactly as the original.
 */
class ParameterServerRegistrarTest {

  private static final List<Segment> WEIGHT_AND_BIAS =
      List.of(new Segment("w", 0, 0, 3, true), new Segment("b", 0, 3, 2, false));
  private static final float[][] GRADIENTS = {
    {0.5f, -1.25f, 3f, 0.75f, -2f}, {-0.25f, 2f, 1f, -3.5f, 0.125f}, {1f, 1f, -1f, 0.5f, 4f}
  };

  private static ActorTestKit testKit;

  @BeforeAll
  static void start() {
    testKit =
        ActorTestKit.create(
            "ParameterServerRegistrarTest",
            ConfigFactory.parseString("akka.cluster.jmx.multi-mbeans-in-same-jvm = on")
                .withFallback(WireRoundTrip.clusterTestConfig()));
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  @Test
  void shardInitializedRoundTripsWithItsSetUpAndValues() {
    OptimizerSpec adamw =
        OptimizerSpec.builder()
            .optKind(OptimizerKind.ADAMW)
            .optLearningRate(0.01)
            .optWeightDecay(0.1)
            .optWarmupSteps(3)
            .build();
    ShardSetup setup =
        new ShardSetup("job-7", 2, new ShardRange(1, 5, 10), WEIGHT_AND_BIAS, adamw, 256, 2, 1000, TrainingMode.ASYNC, false);
    ShardInitialized event =
        new ShardInitialized(
            setup, TensorPayload.encode(new float[] {1f, -2.5f, 3e-8f, Float.MAX_VALUE, 0f}, WirePrecision.FP32));

    ShardInitialized copy = WireRoundTrip.roundTrip(testKit.system(), event);

    assertEquals(event, copy);
    assertNotSame(event.values(), copy.values());
    assertArrayEquals(event.values().decode(), copy.values().decode());
  }

  @Test
  void checkpointTakenRoundTrips() {
    WireRoundTrip.assertRoundTrip(testKit.system(), new CheckpointTaken(7, 3, 1234));
    WireRoundTrip.assertRoundTrip(testKit.system(), new CheckpointTaken(0, 0, 0));
    WireRoundTrip.assertRoundTrip(testKit.system(), new CheckpointTaken(Long.MAX_VALUE, Long.MAX_VALUE, Long.MAX_VALUE));
  }

  /** Fails when an event is added to ShardEvent without a round-trip test here. */
  @Test
  void everyShardEventHasARoundTripTest() {
    Set<Class<?>> tested = Set.of(ShardInitialized.class, CheckpointTaken.class);
    Set<Class<?>> permitted = Set.of(ShardEvent.class.getPermittedSubclasses());
    assertEquals(permitted, tested, "ShardEvent's events and the ones this test round-trips");
  }

  @Test
  void adamWStateRoundTripsAndResumesIdentically() {
    assertRoundTripResumes(
        OptimizerSpec.builder()
            .optKind(OptimizerKind.ADAMW)
            .optLearningRate(0.01)
            .optWeightDecay(0.1)
            .build());
  }

  @Test
  void sgdMomentumStateRoundTripsAndResumesIdentically() {
    assertRoundTripResumes(
        OptimizerSpec.builder()
            .optKind(OptimizerKind.SGD)
            .optLearningRate(0.1)
            .optMomentum(0.9)
            .optNesterov(true)
            .optWeightDecay(0.01)
            .build());
  }

  @Test
  void sgdWithoutMomentumHasEmptyBuffersThatRoundTrip() {
    OptimizerSpec plain =
        OptimizerSpec.builder()
            .optKind(OptimizerKind.SGD)
            .optMomentum(0)
            .optSchedule(LearningRateSchedule.CONSTANT)
            .build();
    Optimizer optimizer = Optimizer.create(plain, 5, WEIGHT_AND_BIAS);
    optimizer.step(new float[5], GRADIENTS[0], 0.1);
    OptimizerState state = optimizer.snapshot();

    OptimizerState copy = WireRoundTrip.roundTrip(testKit.system(), state);

    assertEquals(state, copy);
    assertEquals(1, copy.steps());
    assertEquals(0, copy.first().length);
    assertEquals(0, copy.second().length);
  }

  /**
   * Takes two steps, round-trips the snapshot, and checks that the buffers arrive bit for bit and
   * that an optimizer restored from the copy takes the third step exactly like the original.
   */
  private static void assertRoundTripResumes(OptimizerSpec spec) {
    Optimizer original = Optimizer.create(spec, 5, WEIGHT_AND_BIAS);
    float[] params = {1f, 2f, -3f, 0.5f, 0.25f};
    for (int step = 0; step < 2; step++) {
      original.step(params, GRADIENTS[step], spec.learningRateAt(step, 10));
    }
    OptimizerState state = original.snapshot();
    assertTrue(state.first().length == 5 && state.first()[0] != 0f, "state has real buffers");

    OptimizerState copy = WireRoundTrip.roundTrip(testKit.system(), state);

    assertNotSame(state, copy);
    assertEquals(state, copy);
    assertEquals(spec.kind(), copy.kind());
    assertEquals(2, copy.steps());
    assertArrayEquals(state.first(), copy.first());
    assertArrayEquals(state.second(), copy.second());

    Optimizer restored = Optimizer.restore(spec, WEIGHT_AND_BIAS, copy);
    float[] restoredParams = params.clone();
    original.step(params, GRADIENTS[2], spec.learningRateAt(2, 10));
    restored.step(restoredParams, GRADIENTS[2], spec.learningRateAt(2, 10));
    assertArrayEquals(params, restoredParams);
    assertEquals(original.snapshot(), restored.snapshot());
  }
}
