package io.tessera.worker.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetFetcherTest {

  @TempDir Path tmp;

  private Path good;
  private Path target;
  private Map<String, String> checksums;
  private final List<String> progress = new ArrayList<>();

  @BeforeEach
  void writeGoodSource() throws IOException {
    good = SyntheticDataset.write(tmp.resolve("good"));
    target = tmp.resolve("target");
    checksums = SyntheticDataset.checksums(good);
  }

  @Test
  void copiesFromTheUserDirectoryAndVerifies() throws IOException {
    TestingSource fallback = TestingSource.failing("fallback", "must not be asked");
    DatasetFetcher fetcher = new DatasetFetcher(checksums, List.of(fallback));

    FetchResult result = fetcher.fetch(target, Optional.of(good), progress::add);

    assertFalse(result.alreadyPresent());
    assertEquals(List.copyOf(FashionMnist.FILE_NAMES), List.copyOf(result.copiedFrom().keySet()));
    assertTrue(result.copiedFrom().values().stream().allMatch(s -> s.contains(good.toString())));
    assertTrue(fallback.requests().isEmpty());
    assertEquals(SyntheticDataset.TRAIN_SIZE, FashionMnist.load(target).train().size());
    assertEquals(Set.copyOf(FashionMnist.FILE_NAMES), fileNames(target));
    assertTrue(progress.stream().anyMatch(line -> line.startsWith("copied ")), progress.toString());
  }

  @Test
  void keepsVerifiedFilesAlreadyInPlace() throws IOException {
    new DatasetFetcher(checksums, List.of()).fetch(target, Optional.of(good), line -> {});
    Path file = target.resolve(FashionMnist.TRAIN_IMAGES);
    FileTime written = FileTime.fromMillis(1_000_000_000L);
    Files.setLastModifiedTime(file, written);
    TestingSource fallback = TestingSource.failing("fallback", "must not be asked");

    FetchResult result =
        new DatasetFetcher(checksums, List.of(fallback))
            .fetch(target, Optional.empty(), progress::add);

    assertTrue(result.alreadyPresent());
    assertEquals(written, Files.getLastModifiedTime(file));
    assertTrue(fallback.requests().isEmpty());
    assertTrue(progress.get(progress.size() - 1).contains("verified"), progress.toString());
  }

  @Test
  void replacesADamagedFileInPlaceAndOnlyThatOne() throws IOException {
    new DatasetFetcher(checksums, List.of()).fetch(target, Optional.of(good), line -> {});
    SyntheticDataset.writeLabels(target.resolve(FashionMnist.TEST_LABELS), 1, 2, 3);
    Files.writeString(target.resolve(FashionMnist.TRAIN_IMAGES), "half a fi");
    TestingSource system = TestingSource.serving("system directory", good);

    FetchResult result =
        new DatasetFetcher(checksums, List.of(system))
            .fetch(target, Optional.empty(), progress::add);

    assertEquals(
        Map.of(
            FashionMnist.TRAIN_IMAGES, "system directory",
            FashionMnist.TEST_LABELS, "system directory"),
        result.copiedFrom());
    assertEquals(
        List.of(Set.of(FashionMnist.TRAIN_IMAGES, FashionMnist.TEST_LABELS)), system.requests());
    assertEquals(checksums, SyntheticDataset.checksums(target));
    // The damaged file is kept beside the good one, not lost.
    try (var kept = Files.list(target)) {
      List<String> rejected =
          kept.map(p -> p.getFileName().toString())
              .filter(n -> n.startsWith(FashionMnist.TRAIN_IMAGES + ".rejected-"))
              .toList();
      assertEquals(1, rejected.size(), "files: " + rejected);
      assertEquals("half a fi", Files.readString(target.resolve(rejected.get(0))));
    }
  }

  @Test
  void refusesADamagedSourceFileAndTakesItFromTheNextSource() throws IOException {
    Path damaged = SyntheticDataset.write(tmp.resolve("damaged"));
    SyntheticDataset.writeLabels(damaged.resolve(FashionMnist.TRAIN_LABELS), 0, 1, 2);
    TestingSource system = TestingSource.serving("system directory", good);

    FetchResult result =
        new DatasetFetcher(checksums, List.of(system))
            .fetch(target, Optional.of(damaged), progress::add);

    assertEquals("system directory", result.copiedFrom().get(FashionMnist.TRAIN_LABELS));
    assertEquals(List.of(Set.of(FashionMnist.TRAIN_LABELS)), system.requests());
    assertEquals(1, result.sourcesSkipped().size());
    String skipped = result.sourcesSkipped().get(0);
    assertTrue(skipped.contains(damaged.toString()), skipped);
    assertTrue(skipped.contains(FashionMnist.TRAIN_LABELS + " has the wrong content"), skipped);
    assertEquals(checksums, SyntheticDataset.checksums(target));
    assertEquals(Set.copyOf(FashionMnist.FILE_NAMES), fileNames(target));
  }

  @Test
  void whenEverySourceFailsTheMessageListsEachOneAndTheRemedy() throws IOException {
    Path damaged = SyntheticDataset.write(tmp.resolve("damaged"));
    Files.writeString(damaged.resolve(FashionMnist.TEST_IMAGES), "not gzip");
    Path missing = tmp.resolve("no-such-dir");
    DatasetFetcher fetcher =
        new DatasetFetcher(
            checksums,
            List.of(
                DatasetSource.directory("system directory", missing),
                TestingSource.failing("Debian package", "apt-get not found on PATH"),
                TestingSource.failing("download", "host name does not resolve")));

    DatasetException e =
        assertThrows(
            DatasetException.class,
            () -> fetcher.fetch(target, Optional.of(damaged), progress::add));

    String message = e.getMessage();
    assertTrue(message.contains(FashionMnist.TEST_IMAGES + " unreadable"), message);
    assertTrue(
        message.contains("system directory " + missing + ": directory does not exist"), message);
    assertTrue(message.contains("Debian package: apt-get not found on PATH"), message);
    assertTrue(message.contains("download: host name does not resolve"), message);
    assertTrue(message.contains("--from DIR"), message);
    assertEquals(
        Set.of(FashionMnist.TRAIN_IMAGES, FashionMnist.TRAIN_LABELS, FashionMnist.TEST_LABELS),
        fileNames(target),
        "good files are kept, nothing half-written is left");
  }

  @Test
  void removesTemporaryFilesOfACrashedFetch() throws IOException {
    Files.createDirectories(target);
    // No process has this id, so the fetch that wrote the file must have died.
    Path leftover =
        target.resolve(".fetching-" + FashionMnist.TRAIN_IMAGES + ".9223372036854775.part");
    Files.writeString(leftover, "half");

    new DatasetFetcher(checksums, List.of()).fetch(target, Optional.of(good), progress::add);

    assertEquals(Set.copyOf(FashionMnist.FILE_NAMES), fileNames(target));
  }

  @Test
  void refusesChecksumsThatDoNotNameTheFourFiles() {
    Map<String, String> three = new HashMap<>(checksums);
    three.remove(FashionMnist.TEST_LABELS);

    assertThrows(IllegalArgumentException.class, () -> new DatasetFetcher(three, List.of()));
  }

  @Test
  void downloadsOverHttp() throws IOException {
    HttpServer server = serve(good);
    try {
      DatasetFetcher fetcher = new DatasetFetcher(checksums, List.of(httpSource(server)));

      FetchResult result = fetcher.fetch(target, Optional.empty(), progress::add);

      assertEquals(4, result.copiedFrom().size());
      assertEquals(checksums, SyntheticDataset.checksums(target));
    } finally {
      server.stop(0);
    }
  }

  @Test
  void httpErrorStatusFailsTheSource() throws IOException {
    HttpServer server = serve(tmp.resolve("empty"));
    try {
      DatasetFetcher fetcher = new DatasetFetcher(checksums, List.of(httpSource(server)));

      DatasetException e =
          assertThrows(
              DatasetException.class,
              () -> fetcher.fetch(target, Optional.empty(), progress::add));

      assertTrue(e.getMessage().contains("HTTP 404"), e.getMessage());
    } finally {
      server.stop(0);
    }
  }

  /** A loopback web server that serves the files of {@code dir}, and 404 for anything else. */
  private static HttpServer serve(Path dir) throws IOException {
    HttpServer server =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/data/", exchange -> answer(exchange, dir));
    server.start();
    return server;
  }

  private static void answer(HttpExchange exchange, Path dir) throws IOException {
    String name = Path.of(exchange.getRequestURI().getPath()).getFileName().toString();
    Path file = dir.resolve(name);
    if (!Files.isRegularFile(file)) {
      exchange.sendResponseHeaders(404, -1);
      exchange.close();
      return;
    }
    byte[] body = Files.readAllBytes(file);
    exchange.sendResponseHeaders(200, body.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(body);
    }
  }

  private static DatasetSource httpSource(HttpServer server) {
    URI base = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/data/");
    return DatasetSource.http(base, Duration.ofSeconds(5), Duration.ofSeconds(30));
  }

  private static Set<String> fileNames(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(file -> file.getFileName().toString()).collect(Collectors.toSet());
    }
  }
}
