package io.tessera.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.Address;
import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRefResolver;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/** The round-trip helpers other modules rely on fail when they should and copy when they should. */
class WireRoundTripTest {
  private static ActorTestKit testKit;

  /** Implements the marker, so it is bound to Kryo, but no registrar names it. */
  record NeverRegistered(String text) implements TesseraSerializable {}

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("WireRoundTripTest", WireRoundTrip.clusterTestConfig());
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  @Test
  void returnsAnEqualButSeparateCopy() {
    CoordinatorProtocol.WorkerShare share = new CoordinatorProtocol.WorkerShare("worker-a/gpu0", 3);

    CoordinatorProtocol.WorkerShare copy = WireRoundTrip.roundTrip(testKit.system(), share);

    assertEquals(share, copy);
    assertNotSame(share, copy);
    WireRoundTrip.assertRoundTrip(testKit.system(), share);
  }

  @Test
  void failsForAMessageThatIsNotBoundToKryo() {
    // Akka binds String to its own serializer: the helper must not accept that route.
    AssertionFailedError error =
        assertThrows(
            AssertionFailedError.class, () -> WireRoundTrip.roundTrip(testKit.system(), "text"));
    assertTrue(error.getMessage().contains("java.lang.String is not bound"), error.getMessage());
  }

  @Test
  void failsForAMessageThatNoRegistrarNames() {
    IllegalArgumentException error =
        assertThrows(
            IllegalArgumentException.class,
            () -> WireRoundTrip.roundTrip(testKit.system(), new NeverRegistered("x")));
    assertTrue(error.getMessage().contains(NeverRegistered.class.getName()), error.getMessage());
  }

  @Test
  void clusterConfigGivesRefsARemoteCapableAddress() {
    TestProbe<CoordinatorProtocol.JobList> probe = testKit.createTestProbe();
    Address address = testKit.system().address();

    assertEquals("akka", address.protocol());
    assertEquals("127.0.0.1", address.getHost().orElseThrow());
    assertTrue(address.getPort().orElseThrow() > 0, "port 0 must be replaced by the bound port");
    String serialized =
        ActorRefResolver.get(testKit.system()).toSerializationFormat(probe.getRef());
    assertTrue(
        serialized.startsWith(
            "akka://WireRoundTripTest@127.0.0.1:" + address.getPort().get() + "/"),
        serialized);

    AdminProtocol.ListJobs copy =
        WireRoundTrip.roundTrip(testKit.system(), new AdminProtocol.ListJobs(probe.getRef()));
    assertEquals(probe.getRef(), copy.replyTo());
    CoordinatorProtocol.JobList reply = new CoordinatorProtocol.JobList(List.of());
    copy.replyTo().tell(reply);
    probe.expectMessage(reply);
  }
}
