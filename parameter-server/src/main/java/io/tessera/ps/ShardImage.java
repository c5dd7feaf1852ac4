package io.tessera.ps;

import io.tessera.ps.optimizer.OptimizerState;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;

/**
 * A frozen copy of a shard's numbers as of one checkpoint: what a snapshot stores. Nothing changes
 * it after construction, so the snapshot store may serialize it on its own threads while the shard
 * goes on updating its live arrays.
 *
 * @param pendingGradient gradient sums accepted since the last optimizer step
 * @param lastSeqByWorker the newest push sequence number applied per worker (for de-duplication)
 * @param samplesApplied samples in every optimizer step applied so far (the schedule's progress)
 * @param pendingParts in {@code sync} mode, the contributions in {@code pendingGradient}
 * @param lastStep in {@code sync} mode, the first split of the step most recently taken (-1: none)
 * @param pendingStep in {@code sync} mode, the first split of the step being collected (-1: none)
 * @param appliedSplits in {@code async} and {@code ssp} mode, the member's splits whose gradients
 *     are in these numbers, as the words of a bit set (split {@code g} is bit {@code g % 64} of word
 *     {@code g / 64}): a split is applied once, whoever pushes it
 * @param splitApplications in {@code async} and {@code ssp} mode, how many splits the accepted
 *     pushes named, summed over those pushes (a window of {@code k} splits counts {@code k}). Kept
 *     apart from {@code appliedSplits} as an audit: were a split ever applied twice, this would
 *     exceed the number of splits set there
 */
record ShardImage(
    long checkpointId,
    long version,
    float[] parameters,
    float[] pendingGradient,
    int pendingSamples,
    OptimizerState optimizer,
    Map<String, Long> lastSeqByWorker,
    long samplesApplied,
    Set<Long> pendingParts,
    long lastStep,
    long pendingStep,
    long[] appliedSplits,
    long splitApplications) {

  ShardImage {
    lastSeqByWorker = Map.copyOf(lastSeqByWorker);
    pendingParts = Set.copyOf(pendingParts);
    appliedSplits = appliedSplits.clone();
  }

  @Override
  public long[] appliedSplits() {
    return appliedSplits.clone();
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof ShardImage that
        && checkpointId == that.checkpointId
        && version == that.version
        && pendingSamples == that.pendingSamples
        && samplesApplied == that.samplesApplied
        && lastStep == that.lastStep
        && pendingStep == that.pendingStep
        && splitApplications == that.splitApplications
        && pendingParts.equals(that.pendingParts)
        && Arrays.equals(parameters, that.parameters)
        && Arrays.equals(pendingGradient, that.pendingGradient)
        && optimizer.equals(that.optimizer)
        && lastSeqByWorker.equals(that.lastSeqByWorker)
        && Arrays.equals(appliedSplits, that.appliedSplits);
  }

  @Override
  public int hashCode() {
    return Long.hashCode(checkpointId) * 31 + Arrays.hashCode(parameters);
  }

  @Override
  public String toString() {
    return "ShardImage[checkpoint " + checkpointId + ", version " + version + ", " + parameters.length + " values]";
  }
}
