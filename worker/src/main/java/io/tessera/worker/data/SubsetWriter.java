package io.tessera.worker.data;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

/**
 * Writes image sets as a Fashion-MNIST directory: the four gzip IDX files under their usual
 * names. Used to cut the small subset the repository ships for tests, and by tests to write
 * synthetic datasets.
 *
 * <p>Run as {@code java ... io.tessera.worker.data.SubsetWriter SOURCE_DIR TARGET_DIR TRAIN_COUNT
 * TEST_COUNT} to copy the first {@code TRAIN_COUNT} training and {@code TEST_COUNT} test samples.
 * Output is compressed as hard as gzip can and is byte-for-byte reproducible (Java writes no
 * time stamp into the gzip header).
 */
public final class SubsetWriter {

  private SubsetWriter() {}

  /** Writes the first N training and M test samples of SOURCE_DIR into TARGET_DIR. */
  public static void main(String[] args) throws IOException {
    if (args.length != 4) {
      System.err.println("usage: SubsetWriter SOURCE_DIR TARGET_DIR TRAIN_COUNT TEST_COUNT");
      System.exit(2);
    }
    FashionMnist source = FashionMnist.load(Path.of(args[0]));
    Path target = Path.of(args[1]);
    int trainCount = Integer.parseInt(args[2]);
    int testCount = Integer.parseInt(args[3]);
    if (trainCount <= 0 || trainCount > source.train().size()) {
      throw new IllegalArgumentException(
          "TRAIN_COUNT must be 1.." + source.train().size() + ", was " + trainCount);
    }
    if (testCount <= 0 || testCount > source.test().size()) {
      throw new IllegalArgumentException(
          "TEST_COUNT must be 1.." + source.test().size() + ", was " + testCount);
    }
    write(source.train().limit(trainCount), source.test().limit(testCount), target);
    long total = 0;
    for (String name : FashionMnist.FILE_NAMES) {
      Path file = target.resolve(name);
      total += Files.size(file);
      System.out.printf(
          "%s  %s  (%d bytes)%n", GzipContent.sha256(file), name, Files.size(file));
    }
    System.out.printf("%d bytes in all%n", total);
  }

  /** Writes {@code train} and {@code test} as the four Fashion-MNIST files in {@code dir}. */
  public static void write(ImageSet train, ImageSet test, Path dir) throws IOException {
    Files.createDirectories(dir);
    writeImages(train, dir.resolve(FashionMnist.TRAIN_IMAGES));
    writeLabels(train, dir.resolve(FashionMnist.TRAIN_LABELS));
    writeImages(test, dir.resolve(FashionMnist.TEST_IMAGES));
    writeLabels(test, dir.resolve(FashionMnist.TEST_LABELS));
  }

  private static void writeImages(ImageSet images, Path file) throws IOException {
    Path part = partFor(file);
    try (DataOutputStream out = new DataOutputStream(compressed(part))) {
      out.writeInt(IdxFile.IMAGE_MAGIC);
      out.writeInt(images.size());
      out.writeInt(images.rows());
      out.writeInt(images.cols());
      images.writePixels(out);
    }
    Files.move(part, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  private static void writeLabels(ImageSet images, Path file) throws IOException {
    Path part = partFor(file);
    try (DataOutputStream out = new DataOutputStream(compressed(part))) {
      out.writeInt(IdxFile.LABEL_MAGIC);
      out.writeInt(images.size());
      images.writeLabels(out);
    }
    Files.move(part, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  private static Path partFor(Path file) {
    return file.resolveSibling(file.getFileName() + ".part");
  }

  private static OutputStream compressed(Path file) throws IOException {
    return new BestGzipStream(new BufferedOutputStream(Files.newOutputStream(file)));
  }

  /** GZIPOutputStream offers no level parameter; its deflater is only reachable from a subclass. */
  private static final class BestGzipStream extends GZIPOutputStream {
    BestGzipStream(OutputStream out) throws IOException {
      super(out, 1 << 16);
      def.setLevel(Deflater.BEST_COMPRESSION);
    }
  }
}
