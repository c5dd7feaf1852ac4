package io.tessera.protocol.spec;

/** A job, model or optimizer specification was refused; the message names the offending field. */
public final class SpecException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  public SpecException(String message) {
    super(message);
  }

  static void require(boolean condition, String field, String problem) {
    if (!condition) {
      throw new SpecException(field + " " + problem);
    }
  }

  /** Refuses {@code value} above {@code max} (one of {@link SpecLimits}), naming {@code field}. */
  static void requireAtMost(long value, long max, String field) {
    require(value <= max, field, "must be at most " + max + ", was " + value);
  }
}
