package io.tessera.coordinator;

import io.tessera.coordinator.CoordinatorEvent.JobFailed;
import io.tessera.coordinator.CoordinatorEvent.JobInitializationStarted;
import io.tessera.coordinator.CoordinatorEvent.JobSubmitted;
import io.tessera.coordinator.CoordinatorEvent.LeaseReleased;
import io.tessera.coordinator.CoordinatorEvent.MemberEvaluated;
import io.tessera.coordinator.CoordinatorEvent.MemberInitialized;
import io.tessera.coordinator.CoordinatorEvent.SplitCompleted;
import io.tessera.coordinator.CoordinatorEvent.SplitLeased;
import io.tessera.coordinator.CoordinatorEvent.WorkerJoined;
import io.tessera.coordinator.CoordinatorEvent.WorkerLeft;
import io.tessera.coordinator.ledger.LedgerSerializer;
import io.tessera.coordinator.ledger.SplitLedger;
import io.tessera.protocol.serialization.KryoRegistrar;
import io.tessera.protocol.serialization.WireRegistry;

/**
 * Wire ids 500-599: the coordinator's journal events (500-549) and snapshot state (550-599). Never
 * reuse or renumber an id.
 */
public final class CoordinatorRegistrar implements KryoRegistrar {
  @Override
  public void register(WireRegistry registry) {
    registry.add(500, JobSubmitted.class);
    registry.add(501, JobInitializationStarted.class);
    registry.add(502, MemberInitialized.class);
    registry.add(503, WorkerJoined.class);
    registry.add(504, WorkerLeft.class);
    registry.add(505, SplitLeased.class);
    registry.add(506, SplitCompleted.class);
    registry.add(507, LeaseReleased.class);
    registry.add(508, MemberEvaluated.class);
    registry.add(509, JobFailed.class);
    registry.add(510, CoordinatorEvent.CheckpointStarted.class);
    registry.add(511, CoordinatorEvent.CheckpointCompleted.class);
    registry.add(512, CoordinatorEvent.CheckpointAbandoned.class);
    registry.add(513, CoordinatorEvent.CheckpointDiscarded.class);
    registry.add(514, CoordinatorEvent.JobRewound.class);
    registry.add(515, CoordinatorEvent.JobRecovered.class);
    registry.add(516, CoordinatorEvent.OperatorCommandRecorded.class);
    registry.add(517, CoordinatorEvent.WorkerDraining.class);
    registry.add(518, CoordinatorEvent.GlobalBatchChanged.class);
    registry.add(519, CoordinatorEvent.BackupLeased.class);
    registry.add(520, CoordinatorEvent.EnsembleEvaluated.class);
    registry.add(521, CoordinatorEvent.MemberValidated.class);
    registry.add(522, CoordinatorEvent.MemberStoppedEarly.class);
    registry.add(523, CoordinatorEvent.JobCancelled.class);
    registry.add(524, CoordinatorEvent.JobArchived.class);
    registry.add(525, CoordinatorEvent.Retention.class);
    registry.add(526, CoordinatorEvent.JobPaused.class);
    registry.add(527, CoordinatorEvent.JobResumed.class);
    registry.add(528, CoordinatorEvent.MemberLearningRateSet.class);

    // snapshot state
    registry.add(550, CoordinatorState.class);
    registry.add(551, JobRun.class);
    registry.add(552, MemberRun.class);
    registry.add(553, WorkerEntry.class);
    registry.add(554, SplitLedger.class, new LedgerSerializer(registry.limits().maxCollectionSize()));
    registry.add(555, SplitLedger.Cut.class);
    registry.add(556, CheckpointRecord.class);
    registry.add(557, CheckpointRecord.ShardPosition.class);
    registry.add(558, CheckpointRecord.Pending.class);
    registry.add(559, MemberRun.StepLoss.class);
    registry.add(560, SplitLedger.Run.class);
    registry.add(561, MemberRun.Backup.class);
    registry.add(562, MemberRun.Validation.class);
    registry.add(563, JobRun.Archive.class);
  }
}
