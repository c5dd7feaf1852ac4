package io.tessera.worker.data;

/**
 * The dataset on disk is missing, damaged or could not be fetched. The message names the file or
 * source, says what is wrong and what the operator can do about it, because it usually ends up
 * printed by the CLI or in a worker's log.
 */
public final class DatasetException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * What to do about a missing or damaged file in the data directory; appended to messages so
   * every error points at the same remedy.
   */
  static final String FETCH_HINT =
      "run `bin/tessera data fetch` (add --from DIR to copy the four files from a directory)";

  public DatasetException(String message) {
    super(message);
  }

  public DatasetException(String message, Throwable cause) {
    super(message, cause);
  }
}
