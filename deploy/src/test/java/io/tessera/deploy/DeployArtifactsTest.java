package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The Kubernetes manifests, the Dockerfile and the Grafana dashboard under deploy/ hang together
 * and match the code: every object is well formed, Tessera pods run as the service account that
 * Cluster Bootstrap needs, probe akka-management's health checks, get the TLS Secret, expose the
 * ports their Services name; and the dashboard queries only metrics that the code registers.
 */
class DeployArtifactsTest {
  private static final Path DEPLOY = Path.of("").toAbsolutePath();
  private static final Path K8S = DEPLOY.resolve("k8s");
  private static final Set<String> WORKLOADS = Set.of("StatefulSet", "Deployment");
  private static final Pattern REGISTRATION =
      Pattern.compile("Kamon\\.(counter|gauge|histogram|timer|rangeSampler)\\(\\s*\"([a-zA-Z0-9_]+)\"");
  private static final Pattern METRIC = Pattern.compile("\\btessera_[a-z0-9_]+\\b");

  private static List<Map<String, Object>> objects;

  @BeforeAll
  static void load() throws IOException {
    objects = new ArrayList<>();
    try (Stream<Path> files = Files.list(K8S)) {
      for (Path file : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
        try (Reader reader = Files.newBufferedReader(file)) {
          for (Object document : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(reader)) {
            if (document != null) {
              objects.add(map(document, file.getFileName().toString()));
            }
          }
        }
      }
    }
    assertFalse(objects.isEmpty(), "no manifests in " + K8S);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> map(Object value, String where) {
    assertTrue(value instanceof Map, where + " is not a mapping: " + value);
    return (Map<String, Object>) value;
  }

  @SuppressWarnings("unchecked")
  private static List<Object> list(Object value, String where) {
    assertTrue(value instanceof List, where + " is not a list: " + value);
    return (List<Object>) value;
  }

  /** The value at a dotted path, or null. */
  private static Object at(Map<String, Object> object, String path) {
    Object current = object;
    for (String key : path.split("\\.")) {
      if (!(current instanceof Map<?, ?> m)) {
        return null;
      }
      current = m.get(key);
    }
    return current;
  }

  private static String name(Map<String, Object> object) {
    return object.get("kind") + "/" + at(object, "metadata.name");
  }

  private static List<Map<String, Object>> ofKind(String kind) {
    return objects.stream().filter(o -> kind.equals(o.get("kind"))).toList();
  }

  private static Map<String, Object> labels(Map<String, Object> workload) {
    return map(at(workload, "spec.template.metadata.labels"), name(workload) + " pod labels");
  }

  private static boolean isTessera(Map<String, Object> workload) {
    return "tessera".equals(labels(workload).get("app"));
  }

  private static List<Map<String, Object>> containers(Map<String, Object> workload) {
    return list(at(workload, "spec.template.spec.containers"), name(workload) + " containers").stream()
        .map(c -> map(c, name(workload) + " container"))
        .toList();
  }

  private static List<Map<String, Object>> ports(Map<String, Object> container) {
    Object ports = container.get("ports");
    return ports == null ? List.of() : list(ports, "ports").stream().map(p -> map(p, "port")).toList();
  }

  @Test
  void everyObjectHasAnApiVersionAKindAndAName() {
    for (Map<String, Object> object : objects) {
      assertTrue(object.get("apiVersion") instanceof String s && !s.isBlank(), "apiVersion of " + object);
      assertTrue(object.get("kind") instanceof String s && !s.isBlank(), "kind of " + object);
      assertTrue(at(object, "metadata.name") instanceof String s && !s.isBlank(), "metadata.name of " + object);
      if (!"Namespace".equals(object.get("kind"))) {
        assertEquals("tessera", at(object, "metadata.namespace"), name(object) + " namespace");
      }
    }
    Set<String> kinds = new HashSet<>();
    objects.forEach(o -> kinds.add((String) o.get("kind")));
    assertTrue(
        kinds.containsAll(Set.of("ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Service", "StatefulSet", "Deployment")),
        kinds.toString());
  }

  @Test
  void theServiceAccountMayReadPodsForClusterBootstrapAndEveryTesseraPodRunsAsIt() {
    assertEquals(1, ofKind("ServiceAccount").size());
    String account = (String) at(ofKind("ServiceAccount").get(0), "metadata.name");
    Map<String, Object> role = ofKind("Role").get(0);
    Map<String, Object> rule = map(list(role.get("rules"), "rules").get(0), "rule");
    assertEquals(List.of("pods"), rule.get("resources"));
    assertEquals(Set.of("get", "watch", "list"), new HashSet<>(list(rule.get("verbs"), "verbs")));
    Map<String, Object> binding = ofKind("RoleBinding").get(0);
    assertEquals(at(role, "metadata.name"), at(binding, "roleRef.name"));
    assertEquals(account, at(map(list(binding.get("subjects"), "subjects").get(0), "subject"), "name"));

    List<Map<String, Object>> tessera =
        objects.stream().filter(o -> WORKLOADS.contains(o.get("kind"))).filter(DeployArtifactsTest::isTessera).toList();
    Set<String> roles = new HashSet<>();
    for (Map<String, Object> workload : tessera) {
      assertEquals(account, at(workload, "spec.template.spec.serviceAccountName"), name(workload));
      assertTrue(at(workload, "spec.template.spec.terminationGracePeriodSeconds") instanceof Integer, name(workload));
      roles.add((String) labels(workload).get("role"));
    }
    assertEquals(Set.of("coordinator", "ps", "worker"), roles);
    assertEquals("StatefulSet", kindOf("coordinator"));
    assertEquals("StatefulSet", kindOf("ps"));
    assertEquals("Deployment", kindOf("worker"));
  }

  private static String kindOf(String role) {
    return objects.stream()
        .filter(o -> WORKLOADS.contains(o.get("kind")))
        .filter(o -> role.equals(labels(o).get("role")))
        .map(o -> (String) o.get("kind"))
        .findFirst()
        .orElseThrow();
  }

  @Test
  void tesseraPodsProbeReadyAndAliveOnTheManagementPort() {
    for (Map<String, Object> workload : objects.stream().filter(o -> WORKLOADS.contains(o.get("kind"))).toList()) {
      if (!isTessera(workload)) {
        continue;
      }
      Map<String, Object> container = containers(workload).get(0);
      assertEquals("/ready", at(container, "readinessProbe.httpGet.path"), name(workload));
      assertEquals("/alive", at(container, "livenessProbe.httpGet.path"), name(workload));
      for (String probe : List.of("readinessProbe", "livenessProbe")) {
        Object port = at(container, probe + ".httpGet.port");
        assertEquals(8558, containerPort(container, port), name(workload) + " " + probe + " port");
      }
    }
  }

  /** The number of the container's port that {@code port} (a name or a number) names, or -1. */
  private static int containerPort(Map<String, Object> container, Object port) {
    for (Map<String, Object> p : ports(container)) {
      if (Objects.equals(p.get("name"), port) || Objects.equals(p.get("containerPort"), port)) {
        return (Integer) p.get("containerPort");
      }
    }
    return -1;
  }

  @Test
  void everyServicePortIsAContainerPortOfThePodsItSelects() {
    for (Map<String, Object> service : ofKind("Service")) {
      Map<String, Object> selector = map(at(service, "spec.selector"), name(service) + " selector");
      List<Map<String, Object>> selected =
          objects.stream()
              .filter(o -> WORKLOADS.contains(o.get("kind")))
              .filter(o -> labels(o).entrySet().containsAll(selector.entrySet()))
              .toList();
      assertFalse(selected.isEmpty(), name(service) + " selects no pods");
      for (Object entry : list(at(service, "spec.ports"), name(service) + " ports")) {
        Map<String, Object> port = map(entry, "service port");
        Object target = port.getOrDefault("targetPort", port.get("port"));
        for (Map<String, Object> workload : selected) {
          int number = containerPort(containers(workload).get(0), target);
          assertEquals(port.get("port"), number, name(service) + " port " + port.get("name") + " in " + name(workload));
        }
      }
    }
    for (Map<String, Object> set : ofKind("StatefulSet")) {
      String serviceName = (String) at(set, "spec.serviceName");
      assertTrue(
          ofKind("Service").stream().anyMatch(s -> serviceName.equals(at(s, "metadata.name"))),
          name(set) + " names the missing Service " + serviceName);
    }
    for (Map<String, Object> workload : objects.stream().filter(o -> WORKLOADS.contains(o.get("kind"))).toList()) {
      Map<String, Object> matchLabels = map(at(workload, "spec.selector.matchLabels"), name(workload) + " selector");
      assertTrue(labels(workload).entrySet().containsAll(matchLabels.entrySet()), name(workload) + " selector");
    }
  }

  @Test
  void tesseraPodsGetTheirKeyMaterialFromTheTlsSecretAndJoinByClusterBootstrap() {
    for (Map<String, Object> workload : objects.stream().filter(o -> WORKLOADS.contains(o.get("kind"))).toList()) {
      if (!isTessera(workload)) {
        continue;
      }
      Map<String, Object> container = containers(workload).get(0);
      Map<String, Object> env = new java.util.HashMap<>();
      list(container.get("env"), "env").forEach(e -> env.put((String) map(e, "env").get("name"), e));
      Object password = at(map(env.get("TESSERA_TLS_PASSWORD"), "password env"), "valueFrom.secretKeyRef.name");
      assertEquals("tessera-tls", password, name(workload));
      String tlsMount = tlsMountPath(workload, container);
      for (String store : List.of("TESSERA_TLS_KEYSTORE", "TESSERA_TLS_TRUSTSTORE")) {
        String path = (String) map(env.get(store), store).get("value");
        assertTrue(path.startsWith(tlsMount + "/"), name(workload) + " " + store + " " + path + " not under " + tlsMount);
      }
      String host = (String) map(env.get("TESSERA_HOST"), "TESSERA_HOST").getOrDefault("value", "pod-ip");
      assertFalse(TlsSettings.isLoopback(host), "pods are reached beyond loopback, so they use TLS");

      List<Object> args = list(container.get("args"), "args");
      assertEquals("node", args.get(0));
      assertTrue(args.contains("--bootstrap"), name(workload) + " joins by Cluster Bootstrap");
      assertFalse(args.contains("--seed-nodes"), name(workload) + ": seed nodes and bootstrap exclude each other");
      String config = (String) args.get(args.indexOf("--config") + 1);
      assertTrue(config.startsWith("/etc/tessera/conf/"), config);
    }
  }

  private static String tlsMountPath(Map<String, Object> workload, Map<String, Object> container) {
    String volume = null;
    for (Object v : list(at(workload, "spec.template.spec.volumes"), "volumes")) {
      if ("tessera-tls".equals(at(map(v, "volume"), "secret.secretName"))) {
        volume = (String) map(v, "volume").get("name");
      }
    }
    assertNotNull(volume, name(workload) + " mounts no volume from the Secret tessera-tls");
    for (Object m : list(container.get("volumeMounts"), "volumeMounts")) {
      if (volume.equals(map(m, "mount").get("name"))) {
        return (String) map(m, "mount").get("mountPath");
      }
    }
    throw new AssertionError(name(workload) + " does not mount " + volume);
  }

  @Test
  void theClusterConfigurationParsesAndTurnsOnHttpsForTheAdminFront() {
    Map<String, Object> configMap = ofKind("ConfigMap").get(0);
    String text = (String) map(configMap.get("data"), "ConfigMap data").get("cluster.conf");
    assertNotNull(text, "the ConfigMap has no cluster.conf");
    Config config = ConfigFactory.parseString(text).withFallback(ConfigFactory.load()).resolve();
    assertTrue(AdminTransport.https(config), "the admin front in pods serves HTTPS");
    assertTrue(config.getBoolean("tessera.management.enabled"));
    assertEquals(8558, config.getInt("akka.management.http.port"));
    assertEquals(
        "kubernetes-api", config.getString("akka.management.cluster.bootstrap.contact-point-discovery.discovery-method"));
  }

  @Test
  void theImageIsDebianWithOpenJdk17RunningTheJarAsAnUnprivilegedUser() throws IOException {
    String dockerfile = Files.readString(DEPLOY.resolve("docker/Dockerfile"));
    assertTrue(dockerfile.contains("FROM debian:bookworm-slim"), "Debian base");
    assertTrue(dockerfile.contains("openjdk-17-jre-headless"), "Debian's OpenJDK 17");
    assertTrue(dockerfile.contains("COPY deploy/target/tessera.jar"), "the fat jar");
    Matcher user = Pattern.compile("(?m)^USER\\s+(\\S+)").matcher(dockerfile);
    assertTrue(user.find(), "a USER line");
    assertFalse(user.group(1).startsWith("root") || user.group(1).startsWith("0"), "runs as " + user.group(1));
    assertTrue(dockerfile.contains("ENTRYPOINT [\"java\"") && dockerfile.contains("tessera.jar\"]"), "runs the jar");
    for (Map<String, Object> workload : objects.stream().filter(o -> WORKLOADS.contains(o.get("kind"))).toList()) {
      if (isTessera(workload)) {
        for (Map<String, Object> port : ports(containers(workload).get(0))) {
          assertTrue(dockerfile.contains(String.valueOf(port.get("containerPort"))), "EXPOSE " + port);
        }
      }
    }
  }

  /**
   * The Prometheus series the code exports: every Kamon instrument registered in a module's
   * sources, named as Kamon's Prometheus reporter names it (counters end in {@code _total}, timers
   * are histograms in seconds).
   */
  static Set<String> exportedSeries() throws IOException {
    Set<String> series = new TreeSet<>();
    Path root = DEPLOY.getParent();
    try (Stream<Path> modules = Files.list(root)) {
      for (Path sources : modules.map(m -> m.resolve("src/main/java")).filter(Files::isDirectory).toList()) {
        try (Stream<Path> files = Files.walk(sources)) {
          for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
            Matcher m = REGISTRATION.matcher(Files.readString(file));
            while (m.find()) {
              String name = m.group(2);
              switch (m.group(1)) {
                case "counter" -> series.add(name + "_total");
                case "gauge" -> series.add(name);
                case "timer" -> histogram(series, name + "_seconds");
                default -> histogram(series, name);
              }
            }
          }
        }
      }
    }
    return series;
  }

  private static void histogram(Set<String> series, String name) {
    series.addAll(List.of(name + "_bucket", name + "_count", name + "_sum"));
  }

  /** The {@code tessera_} series {@code expr} names that are not in {@code exported}. */
  static Set<String> unknownMetrics(String expr, Set<String> exported) {
    Set<String> unknown = new TreeSet<>();
    Matcher m = METRIC.matcher(expr);
    while (m.find()) {
      if (!exported.contains(m.group())) {
        unknown.add(m.group());
      }
    }
    return unknown;
  }

  private static void collectExpressions(JsonNode node, List<String> into) {
    if (node.isObject()) {
      node.fields().forEachRemaining(field -> {
        if (field.getKey().equals("expr")) {
          into.add(field.getValue().asText());
        } else {
          collectExpressions(field.getValue(), into);
        }
      });
    } else if (node.isArray()) {
      node.forEach(child -> collectExpressions(child, into));
    }
  }

  @Test
  void theDashboardQueriesOnlyMetricsTheCodeExports() throws IOException {
    Set<String> exported = exportedSeries();
    assertTrue(exported.contains("tessera_worker_samples_total"), exported.toString());
    assertTrue(exported.contains("tessera_worker_lease_round_trip_seconds_bucket"), exported.toString());
    assertTrue(exported.size() >= 40, "found only " + exported);
    assertEquals(
        Set.of("tessera_worker_loss"), unknownMetrics("avg(tessera_worker_loss) + tessera_worker_samples_total", exported),
        "the check itself catches a metric nobody exports");

    JsonNode dashboard = JsonMapper.builder().build().readTree(DEPLOY.resolve("grafana/tessera-dashboard.json").toFile());
    assertEquals("Tessera", dashboard.get("title").asText());
    List<String> expressions = new ArrayList<>();
    collectExpressions(dashboard, expressions);
    assertTrue(expressions.size() >= 15, "expected a panel per concern, found " + expressions.size() + " queries");
    Set<String> used = new TreeSet<>();
    Pattern labelUse = Pattern.compile("by \\(([^)]*)\\)|([a-z_]+)=~?\"");
    for (String expr : expressions) {
      assertTrue(METRIC.matcher(expr).find(), "queries no Tessera metric: " + expr);
      assertEquals(Set.of(), unknownMetrics(expr, exported), "not exported by the code, in: " + expr);
      Matcher m = METRIC.matcher(expr);
      while (m.find()) {
        used.add(m.group());
      }
      Matcher labels = labelUse.matcher(expr);
      while (labels.find()) {
        String names = labels.group(1) != null ? labels.group(1) : labels.group(2);
        for (String label : names.split(",")) {
          // Kamon's "job" tag clashes with Prometheus' own job label, so panels do not group by it.
          assertTrue(Set.of("le", "instance", "outcome").contains(label.trim()), "label " + label + " in " + expr);
        }
      }
    }
    for (String concern :
        List.of(
            "tessera_worker_samples_total",
            "tessera_coordinator_live_workers",
            "tessera_ps_pushes_total",
            "tessera_worker_lease_round_trip_seconds_bucket",
            "tessera_coordinator_checkpoint_quiesce_time_seconds_bucket")) {
      assertTrue(used.contains(concern), "the dashboard shows " + concern);
    }
  }
}
