package io.tessera.worker.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The Fashion-MNIST subset in {@code tests/src/test/resources} is what its README says it is. */
class ShippedSubsetTest {

  private static final Path SUBSET =
      Path.of(
          System.getProperty(
              "tessera.test.data-dir", "../tests/src/test/resources/fashion-mnist-subset"));

  @Test
  void holdsTheDocumentedSamples() {
    FashionMnist data = FashionMnist.load(SUBSET);

    assertEquals(3000, data.train().size());
    assertEquals(1000, data.test().size());
    assertEquals(28, data.train().rows());
    assertEquals(28, data.train().cols());
    assertEquals(28, data.test().rows());
    assertEquals(28, data.test().cols());
    assertEquals("fab2ff58932b453f", data.fingerprint());
  }

  @Test
  void everyClassIsInTheTrainingSet() {
    int[] counts = FashionMnist.load(SUBSET).train().classCounts();

    assertTrue(Arrays.stream(counts).allMatch(n -> n > 0), Arrays.toString(counts));
  }

  @Test
  void contentMatchesTheReadmeChecksums() throws IOException {
    Map<String, String> documented =
        Map.of(
            FashionMnist.TRAIN_IMAGES,
            "85a0ed91fc149c8f56cbcd4faffd965abbddf9bb83d5e7308ec20af22a3a8c87",
            FashionMnist.TRAIN_LABELS,
            "d91bcde777777d8b779ccfade8da8df64050ef1cde830c67b3036ee13e26ec28",
            FashionMnist.TEST_IMAGES,
            "7a6d8e07ea021ec5bc73135ebd0a5770799557ec6f8242d8749c4f32a3cf4643",
            FashionMnist.TEST_LABELS,
            "b40abac7ec8228f434940f579deb7cf7b6e3103b5274cb91d1545771f5ef1c8b");

    assertEquals(documented, SyntheticDataset.checksums(SUBSET));
  }
}
