package io.tessera.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The one switch between the journals: {@code tessera.persistence.database = h2} (an embedded file
 * database, the default) or {@code postgres} (for clusters), turned into akka-persistence-jdbc's
 * settings; and creation of its tables on first start.
 */
final class Persistence {
  private Persistence() {}

  /** {@code config} with the journal, snapshot store and database it names filled in. */
  static Config configure(Config config) {
    Config p = config.getConfig("tessera.persistence");
    String database = p.getString("database").toLowerCase(Locale.ROOT);
    Map<String, Object> db = new HashMap<>();
    switch (database) {
      case "h2" -> {
        Path file = Path.of(p.getString("h2.file")).toAbsolutePath();
        // AUTO_SERVER lets several processes on this machine share the file: the first opens it
        // and serves the others over loopback, and another takes over when it exits.
        db.put("url", "jdbc:h2:file:" + file + ";AUTO_SERVER=TRUE");
        db.put("user", "sa");
        db.put("password", "");
        db.put("driver", "org.h2.Driver");
      }
      case "postgres" -> {
        db.put("url", p.getString("postgres.url"));
        db.put("user", p.getString("postgres.user"));
        db.put("password", p.getString("postgres.password"));
        db.put("driver", "org.postgresql.Driver");
      }
      case "memory" -> {
        return ConfigFactory.parseMap(
                Map.of(
                    "akka.persistence.journal.plugin", "akka.persistence.journal.inmem",
                    "akka.persistence.snapshot-store.plugin", "akka.persistence.snapshot-store.local"))
            .withFallback(config);
      }
      default ->
          throw new CommandLine.UsageException(
              "tessera.persistence.database must be h2, postgres or memory, was '" + database + "'");
    }
    db.put("numThreads", p.getInt("pool.threads"));
    db.put("maxConnections", p.getInt("pool.max-connections"));
    db.put("minConnections", p.getInt("pool.min-connections"));
    db.put("connectionTimeout", p.getDuration("pool.connection-timeout").toMillis());
    Map<String, Object> settings = new HashMap<>();
    settings.put("akka-persistence-jdbc.shared-databases.tessera.profile", profile(database));
    settings.put("akka-persistence-jdbc.shared-databases.tessera.db", db);
    settings.put("akka.persistence.journal.plugin", "jdbc-journal");
    settings.put("akka.persistence.snapshot-store.plugin", "jdbc-snapshot-store");
    settings.put("jdbc-journal.use-shared-db", "tessera");
    settings.put("jdbc-snapshot-store.use-shared-db", "tessera");
    settings.put("jdbc-read-journal.use-shared-db", "tessera");
    return ConfigFactory.parseMap(settings).withFallback(config);
  }

  private static String profile(String database) {
    return database.equals("h2") ? "slick.jdbc.H2Profile$" : "slick.jdbc.PostgresProfile$";
  }

  /**
   * Creates the journal and snapshot tables if they are missing, over plain JDBC, before the actor
   * system starts (so the coordinator never recovers against a missing table). Only nodes that
   * persist something (roles {@code coordinator} and {@code ps}) touch the database: a worker-only
   * node never opens it. Several nodes may start at once and H2 lets one process open its file at
   * a time (the others then reach it through that process), so a failed attempt is retried with a
   * growing pause for up to {@code tessera.persistence.create-tables-timeout}.
   */
  static void createTables(Config configured) {
    Config p = configured.getConfig("tessera.persistence");
    String database = p.getString("database").toLowerCase(Locale.ROOT);
    List<String> roles = configured.getStringList("akka.cluster.roles");
    if (database.equals("memory") || !(roles.contains("coordinator") || roles.contains("ps"))) {
      return;
    }
    Config db = configured.getConfig("akka-persistence-jdbc.shared-databases.tessera.db");
    String[] statements = script(database).replaceAll("(?m)^--.*$", "").split(";");
    long deadline = System.nanoTime() + p.getDuration("create-tables-timeout").toNanos();
    long pauseMillis = 200;
    while (true) {
      try (Connection connection =
              DriverManager.getConnection(db.getString("url"), db.getString("user"), db.getString("password"));
          Statement statement = connection.createStatement()) {
        for (String sql : statements) {
          if (!sql.isBlank()) {
            statement.execute(sql);
          }
        }
        return;
      } catch (SQLException e) {
        if (System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(pauseMillis) > deadline) {
          throw new IllegalStateException(
              "cannot create the journal tables in " + database + " at " + db.getString("url") + ": "
                  + e.getMessage(),
              e);
        }
        pauseBeforeRetry(pauseMillis);
        pauseMillis = Math.min(2_000, pauseMillis * 2);
      }
    }
  }

  private static void pauseBeforeRetry(long millis) {
    try {
      TimeUnit.MILLISECONDS.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the database", e);
    }
  }

  private static String script(String database) {
    try (InputStream in = Persistence.class.getResourceAsStream("/schema/" + database + ".sql")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

}
