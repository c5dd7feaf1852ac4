package io.tessera.ps;

import akka.Done;
import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.Behaviors;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ResolveShardRecovery;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol;
import java.util.HashMap;
import java.util.Map;

/**
 * A stand-in for the coordinator where parameter shards run under Cluster Sharding: it answers
 * every shard's {@link ResolveShardRecovery} with the plan a test set for that entity (a fresh
 * plan in epoch 0 until then), and shows the shard's questions and reports to that test's
 * observer.
 */
final class TestingCoordinator {
  private TestingCoordinator() {}

  /** Sets the plan for one entity and who sees its messages; replies {@link Done} once in force. */
  record PlanFor(
      String entityId,
      ShardRecoveryPlan plan,
      ActorRef<CoordinatorProtocol.Command> observer,
      ActorRef<Done> replyTo)
      implements CoordinatorProtocol.Local {}

  private record Entry(ShardRecoveryPlan plan, ActorRef<CoordinatorProtocol.Command> observer) {}

  static Behavior<CoordinatorProtocol.Command> create() {
    return answering(Map.of());
  }

  private static Behavior<CoordinatorProtocol.Command> answering(Map<String, Entry> entries) {
    return Behaviors.receive(CoordinatorProtocol.Command.class)
        .onMessage(PlanFor.class, set -> onPlanFor(entries, set))
        .onMessage(ResolveShardRecovery.class, question -> onResolve(entries, question))
        .onMessage(CoordinatorProtocol.ReportCorruptCheckpoint.class, report -> onReport(entries, report))
        .build();
  }

  private static Behavior<CoordinatorProtocol.Command> onPlanFor(Map<String, Entry> entries, PlanFor set) {
    Map<String, Entry> updated = new HashMap<>(entries);
    updated.put(set.entityId(), new Entry(set.plan(), set.observer()));
    set.replyTo().tell(Done.getInstance());
    return answering(Map.copyOf(updated));
  }

  private static Behavior<CoordinatorProtocol.Command> onResolve(
      Map<String, Entry> entries, ResolveShardRecovery question) {
    Entry entry = entries.get(ShardProtocol.entityId(question.jobId(), question.member(), question.shard()));
    if (entry == null) {
      question.replyTo().tell(TestingShards.FRESH);
    } else {
      entry.observer().tell(question);
      question.replyTo().tell(entry.plan());
    }
    return Behaviors.same();
  }

  private static Behavior<CoordinatorProtocol.Command> onReport(
      Map<String, Entry> entries, CoordinatorProtocol.ReportCorruptCheckpoint report) {
    Entry entry = entries.get(ShardProtocol.entityId(report.jobId(), report.member(), report.shard()));
    if (entry != null) {
      entry.observer().tell(report);
    }
    return Behaviors.same();
  }
}
