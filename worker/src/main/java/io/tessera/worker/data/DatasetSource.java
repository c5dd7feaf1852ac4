package io.tessera.worker.data;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A place {@link DatasetFetcher} can get the Fashion-MNIST files from: a directory, the Debian
 * package, the upstream web site, or in tests a fake. A source only makes the files available;
 * the fetcher verifies and installs them, so a source need not be trusted.
 */
public interface DatasetSource {

  /** Says which source this is in progress lines and error messages, e.g. a path or a URL. */
  String description();

  /**
   * Makes the named files available and returns the directory that holds them. Files the source
   * does not have are simply absent from that directory; the fetcher reports them.
   *
   * @param fileNames the files still needed
   * @param scratch an empty directory the source may fill (downloads, unpacked packages); the
   *     fetcher deletes it afterwards
   * @param progress receives a line for each notable step
   * @throws IOException if the source cannot be used at all; the message says why
   * @throws InterruptedException if the thread was interrupted while waiting on a process or
   *     download
   */
  Path provide(Set<String> fileNames, Path scratch, Consumer<String> progress)
      throws IOException, InterruptedException;

  /** The files as they lie in {@code dir}, described as {@code label} (e.g. "--from directory"). */
  static DatasetSource directory(String label, Path dir) {
    return new DirectorySource(label, dir);
  }

  /**
   * The files from a Debian package, fetched with {@code apt-get download} and unpacked with
   * {@code dpkg -x}, so no root rights are needed and nothing is installed.
   *
   * @param packageName e.g. {@code dataset-fashion-mnist}
   * @param dirInPackage where the package puts the files, e.g. {@code
   *     usr/share/datasets/fashion-mnist}
   * @param timeout limit for each of the two commands
   */
  static DatasetSource debianPackage(String packageName, Path dirInPackage, Duration timeout) {
    return new DebianPackageSource(packageName, dirInPackage, timeout);
  }

  /**
   * The files downloaded over HTTP from {@code baseUri} + file name.
   *
   * @param connectTimeout how long to wait for a connection, so an unreachable host fails quickly
   * @param requestTimeout how long to wait for each response
   */
  static DatasetSource http(URI baseUri, Duration connectTimeout, Duration requestTimeout) {
    return new HttpSource(baseUri, connectTimeout, requestTimeout);
  }
}
