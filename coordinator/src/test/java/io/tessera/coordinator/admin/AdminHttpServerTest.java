package io.tessera.coordinator.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.http.javadsl.ServerBinding;
import akka.pattern.StatusReply;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tessera.coordinator.Coordinator;
import io.tessera.coordinator.CoordinatorSettings;
import io.tessera.coordinator.TestingJournal;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.testing.WireRoundTrip;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The admin front over real HTTP on loopback, in front of a real coordinator (and, where the
 * coordinator's side of the conversation matters, a probe standing in for it).
 */
class AdminHttpServerTest {
  private static final String TOKEN = "3f9a1c0e7b52d4468e21a9f0c3b7d615";
  private static final Duration TIMEOUT = Duration.ofSeconds(10);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String VALID_SPEC =
      String.join(
          "\n",
          "name = \"fmnist-vit\"",
          "epochs = 2",
          "global-batch = 128",
          "micro-batch = 32",
          "model { patch-size = 7, dim = 32, depth = 2, heads = 2, mlp-dim = 64 }",
          "members = [ { name = m0, seed = 1 } ]");

  @TempDir Path snapshots;

  private ActorTestKit testKit;
  private ServerBinding binding;
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(TIMEOUT).build();

  @BeforeEach
  void start() throws Exception {
    // The coordinator watches cluster membership, so it needs the cluster provider (no join).
    testKit =
        ActorTestKit.create(
            "AdminHttpServerTest",
            TestingJournal.inMemory(snapshots).withFallback(WireRoundTrip.clusterTestConfig()));
    ActorRef<CoordinatorProtocol.Command> coordinator =
        testKit.spawn(
            Coordinator.create(
                new CoordinatorSettings(Duration.ofSeconds(5), Duration.ofSeconds(5), Duration.ofSeconds(5), 3)),
            "coordinator");
    binding = bind(coordinator, Duration.ofSeconds(5));
  }

  @AfterEach
  void stop() throws Exception {
    binding.unbind().toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    testKit.shutdownTestKit();
  }

  private ServerBinding bind(ActorRef<CoordinatorProtocol.Command> coordinator, Duration askTimeout)
      throws Exception {
    AdminSettings settings = new AdminSettings(true, "127.0.0.1", 0, TOKEN, askTimeout);
    return AdminHttpServer.start(testKit.system(), coordinator, settings)
        .toCompletableFuture()
        .get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
  }

  // ------------------------------------------------------------------ authentication

  @Test
  void healthNeedsNoToken() throws Exception {
    HttpResponse<String> response = send(get(binding, "/health").build());

    assertEquals(200, response.statusCode());
    assertEquals("ok", response.body());
  }

  @Test
  void aRequestWithoutATokenIsRefusedWithAJsonError() throws Exception {
    HttpResponse<String> response = send(get(binding, "/api/jobs").build());

    assertEquals(401, response.statusCode());
    assertEquals("application/json", response.headers().firstValue("Content-Type").orElse(""));
    String error = JSON.readTree(response.body()).path("error").asText();
    assertTrue(error.contains("Authorization: Bearer"), error);
  }

  @Test
  void aWrongTokenIsRefused() throws Exception {
    for (String header :
        new String[] {
          "Bearer " + TOKEN.substring(0, TOKEN.length() - 1) + "0",
          "Bearer " + TOKEN + "0",
          "Bearer ",
          TOKEN,
          "Basic " + TOKEN
        }) {
      HttpResponse<String> response =
          send(get(binding, "/api/jobs").header("Authorization", header).build());

      assertEquals(401, response.statusCode(), header);
      assertTrue(JSON.readTree(response.body()).has("error"), response.body());
    }
  }

  @Test
  void aRefusedSubmissionQueuesNothing() throws Exception {
    HttpResponse<String> refused =
        send(
            HttpRequest.newBuilder(uri(binding, "/api/jobs"))
                .POST(HttpRequest.BodyPublishers.ofString(VALID_SPEC))
                .header("Authorization", "Bearer wrong")
                .build());
    assertEquals(401, refused.statusCode());

    JsonNode jobs = JSON.readTree(send(authorized(get(binding, "/api/jobs"))).body());
    assertEquals(0, jobs.size());
  }

  // ------------------------------------------------------------------ jobs

  @Test
  void aValidSpecIsQueuedAndReported() throws Exception {
    HttpResponse<String> created = send(post(binding, VALID_SPEC));

    assertEquals(201, created.statusCode(), created.body());
    assertEquals("application/json", created.headers().firstValue("Content-Type").orElse(""));
    assertEquals("job-1", JSON.readTree(created.body()).path("jobId").asText());

    HttpResponse<String> status = send(authorized(get(binding, "/api/jobs/job-1")));
    assertEquals(200, status.statusCode(), status.body());
    JsonNode job = JSON.readTree(status.body());
    assertEquals("job-1", job.path("jobId").asText());
    assertEquals("fmnist-vit", job.path("name").asText());
    assertEquals("QUEUED", job.path("state").asText(), "no worker is registered");
    assertEquals(0, job.path("samplesDone").asLong());
    assertEquals("NaN", job.path("recentLoss").asText(), "NaN travels as a string");

    HttpResponse<String> history = send(authorized(get(binding, "/api/jobs/job-1/accumulation")));
    assertEquals(200, history.statusCode(), history.body());
    JsonNode plans = JSON.readTree(history.body());
    assertEquals(128, plans.path("globalBatch").asInt());
    assertEquals(32, plans.path("microBatch").asInt());
    assertTrue(plans.path("plans").isArray());
    assertEquals(0, plans.path("plans").size());
  }

  @Test
  void theJobListIsAJsonArrayInSubmissionOrder() throws Exception {
    HttpResponse<String> empty = send(authorized(get(binding, "/api/jobs")));
    assertEquals(200, empty.statusCode());
    assertEquals("[]", empty.body());

    assertEquals(201, send(post(binding, VALID_SPEC)).statusCode());
    assertEquals(201, send(post(binding, VALID_SPEC.replace("fmnist-vit", "second"))).statusCode());

    HttpResponse<String> listed = send(authorized(get(binding, "/api/jobs/")));
    assertEquals(200, listed.statusCode());
    JsonNode jobs = JSON.readTree(listed.body());
    assertTrue(jobs.isArray(), listed.body());
    assertEquals(2, jobs.size());
    assertEquals("job-1", jobs.get(0).path("jobId").asText());
    assertEquals("second", jobs.get(1).path("name").asText());
  }

  @Test
  void anInvalidSpecIsRefusedNamingTheField() throws Exception {
    HttpResponse<String> zero = send(post(binding, "name = \"fmnist-vit\"\nmicro-batch = 0"));
    assertEquals(400, zero.statusCode());
    assertEquals("micro-batch must be positive, was 0", JSON.readTree(zero.body()).path("error").asText());

    HttpResponse<String> typo = send(post(binding, "name = \"fmnist-vit\"\nepoch = 3"));
    assertEquals(400, typo.statusCode());
    String typoError = JSON.readTree(typo.body()).path("error").asText();
    assertTrue(typoError.contains("unknown key epoch"), typoError);

    HttpResponse<String> uneven =
        send(post(binding, "name = \"fmnist-vit\"\nglobal-batch = 100\nmicro-batch = 32"));
    assertEquals(400, uneven.statusCode());
    String unevenError = JSON.readTree(uneven.body()).path("error").asText();
    assertTrue(unevenError.startsWith("global-batch"), unevenError);

    HttpResponse<String> garbage = send(post(binding, "name = {{{"));
    assertEquals(400, garbage.statusCode());
    String garbageError = JSON.readTree(garbage.body()).path("error").asText();
    assertTrue(garbageError.contains("not valid HOCON"), garbageError);

    HttpResponse<String> jobs = send(authorized(get(binding, "/api/jobs")));
    assertEquals("[]", jobs.body(), "nothing was queued");
  }

  @Test
  void aJsonSpecIsAcceptedToo() throws Exception {
    String json =
        "{\"name\": \"fmnist-json\", \"epochs\": 1, \"global-batch\": 64, \"micro-batch\": 32}";
    HttpResponse<String> created = send(post(binding, json));

    assertEquals(201, created.statusCode(), created.body());
    assertEquals("job-1", JSON.readTree(created.body()).path("jobId").asText());
  }

  @Test
  void anUnknownJobIsNotFound() throws Exception {
    HttpResponse<String> status = send(authorized(get(binding, "/api/jobs/job-9")));
    assertEquals(404, status.statusCode());
    assertEquals("no job job-9", JSON.readTree(status.body()).path("error").asText());

    HttpResponse<String> history = send(authorized(get(binding, "/api/jobs/job-9/accumulation")));
    assertEquals(404, history.statusCode());
    assertEquals("no job job-9", JSON.readTree(history.body()).path("error").asText());
  }

  // ------------------------------------------------------------------ checkpoints and the audit log

  @Test
  void aCheckpointOfAJobThatCannotTakeOneIsRefusedWithTheReason() throws Exception {
    HttpResponse<String> unknown = send(postCheckpoint(binding, "job-9"));
    assertEquals(404, unknown.statusCode());
    assertEquals("cannot checkpoint now: no job job-9", JSON.readTree(unknown.body()).path("error").asText());

    assertEquals(201, send(post(binding, VALID_SPEC)).statusCode());
    HttpResponse<String> queued = send(postCheckpoint(binding, "job-1"));
    assertEquals(404, queued.statusCode());
    assertEquals(
        "cannot checkpoint now: job job-1 is QUEUED", JSON.readTree(queued.body()).path("error").asText());
  }

  @Test
  void theAuditLogListsTheAcknowledgedCommandsOldestFirst() throws Exception {
    HttpResponse<String> empty = send(authorized(get(binding, "/api/audit")));
    assertEquals(200, empty.statusCode());
    assertEquals("[]", empty.body());

    assertEquals(201, send(post(binding, VALID_SPEC)).statusCode());
    assertEquals(404, send(postCheckpoint(binding, "job-1")).statusCode());
    assertEquals(201, send(post(binding, VALID_SPEC.replace("fmnist-vit", "second"))).statusCode());

    HttpResponse<String> response = send(authorized(get(binding, "/api/audit")));
    assertEquals(200, response.statusCode(), response.body());
    assertEquals("application/json", response.headers().firstValue("Content-Type").orElse(""));
    JsonNode records = JSON.readTree(response.body());
    assertTrue(records.isArray(), response.body());
    assertEquals(2, records.size(), "the refused checkpoint was not acknowledged: " + response.body());
    assertEquals(1, records.get(0).path("sequence").asLong());
    assertEquals("submit", records.get(0).path("command").asText());
    assertEquals("job-1 (fmnist-vit)", records.get(0).path("detail").asText());
    assertEquals(2, records.get(1).path("sequence").asLong());
    assertEquals("job-2 (second)", records.get(1).path("detail").asText());
    assertTrue(records.get(0).path("atMillis").asLong() > 0, response.body());
    assertTrue(records.get(0).path("atMillis").asLong() <= records.get(1).path("atMillis").asLong());

    assertEquals(401, send(get(binding, "/api/audit").build()).statusCode(), "the log needs the token too");
  }

  // ------------------------------------------------------------------ against a probe

  @Test
  void submitsTheParsedSpecAndReportsASilentCoordinator() throws Exception {
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ServerBinding probed = bind(coordinator.getRef(), Duration.ofMillis(500));
    try {
      CompletableFuture<HttpResponse<String>> created = sendAsync(post(probed, VALID_SPEC));
      CoordinatorProtocol.SubmitJob submit =
          coordinator.expectMessageClass(CoordinatorProtocol.SubmitJob.class, TIMEOUT);
      assertEquals(JobSpecParser.parse(VALID_SPEC), submit.spec());
      submit.replyTo().tell(StatusReply.success(new CoordinatorProtocol.JobAccepted("job-77")));
      HttpResponse<String> response = created.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      assertEquals(201, response.statusCode());
      assertEquals("job-77", JSON.readTree(response.body()).path("jobId").asText());

      // The probe never answers the status request: the ask times out and the front says so.
      CompletableFuture<HttpResponse<String>> status = sendAsync(authorized(get(probed, "/api/jobs/job-77")));
      CoordinatorProtocol.GetJobStatus asked =
          coordinator.expectMessageClass(CoordinatorProtocol.GetJobStatus.class, TIMEOUT);
      assertEquals("job-77", asked.jobId());
      HttpResponse<String> silent = status.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      assertEquals(503, silent.statusCode());
      String error = JSON.readTree(silent.body()).path("error").asText();
      assertTrue(error.startsWith("coordinator did not answer"), error);
    } finally {
      probed.unbind().toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }
  }

  @Test
  void aCheckpointRequestIsAcceptedWithTheIdOfTheCheckpoint() throws Exception {
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ServerBinding probed = bind(coordinator.getRef(), Duration.ofSeconds(5));
    try {
      CompletableFuture<HttpResponse<String>> accepted = sendAsync(postCheckpoint(probed, "job-3"));
      CoordinatorProtocol.RequestCheckpoint request =
          coordinator.expectMessageClass(CoordinatorProtocol.RequestCheckpoint.class, TIMEOUT);
      assertEquals("job-3", request.jobId());
      request.replyTo().tell(StatusReply.success(new CoordinatorProtocol.CheckpointRequested("job-3", 7)));

      HttpResponse<String> response = accepted.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      assertEquals(202, response.statusCode(), response.body());
      assertEquals("application/json", response.headers().firstValue("Content-Type").orElse(""));
      JsonNode body = JSON.readTree(response.body());
      assertEquals("job-3", body.path("jobId").asText());
      assertEquals(7, body.path("checkpointId").asLong());

      HttpResponse<String> anonymous =
          send(
              HttpRequest.newBuilder(uri(probed, "/api/jobs/job-3/checkpoint"))
                  .POST(HttpRequest.BodyPublishers.noBody())
                  .build());
      assertEquals(401, anonymous.statusCode());
      coordinator.expectNoMessage(Duration.ofMillis(200));
    } finally {
      probed.unbind().toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }
  }

  // ------------------------------------------------------------------ HTTP

  private static URI uri(ServerBinding server, String path) {
    return URI.create("http://127.0.0.1:" + server.localAddress().getPort() + path);
  }

  private static HttpRequest.Builder get(ServerBinding server, String path) {
    return HttpRequest.newBuilder(uri(server, path)).timeout(TIMEOUT).GET();
  }

  private static HttpRequest post(ServerBinding server, String spec) {
    return HttpRequest.newBuilder(uri(server, "/api/jobs"))
        .timeout(TIMEOUT)
        .header("Authorization", "Bearer " + TOKEN)
        .header("Content-Type", "text/plain; charset=UTF-8")
        .POST(HttpRequest.BodyPublishers.ofString(spec))
        .build();
  }

  private static HttpRequest postCheckpoint(ServerBinding server, String jobId) {
    return HttpRequest.newBuilder(uri(server, "/api/jobs/" + jobId + "/checkpoint"))
        .timeout(TIMEOUT)
        .header("Authorization", "Bearer " + TOKEN)
        .POST(HttpRequest.BodyPublishers.noBody())
        .build();
  }

  private static HttpRequest authorized(HttpRequest.Builder request) {
    return request.header("Authorization", "Bearer " + TOKEN).build();
  }

  private HttpResponse<String> send(HttpRequest request) throws Exception {
    return http.send(request, HttpResponse.BodyHandlers.ofString());
  }

  private CompletableFuture<HttpResponse<String>> sendAsync(HttpRequest request) {
    return http.sendAsync(request, HttpResponse.BodyHandlers.ofString());
  }
}
