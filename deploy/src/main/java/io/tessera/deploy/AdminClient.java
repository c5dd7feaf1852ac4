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
 * {@code bin/tessera submit | status | jobs | checkpoint | cancel | audit | workers | drain | set-batch}:
 * talks to a running cluster's admin front.
 */
final class AdminClient {
  private static final JsonMapper JSON = new JsonMapper();
  private static final Duration TIMEOUT = Duration.ofSeconds(30);
  private static final long WATCH_INTERVAL_MILLIS = 5_000;

  private final URI base;
  private final String token;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private AdminClient(URI base, String token) {
    this.base = base;
    this.token = token;
  }

  static int run(String command, List<String> args) {
    CommandLine line = CommandLine.parse(args, Set.of("admin", "token", "token-file"), Set.of("json", "watch"));
    String url =
        line.option("admin").orElse(System.getenv().getOrDefault("TESSERA_ADMIN_URL", "http://127.0.0.1:7355"));
    AdminClient client = new AdminClient(URI.create(url.endsWith("/") ? url : url + "/"), token(line));
    try {
      return switch (command) {
        case "submit" -> client.submit(single(line, "submit SPEC"), line.flag("json"));
        case "status" -> client.status(single(line, "status JOB"), line.flag("json"), line.flag("watch"));
        case "checkpoint" -> client.checkpoint(single(line, "checkpoint JOB"), line.flag("json"));
        case "cancel" -> client.cancel(single(line, "cancel JOB"), line.flag("json"));
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
        send(HttpRequest.newBuilder(base.resolve("api/jobs/" + jobId + "/checkpoint")).POST(HttpRequest.BodyPublishers.noBody()));
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 202) {
      return failed(response, body);
    }
    System.out.println(raw ? response.body() : "checkpoint " + body.get("checkpointId").asLong() + " of " + jobId + " started");
    return 0;
  }

  private int cancel(String jobId, boolean raw) throws IOException, InterruptedException {
    HttpResponse<String> response =
        send(HttpRequest.newBuilder(base.resolve("api/jobs/" + jobId + "/cancel")).POST(HttpRequest.BodyPublishers.noBody()));
    JsonNode body = JSON.readTree(response.body());
    if (response.statusCode() != 200) {
      return failed(response, body);
    }
    if (raw) {
      System.out.println(response.body());
    } else {
      for (JsonNode id : body.get("jobIds")) {
        System.out.println("cancelled " + id.asText());
      }
    }
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

  private int setBatch(CommandLine line, boolean raw) throws IOException, InterruptedException {
    if (line.positional().size() != 2 || !line.positional().get(1).matches("\\d+")) {
      throw new CommandLine.UsageException("usage: bin/tessera set-batch JOB GLOBAL-BATCH");
    }
    String jobId = line.positional().get(0);
    String request = "{\"globalBatch\": " + line.positional().get(1) + "}";
    HttpResponse<String> response =
        send(
            HttpRequest.newBuilder(base.resolve("api/jobs/" + jobId + "/global-batch"))
                .POST(HttpRequest.BodyPublishers.ofString(request)));
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
