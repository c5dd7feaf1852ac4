package io.tessera.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.Behaviors;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Command;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Local;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * A coordinator that stops (as an event-sourced actor does when its journal fails a write) is
 * replaced by a new one, again and again.
 */
class CoordinatorKeeperTest {
  private static final ActorTestKit KIT = ActorTestKit.create();

  /** Answers with the generation of the child that got it. */
  private record Ping(ActorRef<Integer> replyTo) implements Local {}

  /** Makes the child stop, as a failed journal write does. */
  private enum Fail implements Local {
    INSTANCE
  }

  @AfterAll
  static void shutdown() {
    KIT.shutdownTestKit();
  }

  private static Behavior<Command> child(int generation) {
    return Behaviors.receive(Command.class)
        .onMessage(Ping.class, ping -> {
          ping.replyTo().tell(generation);
          return Behaviors.same();
        })
        .onMessageEquals(Fail.INSTANCE, Behaviors::stopped)
        .build();
  }

  private static void awaitGeneration(ActorRef<Command> keeper, TestProbe<Integer> probe, int generation) {
    probe.awaitAssert(Duration.ofSeconds(10), Duration.ofMillis(100), () -> {
      keeper.tell(new Ping(probe.getRef()));
      assertEquals(generation, probe.receiveMessage(Duration.ofMillis(500)));
      return null;
    });
  }

  @Test
  void aStoppedCoordinatorIsReplaced() {
    AtomicInteger generations = new AtomicInteger();
    ActorRef<Command> keeper =
        KIT.spawn(
            CoordinatorKeeper.create(
                () -> child(generations.incrementAndGet()), Duration.ofMillis(200), Duration.ofSeconds(2)));
    TestProbe<Integer> probe = KIT.createTestProbe();

    keeper.tell(new Ping(probe.getRef()));
    assertEquals(1, probe.receiveMessage());

    keeper.tell(Fail.INSTANCE);
    // A ping may reach the stopping coordinator and be lost, as a message to a crashed node is
    // (its sender retries); one sent after the keeper saw the stop is stashed for the next.
    awaitGeneration(keeper, probe, 2);
    keeper.tell(new Ping(probe.getRef()));
    assertEquals(2, probe.receiveMessage(), "the replacement stays");

    keeper.tell(Fail.INSTANCE);
    awaitGeneration(keeper, probe, 3);
    assertEquals(3, generations.get());
  }
}
