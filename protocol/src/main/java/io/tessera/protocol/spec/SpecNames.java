package io.tessera.protocol.spec;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** How enum constants are spelled in spec files: lower case, words joined by '-'. */
public final class SpecNames {
  private SpecNames() {}

  public static String of(Enum<?> value) {
    return value.name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  static String of(Enum<?>[] values) {
    return Arrays.stream(values).map(SpecNames::of).collect(Collectors.joining(", "));
  }

  static <E extends Enum<E>> E parse(Class<E> type, String field, String value) {
    for (E constant : type.getEnumConstants()) {
      if (of(constant).equals(value.trim().toLowerCase(Locale.ROOT))) {
        return constant;
      }
    }
    throw new SpecException(
        field + " must be one of " + of(type.getEnumConstants()) + ", was '" + value + "'");
  }
}
