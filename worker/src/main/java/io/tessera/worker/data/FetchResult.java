package io.tessera.worker.data;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@link DatasetFetcher#fetch} did. The four files in {@code directory} are verified
 * whichever way it went.
 *
 * @param directory where the four files are
 * @param copiedFrom for each file that was fetched, the description of the source it came from,
 *     in the order they were installed; empty when all four were already in place
 * @param sourcesSkipped for each source tried before the one that succeeded, why it was passed
 *     over, e.g. {@code "Debian package dataset-fashion-mnist: apt-get not found on PATH"}
 */
public record FetchResult(
    Path directory, Map<String, String> copiedFrom, List<String> sourcesSkipped) {

  public FetchResult {
    copiedFrom = Collections.unmodifiableMap(new LinkedHashMap<>(copiedFrom));
    sourcesSkipped = List.copyOf(sourcesSkipped);
  }

  /** Whether all four files were already in place and verified, so nothing was copied. */
  public boolean alreadyPresent() {
    return copiedFrom.isEmpty();
  }
}
