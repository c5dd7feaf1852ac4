package io.tessera.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValueFactory;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.SpecException;
import io.tessera.worker.data.DatasetException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code bin/tessera chaos}: a four-process cluster on loopback (two coordinator + parameter-server
 * nodes, two worker nodes) journaling to PostgreSQL through a relay the suite can cut, trains the
 * same job again and again while {@link ChaosRun} injects one fault per round, and reports what
 * was lost: splits applied twice or never (counted at the shards), acknowledged operator commands
 * missing after recovery, stuck jobs, and accuracy against undisturbed runs with the same seed
 * (the mean of {@code --yardstick-runs}).
 * Exits 0 only when nothing was lost.
 */
final class ChaosCommand {
  static final String DEFAULT_POSTGRES_URL = "jdbc:postgresql://127.0.0.1:5432/test?user=postgres";
  /** The job every round trains unless {@code --spec} names another (packaged from deploy/jobs). */
  static final String CHAOS_JOB = "/jobs/fashion-mnist-subset.conf";

  private ChaosCommand() {}

  static int run(List<String> args) {
    CommandLine line =
        CommandLine.parse(
            args,
            Set.of("rounds", "seed", "postgres-url", "schema", "data-dir", "from", "spec", "epochs", "train-limit",
                "work-dir", "tolerance", "report", "faults", "yardstick-runs"),
            Set.of());
    int rounds = line.intOption("rounds", 30);
    if (rounds < 1 || rounds > 10_000) {
      throw new CommandLine.UsageException("--rounds must be between 1 and 10000");
    }
    int yardstickRuns = line.intOption("yardstick-runs", 3);
    if (yardstickRuns < 1 || yardstickRuns > 10) {
      throw new CommandLine.UsageException("--yardstick-runs must be between 1 and 10");
    }
    double tolerance = Double.parseDouble(line.option("tolerance").orElse("1.5"));
    if (!(tolerance >= 0 && tolerance <= 100)) {
      throw new CommandLine.UsageException("--tolerance is in accuracy points, between 0 and 100");
    }
    String schema = line.option("schema").orElse("tessera_chaos");
    if (!schema.matches("[a-z_][a-z0-9_]{0,62}")) {
      throw new CommandLine.UsageException("--schema must be a lower-case SQL identifier, was '" + schema + "'");
    }
    String postgresUrl =
        line.option("postgres-url").orElse(envOr("TESSERA_POSTGRES_URL", DEFAULT_POSTGRES_URL));
    Path dataDir = Path.of(line.option("data-dir").orElse(DataCommand.DEFAULT_DATA_DIR)).toAbsolutePath();
    Path workDir = Path.of(line.option("work-dir").orElse("data/chaos")).toAbsolutePath();
    String specText;
    try {
      // The default directory is filled (and checked) as the demo's is; a directory given is the
      // operator's (say, the shipped subset), and the workers check what they read from it.
      if (line.option("data-dir").isEmpty() || line.option("from").isPresent()) {
        DataCommand.fetch(dataDir, line.option("from").map(Path::of));
      }
      specText = jobSpec(line);
    } catch (DatasetException | SpecException e) {
      System.err.println("tessera: " + e.getMessage());
      return 1;
    }
    PostgresTarget database;
    try {
      database = PostgresTarget.prepare(postgresUrl, schema);
    } catch (SQLException e) {
      System.err.println(
          "tessera: chaos journals to PostgreSQL and could not prepare schema " + schema + " at " + postgresUrl + ": "
              + e.getMessage() + " (give a reachable server with --postgres-url jdbc:postgresql://HOST:PORT/DB?user=U)");
      return 1;
    }
    long seed = Long.parseLong(line.option("seed").orElse("1"));
    List<ChaosRun.Fault> faults = faults(line.option("faults").orElse(""));
    ChaosRun.Settings settings =
        new ChaosRun.Settings(rounds, seed, faults, tolerance, yardstickRuns, specText, dataDir, workDir, database,
            line.option("report").map(Path::of).orElse(workDir.resolve("report.txt")));
    try {
      return new ChaosRun(settings).run();
    } catch (IOException e) {
      System.err.println("tessera: chaos: " + e.getMessage());
      return 1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    }
  }

  /**
   * The job: {@code --spec FILE} or the subset job, with {@code --epochs}, checkpoints every 5 s so
   * that every fault has checkpoints to fall back on, and, unless the spec says, {@code
   * --train-limit} (3000) training images so a round's job is short.
   */
  static String jobSpec(CommandLine line) {
    String text;
    try {
      if (line.option("spec").isPresent()) {
        text = Files.readString(Path.of(line.option("spec").get()));
      } else {
        try (InputStream in = ChaosCommand.class.getResourceAsStream(CHAOS_JOB)) {
          text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
      }
    } catch (IOException e) {
      throw new SpecException("cannot read the job spec: " + e.getMessage());
    }
    Config spec = JobSpecParser.read(text);
    if (line.option("epochs").isPresent() || !line.option("spec").isPresent()) {
      spec = spec.withValue("epochs", ConfigValueFactory.fromAnyRef(line.intOption("epochs", 16)));
    }
    if (!spec.hasPath("checkpoint.interval")) {
      spec = spec.withValue("checkpoint.interval", ConfigValueFactory.fromAnyRef("5s"));
    }
    if (!spec.hasPath("dataset.train-limit")) {
      spec = spec.withValue("dataset.train-limit", ConfigValueFactory.fromAnyRef(line.intOption("train-limit", 3000)));
    }
    String rendered = spec.root().render(ConfigRenderOptions.concise());
    JobSpecParser.parsePipeline(rendered); // refuse a bad spec here, not in every round
    return rendered;
  }

  /** {@code kill-worker,pause,...}: the faults rounds pick from; empty: every kind. */
  static List<ChaosRun.Fault> faults(String names) {
    if (names.isBlank()) {
      return List.of(ChaosRun.Fault.values());
    }
    List<ChaosRun.Fault> faults = new java.util.ArrayList<>();
    for (String name : names.split(",")) {
      String key = name.trim().toUpperCase(Locale.ROOT).replace('-', '_');
      try {
        faults.add(ChaosRun.Fault.valueOf(key));
      } catch (IllegalArgumentException e) {
        throw new CommandLine.UsageException(
            "unknown fault '" + name.trim() + "'; faults are "
                + String.join(", ", java.util.Arrays.stream(ChaosRun.Fault.values())
                    .map(f -> f.name().toLowerCase(Locale.ROOT).replace('_', '-')).toList()));
      }
    }
    return List.copyOf(faults);
  }

  private static String envOr(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isBlank() ? fallback : value;
  }

  /**
   * The PostgreSQL server the cluster journals to, reached through a {@link TcpProxy} the suite
   * can cut, in a schema of its own that is emptied first.
   *
   * @param directUrl the server itself (for the suite's own reads and writes)
   * @param host the server's host
   * @param port the server's port
   * @param database the database name
   * @param user the user the URL names (postgres if none)
   * @param schema the schema the cluster's tables live in
   */
  record PostgresTarget(String directUrl, String host, int port, String database, String user, String schema) {
    private static final java.util.regex.Pattern URL =
        java.util.regex.Pattern.compile("jdbc:postgresql://([^:/?]+)(?::(\\d+))?/([^?]+)(?:\\?(.*))?");

    static PostgresTarget prepare(String url, String schema) throws SQLException {
      java.util.regex.Matcher m = URL.matcher(url);
      if (!m.matches()) {
        throw new SQLException("not a jdbc:postgresql://HOST[:PORT]/DB[?user=U] URL");
      }
      String user = "postgres";
      if (m.group(4) != null) {
        for (String param : m.group(4).split("&")) {
          if (param.startsWith("user=")) {
            user = param.substring(5);
          }
        }
      }
      PostgresTarget target =
          new PostgresTarget(url, m.group(1), m.group(2) == null ? 5432 : Integer.parseInt(m.group(2)), m.group(3), user,
              schema);
      try (Connection db = target.connect(); Statement sql = db.createStatement()) {
        sql.execute("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
        sql.execute("CREATE SCHEMA " + schema);
      }
      return target;
    }

    Connection connect() throws SQLException {
      Connection connection = DriverManager.getConnection(directUrl);
      try (Statement sql = connection.createStatement()) {
        sql.execute("SET search_path TO " + schema);
      }
      return connection;
    }

    /** The URL nodes use: through the relay on {@code proxyPort}, tables in the schema. */
    String nodeUrl(int proxyPort) {
      return "jdbc:postgresql://127.0.0.1:" + proxyPort + "/" + database + "?user=" + user + "&currentSchema=" + schema;
    }

    /** Environment that points a node's journal here, through the relay. */
    Map<String, String> nodeEnvironment(int proxyPort) {
      return Map.of(
          "TESSERA_DATABASE", "postgres",
          "TESSERA_POSTGRES_URL", nodeUrl(proxyPort),
          "TESSERA_POSTGRES_USER", user,
          "TESSERA_POSTGRES_PASSWORD", envOr("TESSERA_POSTGRES_PASSWORD", ""));
    }

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "PostgreSQL %s:%d/%s, schema %s", host, port, database, schema);
    }
  }

  /** Where the admin fronts are, for the report. */
  static String fronts(List<URI> fronts) {
    return String.join(", ", fronts.stream().map(URI::toString).toList());
  }
}
