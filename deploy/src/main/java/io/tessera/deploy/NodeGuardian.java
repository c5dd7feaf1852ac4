package io.tessera.deploy;

import ai.djl.Device;
import ai.djl.engine.Engine;
import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.DispatcherSelector;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.ClusterSingleton;
import akka.cluster.typed.ClusterSingletonSettings;
import akka.cluster.typed.SingletonActor;
import akka.http.javadsl.HttpsConnectionContext;
import com.typesafe.config.Config;
import io.tessera.coordinator.Coordinator;
import io.tessera.coordinator.CoordinatorSettings;
import io.tessera.coordinator.admin.AdminHttpServer;
import io.tessera.coordinator.admin.AdminSettings;
import io.tessera.coordinator.admin.JobEventLog;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.worker.WorkerProtocol;
import io.tessera.ps.ParameterShard;
import io.tessera.worker.DataCatalog;
import io.tessera.worker.Worker;
import io.tessera.worker.WorkerSettings;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The root actor of a node: starts what the node's roles call for. Every node routes to parameter
 * shards and to the coordinator singleton; ps nodes host shards, coordinator nodes may host the
 * singleton and serve the admin front, worker nodes run one worker per device.
 */
public final class NodeGuardian {
  private NodeGuardian() {}

  /** Messages the guardian accepts: only the question for the coordinator's proxy. */
  public interface Command {}

  record GetCoordinator(ActorRef<ActorRef<CoordinatorProtocol.Command>> replyTo) implements Command {}

  static Behavior<Command> create(Config config) {
    return Behaviors.setup(context -> start(context, config));
  }

  private static Behavior<Command> start(ActorContext<Command> context, Config config) {
    Cluster cluster = Cluster.get(context.getSystem());
    ActorRef<CoordinatorProtocol.Command> coordinator =
        ClusterSingleton.get(context.getSystem())
            .init(
                SingletonActor.of(Coordinator.create(CoordinatorSettings.fromConfig(config)), Coordinator.NAME)
                    .withSettings(ClusterSingletonSettings.create(context.getSystem()).withRole("coordinator")));
    ParameterShard.init(context.getSystem(), coordinator);

    if (cluster.selfMember().hasRole("worker")) {
      startWorkers(context, config, coordinator);
    }
    if (cluster.selfMember().hasRole("coordinator")) {
      AdminSettings admin = AdminSettings.fromConfig(config);
      if (admin.enabled()) {
        Optional<HttpsConnectionContext> https = AdminTransport.serverContext(config);
        String scheme = https.isPresent() ? "https" : "http";
        AdminHttpServer.start(
                context.getSystem(), coordinator, admin, https.orElse(null), jobEvents(context.getSystem(), config))
            .whenComplete(
                (binding, failure) -> {
                  if (failure != null) {
                    context.getSystem().log().error(
                        "Admin front could not bind {}:{}: {}", admin.host(), admin.port(), failure.getMessage());
                  } else {
                    context.getSystem().log().info(
                        "Admin front listening on {}://{}:{}",
                        scheme, binding.localAddress().getHostString(), binding.localAddress().getPort());
                  }
                });
      }
    }
    return Behaviors.receive(Command.class)
        .onMessage(GetCoordinator.class, ask -> {
          ask.replyTo().tell(coordinator);
          return Behaviors.same();
        })
        .build();
  }

  /** Job events from the journal, where the node journals to a database (not the in-memory one). */
  private static JobEventLog jobEvents(akka.actor.typed.ActorSystem<?> system, Config config) {
    return config.getString("tessera.persistence.database").equals("memory") ? null : new JournalJobEvents(system);
  }

  private static void startWorkers(
      ActorContext<Command> context, Config config, ActorRef<CoordinatorProtocol.Command> coordinator) {
    WorkerSettings settings = WorkerSettings.fromConfig(config);
    DataCatalog data = new DataCatalog(settings.dataDir());
    int gpus = settings.useGpus() ? Engine.getInstance().getGpuCount() : 0;
    int count = settings.count() > 0 ? settings.count() : Math.max(1, gpus);
    List<ActorRef<WorkerProtocol.Command>> workers = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      Device device = gpus > 0 ? Device.gpu(i % gpus) : Device.cpu();
      workers.add(
          context.spawn(
              Worker.create(coordinator, data, settings, device),
              "worker-" + i,
              DispatcherSelector.fromConfig(WorkerSettings.DISPATCHER)));
    }
    WorkerShutdown.register(context.getSystem(), workers);
    context.getLog().info(
        "Started {} worker(s) on {}{}", count, gpus > 0 ? gpus + " GPU(s)" : "the CPU",
        settings.useGpus() ? " with PyTorch " + Engine.getInstance().getVersion() + " (" + NativeFlavour.describe() + ")" : "");
  }
}
