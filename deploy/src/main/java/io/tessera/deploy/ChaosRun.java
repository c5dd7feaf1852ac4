package io.tessera.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * One chaos run: starts the cluster, trains the job undisturbed (the mean test accuracy of {@link
 * Settings#yardstickRuns} such runs is the yardstick), then trains
 * it again and again while each round injects one {@link Fault}, heals the cluster, waits for
 * training to go on and issues an operator command. Every job that finishes is checked at its
 * shards (each split applied exactly once) and against the yardstick's accuracy; at the end every
 * acknowledged command must be in the audit log.
 */
final class ChaosRun {
  /** What {@code bin/tessera chaos} was asked for. */
  record Settings(
      int rounds,
      long seed,
      List<Fault> faults,
      double tolerancePoints,
      int yardstickRuns,
      String specText,
      Path dataDir,
      Path workDir,
      ChaosCommand.PostgresTarget database,
      Path report) {}

  /**
   * The faults a round picks from ({@code --faults}, else all); each comes once in every cycle,
   * in a seeded order.
   */
  enum Fault {
    /** kill -9 of a worker node; restarted a few seconds later. */
    KILL_WORKER,
    /** kill -9 of the coordinator node that does not host the singleton: its parameter shards. */
    KILL_PARAMETER_SERVER,
    /** kill -9 of the node hosting the coordinator singleton (and parameter shards). */
    KILL_COORDINATOR,
    /** SIGSTOP of any node for 3-30 s, then SIGCONT (a GC stall; past ~10 s it is downed). */
    PAUSE,
    /** The journal's PostgreSQL cut off for 5-20 s: connections broken, connects refused. */
    DATABASE_OUTAGE,
    /** Worker messages to shards and the coordinator dropped, duplicated and delayed for 20 s. */
    MESSAGE_FAULTS,
    /** The newest snapshot of one shard (and of the coordinator) damaged, then its node killed. */
    CORRUPT_SNAPSHOT
  }

  private static final Duration STUCK = Duration.ofMinutes(4);
  private static final Duration JOB_LIMIT = Duration.ofMinutes(20);
  private static final String TOKEN_PREFIX = "chaos-";

  private final Settings settings;
  private final Random random;
  private final String token;
  private final Path faultFile;
  private final Map<Fault, Integer> injected = new EnumMap<>(Fault.class);
  /** Acknowledged operator commands per (command, job): the audit log must hold as many. */
  private final Map<String, Integer> acknowledged = new LinkedHashMap<>();
  private final List<String> losses = new ArrayList<>();
  private final List<String> jobLines = new ArrayList<>();
  private long started;
  private LocalCluster cluster;
  private TcpProxy proxy;
  private ChaosAdmin admin;
  private double yardstick = Double.NaN;
  /** The test accuracy of each undisturbed run; their mean is the yardstick. */
  private final List<Double> undisturbed = new ArrayList<>();
  private double learningRate;
  private long splitsChecked;
  private long doubled;
  private long skipped;
  /** Pushes the shards refused as copies or as from a fenced lease (since each shard's last start). */
  private long refusedDuplicates;
  private long refusedRevoked;

  ChaosRun(Settings settings) {
    this.settings = settings;
    this.random = new Random(settings.seed());
    this.token = TOKEN_PREFIX + Long.toHexString(new java.security.SecureRandom().nextLong());
    this.faultFile = settings.workDir().resolve("message-faults.conf");
    this.learningRate =
        com.typesafe.config.ConfigFactory.parseString(settings.specText()).getDouble("optimizer.learning-rate");
  }

  int run() throws IOException, InterruptedException {
    started = System.nanoTime();
    Files.createDirectories(settings.workDir());
    Files.deleteIfExists(faultFile);
    proxy = new TcpProxy(LocalCluster.freePort(), settings.database().host(), settings.database().port());
    proxy.up();
    Map<String, String> environment = new java.util.HashMap<>(settings.database().nodeEnvironment(proxy.port()));
    environment.put("TESSERA_ADMIN_TOKEN", token);
    try (TcpProxy relay = proxy; LocalCluster nodes = new LocalCluster(LocalCluster.ownJar(), settings.workDir(), environment)) {
      cluster = nodes;
      admin = new ChaosAdmin(nodes::adminFronts, token, Duration.ofSeconds(5));
      say("starting 4 nodes on loopback (logs in %s), journal: %s through a relay on port %d",
          nodes.logDir(), settings.database(), relay.port());
      List<String> core = List.of("-Xmx768m", "-Dai.djl.pytorch.num_threads=1", "-Dai.djl.pytorch.num_interop_threads=1");
      List<String> worker = new ArrayList<>(core);
      worker.set(0, "-Xmx1g");
      worker.add("-Dtessera.chaos.fault-file=" + faultFile);
      nodes.declare("core-1", "coordinator,ps", true, core, List.of());
      nodes.declare("core-2", "coordinator,ps", true, core, List.of());
      List<String> data = List.of("--data-dir", settings.dataDir().toString());
      nodes.declare("worker-1", "worker", false, worker, data);
      nodes.declare("worker-2", "worker", false, worker, data);
      heal(); // as after a fault: a node that exits while the cluster forms is started again

      // The yardstick is a mean: one undisturbed run varies by about a third of a point from the
      // next, and the first on a fresh cluster tended to come out high.
      double sum = 0;
      for (int run = 1; run <= settings.yardstickRuns(); run++) {
        String baseline = submit();
        say("yardstick: %s trains undisturbed (%d of %d)", baseline, run, settings.yardstickRuns());
        JsonNode done = awaitEnd(baseline, JOB_LIMIT);
        if (done == null || !done.path("state").asText().equals("COMPLETED")) {
          losses.add("the undisturbed job " + baseline + " did not complete: " + done);
          return report();
        }
        double accuracy = accuracy(done);
        undisturbed.add(accuracy);
        sum += accuracy;
        checkSplits(baseline, done);
        say("yardstick: %s test accuracy %.4f", baseline, accuracy);
      }
      yardstick = sum / settings.yardstickRuns();
      say("yardstick: mean test accuracy %.4f", yardstick);

      List<Fault> cycle = new ArrayList<>();
      String job = null;
      for (int round = 1; round <= settings.rounds() && losses.isEmpty(); round++) {
        if (job == null) {
          String submitted = submit();
          awaitCondition("job " + submitted + " to train", STUCK, () -> samplesDone(submitted) > 0);
          job = submitted;
        }
        if (cycle.isEmpty()) {
          cycle.addAll(settings.faults());
          java.util.Collections.shuffle(cycle, random);
        }
        Fault fault = cycle.remove(0);
        injected.merge(fault, 1, Integer::sum);
        say("round %d/%d: %s during %s", round, settings.rounds(), fault.name().toLowerCase(Locale.ROOT), job);
        inject(fault, job);
        operatorCommand(job, round);
        heal();
        if (!trainingGoesOn(job)) {
          losses.add("round " + round + " (" + fault + "): " + job + " made no progress for " + STUCK.toSeconds() + " s");
          break;
        }
        operatorCommand(job, round);
        JsonNode status = status(job);
        if (status != null && isFinished(status)) {
          finishJob(job, status);
          job = null;
        }
      }
      if (job != null && losses.isEmpty()) {
        JsonNode end = awaitEnd(job, JOB_LIMIT);
        finishJob(job, end);
      }
      checkAudit();
      return report();
    } finally {
      Files.deleteIfExists(faultFile);
    }
  }

  // ------------------------------------------------------------------ faults

  private void inject(Fault fault, String job) throws IOException, InterruptedException {
    switch (fault) {
      case KILL_WORKER -> {
        String victim = pick(cluster.withRole("worker"));
        cluster.kill9(victim);
        say("  kill -9 %s", victim);
        pause(Duration.ofSeconds(2 + random.nextInt(6)));
        cluster.start(victim);
      }
      case KILL_PARAMETER_SERVER -> {
        String singleton = cluster.oldest("coordinator");
        String victim = cluster.withRole("ps").stream().filter(n -> !n.equals(singleton)).findFirst().orElseThrow();
        cluster.kill9(victim);
        say("  kill -9 %s (parameter shards; the coordinator is on %s)", victim, singleton);
        cluster.start(victim);
      }
      case KILL_COORDINATOR -> {
        String victim = cluster.oldest("coordinator");
        cluster.kill9(victim);
        say("  kill -9 %s (the coordinator singleton's node)", victim);
        long killed = System.nanoTime();
        cluster.start(victim);
        awaitCondition("a coordinator to answer", STUCK, () -> status(job) != null);
        say("  a new coordinator answers %.1f s after the kill", (System.nanoTime() - killed) / 1e9);
      }
      case PAUSE -> {
        List<String> all = new ArrayList<>(cluster.withRole("coordinator"));
        all.addAll(cluster.withRole("worker"));
        String victim = pick(all);
        Duration stall = Duration.ofSeconds(3 + random.nextInt(28));
        say("  SIGSTOP %s for %d s", victim, stall.toSeconds());
        cluster.freeze(victim);
        try {
          pause(stall);
        } finally {
          cluster.thaw(victim);
        }
      }
      case DATABASE_OUTAGE -> {
        Duration outage = Duration.ofSeconds(5 + random.nextInt(16));
        say("  PostgreSQL cut off for %d s", outage.toSeconds());
        proxy.down();
        try {
          operatorCommand(job, -1); // acknowledged only if it was journaled: it must survive too
          pause(outage);
        } finally {
          proxy.up();
        }
      }
      case MESSAGE_FAULTS -> {
        long until = System.currentTimeMillis() + 20_000;
        io.tessera.worker.MessageFaults.write(faultFile, new io.tessera.worker.MessageFaults.Plan(0.1, 0.1, 400, until));
        say("  worker messages: 10%% dropped, 10%% duplicated, delayed up to 400 ms, for 20 s");
        long before = samplesDone(job);
        pause(Duration.ofSeconds(21));
        say("  samples acked meanwhile: %d", Math.max(0, samplesDone(job) - before));
      }
      case CORRUPT_SNAPSHOT -> corruptAndKill(job);
    }
  }

  /**
   * Damages the newest snapshot of one of the job's shards (and the coordinator's newest, if it has
   * one) in the journal, then kills the node that hosts the shard, so it must recover from it.
   */
  private void corruptAndKill(String job) throws InterruptedException {
    // A shard's only checkpoint damaged cannot be recovered from (the job fails, saying so): damage
    // the newest only once there is an older complete one to fall back on.
    awaitCondition("two complete checkpoints of " + job, STUCK, () -> {
      JsonNode status = status(job);
      JsonNode checkpoints = admin.get("api/jobs/" + job + "/checkpoints");
      return (status != null && isFinished(status)) || (checkpoints != null && checkpoints.size() >= 2);
    });
    String shard = null;
    List<String> damaged = new ArrayList<>();
    try (Connection db = settings.database().connect()) {
      List<String> shards = new ArrayList<>();
      try (PreparedStatement query =
          db.prepareStatement("SELECT DISTINCT persistence_id FROM snapshot WHERE persistence_id LIKE ?")) {
        query.setString(1, "ParameterShard|" + job + ":%");
        try (ResultSet rows = query.executeQuery()) {
          while (rows.next()) {
            shards.add(rows.getString(1));
          }
        }
      }
      if (!shards.isEmpty()) {
        java.util.Collections.sort(shards);
        shard = pick(shards);
        if (damageNewest(db, shard)) {
          damaged.add(shard);
        }
      }
      if (damageNewest(db, "tessera-coordinator")) {
        damaged.add("tessera-coordinator");
      }
    } catch (SQLException e) {
      losses.add("could not damage a snapshot: " + e.getMessage());
      return;
    }
    String victim = shard == null ? cluster.oldest("coordinator") : hostOf(shard.substring(shard.indexOf('|') + 1));
    say("  damaged the newest snapshot of %s; kill -9 %s", damaged.isEmpty() ? "nothing (none yet)" : damaged, victim);
    cluster.kill9(victim);
    cluster.start(victim);
  }

  /** Overwrites 8 bytes in the middle of the newest snapshot of {@code persistenceId}. */
  private static boolean damageNewest(Connection db, String persistenceId) throws SQLException {
    try (PreparedStatement update =
        db.prepareStatement(
            "UPDATE snapshot SET snapshot_payload = overlay(snapshot_payload placing decode('deadbeefdeadbeef', 'hex')"
                + " from greatest(1, length(snapshot_payload) / 2) for 8)"
                + " WHERE persistence_id = ? AND sequence_number ="
                + " (SELECT max(sequence_number) FROM snapshot WHERE persistence_id = ?)")) {
      update.setString(1, persistenceId);
      update.setString(2, persistenceId);
      return update.executeUpdate() > 0;
    }
  }

  /** The node whose shard region holds {@code entityId} (the coordinator's node if none says). */
  private String hostOf(String entityId) throws InterruptedException {
    JsonNode regions = admin.get("api/shard-regions");
    if (regions != null) {
      for (JsonNode region : regions) {
        for (JsonNode shard : region.path("shards")) {
          if (shard.asText().equals(entityId)) {
            String address = region.path("address").asText();
            for (String name : cluster.withRole("ps")) {
              if (address.endsWith("@" + cluster.spec(name).address())) {
                return name;
              }
            }
          }
        }
      }
    }
    return cluster.oldest("coordinator");
  }

  // ------------------------------------------------------------------ recovery and checks

  /**
   * Brings the cluster back to four Up members: a node whose JVM ended (downed after a long pause,
   * it leaves and exits) is started again; one that lives but stays out of the cluster is killed
   * and started again.
   */
  private void heal() throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
    while (System.nanoTime() < deadline) {
      for (String name : List.of("core-1", "core-2", "worker-1", "worker-2")) {
        if (!cluster.isRunning(name)) {
          forget(name);
          say("  %s had exited; starting it again", name);
          cluster.start(name);
        }
      }
      if (wholeCluster()) {
        return;
      }
      pause(Duration.ofSeconds(1));
    }
    for (String name : List.of("core-1", "core-2", "worker-1", "worker-2")) {
      if (!isUp(name)) {
        say("  %s is not an Up member after 90 s: kill -9 and start it again", name);
        if (cluster.isRunning(name)) {
          cluster.kill9(name);
        } else {
          forget(name);
        }
        cluster.start(name);
      }
    }
    try {
      awaitCondition("every node Up again", Duration.ofMinutes(3), this::wholeCluster);
    } catch (IllegalStateException e) {
      throw new IllegalStateException(e.getMessage() + "; the nodes:\n" + cluster.describe(8), e);
    }
  }

  /** Drops a process that ended by itself from the cluster's books, so it can be started again. */
  private void forget(String name) throws InterruptedException {
    try {
      cluster.kill9(name);
    } catch (IllegalStateException e) {
      // not in the books at all
    }
  }

  /** Waits until the job acks samples again in one recovery epoch, or ends; false if stuck. */
  private boolean trainingGoesOn(String job) throws InterruptedException {
    long deadline = System.nanoTime() + STUCK.toNanos();
    long epoch = -1;
    long from = -1;
    while (System.nanoTime() < deadline) {
      JsonNode status = status(job);
      if (status != null) {
        if (isFinished(status)) {
          return true;
        }
        long samples = status.path("samplesDone").asLong();
        long recovery = status.path("recoveryEpoch").asLong();
        if (recovery != epoch) {
          epoch = recovery;
          from = samples;
        } else if (status.path("state").asText().equals("RUNNING") && samples > from) {
          return true;
        }
      }
      pause(Duration.ofMillis(500));
    }
    return false;
  }

  /**
   * Checkpoint (odd rounds) or set the learning rate to the one it has (even rounds): harmless to
   * training, journaled and audited, so each acknowledgement must show in the audit log at the end.
   */
  private void operatorCommand(String job, int round) throws InterruptedException {
    boolean checkpoint = round < 0 || round % 2 == 1;
    ChaosAdmin.Answer answer =
        checkpoint
            ? admin.post("api/jobs/" + job + "/checkpoint", null)
            : admin.post(
                "api/jobs/" + job + "/learning-rate", String.format(Locale.ROOT, "{\"member\":0,\"learningRate\":%s}", learningRate));
    String command = checkpoint ? "checkpoint" : "learning-rate"; // as the audit log names them
    if (answer != null && answer.ok()) {
      acknowledged.merge(command + " " + job, 1, Integer::sum);
    }
  }

  private void finishJob(String job, JsonNode status) throws InterruptedException {
    if (status == null || !status.path("state").asText().equals("COMPLETED")) {
      losses.add(job + " did not complete: " + status);
      return;
    }
    checkSplits(job, status);
    double accuracy = accuracy(status);
    double points = Math.abs(accuracy - yardstick) * 100;
    jobLines.add(String.format(Locale.ROOT, "%s: test accuracy %.4f (%+.2f points), %d rewinds", job, accuracy,
        (accuracy - yardstick) * 100, status.path("recoveryEpoch").asLong()));
    say("  %s", jobLines.get(jobLines.size() - 1));
    if (points > settings.tolerancePoints()) {
      losses.add(String.format(Locale.ROOT, "%s: test accuracy %.4f is %.2f points from the undisturbed %.4f (at most %.2f)",
          job, accuracy, points, yardstick, settings.tolerancePoints()));
    }
  }

  /** Every shard of a finished job must have applied each of its splits exactly once. */
  private void checkSplits(String job, JsonNode status) throws InterruptedException {
    JsonNode shards = admin.get("api/jobs/" + job + "/shards");
    if (shards == null) {
      losses.add("the shards of " + job + " did not answer");
      return;
    }
    int members = Math.max(1, status.path("results").size());
    long perMember = status.path("splitsTotal").asLong() / members;
    for (JsonNode shard : shards) {
      long distinct = shard.path("splitsApplied").asLong();
      long applications = shard.path("splitApplications").asLong();
      refusedDuplicates += shard.path("pushesDuplicate").asLong();
      refusedRevoked += shard.path("pushesRevoked").asLong();
      splitsChecked += perMember;
      doubled += applications - distinct;
      skipped += perMember - distinct;
      if (applications != distinct || distinct != perMember) {
        losses.add(String.format(Locale.ROOT, "shard %s applied %d of %d splits, %d applications",
            shard.path("entityId").asText(), distinct, perMember, applications));
      }
    }
  }

  private void checkAudit() throws InterruptedException {
    JsonNode audit = admin.get("api/audit");
    if (audit == null) {
      losses.add("the audit log could not be read");
      return;
    }
    Map<String, Integer> recorded = new LinkedHashMap<>();
    for (JsonNode record : audit) {
      // Every record's detail starts with the job's id: "job-3 (checkpoint 7 requested)".
      String detail = record.path("detail").asText();
      int space = detail.indexOf(' ');
      String job = space < 0 ? detail : detail.substring(0, space);
      recorded.merge(record.path("command").asText() + " " + job, 1, Integer::sum);
    }
    acknowledged.forEach((key, count) -> {
      int found = recorded.getOrDefault(key, 0);
      if (found < count) {
        losses.add(String.format(Locale.ROOT, "%d acknowledged '%s' commands, %d in the audit log", count, key, found));
      }
    });
  }

  private int report() throws IOException {
    StringBuilder out = new StringBuilder();
    int faults = injected.values().stream().mapToInt(Integer::intValue).sum();
    long commands = acknowledged.values().stream().mapToInt(Integer::intValue).sum();
    out.append(String.format(Locale.ROOT, "chaos: %d rounds in %.0f s, seed %d, %s%n", faults,
        (System.nanoTime() - started) / 1e9, settings.seed(), settings.database()));
    injected.forEach((fault, n) -> out.append(String.format(Locale.ROOT, "  %-22s %d%n", fault.name().toLowerCase(Locale.ROOT), n)));
    out.append(String.format(Locale.ROOT, "undisturbed test accuracy: %.4f (mean of %s)%n", yardstick,
        undisturbed.stream().map(a -> String.format(Locale.ROOT, "%.4f", a)).collect(java.util.stream.Collectors.joining(", "))));
    jobLines.forEach(l -> out.append(l).append('\n'));
    out.append(String.format(Locale.ROOT, "splits checked at the shards: %d; applied twice: %d; never applied: %d%n",
        splitsChecked, doubled, skipped));
    out.append(String.format(Locale.ROOT,
        "pushes the shards refused: %d as copies of applied ones, %d from fenced leases (counted since each shard's last"
            + " start)%n", refusedDuplicates, refusedRevoked));
    out.append(String.format(Locale.ROOT, "operator commands acknowledged: %d; lost: %d%n", commands,
        losses.stream().filter(l -> l.contains("in the audit log")).count()));
    out.append(losses.isEmpty() ? "nothing lost\n" : "LOST:\n");
    losses.forEach(l -> out.append("  ").append(l).append('\n'));
    System.out.print(out);
    Files.createDirectories(settings.report().toAbsolutePath().getParent());
    Files.writeString(settings.report(), out.toString());
    return losses.isEmpty() ? 0 : 1;
  }

  // ------------------------------------------------------------------ admin API

  private String submit() throws InterruptedException {
    ChaosAdmin.Answer answer = null;
    long deadline = System.nanoTime() + STUCK.toNanos();
    while ((answer == null || answer.status() >= 500) && System.nanoTime() < deadline) {
      answer = admin.post("api/jobs", settings.specText());
      if (answer == null || answer.status() >= 500) {
        pause(Duration.ofSeconds(1));
      }
    }
    if (answer == null || answer.status() >= 300) {
      throw new IllegalStateException("the cluster did not take the job: " + (answer == null ? "no answer" : answer.body()));
    }
    acknowledged.merge("submit " + answer.body().path("jobId").asText(), 1, Integer::sum);
    return answer.body().path("jobIds").path(0).asText();
  }

  private JsonNode status(String job) throws InterruptedException {
    return admin.get("api/jobs/" + job);
  }

  private long samplesDone(String job) throws InterruptedException {
    JsonNode status = status(job);
    return status == null ? -1 : status.path("samplesDone").asLong();
  }

  private JsonNode awaitEnd(String job, Duration limit) throws InterruptedException {
    long deadline = System.nanoTime() + limit.toNanos();
    long lastSaid = 0;
    while (System.nanoTime() < deadline) {
      JsonNode status = status(job);
      if (status != null && isFinished(status)) {
        return status;
      }
      if (status != null && System.nanoTime() - lastSaid > 15e9) {
        lastSaid = System.nanoTime();
        say("  %s: %d/%d samples", job, status.path("samplesDone").asLong(), status.path("samplesTotal").asLong());
      }
      pause(Duration.ofSeconds(1));
    }
    return status(job);
  }

  private static boolean isFinished(JsonNode status) {
    String state = status.path("state").asText();
    return state.equals("COMPLETED") || state.equals("FAILED") || state.equals("CANCELLED");
  }

  private static double accuracy(JsonNode status) {
    return status.path("results").path(0).path("testAccuracy").asDouble(Double.NaN);
  }

  /**
   * Whether every admin front sees the same whole cluster: all four nodes Up and none unreachable
   * (a killed node stays Up, unreachable, until it is downed; a node that formed a cluster of its
   * own would see only part of it).
   */
  private boolean wholeCluster() throws InterruptedException {
    List<JsonNode> views = admin.getEach("api/cluster");
    if (views.isEmpty()) {
      return false;
    }
    for (JsonNode view : views) {
      if (view == null || view.path("unreachable").size() > 0 || view.path("members").size() != 4) {
        return false;
      }
      for (JsonNode member : view.path("members")) {
        if (!member.path("status").asText().equals("Up")) {
          return false;
        }
      }
    }
    return true;
  }

  private boolean isUp(String name) throws InterruptedException {
    JsonNode view = admin.get("api/cluster");
    if (view == null) {
      return false;
    }
    for (JsonNode member : view.path("members")) {
      if (member.path("address").asText().endsWith("@" + cluster.spec(name).address())
          && member.path("status").asText().equals("Up")) {
        return true;
      }
    }
    return false;
  }

  private void awaitCondition(String what, Duration limit, Check check) throws InterruptedException {
    long deadline = System.nanoTime() + limit.toNanos();
    while (!check.holds()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("chaos: gave up waiting for " + what + " after " + limit.toSeconds() + " s");
      }
      pause(Duration.ofMillis(500));
    }
  }

  /** A condition polled until it holds. */
  private interface Check {
    boolean holds() throws InterruptedException;
  }

  private <T> T pick(List<T> from) {
    return from.get(random.nextInt(from.size()));
  }

  private static void pause(Duration duration) throws InterruptedException {
    Thread.sleep(duration.toMillis()); // the fault's own length (a stall, an outage), not a wait for a condition
  }

  private void say(String format, Object... args) {
    System.out.printf("[%5.0fs] %s%n", (System.nanoTime() - started) / 1e9, String.format(Locale.ROOT, format, args));
  }
}
