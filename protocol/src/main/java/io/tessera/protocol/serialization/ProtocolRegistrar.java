package io.tessera.protocol.serialization;

import io.tessera.protocol.coordinator.AdminProtocol;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.DatasetSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.LearningRateSchedule;
import io.tessera.protocol.spec.MemberSpec;
import io.tessera.protocol.spec.ModelKind;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.TensorSpec;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.protocol.worker.WorkerProtocol;

/**
 * Wire ids 100-299: the specs, tensors and the three cross-node protocols. Ids are part of the
 * wire format: never reuse or renumber one, only append.
 */
public final class ProtocolRegistrar implements KryoRegistrar {
  @Override
  public void register(WireRegistry registry) {
    // specs: 100-129
    registry.add(100, JobSpec.class);
    registry.add(101, DatasetSpec.class);
    registry.add(102, ModelSpec.class);
    registry.add(103, OptimizerSpec.class);
    registry.add(104, MemberSpec.class);
    registry.add(105, ModelKind.class);
    registry.add(106, OptimizerKind.class);
    registry.add(107, LearningRateSchedule.class);
    registry.add(108, TrainingMode.class);
    registry.add(109, io.tessera.protocol.spec.CheckpointSpec.class);
    registry.add(110, io.tessera.protocol.spec.LearningRateScaling.class);
    registry.add(111, io.tessera.protocol.spec.StageKind.class);
    registry.add(112, io.tessera.protocol.spec.StageSpec.class);
    registry.add(113, io.tessera.protocol.spec.MaeSpec.class);
    registry.add(114, io.tessera.protocol.spec.FlipSpec.class);
    registry.add(115, io.tessera.protocol.spec.DistillSpec.class);
    registry.add(116, io.tessera.protocol.spec.ComputePrecision.class);
    registry.add(117, io.tessera.protocol.spec.PipelineSpec.class);
    registry.add(118, io.tessera.protocol.spec.EarlyStoppingSpec.class);

    // tensors: 130-149
    registry.add(130, WirePrecision.class);
    registry.add(131, TensorPayload.class, new TensorPayloadSerializer(registry.limits().maxTensorValues()));
    registry.add(132, TensorSpec.class);
    registry.add(133, ParameterLayout.class);
    registry.add(134, ShardRange.class);
    registry.add(135, Segment.class);

    // parameter-shard protocol: 150-179
    registry.add(150, ShardProtocol.Initialize.class);
    registry.add(151, ShardProtocol.ShardSetup.class);
    registry.add(152, ShardProtocol.Initialized.class);
    registry.add(153, ShardProtocol.Pull.class);
    registry.add(154, ShardProtocol.Pulled.class);
    registry.add(155, ShardProtocol.Push.class);
    registry.add(156, ShardProtocol.Accepted.class);
    registry.add(157, ShardProtocol.Duplicate.class);
    registry.add(158, ShardProtocol.Stale.class);
    registry.add(159, ShardProtocol.GetStatus.class);
    registry.add(160, ShardProtocol.ShardStatus.class);
    registry.add(161, ShardProtocol.TakeCheckpoint.class);
    registry.add(162, ShardProtocol.CheckpointSaved.class);
    registry.add(163, ShardProtocol.RewindTo.class);
    registry.add(164, ShardProtocol.ConfirmEpoch.class);
    registry.add(165, ShardProtocol.EpochConfirmed.class);
    registry.add(166, ShardProtocol.StepRule.class);
    registry.add(167, ShardProtocol.UpdateRoster.class);
    registry.add(168, ShardProtocol.StopShard.class);
    registry.add(169, ShardProtocol.Window.class);
    registry.add(170, ShardProtocol.Revoked.class);
    registry.add(171, ShardProtocol.Overlap.class);
    registry.add(172, ShardProtocol.FenceLeases.class);

    // worker protocol: 180-209
    registry.add(180, WorkerProtocol.WorkAvailable.class);
    registry.add(181, WorkerProtocol.InitializeModel.class);
    registry.add(182, WorkerProtocol.ModelInitialized.class);
    registry.add(183, WorkerProtocol.DatasetInfo.class);
    registry.add(184, WorkerProtocol.SetAccumulation.class);
    registry.add(185, WorkerProtocol.Evaluate.class);
    registry.add(186, WorkerProtocol.EvaluationReport.class);
    registry.add(187, WorkerProtocol.Drain.class);
    registry.add(188, WorkerProtocol.SourceModel.class);
    registry.add(189, WorkerProtocol.StageInputs.class);
    registry.add(190, WorkerProtocol.EvaluateEnsemble.class);
    registry.add(191, WorkerProtocol.EnsembleReport.class);
    registry.add(192, WorkerProtocol.AbandonJob.class);
    registry.add(193, WorkerProtocol.LeasesVoided.class);

    // coordinator protocol: 210-259
    registry.add(210, AdminProtocol.SubmitJob.class);
    registry.add(211, CoordinatorProtocol.JobAccepted.class);
    registry.add(212, AdminProtocol.GetJobStatus.class);
    registry.add(213, AdminProtocol.ListJobs.class);
    registry.add(214, CoordinatorProtocol.JobList.class);
    registry.add(215, AdminProtocol.GetAccumulationHistory.class);
    registry.add(216, CoordinatorProtocol.RequestLease.class);
    registry.add(217, CoordinatorProtocol.CompleteSplit.class);
    registry.add(218, CoordinatorProtocol.ReleaseLease.class);
    registry.add(219, CoordinatorProtocol.LeaseGranted.class);
    registry.add(220, CoordinatorProtocol.NoLease.class);
    registry.add(221, CoordinatorProtocol.Lease.class);
    registry.add(222, CoordinatorProtocol.Split.class);
    registry.add(223, CoordinatorProtocol.SplitReport.class);
    registry.add(224, CoordinatorProtocol.JobState.class);
    registry.add(225, CoordinatorProtocol.JobStatus.class);
    registry.add(226, CoordinatorProtocol.MemberResult.class);
    registry.add(227, CoordinatorProtocol.AccumulationHistory.class);
    registry.add(228, CoordinatorProtocol.AccumulationPlan.class);
    registry.add(229, CoordinatorProtocol.WorkerShare.class);
    registry.add(230, CoordinatorProtocol.ResolveShardRecovery.class);
    registry.add(231, CoordinatorProtocol.ShardRecoveryPlan.class);
    registry.add(232, CoordinatorProtocol.ReportCorruptCheckpoint.class);
    registry.add(233, AdminProtocol.RequestCheckpoint.class);
    registry.add(234, CoordinatorProtocol.CheckpointRequested.class);
    registry.add(235, AdminProtocol.GetAuditLog.class);
    registry.add(236, CoordinatorProtocol.AuditLog.class);
    registry.add(237, CoordinatorProtocol.AuditRecord.class);
    registry.add(238, AdminProtocol.DrainWorkers.class);
    registry.add(239, CoordinatorProtocol.DrainStarted.class);
    registry.add(240, CoordinatorProtocol.DrainCompleted.class);
    registry.add(241, AdminProtocol.SetGlobalBatch.class);
    registry.add(242, CoordinatorProtocol.GlobalBatchSet.class);
    registry.add(243, AdminProtocol.ListWorkers.class);
    registry.add(244, CoordinatorProtocol.WorkerList.class);
    registry.add(245, CoordinatorProtocol.WorkerInfo.class);
    registry.add(246, AdminProtocol.GetTrainingCurve.class);
    registry.add(247, CoordinatorProtocol.TrainingCurve.class);
    registry.add(248, AdminProtocol.GetShardStatuses.class);
    registry.add(249, CoordinatorProtocol.ShardStatuses.class);
    registry.add(250, AdminProtocol.SubmitPipeline.class);
    registry.add(251, CoordinatorProtocol.PipelineAccepted.class);
    registry.add(252, CoordinatorProtocol.EnsembleResult.class);
    registry.add(253, AdminProtocol.CancelJob.class);
    registry.add(254, CoordinatorProtocol.JobCancelled.class);
    registry.add(255, CoordinatorProtocol.LeaseProgress.class);
    registry.add(260, AdminProtocol.PauseJob.class);
    registry.add(261, AdminProtocol.ResumeJob.class);
    registry.add(262, AdminProtocol.JobsChanged.class);
    registry.add(263, AdminProtocol.RestoreCheckpoint.class);
    registry.add(264, AdminProtocol.CheckpointRestored.class);
    registry.add(265, AdminProtocol.ListCheckpoints.class);
    registry.add(266, AdminProtocol.CheckpointList.class);
    registry.add(267, AdminProtocol.CheckpointInfo.class);
    registry.add(268, AdminProtocol.SetLearningRate.class);
    registry.add(269, AdminProtocol.LearningRateSet.class);

    // why no lease: 270-289
    registry.add(270, CoordinatorProtocol.NoLeaseReason.NotListed.class);
    registry.add(271, CoordinatorProtocol.NoLeaseReason.Draining.class);
    registry.add(272, CoordinatorProtocol.NoLeaseReason.BackingOff.class);
    registry.add(273, CoordinatorProtocol.NoLeaseReason.NoJobRunning.class);
    registry.add(274, CoordinatorProtocol.NoLeaseReason.JobNotLeasing.class);
    registry.add(275, CoordinatorProtocol.NoLeaseReason.SurplusWorker.class);
    registry.add(276, CoordinatorProtocol.NoLeaseReason.StepsTaken.class);
    registry.add(277, CoordinatorProtocol.NoLeaseReason.SplitsTaken.class);
    registry.add(278, CoordinatorProtocol.NoLeaseReason.CheckpointDue.class);
    registry.add(279, CoordinatorProtocol.NoLeaseReason.CheckpointDueBetweenSteps.class);
    registry.add(280, CoordinatorProtocol.NoLeaseReason.CheckpointTaking.class);
    registry.add(281, CoordinatorProtocol.NoLeaseReason.CheckpointTakingBetweenSteps.class);
    registry.add(282, CoordinatorProtocol.NoLeaseReason.AwaitingContributions.class);
  }
}
