package io.tessera.worker.data;

import java.io.IOException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Files downloaded over HTTP, one request per file. Both timeouts are explicit because the
 * default is to wait forever, and a fetch on a machine without internet access must fail with a
 * message rather than hang.
 */
final class HttpSource implements DatasetSource {

  private final URI baseUri;
  private final Duration connectTimeout;
  private final Duration requestTimeout;

  HttpSource(URI baseUri, Duration connectTimeout, Duration requestTimeout) {
    this.baseUri = baseUri;
    this.connectTimeout = connectTimeout;
    this.requestTimeout = requestTimeout;
  }

  @Override
  public String description() {
    return "download from " + baseUri;
  }

  @Override
  public Path provide(Set<String> fileNames, Path scratch, Consumer<String> progress)
      throws IOException, InterruptedException {
    HttpClient client =
        HttpClient.newBuilder()
            .connectTimeout(connectTimeout)
            .followRedirects(HttpClient.Redirect.NORMAL)
            .build();
    for (String name : fileNames) {
      URI uri = baseUri.resolve(name);
      progress.accept("downloading " + uri);
      HttpRequest request = HttpRequest.newBuilder(uri).timeout(requestTimeout).GET().build();
      Path file = scratch.resolve(name);
      HttpResponse<Path> response;
      try {
        response = client.send(request, HttpResponse.BodyHandlers.ofFile(file));
      } catch (HttpConnectTimeoutException e) {
        throw new IOException(
            "could not connect to " + uri.getHost() + " within " + connectTimeout.toSeconds()
                + " s",
            e);
      } catch (HttpTimeoutException e) {
        throw new IOException(
            "no response for " + uri + " within " + requestTimeout.toSeconds() + " s", e);
      } catch (IOException e) {
        throw new IOException("could not download " + uri + ": " + describe(e), e);
      }
      if (response.statusCode() != 200) {
        Files.deleteIfExists(file);
        throw new IOException("HTTP " + response.statusCode() + " for " + uri);
      }
      progress.accept("downloaded " + name + " (" + Files.size(file) + " bytes)");
    }
    return scratch;
  }

  /**
   * The JDK client reports most failures as a bare {@code ConnectException} without a message; the
   * useful part is in its causes.
   */
  private static String describe(IOException e) {
    List<String> parts = new ArrayList<>();
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof UnresolvedAddressException || t instanceof UnknownHostException) {
        return "host name does not resolve (no DNS entry, or no network access)";
      }
      parts.add(t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage());
    }
    return String.join(": ", parts);
  }

  @Override
  public String toString() {
    return description();
  }
}
