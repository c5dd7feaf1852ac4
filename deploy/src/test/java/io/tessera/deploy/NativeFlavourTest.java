package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which PyTorch native library DJL is pointed at, from the environment. */
class NativeFlavourTest {
  @TempDir Path libtorch;

  @Test
  void withoutEitherVariableTheCpuBuildInTheJarIsUsedOffline() {
    assertEquals(Map.of(), NativeFlavour.properties(Map.of()));
    assertEquals(Map.of(), NativeFlavour.properties(Map.of(NativeFlavour.FLAVOUR_ENV, " ")));
  }

  @Test
  void aLibtorchOnThisMachineIsLoadedFromItsLibDirectory() throws Exception {
    Files.createDirectories(libtorch.resolve("lib"));
    Files.writeString(libtorch.resolve("lib/libtorch.so"), "");
    Map<String, String> properties = NativeFlavour.properties(Map.of(NativeFlavour.LIBRARY_ENV, libtorch.toString()));
    assertEquals(
        Map.of("PYTORCH_LIBRARY_PATH", libtorch.resolve("lib").toString(), "PYTORCH_VERSION", "2.7.1"), properties);
  }

  @Test
  void aCudaFlavourIsDownloadedOnceSoOfflineModeIsLifted() {
    assertEquals(
        Map.of("PYTORCH_FLAVOR", "cu128", "PYTORCH_VERSION", "2.7.1", "ai.djl.offline", "false"),
        NativeFlavour.properties(Map.of(NativeFlavour.FLAVOUR_ENV, "cu128")));
  }

  @Test
  void aWrongSettingIsRefusedWithWhatToDo() {
    CommandLine.UsageException empty =
        assertThrows(
            CommandLine.UsageException.class,
            () -> NativeFlavour.properties(Map.of(NativeFlavour.LIBRARY_ENV, libtorch.toString())));
    assertTrue(empty.getMessage().contains("holds no lib/libtorch.so"), empty.getMessage());
    CommandLine.UsageException flavour =
        assertThrows(
            CommandLine.UsageException.class,
            () -> NativeFlavour.properties(Map.of(NativeFlavour.FLAVOUR_ENV, "cuda-12")));
    assertTrue(flavour.getMessage().contains("cu128"), flavour.getMessage());
    CommandLine.UsageException both =
        assertThrows(
            CommandLine.UsageException.class,
            () -> NativeFlavour.properties(
                Map.of(NativeFlavour.LIBRARY_ENV, libtorch.toString(), NativeFlavour.FLAVOUR_ENV, "cu128")));
    assertTrue(both.getMessage().contains("not both"), both.getMessage());
  }
}
