package io.tessera.protocol.spec;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigIncludeContext;
import com.typesafe.config.ConfigIncluder;
import com.typesafe.config.ConfigIncluderClasspath;
import com.typesafe.config.ConfigIncluderFile;
import com.typesafe.config.ConfigIncluderURL;
import com.typesafe.config.ConfigList;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigSyntax;
import com.typesafe.config.ConfigValue;
import java.io.File;
import java.net.URL;
import java.util.Map;

/**
 * Reads the text of a job spec as HOCON whose values are all written out in the text: an {@code
 * include} of any form is refused without reading what it names, and so is a substitution ({@code
 * ${...}}, {@code ${?...}}, {@code +=}), which is never resolved. A spec comes from whoever may
 * submit jobs, and HOCON would otherwise let it read the coordinator's files, classpath resources,
 * URLs, environment variables and system properties, and echo them back in an error.
 * Objects and lists may nest {@link #MAX_NESTING} deep: the parser recurses per level, and a few
 * thousand levels would overflow the stack of the thread that reads the spec.
 */
final class LiteralHocon {
  /** Objects and lists within one another; a spec needs 3 ({@code stages = [ { model { } } ]}). */
  static final int MAX_NESTING = 32;

  private static final ConfigParseOptions OPTIONS =
      ConfigParseOptions.defaults().setSyntax(ConfigSyntax.CONF).setIncluder(new RefusingIncluder());

  private LiteralHocon() {}

  /**
   * Parses {@code text} without resolving it.
   *
   * @throws SpecException for a syntax error, an include, a substitution or too deep a nesting
   */
  static Config parse(String text) {
    requireShallow(text);
    Config config;
    try {
      config = ConfigFactory.parseString(text, OPTIONS);
    } catch (ConfigException e) {
      throw new SpecException("job spec is not valid HOCON: " + e.getMessage());
    }
    refuseSubstitutions(config.root(), "");
    if (!config.isResolved()) {
      throw new SpecException("substitutions (${...}) are not allowed in a job spec");
    }
    return config;
  }

  /**
   * Refuses the first value under {@code value} that is, or holds, a substitution. Such a value
   * (a reference, a concatenation with one, an object merged with one) throws {@link
   * ConfigException.NotResolved} when asked for its type, its keys or its unwrapped value.
   */
  private static void refuseSubstitutions(ConfigValue value, String path) {
    try {
      switch (value.valueType()) {
        case OBJECT -> {
          for (Map.Entry<String, ConfigValue> entry : ((ConfigObject) value).entrySet()) {
            refuseSubstitutions(entry.getValue(), path.isEmpty() ? entry.getKey() : path + "." + entry.getKey());
          }
        }
        case LIST -> {
          ConfigList list = (ConfigList) value;
          for (int i = 0; i < list.size(); i++) {
            refuseSubstitutions(list.get(i), path + "[" + i + "]");
          }
        }
        default -> value.unwrapped();
      }
    } catch (ConfigException.NotResolved e) {
      throw new SpecException(
          "substitutions (${...}) are not allowed in a job spec: at key " + (path.isEmpty() ? "(the root)" : path));
    }
  }

  /**
   * Refuses text whose braces and brackets nest deeper than {@link #MAX_NESTING}, counting as
   * HOCON's tokenizer does: not inside quoted or triple-quoted strings, nor in comments ({@code #}
   * or {@code //} to the end of the line). Unquoted HOCON text cannot hold a quote or a bracket.
   */
  private static void requireShallow(String text) {
    int depth = 0;
    int i = 0;
    int n = text.length();
    while (i < n) {
      char c = text.charAt(i);
      if (text.startsWith("\"\"\"", i)) {
        int end = text.indexOf("\"\"\"", i + 3);
        i = end < 0 ? n : end + 3;
      } else if (c == '"') {
        i++;
        while (i < n && text.charAt(i) != '"' && text.charAt(i) != '\n') {
          i += text.charAt(i) == '\\' ? 2 : 1;
        }
        i++;
      } else if (c == '#' || text.startsWith("//", i)) {
        int end = text.indexOf('\n', i);
        i = end < 0 ? n : end + 1;
      } else {
        if (c == '{' || c == '[') {
          depth++;
          if (depth > MAX_NESTING) {
            throw new SpecException(
                "job spec nests objects and lists more than " + MAX_NESTING + " deep; a spec needs 3");
          }
        } else if ((c == '}' || c == ']') && depth > 0) {
          depth--;
        }
        i++;
      }
    }
  }

  /** Refuses every form of include, so that nothing outside the spec's text is ever read. */
  private static final class RefusingIncluder
      implements ConfigIncluder, ConfigIncluderFile, ConfigIncluderURL, ConfigIncluderClasspath {
    @Override
    public ConfigIncluder withFallback(ConfigIncluder fallback) {
      return this; // the library's own includer, which would read the file, never gets a turn
    }

    @Override
    public ConfigObject include(ConfigIncludeContext context, String what) {
      throw refused("include \"" + what + "\"");
    }

    @Override
    public ConfigObject includeFile(ConfigIncludeContext context, File what) {
      throw refused("include file(\"" + what + "\")");
    }

    @Override
    public ConfigObject includeURL(ConfigIncludeContext context, URL what) {
      throw refused("include url(\"" + what + "\")");
    }

    @Override
    public ConfigObject includeResources(ConfigIncludeContext context, String what) {
      throw refused("include classpath(\"" + what + "\")");
    }

    private static SpecException refused(String include) {
      return new SpecException(
          "include is not allowed in a job spec (found " + include + "): write the keys into the spec itself");
    }
  }
}
