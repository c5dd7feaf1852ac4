package io.tessera.coordinator.admin;

import static akka.http.javadsl.server.Directives.complete;
import static akka.http.javadsl.server.Directives.completeWithFuture;
import static akka.http.javadsl.server.Directives.concat;
import static akka.http.javadsl.server.Directives.entity;
import static akka.http.javadsl.server.Directives.get;
import static akka.http.javadsl.server.Directives.optionalHeaderValueByName;
import static akka.http.javadsl.server.Directives.path;
import static akka.http.javadsl.server.Directives.pathEndOrSingleSlash;
import static akka.http.javadsl.server.Directives.pathPrefix;
import static akka.http.javadsl.server.Directives.post;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.AskPattern;
import akka.http.javadsl.Http;
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
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.SpecException;
import java.security.MessageDigest;
import java.nio.charset.StandardCharsets;
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
 * GET  /api/audit                     → the acknowledged operator commands, oldest first
 * GET  /health                        → 200 ok
 * </pre>
 */
public final class AdminHttpServer {
  private static final JsonMapper JSON =
      JsonMapper.builder().enable(JsonWriteFeature.WRITE_NAN_AS_STRINGS).build();

  private final ActorSystem<?> system;
  private final ActorRef<CoordinatorProtocol.Command> coordinator;
  private final AdminSettings settings;

  private AdminHttpServer(
      ActorSystem<?> system, ActorRef<CoordinatorProtocol.Command> coordinator, AdminSettings settings) {
    this.system = system;
    this.coordinator = coordinator;
    this.settings = settings;
  }

  /** Binds the front; the binding completes once it listens. */
  public static CompletionStage<ServerBinding> start(
      ActorSystem<?> system, ActorRef<CoordinatorProtocol.Command> coordinator, AdminSettings settings) {
    AdminHttpServer server = new AdminHttpServer(system, coordinator, settings);
    return Http.get(system).newServerAt(settings.host(), settings.port()).bind(server.routes());
  }

  Route routes() {
    return concat(
        path("health", () -> get(() -> complete("ok"))),
        pathPrefix(
            "api",
            () ->
                authenticated(
                    () -> concat(jobRoutes(), path("audit", () -> get(() -> completeWithFuture(auditLog())))))));
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
                    jobId -> post(() -> completeWithFuture(checkpoint(jobId))))));
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
    JobSpec spec;
    try {
      spec = JobSpecParser.parse(body);
    } catch (SpecException e) {
      return complete(json(StatusCodes.BAD_REQUEST, Map.of("error", e.getMessage())));
    }
    CompletionStage<CoordinatorProtocol.JobAccepted> accepted =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new CoordinatorProtocol.SubmitJob(spec, replyTo),
            settings.askTimeout(),
            system.scheduler());
    return completeWithFuture(respond(accepted, StatusCodes.CREATED, a -> a));
  }

  private CompletionStage<HttpResponse> listJobs() {
    CompletionStage<CoordinatorProtocol.JobList> jobs =
        AskPattern.ask(
            coordinator, CoordinatorProtocol.ListJobs::new, settings.askTimeout(), system.scheduler());
    return respond(jobs, StatusCodes.OK, CoordinatorProtocol.JobList::jobs);
  }

  private CompletionStage<HttpResponse> jobStatus(String jobId) {
    CompletionStage<CoordinatorProtocol.JobStatus> status =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new CoordinatorProtocol.GetJobStatus(jobId, replyTo),
            settings.askTimeout(),
            system.scheduler());
    return respond(status, StatusCodes.OK, s -> s);
  }

  private CompletionStage<HttpResponse> accumulation(String jobId) {
    CompletionStage<CoordinatorProtocol.AccumulationHistory> history =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new CoordinatorProtocol.GetAccumulationHistory(jobId, replyTo),
            settings.askTimeout(),
            system.scheduler());
    return respond(history, StatusCodes.OK, h -> h);
  }

  private CompletionStage<HttpResponse> checkpoint(String jobId) {
    CompletionStage<CoordinatorProtocol.CheckpointRequested> requested =
        AskPattern.askWithStatus(
            coordinator,
            replyTo -> new CoordinatorProtocol.RequestCheckpoint(jobId, replyTo),
            settings.askTimeout(),
            system.scheduler());
    return respond(requested, StatusCodes.ACCEPTED, r -> r);
  }

  private CompletionStage<HttpResponse> auditLog() {
    CompletionStage<CoordinatorProtocol.AuditLog> log =
        AskPattern.ask(coordinator, CoordinatorProtocol.GetAuditLog::new, settings.askTimeout(), system.scheduler());
    return respond(log, StatusCodes.OK, CoordinatorProtocol.AuditLog::records);
  }

  /** Turns a coordinator answer into JSON; its errors become 404/503 with the reason. */
  private <T> CompletionStage<HttpResponse> respond(
      CompletionStage<T> answer, StatusCode success, Function<T, Object> body) {
    return answer.handle(
        (value, failure) -> {
          if (failure == null) {
            return json(success, body.apply(value));
          }
          Throwable cause = failure.getCause() != null ? failure.getCause() : failure;
          if (cause instanceof StatusReply.ErrorMessage) {
            return json(StatusCodes.NOT_FOUND, Map.of("error", cause.getMessage()));
          }
          return json(
              StatusCodes.SERVICE_UNAVAILABLE,
              Map.of("error", "coordinator did not answer: " + Optional.ofNullable(cause.getMessage()).orElse(cause.toString())));
        });
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
