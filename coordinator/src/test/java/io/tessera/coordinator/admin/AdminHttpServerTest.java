package io.tessera.coordinator.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.SpecException;
import io.tessera.testkit.WireRoundTrip;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
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

  private static final String PIPELINE_SPEC =
      String.join(
          "\n",
          "name = \"fmnist-mae\"",
          "global-batch = 128",
          "micro-batch = 32",
          "model { patch-size = 7, dim = 32, depth = 2, heads = 2, mlp-dim = 64 }",
          "stages = [",
          "  { name = pre, kind = mae-pretrain }",
          "  { name = ft, kind = finetune, from = pre, ensemble-size = 2 }",
          "  { name = probe, kind = linear-probe, from = ft }",
          "]");

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
  void aMultiStageSpecIsQueuedAsOneJobPerStage() throws Exception {
    HttpResponse<String> created = send(post(binding, PIPELINE_SPEC));

    assertEquals(201, created.statusCode(), created.body());
    JsonNode accepted = JSON.readTree(created.body());
    assertEquals("job-1", accepted.path("jobId").asText(), "the pipeline's id");
    assertEquals(
        List.of("job-1.pre", "job-1.ft", "job-1.probe"),
        List.of(
            accepted.path("jobIds").path(0).asText(),
            accepted.path("jobIds").path(1).asText(),
            accepted.path("jobIds").path(2).asText()));
    assertEquals(3, accepted.path("jobIds").size());

    JsonNode jobs = JSON.readTree(send(authorized(get(binding, "/api/jobs"))).body());
    assertEquals(3, jobs.size(), jobs::toString);
    HttpResponse<String> stage = send(authorized(get(binding, "/api/jobs/job-1.ft")));
    assertEquals(200, stage.statusCode(), stage.body());
    JsonNode ft = JSON.readTree(stage.body());
    assertEquals("job-1.ft", ft.path("jobId").asText());
    assertEquals("ft", ft.path("stage").asText());
    assertEquals("FINETUNE", ft.path("kind").asText());
    assertEquals("QUEUED", ft.path("state").asText());

    // The next submission takes the next number, not one of the stages'.
    HttpResponse<String> next = send(post(binding, VALID_SPEC));
    assertEquals("job-2", JSON.readTree(next.body()).path("jobId").asText());
  }

  @Test
  void aSpecWithABadStageIsRefusedWithTheParsersMessage() throws Exception {
    String unknownSource = PIPELINE_SPEC.replace("from = ft", "from = nowhere");
    HttpResponse<String> unknown = send(post(binding, unknownSource));
    assertEquals(400, unknown.statusCode(), unknown.body());
    String unknownError = JSON.readTree(unknown.body()).path("error").asText();
    assertEquals("stages[probe].from must name an earlier stage, was 'nowhere'", unknownError);
    assertEquals(parserMessage(unknownSource), unknownError);

    String noSource = PIPELINE_SPEC.replace(", from = pre", "");
    HttpResponse<String> missing = send(post(binding, noSource));
    assertEquals(400, missing.statusCode(), missing.body());
    String missingError = JSON.readTree(missing.body()).path("error").asText();
    assertEquals(parserMessage(noSource), missingError);
    assertTrue(missingError.startsWith("stage 'ft': stages[ft].from must name the earlier stage"), missingError);

    HttpResponse<String> jobs = send(authorized(get(binding, "/api/jobs")));
    assertEquals("[]", jobs.body(), "no stage of a refused pipeline was queued");
  }

  private static String parserMessage(String spec) {
    return assertThrows(SpecException.class, () -> JobSpecParser.parsePipeline(spec)).getMessage();
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
  void aQueuedJobIsCancelledOnceAnUnknownOneIsNotFoundAndTheTokenIsNeeded() throws Exception {
    assertEquals(201, send(post(binding, VALID_SPEC)).statusCode());

    HttpResponse<String> anonymous =
        send(HttpRequest.newBuilder(uri(binding, "/api/jobs/job-1/cancel")).POST(HttpRequest.BodyPublishers.noBody()).build());
    assertEquals(401, anonymous.statusCode());
    assertEquals("QUEUED", JSON.readTree(send(authorized(get(binding, "/api/jobs/job-1"))).body()).path("state").asText());

    HttpResponse<String> cancelled = send(postJson(binding, "/api/jobs/job-1/cancel", ""));
    assertEquals(200, cancelled.statusCode(), cancelled.body());
    assertEquals("job-1", JSON.readTree(cancelled.body()).path("jobIds").get(0).asText());
    JsonNode job = JSON.readTree(send(authorized(get(binding, "/api/jobs/job-1"))).body());
    assertEquals("CANCELLED", job.path("state").asText());
    assertEquals("cancelled by an operator while QUEUED", job.path("failure").asText());

    HttpResponse<String> again = send(postJson(binding, "/api/jobs/job-1/cancel", ""));
    assertEquals(409, again.statusCode(), again.body());
    assertTrue(JSON.readTree(again.body()).path("error").asText().contains("job-1 is CANCELLED"), again.body());
    HttpResponse<String> unknown = send(postJson(binding, "/api/jobs/job-9/cancel", ""));
    assertEquals(404, unknown.statusCode(), unknown.body());
    assertEquals("no job job-9", JSON.readTree(unknown.body()).path("error").asText());

    JsonNode audit = JSON.readTree(send(authorized(get(binding, "/api/audit"))).body());
    assertEquals("cancel", audit.get(audit.size() - 1).path("command").asText());
    assertEquals("job-1", audit.get(audit.size() - 1).path("detail").asText());
  }

  @Test
  void aQueuedJobIsPausedAndResumedItsCheckpointsListedAndARestoreOfItRefusedWithTheReason() throws Exception {
    assertEquals(201, send(post(binding, VALID_SPEC)).statusCode());
    HttpResponse<String> anonymous =
        send(HttpRequest.newBuilder(uri(binding, "/api/jobs/job-1/pause")).POST(HttpRequest.BodyPublishers.noBody()).build());
    assertEquals(401, anonymous.statusCode());

    HttpResponse<String> paused = send(postJson(binding, "/api/jobs/job-1/pause", ""));
    assertEquals(200, paused.statusCode(), paused.body());
    assertEquals("job-1", JSON.readTree(paused.body()).path("jobIds").get(0).asText());
    assertEquals("PAUSED", JSON.readTree(send(authorized(get(binding, "/api/jobs/job-1"))).body()).path("state").asText());
    HttpResponse<String> twice = send(postJson(binding, "/api/jobs/job-1/pause", ""));
    assertEquals(409, twice.statusCode(), twice.body());
    assertEquals(
        "nothing to pause: job-1 is PAUSED; only queued, running or recovering jobs can be",
        JSON.readTree(twice.body()).path("error").asText());

    HttpResponse<String> checkpoints = send(authorized(get(binding, "/api/jobs/job-1/checkpoints")));
    assertEquals(200, checkpoints.statusCode(), checkpoints.body());
    assertEquals(0, JSON.readTree(checkpoints.body()).size(), "a job that never ran has none");
    HttpResponse<String> restore = send(postJson(binding, "/api/jobs/job-1/restore", "{\"checkpoint\": 0}"));
    assertEquals(404, restore.statusCode(), restore.body());
    assertEquals("job-1 has no checkpoint 0; it has []", JSON.readTree(restore.body()).path("error").asText());
    HttpResponse<String> malformed = send(postJson(binding, "/api/jobs/job-1/restore", "{\"checkpoint\": -3}"));
    assertEquals(400, malformed.statusCode(), malformed.body());

    HttpResponse<String> resumed = send(postJson(binding, "/api/jobs/job-1/resume", ""));
    assertEquals(200, resumed.statusCode(), resumed.body());
    assertEquals("QUEUED", JSON.readTree(send(authorized(get(binding, "/api/jobs/job-1"))).body()).path("state").asText());
    assertEquals(404, send(postJson(binding, "/api/jobs/job-9/resume", "")).statusCode());
    assertEquals(404, send(authorized(get(binding, "/api/jobs/job-9/checkpoints"))).statusCode());

    JsonNode audit = JSON.readTree(send(authorized(get(binding, "/api/audit"))).body());
    assertEquals("resume", audit.get(audit.size() - 1).path("command").asText());
    assertEquals("pause", audit.get(audit.size() - 2).path("command").asText());
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
      AdminProtocol.SubmitPipeline submit =
          coordinator.expectMessageClass(AdminProtocol.SubmitPipeline.class, TIMEOUT);
      assertEquals(JobSpecParser.parsePipeline(VALID_SPEC), submit.pipeline());
      submit.replyTo().tell(StatusReply.success(new CoordinatorProtocol.PipelineAccepted("job-77", List.of("job-77"))));
      HttpResponse<String> response = created.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      assertEquals(201, response.statusCode());
      assertEquals("job-77", JSON.readTree(response.body()).path("jobId").asText());
      assertEquals("job-77", JSON.readTree(response.body()).path("jobIds").path(0).asText());

      // The probe never answers the status request: the ask times out and the front says so.
      CompletableFuture<HttpResponse<String>> status = sendAsync(authorized(get(probed, "/api/jobs/job-77")));
      AdminProtocol.GetJobStatus asked =
          coordinator.expectMessageClass(AdminProtocol.GetJobStatus.class, TIMEOUT);
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
      AdminProtocol.RequestCheckpoint request =
          coordinator.expectMessageClass(AdminProtocol.RequestCheckpoint.class, TIMEOUT);
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

  // ------------------------------------------------------------------ workers, drains, the batch, curves

  @Test
  void theOperatorRoutesNeedTheToken() throws Exception {
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ServerBinding probed = bind(coordinator.getRef(), Duration.ofSeconds(5));
    try {
      assertEquals(401, send(get(probed, "/api/workers").build()).statusCode());
      assertEquals(401, send(get(probed, "/api/jobs/job-1/curve").build()).statusCode());
      assertEquals(401, send(get(probed, "/api/jobs/job-1/shards").build()).statusCode());
      for (String path : new String[] {"/api/drain", "/api/jobs/job-1/global-batch"}) {
        HttpResponse<String> refused =
            send(
                HttpRequest.newBuilder(uri(probed, path))
                    .timeout(TIMEOUT)
                    .header("Authorization", "Bearer " + TOKEN + "x")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"target\": \"w\", \"globalBatch\": 64}"))
                    .build());
        assertEquals(401, refused.statusCode(), path);
      }
      coordinator.expectNoMessage(Duration.ofMillis(200));
    } finally {
      probed.unbind().toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }
  }

  @Test
  void theClusterRouteListsTheMembersThisNodeSeesWithTheirStatus() throws Exception {
    assertEquals(401, send(get(binding, "/api/cluster").build()).statusCode());
    JsonNode alone = JSON.readTree(send(authorized(get(binding, "/api/cluster"))).body());
    assertEquals(0, alone.get("members").size(), "not joined yet: " + alone);

    akka.cluster.typed.Cluster cluster = akka.cluster.typed.Cluster.get(testKit.system());
    String self = cluster.selfMember().address().toString();
    cluster.manager().tell(akka.cluster.typed.Join.create(cluster.selfMember().address()));
    testKit.createTestProbe().awaitAssert(TIMEOUT, () -> {
      JsonNode view = JSON.readTree(send(authorized(get(binding, "/api/cluster"))).body());
      assertEquals(self, view.get("self").asText());
      assertEquals(1, view.get("members").size(), view::toString);
      JsonNode member = view.get("members").get(0);
      assertEquals(self, member.get("address").asText());
      assertEquals("Up", member.get("status").asText());
      assertEquals(0, view.get("unreachable").size());
      return null;
    });
  }

  @Test
  void theWorkersAreListedAsAJsonArray() throws Exception {
    HttpResponse<String> none = send(authorized(get(binding, "/api/workers")));
    assertEquals(200, none.statusCode(), none.body());
    assertEquals("[]", none.body());

    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ServerBinding probed = bind(coordinator.getRef(), Duration.ofSeconds(5));
    try {
      CompletableFuture<HttpResponse<String>> listed = sendAsync(authorized(get(probed, "/api/workers")));
      coordinator
          .expectMessageClass(AdminProtocol.ListWorkers.class, TIMEOUT)
          .replyTo()
          .tell(
              new CoordinatorProtocol.WorkerList(
                  List.of(
                      new CoordinatorProtocol.WorkerInfo("w-1", "training", 0, 4, 1, -1),
                      new CoordinatorProtocol.WorkerInfo("w-2", "drained", -1, 0, 0, 1_234))));

      HttpResponse<String> response = listed.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      assertEquals(200, response.statusCode(), response.body());
      assertEquals("application/json", response.headers().firstValue("Content-Type").orElse(""));
      JsonNode workers = JSON.readTree(response.body());
      assertEquals(2, workers.size());
      JsonNode training = workers.get(0);
      assertEquals("w-1", training.path("workerId").asText());
      assertEquals("training", training.path("state").asText());
      assertEquals(0, training.path("member").asInt());
      assertEquals(4, training.path("accumulationSteps").asInt());
      assertEquals(1, training.path("leasesHeld").asInt());
      assertEquals("drained", workers.get(1).path("state").asText());
      assertEquals(1_234, workers.get(1).path("drainMillis").asLong());
    } finally {
      probed.unbind().toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }
  }

  @Test
  void aDrainWithoutATargetIsABadRequestAndAnUnknownTargetIsRefused() throws Exception {
    for (String body : new String[] {"", "not json", "{}", "{\"target\": \"\"}", "{\"target\": null}", "[\"w-1\"]"}) {
      HttpResponse<String> response = send(postJson(binding, "/api/drain", body));
      assertEquals(400, response.statusCode(), body);
      String error = JSON.readTree(response.body()).path("error").asText();
      assertTrue(error.contains("target"), error);
    }

    HttpResponse<String> unknown = send(postJson(binding, "/api/drain", "{\"target\": \"10.1.2.3:25520\"}"));
    assertEquals(400, unknown.statusCode(), unknown.body());
    String error = JSON.readTree(unknown.body()).path("error").asText();
    assertTrue(error.contains("'10.1.2.3:25520'"), error);
    assertEquals("[]", send(authorized(get(binding, "/api/audit"))).body(), "nothing was acknowledged");
  }

  @Test
  void aDrainIsAcceptedWithTheWorkersItConcerns() throws Exception {
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ServerBinding probed = bind(coordinator.getRef(), Duration.ofSeconds(5));
    try {
      String target = "akka://tessera@10.0.0.7:25520";
      CompletableFuture<HttpResponse<String>> accepted =
          sendAsync(postJson(probed, "/api/drain", "{\"target\": \"" + target + "\"}"));
      AdminProtocol.DrainWorkers drain =
          coordinator.expectMessageClass(AdminProtocol.DrainWorkers.class, TIMEOUT);
      assertEquals(target, drain.target());
      drain.replyTo().tell(StatusReply.success(new CoordinatorProtocol.DrainStarted(List.of("w-1", "w-2"))));

      HttpResponse<String> response = accepted.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      assertEquals(202, response.statusCode(), response.body());
      JsonNode ids = JSON.readTree(response.body()).path("workerIds");
      assertEquals(List.of("w-1", "w-2"), List.of(ids.get(0).asText(), ids.get(1).asText()));
    } finally {
      probed.unbind().toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }
  }

  @Test
  void aGlobalBatchThatIsNoWholeNumberOrIsRefusedIsABadRequest() throws Exception {
    for (String body : new String[] {"", "{}", "{\"globalBatch\": \"256\"}", "{\"globalBatch\": 1.5}",
        "{\"globalBatch\": 10000000000}", "{\"global-batch\": 256}", "garbage"}) {
      HttpResponse<String> response = send(postJson(binding, "/api/jobs/job-1/global-batch", body));
      assertEquals(400, response.statusCode(), body);
      assertEquals(
          "send {\"globalBatch\": <whole number>}", JSON.readTree(response.body()).path("error").asText(), body);
    }

    HttpResponse<String> unknown = send(postJson(binding, "/api/jobs/job-9/global-batch", "{\"globalBatch\": 256}"));
    assertEquals(400, unknown.statusCode());
    assertEquals("no job job-9", JSON.readTree(unknown.body()).path("error").asText());
    assertEquals(201, send(post(binding, VALID_SPEC)).statusCode());
    HttpResponse<String> queued = send(postJson(binding, "/api/jobs/job-1/global-batch", "{\"globalBatch\": 256}"));
    assertEquals(400, queued.statusCode());
    assertEquals(
        "job job-1 is QUEUED; the global batch changes while it runs",
        JSON.readTree(queued.body()).path("error").asText());
  }

  @Test
  void aGlobalBatchChangeAnswersTheNewBatchAndLearningRateScale() throws Exception {
    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ServerBinding probed = bind(coordinator.getRef(), Duration.ofSeconds(5));
    try {
      CompletableFuture<HttpResponse<String>> set =
          sendAsync(postJson(probed, "/api/jobs/job-3/global-batch", "{\"globalBatch\": 256}"));
      AdminProtocol.SetGlobalBatch asked =
          coordinator.expectMessageClass(AdminProtocol.SetGlobalBatch.class, TIMEOUT);
      assertEquals("job-3", asked.jobId());
      assertEquals(256, asked.globalBatch());
      asked.replyTo().tell(StatusReply.success(new CoordinatorProtocol.GlobalBatchSet("job-3", 256, 2.0)));

      HttpResponse<String> response = set.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      assertEquals(200, response.statusCode(), response.body());
      JsonNode body = JSON.readTree(response.body());
      assertEquals("job-3", body.path("jobId").asText());
      assertEquals(256, body.path("globalBatch").asInt());
      assertEquals(2.0, body.path("learningRateScale").asDouble());
    } finally {
      probed.unbind().toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }
  }

  @Test
  void theTrainingCurveIsOneLossPerStepOfTheMemberAsked() throws Exception {
    HttpResponse<String> unknown = send(authorized(get(binding, "/api/jobs/job-9/curve")));
    assertEquals(404, unknown.statusCode());
    assertEquals("no member 0 of job job-9", JSON.readTree(unknown.body()).path("error").asText());
    HttpResponse<String> notANumber = send(authorized(get(binding, "/api/jobs/job-9/curve?member=first")));
    assertEquals(400, notANumber.statusCode());
    assertTrue(JSON.readTree(notANumber.body()).path("error").asText().contains("'first'"));

    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ServerBinding probed = bind(coordinator.getRef(), Duration.ofSeconds(5));
    try {
      CompletableFuture<HttpResponse<String>> byDefault = sendAsync(authorized(get(probed, "/api/jobs/job-3/curve")));
      AdminProtocol.GetTrainingCurve first =
          coordinator.expectMessageClass(AdminProtocol.GetTrainingCurve.class, TIMEOUT);
      assertEquals("job-3", first.jobId());
      assertEquals(0, first.member(), "member 0 unless asked");
      first.replyTo().tell(StatusReply.success(new CoordinatorProtocol.TrainingCurve("job-3", 0, List.of())));
      assertEquals(200, byDefault.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS).statusCode());

      CompletableFuture<HttpResponse<String>> curve =
          sendAsync(authorized(get(probed, "/api/jobs/job-3/curve?member=2")));
      AdminProtocol.GetTrainingCurve asked =
          coordinator.expectMessageClass(AdminProtocol.GetTrainingCurve.class, TIMEOUT);
      assertEquals(2, asked.member());
      asked.replyTo().tell(
          StatusReply.success(new CoordinatorProtocol.TrainingCurve("job-3", 2, List.of(2.25, 1.5, Double.NaN))));

      HttpResponse<String> response = curve.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      assertEquals(200, response.statusCode(), response.body());
      JsonNode body = JSON.readTree(response.body());
      assertEquals("job-3", body.path("jobId").asText());
      assertEquals(2, body.path("member").asInt());
      JsonNode losses = body.path("stepLosses");
      assertEquals(3, losses.size());
      assertEquals(2.25, losses.get(0).asDouble());
      assertEquals("NaN", losses.get(2).asText(), "NaN travels as a string");
    } finally {
      probed.unbind().toCompletableFuture().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }
  }

  @Test
  void theShardCountersOfAJobAreListed() throws Exception {
    HttpResponse<String> unknown = send(authorized(get(binding, "/api/jobs/job-9/shards")));
    assertEquals(404, unknown.statusCode());
    assertEquals("no job job-9", JSON.readTree(unknown.body()).path("error").asText());

    TestProbe<CoordinatorProtocol.Command> coordinator = testKit.createTestProbe();
    ServerBinding probed = bind(coordinator.getRef(), Duration.ofSeconds(5));
    try {
      CompletableFuture<HttpResponse<String>> listed = sendAsync(authorized(get(probed, "/api/jobs/job-3/shards")));
      AdminProtocol.GetShardStatuses asked =
          coordinator.expectMessageClass(AdminProtocol.GetShardStatuses.class, TIMEOUT);
      assertEquals("job-3", asked.jobId());
      asked.replyTo().tell(
          StatusReply.success(
              new CoordinatorProtocol.ShardStatuses(
                  "job-3",
                  List.of(
                      new ShardProtocol.ShardStatus(
                          "job-3:m0:s0", true, 1, 2, 40, 80, 3, 1, 0, 6, 2, 1, List.of("w-1", "w-2"), 4, 37,
                          38)))));

      HttpResponse<String> response = listed.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      assertEquals(200, response.statusCode(), response.body());
      JsonNode shard = JSON.readTree(response.body()).get(0);
      assertEquals("job-3:m0:s0", shard.path("entityId").asText());
      assertEquals(40, shard.path("version").asLong());
      assertEquals(2, shard.path("maxClockLead").asLong());
      assertEquals(2, shard.path("pushers").size());
      assertEquals(4, shard.path("pushesRevoked").asLong());
      assertEquals(37, shard.path("splitsApplied").asLong(), response.body());
      assertEquals(38, shard.path("splitApplications").asLong(), response.body());
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

  private static HttpRequest postJson(ServerBinding server, String path, String body) {
    return HttpRequest.newBuilder(uri(server, path))
        .timeout(TIMEOUT)
        .header("Authorization", "Bearer " + TOKEN)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body))
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
