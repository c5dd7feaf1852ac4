package io.tessera.deploy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which PyTorch native library DJL loads. The jar ships {@code pytorch-native-cpu} (2.7.1), used
 * offline, so nothing is downloaded at run time; a GPU needs a CUDA build of the same PyTorch
 * version, named by one of:
 *
 * <ul>
 *   <li>{@code TESSERA_PYTORCH_LIBRARY=/opt/libtorch}: a libtorch 2.7.1 CUDA build unpacked there
 *       ({@code lib/libtorch.so}, {@code lib/libtorch_cuda.so}); DJL loads it from there
 *       ({@code PYTORCH_LIBRARY_PATH}), still offline.
 *   <li>{@code TESSERA_PYTORCH_FLAVOR=cu128} (or another CUDA flavour DJL publishes for 2.7.1):
 *       DJL downloads that build into {@code ~/.djl.ai/pytorch} the first time, which needs the
 *       network once; offline mode is lifted for that.
 * </ul>
 *
 * Workers then find the GPUs (one worker per GPU) and train on them with mixed precision where the
 * job asks for it; without a CUDA device DJL falls back to the CPU. Applied by {@link Main} before
 * anything loads DJL.
 */
final class NativeFlavour {
  static final String LIBRARY_ENV = "TESSERA_PYTORCH_LIBRARY";
  static final String FLAVOUR_ENV = "TESSERA_PYTORCH_FLAVOR";

  private NativeFlavour() {}

  /** The system properties DJL should start with, given the environment; empty for the shipped CPU build. */
  static Map<String, String> properties(Map<String, String> env) {
    String library = blankToNull(env.get(LIBRARY_ENV));
    String flavour = blankToNull(env.get(FLAVOUR_ENV));
    Map<String, String> properties = new TreeMap<>();
    if (library != null && flavour != null) {
      throw new CommandLine.UsageException(
          "set " + LIBRARY_ENV + " (a libtorch on this machine) or " + FLAVOUR_ENV + " (a build to download), not both");
    }
    if (library != null) {
      Path lib = Path.of(library).resolve("lib");
      if (!Files.isRegularFile(lib.resolve("libtorch.so"))) {
        throw new CommandLine.UsageException(
            LIBRARY_ENV + "=" + library + " holds no lib/libtorch.so: unpack a libtorch 2.7.1 build (the CUDA one for a"
                + " GPU) there, or unset it to use the CPU build in the jar");
      }
      properties.put("PYTORCH_LIBRARY_PATH", lib.toString());
      properties.put("PYTORCH_VERSION", "2.7.1");
    } else if (flavour != null) {
      if (!flavour.matches("cpu|cu\\d{3}")) {
        throw new CommandLine.UsageException(
            FLAVOUR_ENV + " must be cpu or a CUDA flavour such as cu128, was '" + flavour + "'");
      }
      properties.put("PYTORCH_FLAVOR", flavour);
      properties.put("PYTORCH_VERSION", "2.7.1");
      properties.put("ai.djl.offline", "false");
    }
    return properties;
  }

  /** Sets {@link #properties} for this process. */
  static void apply(Map<String, String> env) {
    properties(env).forEach(System::setProperty);
  }

  /** Where this process's PyTorch native library comes from, for the start-up log. */
  static String describe() {
    String library = System.getProperty("PYTORCH_LIBRARY_PATH");
    if (library != null) {
      return "native library from " + library;
    }
    String flavour = System.getProperty("PYTORCH_FLAVOR");
    return flavour != null ? "flavour " + flavour + ", downloaded once" : "the CPU build in the jar";
  }

  private static String blankToNull(String value) {
    return value == null || value.isBlank() ? null : value.trim();
  }
}
