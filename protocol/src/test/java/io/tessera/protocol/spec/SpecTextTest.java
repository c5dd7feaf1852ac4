package io.tessera.protocol.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A job spec's text can read nothing outside itself: every form of HOCON {@code include} and every
 * substitution is refused, never followed, and what they name never appears in the error.
 */
class SpecTextTest {
  private static final String SECRET = "file-secret-7f3a9b";
  private static final String CLASSPATH_SECRET = "classpath-secret-0c1d2e";

  @TempDir Path dir;
  private Path secretFile;

  @BeforeEach
  void writeASecretFile() throws IOException {
    secretFile = dir.resolve("secret.conf");
    Files.writeString(secretFile, "name = \"" + SECRET + "\"\n");
  }

  // ---------------------------------------------------------------- include

  /** Each line would make a valid spec named after the secret if the include were followed. */
  private String[] includesOfTheSecret() {
    String path = secretFile.toString();
    String url = secretFile.toUri().toString();
    return new String[] {
      "include \"" + url + "\"",
      "include url(\"" + url + "\")",
      "include file(\"" + path + "\")",
      "include required(file(\"" + path + "\"))",
      "include required(url(\"" + url + "\"))",
      "include required(\"" + url + "\")",
    };
  }

  @Test
  void typesafeConfigItselfWouldReadEveryOneOfTheseIncludes() {
    // The control: without the parser's includer, each form reads the file (or the resource).
    for (String include : includesOfTheSecret()) {
      assertEquals(SECRET, ConfigFactory.parseString(include).getString("name"), include);
    }
    assertEquals(
        CLASSPATH_SECRET,
        ConfigFactory.parseString("include classpath(\"spec-include-secret.conf\")").getString("name"));
  }

  @Test
  void everyFormOfIncludeIsRefusedWithoutReadingTheFile() {
    for (String include : includesOfTheSecret()) {
      SpecException error = assertThrows(SpecException.class, () -> JobSpecParser.parse(include), include);
      assertIncludeRefused(error);
      assertFalse(error.getMessage().contains(SECRET), error.getMessage());
      error = assertThrows(SpecException.class, () -> JobSpecParser.parsePipeline(include), include);
      assertIncludeRefused(error);
    }
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "include classpath(\"spec-include-secret.conf\")",
        "include required(classpath(\"spec-include-secret.conf\"))",
        "include \"spec-include-secret.conf\"",
        "include \"spec-include-secret\"",
      })
  void includesOfClasspathResourcesAreRefused(String include) {
    SpecException error = assertThrows(SpecException.class, () -> JobSpecParser.parsePipeline(include));
    assertIncludeRefused(error);
    assertFalse(error.getMessage().contains(CLASSPATH_SECRET), error.getMessage());
  }

  @Test
  void anIncludeOfAMissingFileIsRefusedRatherThanSkipped() {
    // Typesafe Config drops a missing non-required include without a word; a spec must not.
    String missing = "include file(\"" + dir.resolve("missing.conf") + "\")\nname = x";
    assertEquals("x", ConfigFactory.parseString(missing).getString("name"), "the control: silently skipped");
    assertIncludeRefused(assertThrows(SpecException.class, () -> JobSpecParser.parse(missing)));
    assertIncludeRefused(
        assertThrows(SpecException.class, () -> JobSpecParser.parse("name = x\ninclude \"missing.conf\"")));
  }

  @Test
  void includesInsideObjectsAndStagesAreRefused() {
    String file = "include file(\"" + secretFile + "\")";
    assertIncludeRefused(
        assertThrows(SpecException.class, () -> JobSpecParser.parse("name = x\nmodel { " + file + " }")));
    assertIncludeRefused(
        assertThrows(
            SpecException.class,
            () -> JobSpecParser.parsePipeline("name = x\nstages = [ { name = a\n" + file + "\n} ]")));
    assertIncludeRefused(
        assertThrows(
            SpecException.class,
            () -> JobSpecParser.parse("name = x\nmembers = [ { optimizer { " + file + " } } ]")));
  }

  @Test
  void theWordIncludeInAStringIsJustText() {
    assertEquals("include \"x\"", JobSpecParser.parse("name = \"include \\\"x\\\"\"").name());
  }

  private static void assertIncludeRefused(SpecException error) {
    assertTrue(
        error.getMessage().startsWith("include is not allowed in a job spec"),
        () -> "not an include refusal: " + error.getMessage());
  }

  // ---------------------------------------------------------------- substitutions

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '\'',
      value = {
        "name = ${PATH} | name",
        "name = x\\nmodel.kind = ${PATH} | model.kind",
        "name = x\\nmodel { kind = ${?PATH} } | model.kind",
        "name = ${java.home} | name",
        "name = x\\ndataset { name = ${user.dir} } | dataset.name",
        "name = x\\nepochs = ${?TESSERA_SURELY_UNSET_VARIABLE} | epochs",
        "name = x\\nepochs = 2\\nsplit-size = ${epochs} | split-size",
        "name = x\\nmodel { dim = 32 }\\noptimizer { warmup-steps = ${model.dim} } | optimizer.warmup-steps",
        "name = job-${?PATH} | name",
        "name = x\\nmembers = [ { name = a }, { name = ${?HOME} } ] | members[1].name",
        "name = x\\nmembers = [ { name = a } ]\\nmembers += { name = b } | members",
        "name = x\\nmodel { dim = 32 }\\nmodel = ${?PATH} { depth = 2 } | model",
        "name = x\\nstages = [ { name = a, epochs = ${?PATH} } ] | stages[0].epochs",
      })
  void substitutionsAreRefusedNamingTheKey(String text, String key) {
    String spec = text.replace("\\n", "\n");
    SpecException error = assertThrows(SpecException.class, () -> JobSpecParser.parsePipeline(spec));
    assertEquals("substitutions (${...}) are not allowed in a job spec: at key " + key, error.getMessage());
    if (!spec.contains("stages")) {
      SpecException single = assertThrows(SpecException.class, () -> JobSpecParser.parse(spec));
      assertEquals(error.getMessage(), single.getMessage());
    }
  }

  @Test
  void noErrorEchoesAnEnvironmentVariableOrASystemProperty() {
    String path = System.getenv("PATH");
    String javaHome = System.getProperty("java.home");
    assertNotNull(path);
    // Each of these, once resolved, would be refused by a check that quotes the value it got.
    String[] specs = {
      "name = x\nmodel.kind = ${PATH}",
      "name = x\nmode = ${?PATH}",
      "name = x\ndataset.name = ${java.home}",
      "name = x\nmembers = [ { name = ${PATH} } ]",
      "name = \"job\"${PATH}",
    };
    for (String spec : specs) {
      SpecException error = assertThrows(SpecException.class, () -> JobSpecParser.parsePipeline(spec));
      assertFalse(error.getMessage().contains(path), () -> "PATH echoed: " + error.getMessage());
      assertFalse(error.getMessage().contains(javaHome), () -> "java.home echoed: " + error.getMessage());
    }
  }

  @Test
  void dollarSignsInQuotedStringsAreJustText() {
    assertEquals("${PATH}", JobSpecParser.parse("name = \"${PATH}\"").name());
  }

  // ---------------------------------------------------------------- nesting

  @Test
  void deeplyNestedTextIsRefusedBeforeTheParserRecursesIntoIt() {
    String objects = "name = x\na = " + "{ a = ".repeat(100_000) + "1" + " }".repeat(100_000);
    String lists = "name = x\na = " + "[".repeat(100_000) + "]".repeat(100_000);
    for (String spec : new String[] {objects, lists}) {
      SpecException error = assertThrows(SpecException.class, () -> JobSpecParser.parsePipeline(spec));
      assertEquals("job spec nests objects and lists more than 32 deep; a spec needs 3", error.getMessage());
    }
    String deepest = "name = x\na = " + "[".repeat(32) + "]".repeat(32);
    SpecException unknown = assertThrows(SpecException.class, () -> JobSpecParser.parse(deepest));
    assertTrue(unknown.getMessage().startsWith("unknown key a"), unknown.getMessage());
  }

  @Test
  void bracketsInStringsAndCommentsDoNotCountAsNesting() {
    String brackets = "[{".repeat(30);
    JobSpec spec =
        JobSpecParser.parse(
            "# " + brackets + "\n// " + brackets + "\nname = \"" + brackets + "\"\nseed = 3 # " + brackets);
    assertEquals(brackets, spec.name());
    assertEquals(
        brackets, JobSpecParser.parse("name = \"\"\"" + brackets + "\"\"\"").name(), "a triple-quoted string");
  }
}
