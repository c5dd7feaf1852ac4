package io.tessera.worker.data;

import java.io.IOException;
import java.net.URI;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Puts the four Fashion-MNIST files into a data directory, verified against known checksums of
 * their decompressed content. Behind {@code bin/tessera data fetch}.
 *
 * <p>Files already in place that verify are kept. The others are taken from the first source that
 * has them, in order: the directory the operator names (if any), then the fallback sources given
 * to the constructor; {@link #standard()} uses the system directory of the Debian package {@value
 * #DEBIAN_PACKAGE}, that package fetched with apt, and the upstream web site. Every file is copied
 * to a temporary name next to its target, verified there and then renamed atomically, so the data
 * directory never holds a half-written or unverified file under a real name.
 */
public final class DatasetFetcher {

  /** Where the CLI puts the files unless told otherwise, relative to the working directory. */
  public static final Path DEFAULT_TARGET_DIR = Path.of("data", "fashion-mnist");

  /** The Debian package that ships Fashion-MNIST. */
  public static final String DEBIAN_PACKAGE = "dataset-fashion-mnist";

  /** Where {@value #DEBIAN_PACKAGE} installs the files. */
  public static final Path SYSTEM_DIR = Path.of("/usr/share/datasets/fashion-mnist");

  /** Zalando's download site; the four file names are appended to it. */
  public static final URI UPSTREAM =
      URI.create("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/");

  /**
   * SHA-256 of the decompressed content of each file, measured on the Debian package, whose
   * content is identical to upstream's.
   */
  public static final Map<String, String> FASHION_MNIST_SHA256 =
      Map.of(
          FashionMnist.TRAIN_IMAGES,
          "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
          FashionMnist.TRAIN_LABELS,
          "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
          FashionMnist.TEST_IMAGES,
          "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
          FashionMnist.TEST_LABELS,
          "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34");

  /** Prefix of the temporary files a copy goes through; leftovers of a crash are removed. */
  private static final String PART_PREFIX = ".fetching-";

  private static final String PART_SUFFIX = ".part";

  private final Map<String, String> expectedSha256;
  private final List<DatasetSource> fallbackSources;

  /**
   * A fetcher with its own checksums and sources, for tests and unusual installations.
   *
   * @param expectedSha256 SHA-256 (hex) of the decompressed content of each of the four {@link
   *     FashionMnist#FILE_NAMES}
   * @param fallbackSources tried in order after the directory passed to {@link #fetch}
   */
  public DatasetFetcher(Map<String, String> expectedSha256, List<DatasetSource> fallbackSources) {
    if (!expectedSha256.keySet().equals(Set.copyOf(FashionMnist.FILE_NAMES))) {
      throw new IllegalArgumentException(
          "expectedSha256 must name exactly " + FashionMnist.FILE_NAMES + ", named "
              + expectedSha256.keySet());
    }
    this.expectedSha256 = Map.copyOf(expectedSha256);
    this.fallbackSources = List.copyOf(fallbackSources);
  }

  /**
   * The fetcher {@code bin/tessera data fetch} uses: the real checksums, then {@link #SYSTEM_DIR},
   * {@value #DEBIAN_PACKAGE} via apt (5 minutes per command) and {@link #UPSTREAM} (10 s to
   * connect, 5 minutes per file).
   */
  public static DatasetFetcher standard() {
    return new DatasetFetcher(
        FASHION_MNIST_SHA256,
        List.of(
            DatasetSource.directory("system directory", SYSTEM_DIR),
            DatasetSource.debianPackage(
                DEBIAN_PACKAGE, Path.of("/").relativize(SYSTEM_DIR), Duration.ofMinutes(5)),
            DatasetSource.http(UPSTREAM, Duration.ofSeconds(10), Duration.ofMinutes(5))));
  }

  /**
   * Makes sure the four files are in {@code targetDir} and verified.
   *
   * @param targetDir the data directory; created if needed
   * @param userSourceDir a directory the operator names (--from), tried before the fallbacks
   * @param progress receives one line per step: which file is missing, which source is tried,
   *     what was copied
   * @return what was done
   * @throws DatasetException if some file could be had from no source; the message lists every
   *     source tried and why it failed, and what to do
   */
  public FetchResult fetch(
      Path targetDir, Optional<Path> userSourceDir, Consumer<String> progress) {
    try {
      Files.createDirectories(targetDir);
      removeLeftoverParts(targetDir);
    } catch (IOException e) {
      throw new DatasetException("Cannot prepare data directory " + targetDir + ": " + e, e);
    }

    Set<String> needed = new LinkedHashSet<>();
    for (String name : FashionMnist.FILE_NAMES) {
      Optional<String> problem = verify(targetDir.resolve(name), name);
      if (problem.isPresent()) {
        needed.add(name);
        progress.accept(name + " in " + targetDir + ": " + problem.get() + "; fetching it");
      }
    }
    if (needed.isEmpty()) {
      progress.accept("all four Fashion-MNIST files are in " + targetDir + " and verified");
      return new FetchResult(targetDir, Map.of(), List.of());
    }

    List<DatasetSource> sources = new ArrayList<>();
    userSourceDir.ifPresent(dir -> sources.add(DatasetSource.directory("--from directory", dir)));
    sources.addAll(fallbackSources);

    Map<String, String> copiedFrom = new LinkedHashMap<>();
    List<String> failures = new ArrayList<>();
    for (DatasetSource source : sources) {
      progress.accept("trying " + source.description());
      Optional<String> failure = tryFetch(source, needed, targetDir, copiedFrom, progress);
      if (failure.isEmpty()) {
        progress.accept("all four Fashion-MNIST files are in " + targetDir + " and verified");
        return new FetchResult(targetDir, copiedFrom, failures);
      }
      progress.accept(source.description() + " failed: " + failure.get());
      failures.add(source.description() + ": " + failure.get());
    }
    throw allSourcesFailed(targetDir, needed, failures);
  }

  /**
   * Installs from one source every needed file it has in good shape, removing each from {@code
   * needed}; returns why the source fell short of providing them all, if it did. A source that has
   * only some of the files still contributes those, and the next source is asked for the rest.
   */
  private Optional<String> tryFetch(
      DatasetSource source,
      Set<String> needed,
      Path targetDir,
      Map<String, String> copiedFrom,
      Consumer<String> progress) {
    Path scratch;
    try {
      scratch = Files.createTempDirectory("tessera-fetch-");
    } catch (IOException e) {
      return Optional.of("cannot create a temporary directory: " + e);
    }
    try {
      Set<String> wanted = Collections.unmodifiableSet(new LinkedHashSet<>(needed));
      Path dir = source.provide(wanted, scratch, progress);
      List<String> problems = new ArrayList<>();
      for (String name : List.copyOf(needed)) {
        Optional<String> problem = install(dir.resolve(name), targetDir, name, progress);
        if (problem.isPresent()) {
          problems.add(name + " " + problem.get());
        } else {
          needed.remove(name);
          copiedFrom.put(name, source.description());
        }
      }
      return problems.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", problems));
    } catch (IOException | DatasetException e) {
      return Optional.of(e.getMessage() == null ? e.toString() : e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new DatasetException("Fetching Fashion-MNIST was interrupted", e);
    } finally {
      deleteRecursively(scratch, progress);
    }
  }

  /** Copies one file to a temporary name in the target directory, verifies it and renames it. */
  private Optional<String> install(
      Path source, Path targetDir, String name, Consumer<String> progress) throws IOException {
    if (!Files.isRegularFile(source)) {
      return Optional.of("missing");
    }
    // Named after this process rather than made with createTempFile, which would create it
    // readable by its owner only and the data file would keep those permissions.
    Path part =
        targetDir.resolve(PART_PREFIX + name + "." + ProcessHandle.current().pid() + PART_SUFFIX);
    try {
      Files.copy(source, part, StandardCopyOption.REPLACE_EXISTING);
      Optional<String> problem = verify(part, name);
      if (problem.isPresent()) {
        return problem;
      }
      long bytes = Files.size(part);
      Path target = targetDir.resolve(name);
      if (Files.exists(target)) {
        // The file there failed verification; keep it rather than lose something a user put
        // there on purpose (another data set, say).
        Path kept = targetDir.resolve(name + ".rejected-" + System.currentTimeMillis());
        Files.move(target, kept);
        progress.accept("kept the unverified " + name + " as " + kept.getFileName());
      }
      Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      progress.accept("copied " + name + " (" + bytes + " bytes, content verified)");
      return Optional.empty();
    } finally {
      Files.deleteIfExists(part);
    }
  }

  /** Why {@code file} is not the expected {@code name}, or empty if it is. */
  private Optional<String> verify(Path file, String name) {
    if (!Files.isRegularFile(file)) {
      return Optional.of("missing");
    }
    String actual;
    try {
      actual = GzipContent.sha256(file);
    } catch (IOException e) {
      return Optional.of("unreadable (" + (e.getMessage() == null ? e : e.getMessage()) + ")");
    }
    String expected = expectedSha256.get(name);
    if (!actual.equalsIgnoreCase(expected)) {
      return Optional.of(
          "has the wrong content (SHA-256 of the decompressed data is " + actual + ", expected "
              + expected + ")");
    }
    return Optional.empty();
  }

  private static DatasetException allSourcesFailed(
      Path targetDir, Set<String> needed, List<String> failures) {
    StringBuilder message =
        new StringBuilder("Could not fetch Fashion-MNIST into ")
            .append(targetDir)
            .append(": no source provided ")
            .append(String.join(", ", needed))
            .append(". Sources tried:");
    for (String failure : failures) {
      message.append("\n  - ").append(failure);
    }
    message
        .append("\nWhat to do: copy the four files ")
        .append(String.join(", ", FashionMnist.FILE_NAMES))
        .append(" into a directory and run `bin/tessera data fetch --from DIR`, or install the")
        .append(" Debian package ")
        .append(DEBIAN_PACKAGE)
        .append(" and run `bin/tessera data fetch` again.");
    return new DatasetException(message.toString());
  }

  /** Removes the temporary files of fetches that crashed, leaving those of running ones. */
  private static void removeLeftoverParts(Path targetDir) throws IOException {
    try (DirectoryStream<Path> parts =
        Files.newDirectoryStream(targetDir, PART_PREFIX + "*" + PART_SUFFIX)) {
      for (Path part : parts) {
        if (!writerIsAlive(part.getFileName().toString())) {
          Files.deleteIfExists(part);
        }
      }
    }
  }

  private static boolean writerIsAlive(String partName) {
    String withoutSuffix = partName.substring(0, partName.length() - PART_SUFFIX.length());
    String pid = withoutSuffix.substring(withoutSuffix.lastIndexOf('.') + 1);
    try {
      long writer = Long.parseLong(pid);
      return writer != ProcessHandle.current().pid()
          && ProcessHandle.of(writer).map(ProcessHandle::isAlive).orElse(false);
    } catch (NumberFormatException e) {
      return false;
    }
  }

  /** Best effort: a scratch directory left behind wastes space but breaks nothing. */
  private static void deleteRecursively(Path dir, Consumer<String> progress) {
    try {
      Files.walkFileTree(
          dir,
          new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
                throws IOException {
              Files.delete(file);
              return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path visited, IOException e)
                throws IOException {
              Files.delete(visited);
              return FileVisitResult.CONTINUE;
            }
          });
    } catch (IOException e) {
      progress.accept("could not remove temporary directory " + dir + ": " + e);
    }
  }
}
