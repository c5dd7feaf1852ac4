package io.tessera.ps;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.StashBuffer;
import akka.cluster.sharding.typed.ClusterShardingSettings;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.Entity;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.ShardRecoveryPlan;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.ps.ShardProtocol.Command;
import io.tessera.protocol.ps.ShardProtocol.Local;
import io.tessera.protocol.ps.ShardProtocol.ShardAddress;

/**
 * One slice of one ensemble member's parameters, with its optimizer state: a Cluster Sharding
 * entity on role {@code ps}.
 *
 * <p>Workers pull the slice and push gradient sums (see {@link PushRules}); the coordinator has
 * the job's shards take consistent checkpoints and, when a shard is lost, rewinds them all to the
 * last complete one. A starting shard first asks the coordinator which checkpoint that is, holding
 * every other message meanwhile, then recovers it from the journal and snapshot store ({@link
 * PersistentShard}).
 */
public final class ParameterShard {
  private ParameterShard() {}

  /**
   * Starts sharding for parameter shards on this node: it hosts them if the node has role {@code
   * ps}, and only routes to them otherwise. Each entity is its own Akka shard, so the shard
   * allocation spreads a member's equally sized slices evenly over the ps nodes.
   */
  public static void init(ActorSystem<?> system, ActorRef<CoordinatorProtocol.Command> coordinator) {
    ShardSettings settings = ShardSettings.fromConfig(system.settings().config());
    ClusterSharding.get(system)
        .init(
            Entity.of(
                    ShardProtocol.ENTITY_TYPE_KEY,
                    context -> create(context.getEntityId(), context.getShard(), coordinator, settings))
                .withRole("ps")
                .withMessageExtractor(new OneEntityPerShard<>())
                .withAllocationStrategy(new StayPutAllocation())
                // Parameters change in memory between checkpoints: never passivate them for idling.
                .withSettings(ClusterShardingSettings.create(system).withNoPassivationStrategy()));
  }

  public static Behavior<Command> create(
      String entityId,
      ActorRef<ClusterSharding.ShardCommand> shardRegion,
      ActorRef<CoordinatorProtocol.Command> coordinator,
      ShardSettings settings) {
    ShardAddress address = ShardAddress.parse(entityId);
    return Behaviors.withStash(
        settings.stashCapacity(),
        stash ->
            Behaviors.setup(
                context -> {
                  askForPlan(context, coordinator, address, settings);
                  return resolving(context, stash, entityId, shardRegion, coordinator, settings);
                }));
  }

  private record PlanArrived(ShardRecoveryPlan plan) implements Local {}

  private record PlanMissing(String reason) implements Local {}

  private static void askForPlan(
      ActorContext<Command> context,
      ActorRef<CoordinatorProtocol.Command> coordinator,
      ShardAddress address,
      ShardSettings settings) {
    context.ask(
        ShardRecoveryPlan.class,
        coordinator,
        settings.resolveTimeout(),
        replyTo ->
            new CoordinatorProtocol.ResolveShardRecovery(
                address.jobId(), address.member(), address.shard(), replyTo),
        (plan, failure) -> plan != null ? new PlanArrived(plan) : new PlanMissing(failure.getMessage()));
  }

  private static Behavior<Command> resolving(
      ActorContext<Command> context,
      StashBuffer<Command> stash,
      String entityId,
      ActorRef<ClusterSharding.ShardCommand> shardRegion,
      ActorRef<CoordinatorProtocol.Command> coordinator,
      ShardSettings settings) {
    return Behaviors.receive(Command.class)
        .onMessage(
            PlanArrived.class,
            arrived ->
                stash.unstashAll(
                    PersistentShard.create(entityId, arrived.plan(), shardRegion, coordinator, settings)))
        .onMessage(
            PlanMissing.class,
            missing -> {
              context.getLog().warn(
                  "Shard {} has no word from the coordinator yet ({}); asking again", entityId, missing.reason());
              askForPlan(context, coordinator, ShardAddress.parse(entityId), settings);
              return Behaviors.same();
            })
        .onMessage(
            ShardProtocol.StopShard.class,
            stop -> {
              // Its job is over and it was not running: nothing to stop, nothing to recover.
              shardRegion.tell(new ClusterSharding.Passivate<>(context.getSelf()));
              return Behaviors.ignore();
            })
        .onMessage(
            Command.class,
            message -> {
              if (stash.isFull()) {
                context.getLog().warn("Shard {} is still starting and drops {}", entityId, message.getClass().getSimpleName());
              } else {
                stash.stash(message);
              }
              return Behaviors.same();
            })
        .build();
  }
}
