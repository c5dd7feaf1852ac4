package io.tessera.worker.data;

import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * The Fashion-MNIST dataset as read from a directory holding its four gzip IDX files: 60,000
 * training and 10,000 test images of 28x28 greyscale pixels in ten clothing classes (or any prefix
 * of them, such as the subset shipped for tests).
 *
 * <p>Files are checked for structure (magic numbers, sizes, labels) but not against the published
 * checksums, so that subsets load too; {@link DatasetFetcher} does that. Nodes compare {@link
 * #fingerprint()} instead to find out whether they read the same data.
 */
public final class FashionMnist {

  public static final String TRAIN_IMAGES = "train-images-idx3-ubyte.gz";
  public static final String TRAIN_LABELS = "train-labels-idx1-ubyte.gz";
  public static final String TEST_IMAGES = "t10k-images-idx3-ubyte.gz";
  public static final String TEST_LABELS = "t10k-labels-idx1-ubyte.gz";

  /** The four files a Fashion-MNIST directory holds. */
  public static final List<String> FILE_NAMES =
      List.of(TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS);

  /** Class names, indexed by label, as Zalando publishes them. */
  public static final List<String> CLASS_NAMES =
      List.of(
          "T-shirt/top",
          "Trouser",
          "Pullover",
          "Dress",
          "Coat",
          "Sandal",
          "Shirt",
          "Sneaker",
          "Bag",
          "Ankle boot");

  private static final int FINGERPRINT_HEX_CHARS = 16;

  private final ImageSet train;
  private final ImageSet test;
  private final String fingerprint;

  private FashionMnist(ImageSet train, ImageSet test, String fingerprint) {
    this.train = train;
    this.test = test;
    this.fingerprint = fingerprint;
  }

  /**
   * Reads the four files from {@code dir}.
   *
   * @throws DatasetException if a file is missing or damaged, if an image file and its label file
   *     disagree on the number of samples, or if training and test images differ in size; the
   *     message names the file and what to do
   */
  public static FashionMnist load(Path dir) {
    byte[] trainLabels = IdxFile.readLabels(dir.resolve(TRAIN_LABELS));
    byte[] testLabels = IdxFile.readLabels(dir.resolve(TEST_LABELS));
    ImageSet train = pair(dir, TRAIN_IMAGES, TRAIN_LABELS, trainLabels);
    ImageSet test = pair(dir, TEST_IMAGES, TEST_LABELS, testLabels);
    if (train.rows() != test.rows() || train.cols() != test.cols()) {
      throw new DatasetException(
          "Dataset files in " + dir + " do not belong together: " + TRAIN_IMAGES + " holds "
              + train.rows() + "x" + train.cols() + " images but " + TEST_IMAGES + " holds "
              + test.rows() + "x" + test.cols() + ". Delete the directory and "
              + DatasetException.FETCH_HINT + ".");
    }
    return new FashionMnist(train, test, fingerprint(trainLabels, testLabels));
  }

  /** The training images. */
  public ImageSet train() {
    return train;
  }

  /** The test images. */
  public ImageSet test() {
    return test;
  }

  /**
   * The first 16 hex digits of the SHA-256 of the training labels followed by the test labels
   * (label bytes only, without the IDX headers). Labels are small to hash yet differ between any
   * two subsets or orderings, so two nodes with equal fingerprints hold the same samples.
   */
  public String fingerprint() {
    return fingerprint;
  }

  @Override
  public String toString() {
    return "FashionMnist[train=" + train + ", test=" + test + ", fingerprint=" + fingerprint + "]";
  }

  private static ImageSet pair(Path dir, String imagesName, String labelsName, byte[] labels) {
    IdxFile.Images images = IdxFile.readImages(dir.resolve(imagesName));
    if (images.count() != labels.length) {
      throw new DatasetException(
          "Dataset files in " + dir + " do not belong together: " + imagesName + " holds "
              + images.count() + " images but " + labelsName + " holds " + labels.length
              + " labels. Delete both and " + DatasetException.FETCH_HINT + ".");
    }
    return new ImageSet(images.pixels(), labels, images.count(), images.rows(), images.cols());
  }

  private static String fingerprint(byte[] trainLabels, byte[] testLabels) {
    MessageDigest sha256 = sha256();
    sha256.update(trainLabels);
    sha256.update(testLabels);
    return HexFormat.of().formatHex(sha256.digest()).substring(0, FINGERPRINT_HEX_CHARS);
  }

  /** Every Java platform must provide SHA-256, so its absence is a broken JVM, not bad input. */
  static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("this JVM provides no SHA-256", e);
    }
  }
}
