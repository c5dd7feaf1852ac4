package io.tessera.coordinator.admin;

import static akka.http.javadsl.server.Directives.complete;
import static akka.http.javadsl.server.Directives.completeWithFuture;
import static akka.http.javadsl.server.Directives.concat;
import static akka.http.javadsl.server.Directives.entity;
import static akka.http.javadsl.server.Directives.get;
import static akka.http.javadsl.server.Directives.optionalHeaderValueByName;
import static akka.http.javadsl.server.Directives.parameterOptional;
import static akka.http.javadsl.server.Directives.path;
import static akka.http.javadsl.server.Directives.pathEndOrSingleSlash;
import static akka.http.javadsl.server.Directives.pathPrefix;
import static akka.http.javadsl.server.Directives.pathSingleSlash;
import static akka.http.javadsl.server.Directives.post;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.AskPattern;
import akka.cluster.sharding.typed.GetClusterShardingStats;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.http.javadsl.Http;
import akka.http.javadsl.HttpsConnectionContext;
import akka.http.javadsl.ServerBinding;
import akka.http.javadsl.model.ContentTypes;
import akka.http.javadsl.model.HttpEntities;
import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.StatusCode;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.PathMatchers;
import akka.http.javadsl.server.Route;
import akka.http.javadsl.unmarshalling.Unmarshaller;
import akka.pattern.StatusReply;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.SpecException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * The operators' HTTP/JSON front of the coordinator. Every route except {@code GET /health}
 * requires {@code Authorization: Bearer <token>}.
 *
 * <pre>
 * POST /api/jobs                      body: a job spec (HOCON or JSON)  → 201 {"jobId": ...}
 * GET  /api/jobs                      → every job's status
 * GET  /api/jobs/{id}                 → one job's status
 * GET  /api/jobs/{id}/accumulation    → the accumulation plans handed out
 * POST /api/jobs/{id}/checkpoint      → 202 {"jobId": ..., "checkpointId": ...}
 * POST /api/jobs/{id}/cancel          → 200 {"jobIds": [...]}; 404 unknown, 409 already finished
 * POST /api/jobs/{id}/pause           → 200 {"jobIds": [...]}; 404 unknown, 409 not queued or running
 * POST /api/jobs/{id}/resume          → 200 {"jobIds": [...]}; 404 unknown, 409 not paused
 * GET  /api/jobs/{id}/checkpoints     → the job's complete checkpoints, oldest first
 * GET  /api/jobs/{id}/events          → what the coordinator journaled about it (?from=&limit=&leases=true)
 * POST /api/jobs/{id}/restore         body: {"checkpoint": N} → 200; 404 unknown job or checkpoint
 * POST /api/jobs/{id}/learning-rate   body: {"member": M, "learningRate": R} → 200; 400 refused
 * GET  /api/audit                     → the acknowledged operator commands, oldest first
 * GET  /api/cluster                   → the members this node sees (address, status, roles)
 * GET  /api/shard-regions             → each ps node's parameter shards (entity ids)
 * GET  /health                        → 200 ok
 * GET  / (or /dashboard)               → the live page: jobs, loss curves, checkpoints, workers
 * </pre>
 */
public final class AdminHttpServer {
  private static final JsonMapper JSON =
      JsonMapper.builder().enable(JsonWriteFeature.WRITE_NAN_AS_STRINGS).build();

  private final ActorSystem<?> system;
  private final ActorRef<CoordinatorProtocol.Command> coordinator;
  private final AdminSettings settings;

  private final JobEventLog eventLog;

  private AdminHttpServer(
      ActorSystem<?> system,
      ActorRef<CoordinatorProtocol.Command> coordinator,
      AdminSettings settings,
      JobEventLog eventLog) {
    this.system = system;
    this.coordinator = coordinator;
    this.settings = settings;
    this.eventLog = eventLog;
  }

  /** Binds the front; the binding completes once it listens. */
  public static CompletionStage<ServerBinding> start(
      ActorSystem<?> system, ActorRef<CoordinatorProtocol.Command> coordinator, AdminSettings settings) {
    return start(system, coordinator, settings, null, null);
  }

  /** Binds the front over HTTPS with {@code https}'s certificate; the binding completes once it listens. */
  public static CompletionStage<ServerBinding> start(
      ActorSystem<?> system,
      ActorRef<CoordinatorProtocol.Command> coordinator,
      AdminSettings settings,
      HttpsConnectionContext https) {
    return start(system, coordinator, settings, https, null);
  }

  /**
   * Binds the front, over HTTPS when {@code https} is not null, serving job events from {@code
   * eventLog} when it is not null; the binding completes once it listens.
   */
  public static CompletionStage<ServerBinding> start(
      ActorSystem<?> system,
      ActorRef<CoordinatorProtocol.Command> coordinator,
      AdminSettings settings,
      HttpsConnectionContext https,
      JobEventLog eventLog) {
    AdminHttpServer server = new AdminHttpServer(system, coordinator, settings, eventLog);
    var binder = Http.get(system).newServerAt(settings.host(), settings.port());
    return (https == null ? binder : binder.enableHttps(https)).bind(server.routes());
  }

  Route routes() {
    return concat(
        path("health", () -> get(() -> complete("ok"))),
        // The live page holds no data of its own: it reads the API below with the operator's token.
        pathSingleSlash(() -> get(() -> complete(dashboard()))),
        path("dashboard", () -> get(() -> complete(dashboard()))),
        pathPrefix(
            "api",
            () ->
                authenticated(
                    () ->
                        concat(
                            jobRoutes(),
                            workerRoutes(),
                            path("cluster", () -> get(() -> complete(json(StatusCodes.OK, clusterView())))),
                            path("shard-regions", () -> get(() -> completeWithFuture(shardRegions()))),
                            path("audit", () -> get(() -> completeWithFuture(auditLog())))))));
  }

  private Route workerRoutes() {
    return concat(
        path("workers", () -> get(() -> completeWithFuture(listWorkers()))),
        path("drain", () -> post(() -> entity(Unmarshaller.entityToString(), this::drain))));
  }

  private Route jobRoutes() {
    return pathPrefix(
        "jobs",
        () ->
            concat(
                pathEndOrSingleSlash(
                    () ->
                        concat(
                            post(() -> entity(Unmarshaller.entityToString(), this::submit)),
                            get(() -> completeWithFuture(listJobs())))),
                path(
                    PathMatchers.segment(),
                    jobId -> get(() -> completeWithFuture(jobStatus(jobId)))),
                path(
                    PathMatchers.segment().slash("accumulation"),
                    jobId -> get(() -> completeWithFuture(accumulation(jobId)))),
                path(
                    PathMatchers.segment().slash("checkpoint"),
                    jobId -> post(() -> completeWithFuture(checkpoint(jobId)))),
                path(
                    PathMatchers.segment().slash("cancel"),
                    jobId -> post(() -> completeWithFuture(cancel(jobId)))),
                path(
                    PathMatchers.segment().slash("pause"),
                    jobId -> post(() -> completeWithFuture(jobCommand(replyTo -> new AdminProtocol.PauseJob(jobId, replyTo))))),
                path(
                    PathMatchers.segment().slash("resume"),
                    jobId -> post(() -> completeWithFuture(jobCommand(replyTo -> new AdminProtocol.ResumeJob(jobId, replyTo))))),
                path(
                    PathMatchers.segment().slash("events"),
                    jobId ->
                        get(
                            () ->
                                parameterOptional(
                                    "from",
                                    from ->
                                        parameterOptional(
                                            "limit",
                                            limit ->
                                                parameterOptional(
                                                    "leases",
                                                    leases -> events(jobId, from, limit, leases)))))),
                path(
                    PathMatchers.segment().slash("checkpoints"),
                    jobId -> get(() -> completeWithFuture(checkpoints(jobId)))),
                path(
                    PathMatchers.segment().slash("restore"),
                    jobId -> post(() -> entity(Unmarshaller.entityToString(), body -> restore(jobId, body)))),
                path(
                    PathMatchers.segment().slash("learning-rate"),
                    jobId -> post(() -> entity(Unmarshaller.entityToString(), body -> setLearningRate(jobId, body)))),
                path(
                    PathMatchers.segment().slash("global-batch"),
                    jobId -> post(() -> entity(Unmarshaller.entityToString(), body -> setGlobalBatch(jobId, body)))),
                path(
                    PathMatchers.segment().slash("shards"),
                    jobId -> get(() -> completeWithFuture(shards(jobId)))),
                path(
                    PathMatchers.segment().slash("curve"),
                    jobId ->
                        get(
                            () ->
                                parameterOptional(
                                    "member", member -> completeWithFuture(curve(jobId, member.orElse("0"))))))));
  }

  private Route authenticated(java.util.function.Supplier<Route> inner) {
    return optionalHeaderValueByName(
        "Authorization",
        header -> {
          if (header.isPresent() && tokenMatches(header.get())) {
            return inner.get();
          }
          return complete(
              json(
                  StatusCodes.UNAUTHORIZED,
                  Map.of("error", "missing or wrong bearer token; send 'Authorization: Bearer <token>'")));
        });
  }

  private boolean tokenMatches(String header) {
    String expected = "Bearer " + settings.token();
    // Constant-time comparison, so the response time does not reveal how much of a guess matched.
    return MessageDigest.isEqual(
        header.trim().getBytes(StandardCharsets.UTF_8), expected.getBytes(StandardCharsets.UTF_8));
  }

  private Route submit(String body) {
    PipelineSpec pipeline;
    try {
      pipeline = JobSpecParser.parsePipeline(body);
    } catch (SpecException e) {
      return complete(json(StatusCodes.BAD_REQUEST, Map.of("error", e.getMessage())));
    }
    CompletionStage<CoordinatorProtocol.PipelineAccepted> accepted =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new AdminProtocol.SubmitPipeline(pipeline, replyTo),
            settings.askTimeout(),
            system.scheduler());
    // jobId: the pipeline's id (the job's own id when it has one stage); jobIds: every stage's.
    return completeWithFuture(
        respond(accepted, StatusCodes.CREATED, a -> Map.of("jobId", a.pipelineId(), "jobIds", a.jobIds())));
  }

  private CompletionStage<HttpResponse> listJobs() {
    CompletionStage<CoordinatorProtocol.JobList> jobs =
        AskPattern.ask(
            coordinator, AdminProtocol.ListJobs::new, settings.askTimeout(), system.scheduler());
    return respond(jobs, StatusCodes.OK, CoordinatorProtocol.JobList::jobs);
  }

  private CompletionStage<HttpResponse> jobStatus(String jobId) {
    CompletionStage<CoordinatorProtocol.JobStatus> status =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new AdminProtocol.GetJobStatus(jobId, replyTo),
            settings.askTimeout(),
            system.scheduler());
    return respond(status, StatusCodes.OK, s -> s);
  }

  private CompletionStage<HttpResponse> accumulation(String jobId) {
    CompletionStage<CoordinatorProtocol.AccumulationHistory> history =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new AdminProtocol.GetAccumulationHistory(jobId, replyTo),
            settings.askTimeout(),
            system.scheduler());
    return respond(history, StatusCodes.OK, h -> h);
  }

  private CompletionStage<HttpResponse> checkpoint(String jobId) {
    CompletionStage<CoordinatorProtocol.CheckpointRequested> requested =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new AdminProtocol.RequestCheckpoint(jobId, replyTo),
            settings.askTimeout(),
            system.scheduler());
    return respond(requested, StatusCodes.ACCEPTED, r -> r);
  }

  private CompletionStage<HttpResponse> cancel(String jobId) {
    CompletionStage<CoordinatorProtocol.JobCancelled> cancelled =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new AdminProtocol.CancelJob(jobId, replyTo),
            settings.askTimeout(),
            system.scheduler());
    // An unknown job is not found; one that has finished already is a conflict.
    return respond(cancelled, StatusCodes.OK, c -> c, AdminHttpServer::notFoundOrConflict);
  }

  /** Pause or resume: an unknown job is not found, one in a state that does not allow it a conflict. */
  private CompletionStage<HttpResponse> jobCommand(
      Function<ActorRef<StatusReply<AdminProtocol.JobsChanged>>, CoordinatorProtocol.Command> command) {
    return respond(ask(command), StatusCodes.OK, c -> c, AdminHttpServer::notFoundOrConflict);
  }

  private CompletionStage<HttpResponse> checkpoints(String jobId) {
    return respond(
        this.<AdminProtocol.CheckpointList>ask(replyTo -> new AdminProtocol.ListCheckpoints(jobId, replyTo)),
        StatusCodes.OK,
        AdminProtocol.CheckpointList::checkpoints);
  }

  /** {@code {"checkpoint": N}}. */
  private Route restore(String jobId, String body) {
    long checkpointId;
    try {
      JsonNode node = JSON.readTree(body);
      if (node == null || !node.has("checkpoint") || !node.get("checkpoint").isIntegralNumber()
          || !node.get("checkpoint").canConvertToLong() || node.get("checkpoint").asLong() < 0) {
        throw new IllegalArgumentException();
      }
      checkpointId = node.get("checkpoint").asLong();
    } catch (JsonProcessingException | IllegalArgumentException e) {
      return complete(
          json(StatusCodes.BAD_REQUEST, Map.of("error", "send {\"checkpoint\": <id from GET /api/jobs/" + jobId + "/checkpoints>}")));
    }
    return completeWithFuture(
        respond(
            this.<AdminProtocol.CheckpointRestored>ask(
                replyTo -> new AdminProtocol.RestoreCheckpoint(jobId, checkpointId, replyTo)),
            StatusCodes.OK,
            r -> r,
            reason -> reason.startsWith("no job ") || reason.contains(" has no checkpoint ")
                ? StatusCodes.NOT_FOUND
                : StatusCodes.CONFLICT));
  }

  /** {@code {"member": M, "learningRate": R}}. */
  private Route setLearningRate(String jobId, String body) {
    int member;
    double learningRate;
    try {
      JsonNode node = JSON.readTree(body);
      if (node == null || !node.path("member").isIntegralNumber() || !node.path("member").canConvertToInt()
          || !node.path("learningRate").isNumber()) {
        throw new IllegalArgumentException();
      }
      member = node.get("member").asInt();
      learningRate = node.get("learningRate").asDouble();
    } catch (JsonProcessingException | IllegalArgumentException e) {
      return complete(
          json(StatusCodes.BAD_REQUEST, Map.of("error", "send {\"member\": <index>, \"learningRate\": <number>}")));
    }
    return completeWithFuture(
        respond(
            this.<AdminProtocol.LearningRateSet>ask(
                replyTo -> new AdminProtocol.SetLearningRate(jobId, member, learningRate, replyTo)),
            StatusCodes.OK,
            r -> r,
            reason -> reason.startsWith("no job ") ? StatusCodes.NOT_FOUND : StatusCodes.BAD_REQUEST));
  }

  /** Default and largest page of job events. */
  private static final int EVENTS_PAGE = 200;
  private static final int EVENTS_PAGE_MAX = 5_000;

  private Route events(String jobId, Optional<String> from, Optional<String> limit, Optional<String> leases) {
    if (eventLog == null) {
      return complete(json(StatusCodes.NOT_IMPLEMENTED, Map.of("error", "this node serves no journal queries")));
    }
    long fromSequenceNr;
    int pageSize;
    try {
      fromSequenceNr = Long.parseLong(from.orElse("0"));
      pageSize = Integer.parseInt(limit.orElse(String.valueOf(EVENTS_PAGE)));
      if (fromSequenceNr < 0 || pageSize < 1 || pageSize > EVENTS_PAGE_MAX) {
        throw new NumberFormatException();
      }
    } catch (NumberFormatException e) {
      return complete(
          json(
              StatusCodes.BAD_REQUEST,
              Map.of("error", "from must be a journal position (0 or more), limit 1.." + EVENTS_PAGE_MAX)));
    }
    boolean withLeases = leases.map(Boolean::parseBoolean).orElse(false);
    return completeWithFuture(
        respond(
            eventLog.read(jobId, fromSequenceNr, pageSize, withLeases),
            StatusCodes.OK,
            events -> events));
  }

  private static StatusCode notFoundOrConflict(String reason) {
    return reason.startsWith("no job ") ? StatusCodes.NOT_FOUND : StatusCodes.CONFLICT;
  }

  private <T> CompletionStage<T> ask(Function<ActorRef<StatusReply<T>>, CoordinatorProtocol.Command> command) {
    return AskPattern.askWithStatus(coordinator, command::apply, settings.askTimeout(), system.scheduler());
  }

  /**
   * Where parameter shards live: every ps node's shard region, by address, with the shards it
   * hosts (a region that hosts none is listed too, once it has registered). An operator reads which
   * node a job's shards would take with them; a test waits for every region before it places a job.
   */
  private CompletionStage<HttpResponse> shardRegions() {
    CompletionStage<akka.cluster.sharding.ShardRegion.ClusterShardingStats> stats =
        AskPattern.ask(
            ClusterSharding.get(system).shardState(),
            replyTo -> new GetClusterShardingStats(ShardProtocol.ENTITY_TYPE_KEY, settings.askTimeout(), replyTo),
            settings.askTimeout().plusSeconds(1),
            system.scheduler());
    return respond(
        stats,
        StatusCodes.OK,
        answer -> {
          List<Map<String, Object>> regions = new java.util.ArrayList<>();
          answer.getRegions().forEach(
              (address, region) ->
                  regions.add(
                      Map.of("address", address.toString(), "shards", new java.util.TreeSet<>(region.getStats().keySet()))));
          regions.sort(java.util.Comparator.comparing(r -> (String) r.get("address")));
          return regions;
        });
  }

  /**
   * The cluster as this node sees it: every member with its status and roles (without Akka's
   * data-centre role), and the addresses it finds unreachable.
   */
  private Map<String, Object> clusterView() {
    akka.cluster.ClusterEvent.CurrentClusterState state = akka.cluster.typed.Cluster.get(system).state();
    List<Map<String, Object>> members = new ArrayList<>();
    for (akka.cluster.Member member : state.getMembers()) {
      List<String> roles = member.getRoles().stream().filter(r -> !r.startsWith("dc-")).sorted().toList();
      members.add(Map.of("address", member.address().toString(), "status", member.status().toString(), "roles", roles));
    }
    List<String> unreachable = new ArrayList<>();
    for (akka.cluster.Member member : state.getUnreachable()) {
      unreachable.add(member.address().toString());
    }
    return Map.of(
        "self", akka.cluster.typed.Cluster.get(system).selfMember().address().toString(),
        "members", members,
        "unreachable", unreachable);
  }

  private CompletionStage<HttpResponse> listWorkers() {
    CompletionStage<CoordinatorProtocol.WorkerList> workers =
        AskPattern.ask(coordinator, AdminProtocol.ListWorkers::new, settings.askTimeout(), system.scheduler());
    return respond(workers, StatusCodes.OK, CoordinatorProtocol.WorkerList::workers);
  }

  /** {@code {"target": "<worker id or node address>"}}. */
  private Route drain(String body) {
    String target;
    try {
      JsonNode node = JSON.readTree(body);
      target = node == null || !node.hasNonNull("target") ? null : node.get("target").asText();
    } catch (JsonProcessingException e) {
      target = null;
    }
    if (target == null || target.isBlank()) {
      return complete(
          json(StatusCodes.BAD_REQUEST, Map.of("error", "send {\"target\": \"<worker id or node host:port>\"}")));
    }
    String chosen = target;
    CompletionStage<CoordinatorProtocol.DrainStarted> started =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new AdminProtocol.DrainWorkers(chosen, replyTo),
            settings.askTimeout(),
            system.scheduler());
    return completeWithFuture(respond(started, StatusCodes.ACCEPTED, s -> s, StatusCodes.BAD_REQUEST));
  }

  /** {@code {"globalBatch": N}}. */
  private Route setGlobalBatch(String jobId, String body) {
    int globalBatch;
    try {
      JsonNode node = JSON.readTree(body);
      if (node == null || !node.has("globalBatch") || !node.get("globalBatch").canConvertToInt()
          || !node.get("globalBatch").isIntegralNumber()) {
        throw new IllegalArgumentException();
      }
      globalBatch = node.get("globalBatch").asInt();
    } catch (JsonProcessingException | IllegalArgumentException e) {
      return complete(json(StatusCodes.BAD_REQUEST, Map.of("error", "send {\"globalBatch\": <whole number>}")));
    }
    CompletionStage<CoordinatorProtocol.GlobalBatchSet> set =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new AdminProtocol.SetGlobalBatch(jobId, globalBatch, replyTo),
            settings.askTimeout(),
            system.scheduler());
    return completeWithFuture(respond(set, StatusCodes.OK, s -> s, StatusCodes.BAD_REQUEST));
  }

  private CompletionStage<HttpResponse> curve(String jobId, String member) {
    int index;
    try {
      index = Integer.parseInt(member);
    } catch (NumberFormatException e) {
      return java.util.concurrent.CompletableFuture.completedFuture(
          json(StatusCodes.BAD_REQUEST, Map.of("error", "member must be a whole number, was '" + member + "'")));
    }
    CompletionStage<CoordinatorProtocol.TrainingCurve> curve =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new AdminProtocol.GetTrainingCurve(jobId, index, replyTo),
            settings.askTimeout(),
            system.scheduler());
    return respond(curve, StatusCodes.OK, c -> c);
  }

  private CompletionStage<HttpResponse> shards(String jobId) {
    CompletionStage<CoordinatorProtocol.ShardStatuses> statuses =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new AdminProtocol.GetShardStatuses(jobId, replyTo),
            settings.askTimeout(),
            system.scheduler());
    return respond(statuses, StatusCodes.OK, CoordinatorProtocol.ShardStatuses::shards);
  }

  private CompletionStage<HttpResponse> auditLog() {
    CompletionStage<CoordinatorProtocol.AuditLog> log =
        AskPattern.ask(coordinator, AdminProtocol.GetAuditLog::new, settings.askTimeout(), system.scheduler());
    return respond(log, StatusCodes.OK, CoordinatorProtocol.AuditLog::records);
  }

  /** Turns a coordinator answer into JSON; its errors become 404/503 with the reason. */
  private <T> CompletionStage<HttpResponse> respond(
      CompletionStage<T> answer, StatusCode success, Function<T, Object> body) {
    return respond(answer, success, body, StatusCodes.NOT_FOUND);
  }

  /** The same, with the status a refusal by the coordinator gets. */
  private <T> CompletionStage<HttpResponse> respond(
      CompletionStage<T> answer, StatusCode success, Function<T, Object> body, StatusCode refused) {
    return respond(answer, success, body, reason -> refused);
  }

  /** The same, with the status of a refusal chosen by its reason. */
  private <T> CompletionStage<HttpResponse> respond(
      CompletionStage<T> answer,
      StatusCode success,
      Function<T, Object> body,
      Function<String, StatusCode> refused) {
    return answer.handle(
        (value, failure) -> {
          if (failure == null) {
            return json(success, body.apply(value));
          }
          Throwable cause = failure.getCause() != null ? failure.getCause() : failure;
          if (cause instanceof StatusReply.ErrorMessage) {
            return json(refused.apply(cause.getMessage()), Map.of("error", cause.getMessage()));
          }
          return json(
              StatusCodes.SERVICE_UNAVAILABLE,
              Map.of("error", "coordinator did not answer: " + Optional.ofNullable(cause.getMessage()).orElse(cause.toString())));
        });
  }

  private static final String DASHBOARD_RESOURCE = "dashboard.html";

  /** The live page, read from the jar once. */
  private static HttpResponse dashboard() {
    return HttpResponse.create()
        .withStatus(StatusCodes.OK)
        .withEntity(HttpEntities.create(ContentTypes.TEXT_HTML_UTF8, DashboardPage.HTML));
  }

  private static final class DashboardPage {
    static final String HTML = read();

    private static String read() {
      try (java.io.InputStream in = AdminHttpServer.class.getResourceAsStream(DASHBOARD_RESOURCE)) {
        if (in == null) {
          throw new IllegalStateException(DASHBOARD_RESOURCE + " is missing from the coordinator's jar");
        }
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
  }

  private static HttpResponse json(StatusCode status, Object body) {
    try {
      return HttpResponse.create()
          .withStatus(status)
          .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, JSON.writeValueAsString(body)));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write JSON for " + body.getClass().getName(), e);
    }
  }
}
