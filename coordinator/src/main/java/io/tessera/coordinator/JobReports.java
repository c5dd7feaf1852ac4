package io.tessera.coordinator;

import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationHistory;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.JobStatus;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/** What the coordinator answers about a job, built from its state. */
final class JobReports {
  private JobReports() {}

  static JobStatus status(CoordinatorState state, JobRun job, double samplesPerSecond) {
    List<MemberResult> results = job.members().stream().map(MemberRun::result).filter(Objects::nonNull).toList();
    return new JobStatus(
        job.jobId(),
        job.spec().name(),
        job.state(),
        job.samplesDone(),
        job.samplesTotal(),
        job.splitsDone(),
        job.splitsTotal(),
        state.workers().size(),
        state.membershipEpoch(),
        job.recentLoss(),
        samplesPerSecond,
        results,
        job.failure() == null ? "" : job.failure(),
        job.recoveryEpoch(),
        job.lastCheckpoint().map(CheckpointRecord::checkpointId).orElse(-1L),
        job.spec().stage().name(),
        job.spec().stage().kind(),
        job.ensemble(),
        job.members().stream().map(MemberRun::stoppedAfterEpoch).toList());
  }

  static AccumulationHistory accumulationHistory(JobRun job) {
    List<AccumulationPlan> plans = new ArrayList<>();
    job.members().forEach(m -> plans.addAll(m.plans()));
    plans.sort(Comparator.comparingLong(AccumulationPlan::membershipEpoch));
    return new AccumulationHistory(job.jobId(), job.globalBatch(), job.spec().microBatch(), plans);
  }
}
