package io.tessera.deploy;

import akka.Done;
import akka.actor.CoordinatedShutdown;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Behavior;
import akka.actor.typed.Props;
import akka.actor.typed.Terminated;
import akka.actor.typed.javadsl.Behaviors;
import io.tessera.protocol.worker.WorkerProtocol;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * A node that is told to stop (SIGTERM, as Kubernetes and {@code kill} send it, or a cluster
 * leave) drains its workers before it leaves the cluster, when a coordinator is there to take
 * their acks: in the first phase of Akka's
 * coordinated shutdown each worker finishes the window it is in, pushes it, acks what it trained
 * and gives back the rest of its lease, exactly as {@code bin/tessera drain} has it do. So no
 * acknowledged work is lost and nothing is trained twice, and the job goes on with the workers
 * left. A node that is being downed (the cluster already gave it up), or whose actor system is
 * simply terminated (embedded use, tests), skips the drain: its leases go back to the pool when it
 * is removed, as after a crash.
 */
final class WorkerShutdown {
  static final String TASK = "tessera-drain-workers";

  private WorkerShutdown() {}

  /** Registers the drain of {@code workers} with the system's coordinated shutdown. */
  static void register(ActorSystem<?> system, List<ActorRef<WorkerProtocol.Command>> workers) {
    CoordinatedShutdown shutdown = CoordinatedShutdown.get(system);
    shutdown.addTask(
        CoordinatedShutdown.PhaseBeforeServiceUnbind(),
        TASK,
        () -> {
          boolean asked =
              shutdown.getShutdownReason()
                  .map(reason -> reason.equals(CoordinatedShutdown.jvmExitReason())
                      || reason.equals(CoordinatedShutdown.clusterLeavingReason()))
                  .orElse(false);
          if (!asked || workers.isEmpty()) {
            return CompletableFuture.completedFuture(Done.getInstance());
          }
          if (!coordinatorReachable(system)) {
            system.log().info("Stopping without a drain: no coordinator node is reachable to take the workers' acks");
            return CompletableFuture.completedFuture(Done.getInstance());
          }
          system.log().info("Stopping: draining {} worker(s) first", workers.size());
          return drain(system, workers);
        });
  }

  /**
   * Whether a coordinator node is Up and reachable: a drain ends with the workers' acks, which
   * only a coordinator can take (when the whole cluster stops, it may be gone already).
   */
  private static boolean coordinatorReachable(ActorSystem<?> system) {
    akka.cluster.ClusterEvent.CurrentClusterState state = akka.cluster.typed.Cluster.get(system).state();
    for (akka.cluster.Member member : state.getMembers()) {
      if (member.hasRole("coordinator")
          && member.status() == akka.cluster.MemberStatus.up()
          && !state.getUnreachable().contains(member)) {
        return true;
      }
    }
    return false;
  }

  /** Sends every worker {@code Drain} and completes once each has stopped. */
  static CompletionStage<Done> drain(ActorSystem<?> system, List<ActorRef<WorkerProtocol.Command>> workers) {
    CompletableFuture<Done> drained = new CompletableFuture<>();
    system.systemActorOf(watcher(workers, drained), TASK, Props.empty());
    return drained;
  }

  private static Behavior<Object> watcher(List<ActorRef<WorkerProtocol.Command>> workers, CompletableFuture<Done> drained) {
    return Behaviors.setup(
        context -> {
          Set<ActorRef<?>> left = new HashSet<>(workers);
          for (ActorRef<WorkerProtocol.Command> worker : workers) {
            context.watch(worker); // one already stopped is reported at once
            worker.tell(WorkerProtocol.Drain.INSTANCE);
          }
          return Behaviors.receive(Object.class)
              .onSignal(
                  Terminated.class,
                  stopped -> {
                    left.remove(stopped.getRef());
                    if (!left.isEmpty()) {
                      return Behaviors.same();
                    }
                    context.getLog().info("Every worker drained");
                    drained.complete(Done.getInstance());
                    return Behaviors.stopped();
                  })
              .build();
        });
  }
}
