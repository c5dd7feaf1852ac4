package io.tessera.deploy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A parsed command line: positional arguments and {@code --name value} options (or {@code
 * --flag}), checked against the options a command accepts.
 */
final class CommandLine {
  private final List<String> positional = new ArrayList<>();
  private final Map<String, String> options = new HashMap<>();

  private CommandLine() {}

  /**
   * Parses {@code args}; {@code valued} options take a value, {@code flags} do not.
   *
   * @throws UsageException for an unknown option or a missing value
   */
  static CommandLine parse(List<String> args, Set<String> valued, Set<String> flags) {
    CommandLine line = new CommandLine();
    for (int i = 0; i < args.size(); i++) {
      String arg = args.get(i);
      if (arg.startsWith("--")) {
        String name = arg.substring(2);
        String value = null;
        int eq = name.indexOf('=');
        if (eq >= 0) {
          value = name.substring(eq + 1);
          name = name.substring(0, eq);
        }
        if (flags.contains(name) && value == null) {
          line.options.put(name, "true");
        } else if (valued.contains(name)) {
          if (value == null) {
            if (i + 1 >= args.size()) {
              throw new UsageException("--" + name + " needs a value");
            }
            value = args.get(++i);
          }
          line.options.put(name, value);
        } else {
          throw new UsageException("unknown option --" + name);
        }
      } else {
        line.positional.add(arg);
      }
    }
    return line;
  }

  List<String> positional() {
    return positional;
  }

  Optional<String> option(String name) {
    return Optional.ofNullable(options.get(name));
  }

  boolean flag(String name) {
    return options.containsKey(name);
  }

  int intOption(String name, int fallback) {
    String value = options.get(name);
    if (value == null) {
      return fallback;
    }
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw new UsageException("--" + name + " must be a whole number, was '" + value + "'");
    }
  }

  /** A command line the user got wrong; the message says how. */
  static final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
      super(message);
    }
  }
}
