package io.tessera.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.Address;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.Member;
import akka.cluster.MemberStatus;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two nodes on loopback with TLS forced on and the cluster's key form a cluster; a system with
 * another certificate (that trusts the cluster's), and one speaking plain TCP, can neither join nor
 * deliver a message to an actor of the cluster.
 */
class ClusterTlsTest {
  private static final Duration FORM = Duration.ofSeconds(30);
  /** How long an outsider is given to get in: several join retries and reconnects. */
  private static final Duration KEPT_OUT = Duration.ofSeconds(12);

  @TempDir Path keys;
  private final List<ActorSystem<?>> systems = new ArrayList<>();

  @AfterEach
  void terminate() {
    systems.forEach(ActorSystem::terminate);
    systems.forEach(system -> system.getWhenTerminated().toCompletableFuture().join());
  }

  private static Map<String, Object> loopback(TestKeys.Pair pair) {
    Map<String, Object> settings = new HashMap<>(pair.settings());
    settings.put("tessera.tls.enabled", "on");
    settings.put("akka.remote.artery.canonical.hostname", "127.0.0.1");
    settings.put("akka.remote.artery.canonical.port", 0);
    settings.put("akka.cluster.jmx.multi-mbeans-in-same-jvm", "on");
    settings.put("akka.coordinated-shutdown.exit-jvm", "off");
    settings.put("akka.cluster.roles", List.of());
    settings.put("tessera.persistence.database", "memory");
    settings.put("tessera.admin.enabled", "off");
    return settings;
  }

  private static Config config(Map<String, Object> settings) {
    return ConfigFactory.parseMap(settings).withFallback(ConfigFactory.load()).resolve();
  }

  private ActorSystem<?> node(TestKeys.Pair pair) {
    ActorSystem<?> system = TesseraNode.start(config(loopback(pair)));
    systems.add(system);
    return system;
  }

  /** A system named like the cluster's, on its own transport settings, not started by Tessera. */
  private ActorSystem<?> outsider(Config config) {
    ActorSystem<?> system = ActorSystem.create(Behaviors.empty(), TesseraNode.SYSTEM_NAME, config);
    systems.add(system);
    return system;
  }

  private static Set<Address> upMembers(ActorSystem<?> system) {
    return StreamSupport.stream(Cluster.get(system).state().getMembers().spliterator(), false)
        .filter(member -> member.status() == MemberStatus.up())
        .map(Member::address)
        .collect(Collectors.toSet());
  }

  private static Address address(ActorSystem<?> system) {
    return Cluster.get(system).selfMember().address();
  }

  /** {@code target}, as {@code from} reaches it over the wire. */
  private static ActorRef<String> remote(ActorSystem<?> from, ActorSystem<?> owner, ActorRef<String> target) {
    String path = ActorRefResolver.get(owner).toSerializationFormat(target);
    return ActorRefResolver.get(from).resolveActorRef(path);
  }

  @Test
  void onlyHoldersOfTheClusterKeyJoinOrReachAnActor() {
    TestKeys.Pair cluster = TestKeys.cluster(keys.resolve("cluster"));
    TestKeys.Pair intruder = TestKeys.foreign(keys, cluster);

    ActorSystem<?> first = node(cluster);
    ActorSystem<?> second = node(cluster);
    assertTrue(ClusterTransport.encrypted(first.settings().config()));
    Cluster.get(first).manager().tell(Join.create(address(first)));
    Cluster.get(second).manager().tell(Join.create(address(first)));
    TestProbe<String> inbox = TestProbe.create(first);
    inbox.awaitAssert(
        FORM,
        () -> {
          assertEquals(Set.of(address(first), address(second)), upMembers(first));
          return null;
        });

    // A member reaches the actor, so what follows fails for the key, not for the path.
    remote(second, first, inbox.ref()).tell("from a member");
    inbox.expectMessage(FORM, "from a member");

    // Its own certificate, and the cluster's in its trust store: only the cluster's check of
    // the client certificate stands in its way.
    ActorSystem<?> foreign = outsider(ClusterTransport.configure(config(loopback(intruder))));
    assertTrue(ClusterTransport.encrypted(foreign.settings().config()));
    Map<String, Object> plainSettings = loopback(cluster);
    plainSettings.put("tessera.tls.enabled", "off");
    ActorSystem<?> plain = outsider(ClusterTransport.configure(config(plainSettings)));
    assertFalse(ClusterTransport.encrypted(plain.settings().config()));

    for (ActorSystem<?> outsider : List.of(foreign, plain)) {
      Cluster.get(outsider).manager().tell(Join.create(address(first)));
      remote(outsider, first, inbox.ref()).tell("from " + address(outsider));
    }
    inbox.expectNoMessage(KEPT_OUT);

    assertEquals(Set.of(address(first), address(second)), upMembers(first));
    assertEquals(Set.of(address(first), address(second)), upMembers(second));
    for (ActorSystem<?> outsider : List.of(foreign, plain)) {
      assertNotEquals(MemberStatus.up(), Cluster.get(outsider).selfMember().status(), outsider.name());
      assertFalse(upMembers(outsider).contains(address(first)), "an outsider never sees the cluster's members");
    }
  }
}
