package io.tessera.coordinator;

import akka.actor.typed.ActorRef;
import akka.cluster.typed.Cluster;
import akka.pattern.StatusReply;
import akka.persistence.typed.javadsl.ReplyEffect;
import io.tessera.coordinator.CoordinatorEvent.GlobalBatchChanged;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.WorkerDraining;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.coordinator.CoordinatorState.Assignment;
import io.tessera.coordinator.ledger.SplitLedger;
import io.tessera.protocol.coordinator.AdminProtocol.DrainWorkers;
import io.tessera.protocol.coordinator.AdminProtocol.ListWorkers;
import io.tessera.protocol.coordinator.AdminProtocol.SetGlobalBatch;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.DrainCompleted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.DrainStarted;
import io.tessera.protocol.coordinator.CoordinatorProtocol.GlobalBatchSet;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobState;
import io.tessera.protocol.coordinator.CoordinatorProtocol.Local;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerInfo;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerList;
import io.tessera.protocol.coordinator.CoordinatorProtocol.WorkerShare;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.worker.WorkerProtocol;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The coordinator's view of its workers: who joined and left (from the Receptionist listing),
 * drains an operator asked for (and the nodes that leave the cluster once drained), the global
 * batch an operator sets, the worker list, and what each worker and each member's shards were last
 * told of the plan (accumulation shares, and in ssp mode the rosters of the workers that train
 * each member).
 *
 * <p>It owns the drains and what was sent (runtime only: after a restart every share and roster
 * is sent again). It asks the lease watch what a departing worker reported done, the checkpoint
 * scheduler whether the staleness bound is lifted for a checkpoint, the recovery for the job's
 * shard fleet, and the coordinator to send the lease fences and to reconcile after each change.
 */
final class Membership {

  private final CoordinatorContext ctx;
  private final WorkerDrains drains = new WorkerDrains();
  private final Map<String, String> accumulationSent = new HashMap<>();
  // SSP rosters sent to each member's shards: "job:member" -> the plan's membership epoch.
  private final Map<String, Long> rostersSent = new HashMap<>();
  /** In {@link #rostersSent}: the member stopped early, and its shards were sent an empty roster. */
  private static final long STOPPED_ROSTER = -1;

  Membership(CoordinatorContext ctx) {
    this.ctx = ctx;
  }

  /** Forgets the rosters sent to the job's shards, so that they are sent again when due. */
  void forgetRosters(String jobId) {
    rostersSent.keySet().removeIf(key -> key.startsWith(jobId + ":"));
  }

  /** Forgets every share sent to the workers, so that each is told its share again. */
  void forgetAccumulations() {
    accumulationSent.clear();
  }

  /** A drain journaled by the coordinator before may not have reached its workers: asks again. */
  void resumeDrains(CoordinatorState state) {
    List<WorkerEntry> draining = drains.resumed(state, System.nanoTime());
    if (!draining.isEmpty()) {
      ctx.log().info("Asking {} worker(s) to drain again after recovery", draining.size());
      draining.forEach(w -> w.ref().tell(WorkerProtocol.Drain.INSTANCE));
    }
  }

  record WorkersListed(Set<ActorRef<WorkerProtocol.Command>> workers)
      implements Local {}

  ReplyEffect<CoordinatorEvent, CoordinatorState> onWorkersListed(
      CoordinatorState state, WorkersListed command) {
    Map<String, ActorRef<WorkerProtocol.Command>> listed = new HashMap<>();
    command.workers().forEach(ref -> listed.put(ctx.workerId(ref), ref));
    List<CoordinatorEvent> events = new ArrayList<>();
    boolean left = false;
    for (String known : state.workerIds()) {
      if (!listed.containsKey(known)) {
        // What it reported done of its leases is acked; the rest goes back with its departure.
        events.addAll(reportedWindowsOf(state, known));
        events.add(new WorkerLeft(known, false));
        left = true;
      }
    }
    Set<String> knownIds = new HashSet<>(state.workerIds());
    knownIds.addAll(state.retired()); // drained: a listing that still names one lags behind
    listed.entrySet().stream()
        .filter(e -> !knownIds.contains(e.getKey()))
        .sorted(Map.Entry.comparingByKey())
        .forEach(e -> events.add(new WorkerJoined(e.getKey(), e.getValue())));
    if (events.isEmpty()) {
      return ctx.effect().noReply();
    }
    events.forEach(e -> ctx.log().info("{}: {}", e instanceof SplitCompleted ? "Reported before its worker left" : "Membership", e));
    boolean anyLeft = left;
    return ctx.effect()
        .persist(events)
        .thenRun(
            s -> {
              ctx.metrics.liveWorkers.update(s.workers().size());
              if (anyLeft) {
                ctx.host.sendLeaseFences(s);
              }
              ctx.scheduleReconcile();
            })
        .thenNoReply();
  }

  /** The acks of the windows {@code workerId} reported done of the leases it holds. */
  private List<CoordinatorEvent> reportedWindowsOf(CoordinatorState state, String workerId) {
    List<CoordinatorEvent> acks = new ArrayList<>();
    state.activeJob().ifPresent(job -> {
      for (MemberRun member : job.members()) {
        if (member.ledger() == null) {
          continue;
        }
        for (SplitLedger.LiveLease lease : member.ledger().liveLeases()) {
          Optional<CoordinatorProtocol.SplitReport> reported = ctx.watch.reported(lease.leaseId(), workerId);
          if (workerId.equals(lease.holder()) && reported.isPresent()) {
            LeaseDesk.completion(state, lease.leaseId(), workerId, reported.get())
                .filter(acked -> acked.count() > 0)
                .ifPresent(acks::add);
          }
        }
      }
    });
    return acks;
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onDrainWorkers(
      CoordinatorState state, DrainWorkers command) {
    List<WorkerEntry> targets = WorkerDrains.targets(state, command.target());
    if (targets.isEmpty()) {
      return ctx.effect()
          .reply(
              command.replyTo(),
              StatusReply.error(
                  "no live worker is '" + command.target() + "' or runs on that node; workers: " + state.workerIds()));
    }
    List<CoordinatorEvent> events = new ArrayList<>();
    events.add(CoordinatorContext.audit(state, "drain", command.target() + " (" + targets.size() + " worker(s))"));
    targets.stream().filter(w -> !w.draining()).forEach(w -> events.add(new WorkerDraining(w.workerId())));
    List<String> ids = targets.stream().map(WorkerEntry::workerId).toList();
    return ctx.effect()
        .persist(events)
        .thenRun(
            s -> {
              drains.started(command.target(), ids, System.nanoTime());
              targets.forEach(w -> w.ref().tell(WorkerProtocol.Drain.INSTANCE));
              ctx.log().info("Draining {}: {}", command.target(), ids);
              ctx.scheduleReconcile();
            })
        .thenReply(command.replyTo(), s -> StatusReply.success(new DrainStarted(ids)));
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onDrainCompleted(
      CoordinatorState state, DrainCompleted command) {
    String workerId = ctx.workerId(command.worker());
    boolean known = state.worker(workerId).isPresent();
    if (!known && (!drains.isDraining(workerId) || state.retired().contains(workerId))) {
      return ctx.effect().noReply();
    }
    // Known, or already gone from the Receptionist listing (which may overtake this message):
    // either way it is retired now, so a late listing cannot bring it back.
    return ctx.effect()
        .persist(new WorkerLeft(workerId, true))
        .thenRun(
            s -> {
              long millis = drains.completed(workerId, System.nanoTime());
              ctx.log().info("Worker {} drained and left{}", workerId, millis >= 0 ? " " + millis + " ms after the request" : "");
              ctx.metrics.liveWorkers.update(s.workers().size());
              drains.nodesDrained(s).forEach(this::leaveCluster);
              ctx.scheduleReconcile();
            })
        .thenNoReply();
  }

  /** A node whose every worker drained leaves the cluster, unless it has other roles to play. */
  private void leaveCluster(String address) {
    Cluster cluster = Cluster.get(ctx.actor.getSystem());
    for (akka.cluster.Member member : cluster.state().getMembers()) {
      if (member.address().toString().equals(address)) {
        if (member.hasRole("ps") || member.hasRole("coordinator")) {
          ctx.log().info("Node {} has no workers left; it stays for its other roles {}", address, member.getRoles());
        } else {
          ctx.log().info("Node {} has no workers left; asking it to leave the cluster", address);
          cluster.manager().tell(akka.cluster.typed.Leave.create(member.address()));
        }
      }
    }
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onSetGlobalBatch(
      CoordinatorState state, SetGlobalBatch command) {
    Optional<JobRun> found = state.job(command.jobId());
    String problem = null;
    if (found.isEmpty()) {
      problem = "no job " + command.jobId();
    } else if (found.get().state() != JobState.RUNNING) {
      problem = "job " + command.jobId() + " is " + found.get().state() + "; the global batch changes while it runs";
    } else if (command.globalBatch() <= 0 || command.globalBatch() % found.get().spec().microBatch() != 0) {
      problem = "the global batch must be a positive multiple of the micro-batch (" + found.get().spec().microBatch()
          + "), was " + command.globalBatch();
    } else if (command.globalBatch() > 64 * found.get().spec().globalBatch()) {
      problem = "the global batch may grow at most 64-fold over the spec's " + found.get().spec().globalBatch();
    }
    if (problem != null) {
      return ctx.effect().reply(command.replyTo(), StatusReply.error(problem));
    }
    JobRun job = found.get();
    double scale = job.spec().learningRateScaling().factor(job.spec().globalBatch(), command.globalBatch());
    ctx.log().info(
        "{}: global batch {} -> {} (learning rate x{})", job.jobId(), job.globalBatch(), command.globalBatch(),
        String.format("%.4f", scale));
    return ctx.effect()
        .persist(
            List.of(
                CoordinatorContext.audit(state, "set-global-batch", job.jobId() + " " + job.globalBatch() + " -> " + command.globalBatch()),
                new GlobalBatchChanged(job.jobId(), command.globalBatch(), scale)))
        .thenRun(s -> ctx.scheduleReconcile())
        .thenReply(command.replyTo(), s -> StatusReply.success(new GlobalBatchSet(job.jobId(), command.globalBatch(), scale)));
  }

  ReplyEffect<CoordinatorEvent, CoordinatorState> onListWorkers(
      CoordinatorState state, ListWorkers command) {
    List<WorkerInfo> workers = new ArrayList<>();
    for (WorkerEntry worker : state.workers()) {
      Optional<Assignment> a = state.assignment(worker.workerId());
      int held = state.activeJob().map(j -> leasesHeld(j, worker.workerId())).orElse(0);
      String status = worker.draining() ? "draining" : held > 0 ? "training" : "idle";
      workers.add(
          new WorkerInfo(
              worker.workerId(), status, a.map(Assignment::member).orElse(-1),
              a.map(Assignment::accumulationSteps).orElse(0), held, -1));
    }
    workers.addAll(drains.recentlyDrained());
    return ctx.effect().reply(command.replyTo(), new WorkerList(workers));
  }

  void updateWorkers(CoordinatorState state, JobRun job) {
    for (WorkerEntry worker : state.workers()) {
      Optional<Assignment> assignment = state.assignment(worker.workerId());
      if (assignment.isEmpty()) {
        continue;
      }
      Assignment a = assignment.get();
      String planned = job.jobId() + ":" + a.member() + ":" + state.membershipEpoch() + ":" + a.accumulationSteps();
      if (!planned.equals(accumulationSent.get(worker.workerId()))) {
        accumulationSent.put(worker.workerId(), planned);
        worker.ref().tell(
            new WorkerProtocol.SetAccumulation(job.jobId(), a.member(), state.membershipEpoch(), a.accumulationSteps()));
      }
      if (a.accumulationSteps() > 0 && leasesHeld(job, worker.workerId()) == 0) {
        worker.ref().tell(WorkerProtocol.WorkAvailable.INSTANCE);
      }
    }
    if (job.spec().mode() == TrainingMode.SSP) {
      sendRosters(job);
    }
  }

  /** Tells each member's shards which workers train it now, when that changed (SSP). */
  private void sendRosters(JobRun job) {
    if (ctx.checkpoints.isWanted(job.jobId())) {
      return; // the bound is lifted until the checkpoint is taken (see wantCheckpoint)
    }
    for (MemberRun member : job.members()) {
      AccumulationPlan plan = member.currentPlan();
      String key = job.jobId() + ":" + member.member();
      if (plan != null && member.stoppedEarly()) {
        // Only the leases it had out still train it, and its other workers moved on: lift the
        // bound, so that the last pulls are not held for clocks that no longer advance.
        if (!Long.valueOf(STOPPED_ROSTER).equals(rostersSent.get(key))) {
          rostersSent.put(key, STOPPED_ROSTER);
          ctx.recovery.fleet(job).tell(new ShardFleet.Roster(member.member(), plan.membershipEpoch(), List.of()));
        }
        continue;
      }
      if (plan != null && !Long.valueOf(plan.membershipEpoch()).equals(rostersSent.get(key))) {
        rostersSent.put(key, plan.membershipEpoch());
        List<String> workers =
            plan.shares().stream().filter(sh -> sh.accumulationSteps() > 0).map(WorkerShare::workerId).toList();
        ctx.recovery.fleet(job).tell(new ShardFleet.Roster(member.member(), plan.membershipEpoch(), workers));
      }
    }
  }

  private static int leasesHeld(JobRun job, String workerId) {
    return job.members().stream()
        .filter(m -> m.ledger() != null)
        .mapToInt(m -> m.ledger().leasesHeldBy(workerId))
        .sum();
  }

//-----
}
