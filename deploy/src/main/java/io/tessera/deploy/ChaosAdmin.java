package io.tessera.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;

/**
 * The chaos suite's view of the admin API: asks whichever admin front answers (a front on a killed
 * or frozen node does not), with the cluster's token.
 */
final class ChaosAdmin {
  private static final JsonMapper JSON = new JsonMapper();

  /** An answer: the HTTP status and the body as JSON (a text node if it was not JSON). */
  record Answer(int status, JsonNode body) {
    boolean ok() {
      return status >= 200 && status < 300;
    }
  }

  private final Supplier<List<URI>> fronts;
  private final String token;
  private final Duration timeout;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  ChaosAdmin(Supplier<List<URI>> fronts, String token, Duration timeout) {
    this.fronts = fronts;
    this.token = token;
    this.timeout = timeout;
  }

  /** GET from the first front that answers 200; null when none does. */
  JsonNode get(String path) throws InterruptedException {
    for (URI front : fronts.get()) {
      Answer answer = send(front, path, null);
      if (answer != null && answer.ok()) {
        return answer.body();
      }
    }
    return null;
  }

  /** GET from every front; a front that does not answer 200 adds null. */
  List<JsonNode> getEach(String path) throws InterruptedException {
    List<JsonNode> answers = new java.util.ArrayList<>();
    for (URI front : fronts.get()) {
      Answer answer = send(front, path, null);
      answers.add(answer != null && answer.ok() ? answer.body() : null);
    }
    return answers;
  }

  /**
   * POST to the first front that answers at all (any status: a refusal is an answer, and posting it
   * again elsewhere would issue the command twice); null when none answers.
   */
  Answer post(String path, String body) throws InterruptedException {
    for (URI front : fronts.get()) {
      Answer answer = send(front, path, body == null ? "" : body);
      if (answer != null) {
        return answer;
      }
    }
    return null;
  }

  private Answer send(URI front, String path, String postBody) throws InterruptedException {
    HttpRequest.Builder request =
        HttpRequest.newBuilder(front.resolve(path)).timeout(timeout).header("Authorization", "Bearer " + token);
    if (postBody != null) {
      request.POST(HttpRequest.BodyPublishers.ofString(postBody));
    }
    try {
      HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
      JsonNode body;
      try {
        body = JSON.readTree(response.body());
      } catch (IOException e) {
        body = JSON.getNodeFactory().textNode(response.body());
      }
      return new Answer(response.statusCode(), body);
    } catch (IOException e) {
      return null; // that front is down, frozen or not up yet
    }
  }
}
