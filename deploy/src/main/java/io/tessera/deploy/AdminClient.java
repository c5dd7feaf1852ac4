package io.tessera.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/**
 * {@code bin/tessera submit | status | jobs | checkpoint | cancel | pause | resume | checkpoints | restore |
 * audit | workers | drain | set-batch}:
 * talks to a running cluster's admin front.
 */
final class AdminClient {
  private static final JsonMapper JSON = new JsonMapper();
  private static final Duration TIMEOUT = Duration.ofSeconds(30);
  private static final long WATCH_INTERVAL_MILLIS = 5_000;

  private final URI base;
  private final String token;
  private final HttpClient http;

  private AdminClient(URI base, String token) {
    this.base = base;
    this.token = token;
    this.http = AdminTransport.client(base);
  }

  static int run(String command, List<String> args) {
    CommandLine line =
        CommandLine.parse(
            args, Set.of("admin", "token", "token-file", "from", "limit"), Set.of("json", "watch", "no-checkpoint", "leases"));
    String url =
        line.option("admin").orElse(System.getenv().getOrDefault("TESSERA_ADMIN_URL", "http://127.0.0.1:7355"));
    AdminClient client = new AdminClient(URI.create(url.endsWith("/") ? url : url + "/"), token(line));
    try {
      return switch (command) {
        case "submit" -> client.submit(single(line, "submit SPEC"), line.flag("json"));
        case "status" -> client.status(single(line, "status JOB"), line.flag("json"), line.flag("watch"));
        case "checkpoint" -> client.checkpoint(single(line, "checkpoint JOB"), line.flag("json"));
        case "cancel" -> client.changeJobs(single(line, "cancel JOB"), "cancel", "cancelled", line.flag("json"));
        case "pause" -> client.pause(single(line, "pause JOB [--no-checkpoint]"), line.flag("no-checkpoint"), line.flag("json"));
        case "resume" -> client.changeJobs(single(line, "resume JOB"), "resume", "resumed", line.flag("json"));
        case "checkpoints" -> client.checkpoints(single(line, "checkpoints JOB"), line.flag("json"));
        case "restore" -> client.restore(line, line.flag("json"));
        case "set-lr" -> client.setLearningRate(line, line.flag("json"));
        case "events" -> client.events(single(line, "events JOB [--leases] [--from N] [--limit N]"), line);
        case "audit" -> client.audit(line.flag("json"));
        case "workers" -> client.workers(line.flag("json"));
        case "drain" -> client.drain(single(line, "drain WORKER-ID|HOST:PORT"), line.flag("json"));
        case "set-batch" -> client.setBatch(line, line.flag("json"));
        default -> client.jobs(line.flag("json"));
      };
    } catch (ConnectException e) {
      System.err.println("tessera: no admin front at " + url + " (is a coordinator node running? --admin URL)");
      return 1;
    } catch (IOException e) {
      System.err.println("tessera: " + e.getMessage());
      return 1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    }
  }

  private static String single(CommandLine line, String usage) {
    if (line.positional().size() != 1) {
      throw new CommandLine.UsageException("usage: bin/tessera " + usage);
    }
    return line.positional().get(0);
  }

  private static String token(CommandLine line) {
    if (line.option("token").isPresent()) {
      return line.option("token").get();
    }
    String fromEnv = System.getenv("TESSERA_ADMIN_TOKEN");
    if (fromEnv != null && !fromEnv.isBlank()) {
      return fromEnv.trim();
    }
    Path file = Path.of(line.option("token-file").orElse("data/admin.token"));
    try {
      return Files.readString(file, StandardCharsets.UTF_8).trim();
    } catch (IOException e) {
      throw new CommandLine.UsageException(
          "no admin token: pass --token, set TESSERA_ADMIN_TOKEN, or point --token-file at the file the"
              + " coordinator node wrote (" + file + " not readable)");
    }
  }

  private int submit(String specFile, boolean raw) throws IOException, InterruptedException {
    String spec = Files.readString(Path.of(specFile), StandardCharsets.UTF_8);
    HttpResponse<String> response =
        send(HttpRequest.newBuilder(base.resolve("api/jobs")).POST(HttpRequest.BodyPublishers.ofString(spec)));
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 201) {
      return failed(response, body);
    }
    if (raw) {
      System.out.println(response.body());
    } else {
      // One line per stage (one line for a one-stage job), so scripts can take the last line.
      for (JsonNode id : body.get("jobIds")) {
        System.out.println(id.asText());
      }
    }
    return 0;
  }

  /**
   * A job's status, or, for the id of a pipeline of several stages ({@code job-N}), each stage's
   * ({@code job-N.<stage>}); with {@code watch}, again every 5 s until every one has finished.
   */
  private int status(String jobId, boolean raw, boolean watch) throws IOException, InterruptedException {
    long start = System.nanoTime();
    while (true) {
      HttpResponse<String> response = send(HttpRequest.newBuilder(base.resolve("api/jobs")).GET());
      JsonNode all = JSON.readTree(response.body());
      if (response.statusCode() != 200) {
        return failed(response, all);
      }
      java.util.List<JsonNode> matching = new java.util.ArrayList<>();
      for (JsonNode job : all) {
        String id = job.get("jobId").asText();
        if (id.equals(jobId) || id.startsWith(jobId + ".")) {
          matching.add(job);
        }
      }
      if (matching.isEmpty()) {
        System.err.println("tessera: no job " + jobId + " (HTTP 404)");
        return 1;
      }
      boolean finished = true;
      boolean failed = false;
      for (JsonNode job : matching) {
        String state = job.get("state").asText();
        finished &= state.equals("COMPLETED") || state.equals("FAILED") || state.equals("CANCELLED");
        failed |= state.equals("FAILED") || state.equals("CANCELLED");
        String prefix = matching.size() > 1 ? job.get("jobId").asText() + "  " : "";
        System.out.println(raw ? job.toString() : prefix + describe(job, watch ? (System.nanoTime() - start) / 1e9 : -1));
      }
      if (!watch || finished) {
        return failed ? 1 : 0;
      }
      java.util.concurrent.TimeUnit.MILLISECONDS.sleep(WATCH_INTERVAL_MILLIS);
    }
  }

  private int jobs(boolean raw) throws IOException, InterruptedException {
    HttpResponse<String> response = send(HttpRequest.newBuilder(base.resolve("api/jobs")).GET());
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 200) {
      return failed(response, body);
    }
    if (raw) {
      System.out.println(response.body());
    } else {
      for (JsonNode job : body) {
        System.out.println(job.get("jobId").asText() + "  " + describe(job, -1));
      }
    }
    return 0;
  }

  private int checkpoint(String jobId, boolean raw) throws IOException, InterruptedException {
    HttpResponse<String> response =
        postToJob(jobId, "checkpoint", null);
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 202) {
      return failed(response, body);
    }
    System.out.println(raw ? response.body() : "checkpoint " + body.get("checkpointId").asLong() + " of " + jobId + " started");
    return 0;
  }

  /** POST /api/jobs/{id}/{verb}, which answers the ids of the jobs it changed. */
  private int changeJobs(String jobId, String verb, String done, boolean raw) throws IOException, InterruptedException {
    HttpResponse<String> response = postToJob(jobId, verb, null);
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 200) {
      return failed(response, body);
    }
    if (raw) {
      System.out.println(response.body());
    } else {
      for (JsonNode id : body.get("jobIds")) {
        System.out.println(done + " " + id.asText());
      }
    }
    return 0;
  }

  /**
   * Pauses a job, by default after a checkpoint of it, so that resuming loses nothing: asks for
   * the checkpoint, waits until the job reports it complete, then pauses. A job that cannot take
   * one (queued, or a pipeline's id) is paused as it is.
   */
  private int pause(String jobId, boolean withoutCheckpoint, boolean raw) throws IOException, InterruptedException {
    if (!withoutCheckpoint) {
      HttpResponse<String> requested =
          postToJob(jobId, "checkpoint", null);
      JsonNode answer = JSON.readTree(requested.body());
      if (requested.statusCode() == 202) {
        long checkpointId = answer.get("checkpointId").asLong();
        if (!raw) {
          System.out.println("checkpoint " + checkpointId + " of " + jobId + " first...");
        }
        int waited = awaitCheckpoint(jobId, checkpointId);
        if (waited != 0) {
          return waited;
        }
      } else if (!raw) {
        System.out.println("no checkpoint first: " + (answer.has("error") ? answer.get("error").asText() : requested.body()));
      }
    }
    return changeJobs(jobId, "pause", "paused", raw);
  }

  /** Polls the job until its newest complete checkpoint is {@code checkpointId} or later. */
  private int awaitCheckpoint(String jobId, long checkpointId) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MINUTES.toNanos(10);
    while (System.nanoTime() < deadline) {
      HttpResponse<String> response = send(HttpRequest.newBuilder(base.resolve("api/jobs/" + jobId)).GET());
      JsonNode status = JSON.readTree(response.body());
      if (response.statusCode() != 200) {
        return failed(response, status);
      }
      if (status.get("lastCheckpointId").asLong() >= checkpointId) {
        return 0;
      }
      if (!status.get("state").asText().equals("RUNNING")) {
        System.err.println(
            "tessera: " + jobId + " is " + status.get("state").asText() + " before checkpoint " + checkpointId
                + " completed; not paused (use --no-checkpoint to pause anyway)");
        return 1;
      }
      java.util.concurrent.TimeUnit.MILLISECONDS.sleep(500);
    }
    System.err.println("tessera: checkpoint " + checkpointId + " of " + jobId + " did not complete in 10 minutes; not paused");
    return 1;
  }

  private int checkpoints(String jobId, boolean raw) throws IOException, InterruptedException {
    HttpResponse<String> response = send(HttpRequest.newBuilder(base.resolve("api/jobs/" + jobId + "/checkpoints")).GET());
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 200) {
      return failed(response, body);
    }
    if (raw) {
      System.out.println(response.body());
      return 0;
    }
    for (JsonNode checkpoint : body) {
      long done = checkpoint.get("splitsDone").asLong();
      System.out.printf(
          "checkpoint %-4d %s  %s  %d shards%n",
          checkpoint.get("checkpointId").asLong(),
          java.time.Instant.ofEpochMilli(checkpoint.get("startedAtMillis").asLong()),
          done < 0 ? "(finished job)" : done + "/" + checkpoint.get("splitsTotal").asLong() + " splits",
          checkpoint.get("shards").asInt());
    }
    return 0;
  }

  private int restore(CommandLine line, boolean raw) throws IOException, InterruptedException {
    if (line.positional().size() != 2 || !line.positional().get(1).matches("\\d+")) {
      throw new CommandLine.UsageException("usage: bin/tessera restore JOB CHECKPOINT-ID (see bin/tessera checkpoints JOB)");
    }
    String jobId = line.positional().get(0);
    HttpResponse<String> response = postToJob(jobId, "restore", "{\"checkpoint\": " + line.positional().get(1) + "}");
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 200) {
      return failed(response, body);
    }
    System.out.println(
        raw
            ? response.body()
            : jobId + " goes back to checkpoint " + body.get("checkpointId").asLong() + "; dropped "
                + body.get("checkpointsDropped"));
    return 0;
  }

  private int audit(boolean raw) throws IOException, InterruptedException {
    HttpResponse<String> response = send(HttpRequest.newBuilder(base.resolve("api/audit")).GET());
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 200) {
      return failed(response, body);
    }
    if (raw) {
      System.out.println(response.body());
    } else {
      for (JsonNode record : body) {
        System.out.printf(
            "%4d  %s  %-10s %s%n",
            record.get("sequence").asLong(),
            java.time.Instant.ofEpochMilli(record.get("atMillis").asLong()),
            record.get("command").asText(),
            record.get("detail").asText());
      }
    }
    return 0;
  }

  private int workers(boolean raw) throws IOException, InterruptedException {
    HttpResponse<String> response = send(HttpRequest.newBuilder(base.resolve("api/workers")).GET());
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 200) {
      return failed(response, body);
    }
    if (raw) {
      System.out.println(response.body());
      return 0;
    }
    for (JsonNode worker : body) {
      String state = worker.get("state").asText();
      String detail =
          state.equals("drained")
              ? "left " + worker.get("drainMillis").asLong() + " ms after the drain request"
              : "member " + worker.get("member").asInt() + ", k=" + worker.get("accumulationSteps").asInt() + ", "
                  + worker.get("leasesHeld").asInt() + " lease(s)";
      System.out.printf("%-9s %s  %s%n", state, worker.get("workerId").asText(), detail);
    }
    return 0;
  }

  private int drain(String target, boolean raw) throws IOException, InterruptedException {
    String request = JSON.writeValueAsString(java.util.Map.of("target", target));
    HttpResponse<String> response =
        send(HttpRequest.newBuilder(base.resolve("api/drain")).POST(HttpRequest.BodyPublishers.ofString(request)));
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 202) {
      return failed(response, body);
    }
    if (raw) {
      System.out.println(response.body());
    } else {
      for (JsonNode id : body.get("workerIds")) {
        System.out.println("draining " + id.asText());
      }
    }
    return 0;
  }

  /** What the coordinator journaled about a job, oldest first, one line each. */
  private int events(String jobId, CommandLine line) throws IOException, InterruptedException {
    String query =
        "?from=" + line.intOption("from", 0) + "&limit=" + line.intOption("limit", 200) + "&leases=" + line.flag("leases");
    HttpResponse<String> response = send(HttpRequest.newBuilder(base.resolve("api/jobs/" + jobId + "/events" + query)).GET());
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 200) {
      return failed(response, body);
    }
    if (line.flag("json")) {
      System.out.println(response.body());
      return 0;
    }
    for (JsonNode event : body) {
      System.out.printf(
          "%6d  %s  %-24s %s%n",
          event.get("sequenceNr").asLong(),
          java.time.Instant.ofEpochMilli(event.get("timestampMillis").asLong()),
          event.get("type").asText(),
          event.get("detail").asText());
    }
    return 0;
  }

  private int setLearningRate(CommandLine line, boolean raw) throws IOException, InterruptedException {
    if (line.positional().size() != 3 || !line.positional().get(1).matches("\\d+")) {
      throw new CommandLine.UsageException("usage: bin/tessera set-lr JOB MEMBER LEARNING-RATE (e.g. set-lr job-1 0 5e-4)");
    }
    double learningRate;
    try {
      learningRate = Double.parseDouble(line.positional().get(2));
    } catch (NumberFormatException e) {
      throw new CommandLine.UsageException("learning rate must be a number, was '" + line.positional().get(2) + "'");
    }
    String jobId = line.positional().get(0);
    String request =
        JSON.writeValueAsString(
            java.util.Map.of("member", Integer.parseInt(line.positional().get(1)), "learningRate", learningRate));
    HttpResponse<String> response = postToJob(jobId, "learning-rate", request);
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 200) {
      return failed(response, body);
    }
    System.out.println(
        raw
            ? response.body()
            : String.format(
                "%s member %d: learning rate %s (x%.4g the spec's), from its next step", jobId,
                body.get("member").asInt(), body.get("learningRate").asText(), body.get("factor").asDouble()));
    return 0;
  }

  private int setBatch(CommandLine line, boolean raw) throws IOException, InterruptedException {
    if (line.positional().size() != 2 || !line.positional().get(1).matches("\\d+")) {
      throw new CommandLine.UsageException("usage: bin/tessera set-batch JOB GLOBAL-BATCH");
    }
    String jobId = line.positional().get(0);
    HttpResponse<String> response =
        postToJob(jobId, "global-batch", "{\"globalBatch\": " + line.positional().get(1) + "}");
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 200) {
      return failed(response, body);
    }
    System.out.println(
        raw
            ? response.body()
            : String.format(
                "%s: global batch %d, learning rate x%.4f", jobId, body.get("globalBatch").asInt(),
                body.get("learningRateScale").asDouble()));
    return 0;
  }

  private static String describe(JsonNode status, double elapsed) {
    StringBuilder line =
        new StringBuilder(
            String.format(
                "%-12s %d/%d samples, %.0f samples/s, loss %s, %d workers, checkpoint %d, epoch %d",
                status.get("state").asText(),
                status.get("samplesDone").asLong(),
                status.get("samplesTotal").asLong(),
                status.get("samplesPerSecond").asDouble(),
                status.get("recentLoss").isNumber()
                    ? String.format("%.4f", status.get("recentLoss").asDouble())
                    : "-",
                status.get("liveWorkers").asInt(),
                status.get("lastCheckpointId").asLong(),
                status.get("recoveryEpoch").asLong()));
    for (JsonNode result : status.get("results")) {
      JsonNode accuracy = result.get("testAccuracy");
      if (accuracy.isNumber()) {
        line.append(String.format(", %s test accuracy %.4f", result.get("name").asText(), accuracy.asDouble()));
      } else {
        line.append(String.format(", %s test loss %.4f", result.get("name").asText(), result.get("testLoss").asDouble()));
      }
    }
    JsonNode ensemble = status.get("ensemble");
    if (ensemble != null && ensemble.isObject()) {
      line.append(String.format(
          ", ensemble: averaged %.4f, majority %.4f, re-voted %.4f", ensemble.get("averaged").asDouble(),
          ensemble.get("majority").asDouble(), ensemble.get("revoted").asDouble()));
    }
    if (!status.get("failure").asText().isEmpty()) {
      line.append(", failure: ").append(status.get("failure").asText());
    }
    return elapsed >= 0 ? String.format("[%5.0fs] ", elapsed) + line : line.toString();
  }

  /** POST {@code json} (null: no body) to {@code api/jobs/{jobId}/{action}}. */
  private HttpResponse<String> postToJob(String jobId, String action, String json)
      throws IOException, InterruptedException {
    return send(
        HttpRequest.newBuilder(base.resolve("api/jobs/" + jobId + "/" + action))
            .POST(json == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(json)));
  }

  private HttpResponse<String> send(HttpRequest.Builder request) throws IOException, InterruptedException {
    return http.send(
        request.timeout(TIMEOUT).header("Authorization", "Bearer " + token).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static int failed(HttpResponse<String> response, JsonNode body) {
    String error = body.has("error") ? body.get("error").asText() : response.body();
    System.err.println("tessera: " + error + " (HTTP " + response.statusCode() + ")");
    return 1;
  }
}
