package io.tessera.worker.data;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Files taken from a Debian package without installing it: {@code apt-get download} fetches the
 * {@code .deb} into the scratch directory and {@code dpkg -x} unpacks it there. This needs no root
 * rights and leaves the system untouched, and apt brings its own mirrors and proxy settings.
 */
final class DebianPackageSource implements DatasetSource {

  /** Lines of a failed command's output quoted in the error; apt's last lines say what failed. */
  private static final int OUTPUT_LINES_QUOTED = 5;

  private final String packageName;
  private final Path dirInPackage;
  private final Duration timeout;

  DebianPackageSource(String packageName, Path dirInPackage, Duration timeout) {
    if (dirInPackage.isAbsolute()) {
      throw new IllegalArgumentException("dirInPackage must be relative, was " + dirInPackage);
    }
    this.packageName = packageName;
    this.dirInPackage = dirInPackage;
    this.timeout = timeout;
  }

  @Override
  public String description() {
    return "Debian package " + packageName + " (apt-get download)";
  }

  @Override
  public Path provide(Set<String> fileNames, Path scratch, Consumer<String> progress)
      throws IOException, InterruptedException {
    Path aptGet = onPath("apt-get").orElseThrow(() -> new IOException("apt-get not found on PATH"));
    Path dpkg = onPath("dpkg").orElseThrow(() -> new IOException("dpkg not found on PATH"));
    Path downloads = Files.createDirectory(scratch.resolve("download"));
    progress.accept("running apt-get download " + packageName);
    run(List.of(aptGet.toString(), "download", packageName), downloads, scratch);
    Path deb = singleDeb(downloads);
    progress.accept("unpacking " + deb.getFileName() + " (" + Files.size(deb) + " bytes)");
    Path root = scratch.resolve("root");
    run(List.of(dpkg.toString(), "-x", deb.toString(), root.toString()), downloads, scratch);
    Path dir = root.resolve(dirInPackage);
    if (!Files.isDirectory(dir)) {
      throw new IOException(deb.getFileName() + " has no directory /" + dirInPackage);
    }
    return dir;
  }

  @Override
  public String toString() {
    return description();
  }

  /** Runs a command, its output going to a log file so a chatty command cannot block on a pipe. */
  private void run(List<String> command, Path workDir, Path scratch)
      throws IOException, InterruptedException {
    Path log = Files.createTempFile(scratch, "command", ".log");
    Process process =
        new ProcessBuilder(command)
            .directory(workDir.toFile())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    // Nothing is typed into these commands; end of input makes any unexpected prompt fail at once.
    process.getOutputStream().close();
    String shown = String.join(" ", command);
    try {
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new IOException(
            "`" + shown + "` did not finish within " + timeout.toSeconds() + " s");
      }
    } finally {
      if (process.isAlive()) {
        // apt-get leaves the download to helper processes, which would outlive it.
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
      }
    }
    if (process.exitValue() != 0) {
      throw new IOException(
          "`" + shown + "` exited with status " + process.exitValue() + ": " + lastLines(log));
    }
  }

  private static String lastLines(Path log) throws IOException {
    // Decoded leniently: apt may print in the machine's locale, and the error must still come out.
    List<String> lines =
        new String(Files.readAllBytes(log), StandardCharsets.UTF_8).lines().toList();
    List<String> tail =
        lines.subList(Math.max(0, lines.size() - OUTPUT_LINES_QUOTED), lines.size());
    return tail.isEmpty() ? "(no output)" : String.join(" | ", tail);
  }

  private Path singleDeb(Path dir) throws IOException {
    List<Path> debs = new ArrayList<>();
    try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir, "*.deb")) {
      stream.forEach(debs::add);
    }
    if (debs.size() != 1) {
      throw new IOException(
          "apt-get download " + packageName + " left " + debs.size() + " .deb files, expected 1");
    }
    return debs.get(0);
  }

  private static Optional<Path> onPath(String executable) {
    String path = System.getenv("PATH");
    if (path == null) {
      return Optional.empty();
    }
    for (String dir : path.split(File.pathSeparator)) {
      if (dir.isEmpty()) {
        continue;
      }
      Path candidate = Path.of(dir, executable);
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
        return Optional.of(candidate);
      }
    }
    return Optional.empty();
  }
}
