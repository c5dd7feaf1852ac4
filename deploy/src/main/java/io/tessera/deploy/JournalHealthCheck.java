package io.tessera.deploy;

import akka.actor.ActorSystem;
import com.typesafe.config.Config;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;

/**
 * akka-management readiness check (registered in application.conf): a node that journals (roles
 * coordinator or ps) is ready only while its database answers. Other nodes, and the in-memory
 * journal, always pass.
 */
public final class JournalHealthCheck implements Supplier<CompletionStage<Boolean>> {
  private static final String DB = "akka-persistence-jdbc.shared-databases.tessera.db";

  private final ActorSystem system;
  private final boolean journals;
  private final Duration timeout;

  /** Built by akka-management, once per node. */
  public JournalHealthCheck(ActorSystem system) {
    this.system = system;
    Config config = system.settings().config();
    List<String> roles = config.getStringList("akka.cluster.roles");
    this.journals = config.hasPath(DB) && (roles.contains("coordinator") || roles.contains("ps"));
    this.timeout = config.getDuration("akka.management.health-checks.check-timeout");
  }

  @Override
  public CompletionStage<Boolean> get() {
    if (!journals) {
      return CompletableFuture.completedFuture(true);
    }
    Config db = system.settings().config().getConfig(DB);
    // JDBC blocks: keep it off the default dispatcher.
    return CompletableFuture.supplyAsync(
        () -> reachable(db.getString("url"), db.getString("user"), db.getString("password"), timeout),
        system.dispatchers().lookup("akka.actor.default-blocking-io-dispatcher"));
  }

  /** Whether a connection to the database opens and answers within {@code timeout}. */
  static boolean reachable(String url, String user, String password, Duration timeout) {
    int seconds = (int) Math.max(1, timeout.toSeconds());
    try (Connection connection = DriverManager.getConnection(url, user, password)) {
      return connection.isValid(seconds);
    } catch (SQLException e) {
      return false;
    }
  }
}
