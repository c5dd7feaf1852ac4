package io.tessera.worker.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.data.ImageSet;
import io.tessera.worker.testing.TestFixtures;
import io.tessera.worker.train.Batch;
import io.tessera.worker.train.BatchAssembler;
import io.tessera.worker.train.TrainingSession;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Regression test for scalars freed under autograd: when model code passed a Java number to an
 * array operation, DJL freed the scalar's memory right after the forward operation while the
 * backward pass still read it, so once the garbage collector ran, gradients of the very same batch
 * came out different from one pass to the next. Every pass here must give the same gradient while
 * another thread keeps the collector busy.
 */
class ScalarsRegressionTest {

  private static final int ITERATIONS = 30;
  private static final double TOLERANCE = 1e-6;

  private static ImageSet train;
  private final TrainableModel model = TrainableModel.of(TestFixtures.tinyVit());
  private final AtomicBoolean collecting = new AtomicBoolean(true);
  private Thread collector;

  @BeforeAll
  static void loadDataAndEngine() {
    train = FashionMnist.load(TestFixtures.SUBSET).train();
    // Load the native engine before the collector starts hammering: start-up under a busy
    // collector takes many seconds and tests nothing.
    NDManager.newBaseManager().close();
  }

  @BeforeEach
  void startCollector() {
    collector =
        new Thread(
            () -> {
              while (collecting.get()) {
                // Garbage with direct buffers, so the collector has cleaners to run as well.
                java.nio.ByteBuffer.allocateDirect(64);
                System.gc();
              }
            },
            "gc-loop");
    collector.setDaemon(true);
  }

  @AfterEach
  void stopCollector() throws InterruptedException {
    collecting.set(false);
    collector.join(TimeUnit.SECONDS.toMillis(10));
  }

  private Batch batch(int offset) {
    return new BatchAssembler(TestFixtures.tinyVit()).assembleRange(train, offset, offset + 8);
  }

  /** The gradient sum of {@code batch} from {@code iterations} fresh passes, each drained. */
  private List<float[]> gradients(Batch batch, int iterations) {
    List<float[]> gradients = new ArrayList<>();
    try (NDManager manager = NDManager.newBaseManager();
        TrainingSession session = new TrainingSession(model, manager)) {
      session.load(model.initialValues(5));
      for (int i = 0; i < iterations; i++) {
        session.accumulate(batch);
        float[] gradient = new float[session.parameterCount()];
        session.drainGradients(gradient);
        gradients.add(gradient);
      }
    }
    return gradients;
  }

  private static void assertAllEqual(float[] expected, List<float[]> actual, String who) {
    for (int i = 0; i < actual.size(); i++) {
      double distance = TestFixtures.relativeDistance(expected, actual.get(i));
      assertTrue(distance <= TOLERANCE, who + ": pass " + i + " is " + distance + " away from the reference");
    }
  }

  @Test
  void scalarsTakeTheTypeOfTheirTemplate() {
    try (NDManager manager = NDManager.newBaseManager()) {
      NDArray like = manager.ones(new Shape(2, 3));
      NDArray scalar = Scalars.of(like, 0.25f);

      assertEquals(new Shape(), scalar.getShape());
      assertEquals(like.getDataType(), scalar.getDataType());
      assertEquals(like.getDevice(), scalar.getDevice());
      assertEquals(0.25f, scalar.getFloat());
    }
  }

  @Test
  void repeatedPassesGiveTheSameGradientWhileTheCollectorRuns() {
    Batch batch = batch(0);
    float[] reference = gradients(batch, 1).get(0);
    collector.start();

    List<float[]> gradients = gradients(batch, ITERATIONS);

    assertEquals(ITERATIONS, gradients.size());
    assertTrue(TestFixtures.relativeDistance(reference, new float[reference.length]) > 0.5, "a real gradient");
    assertAllEqual(reference, gradients, "single thread");
  }

  @Test
  void parallelSessionsMatchASingleThreadedReference() throws Exception {
    Batch first = batch(0);
    Batch second = batch(100);
    float[] firstReference = gradients(first, 1).get(0);
    float[] secondReference = gradients(second, 1).get(0);
    collector.start();

    ExecutorService threads = Executors.newFixedThreadPool(2);
    try {
      Future<List<float[]>> one = threads.submit(() -> gradients(first, ITERATIONS));
      Future<List<float[]>> two = threads.submit(() -> gradients(second, ITERATIONS));

      assertAllEqual(firstReference, one.get(60, TimeUnit.SECONDS), "thread 1");
      assertAllEqual(secondReference, two.get(60, TimeUnit.SECONDS), "thread 2");
    } finally {
      threads.shutdownNow();
    }
  }
}
