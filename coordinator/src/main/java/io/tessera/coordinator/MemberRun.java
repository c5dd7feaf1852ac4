package io.tessera.coordinator;

import io.tessera.coordinator.ledger.SplitLedger;
import io.tessera.coordinator.ledger.SplitLedger.Run;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import java.util.ArrayList;
import java.util.List;

/**
 * One member of a job: whether its shards are set up, its split ledger once training starts, every
 * accumulation plan it was given, and its test result at the end. In {@code sync} mode it also
 * tracks the step being trained (a run of splits making one global batch) and the loss of every
 * step taken.
 *
 * @param ledger null until the job runs
 * @param result null until evaluated
 * @param round in {@code sync} mode, the splits of the step in progress; null otherwise, and once
 *     every step is taken
 * @param roundLossSum summed training loss of the acked contributions to {@code round}
 * @param roundSamples samples of those contributions
 * @param stepLosses in {@code sync} mode, the mean training loss of each step taken, in order
 */
public record MemberRun(
    int member,
    String name,
    boolean initialized,
    SplitLedger ledger,
    List<AccumulationPlan> plans,
    MemberResult result,
    Run round,
    double roundLossSum,
    int roundSamples,
    List<StepLoss> stepLosses)
    implements TesseraSerializable {

  /** The mean training loss of the step whose first split is {@code firstSplit}. */
  public record StepLoss(int firstSplit, double loss) implements TesseraSerializable {}

  public MemberRun {
    plans = List.copyOf(plans);
    stepLosses = List.copyOf(stepLosses);
  }

  static MemberRun fresh(int member, String name) {
    return new MemberRun(member, name, false, null, List.of(), null, null, 0, 0, List.of());
  }

  boolean isTraining() {
    return ledger != null && !ledger.isComplete();
  }

  /** In {@code sync} mode: whether the step in progress has any contribution leased or acked. */
  boolean stepStarted() {
    return round != null && (roundSamples > 0 || ledger.anyLeased(round.first(), round.end()));
  }

  /** The plan in force, or null before the first. */
  AccumulationPlan currentPlan() {
    return plans.isEmpty() ? null : plans.get(plans.size() - 1);
  }

  MemberRun withInitialized() {
    return new MemberRun(member, name, true, ledger, plans, result, round, roundLossSum, roundSamples, stepLosses);
  }

  MemberRun withLedger(SplitLedger next) {
    return new MemberRun(member, name, initialized, next, plans, result, round, roundLossSum, roundSamples, stepLosses);
  }

  MemberRun withPlan(AccumulationPlan plan) {
    List<AccumulationPlan> next = new ArrayList<>(plans);
    next.add(plan);
    return new MemberRun(member, name, initialized, ledger, next, result, round, roundLossSum, roundSamples, stepLosses);
  }

  MemberRun withResult(MemberResult next) {
    return new MemberRun(member, name, initialized, ledger, plans, next, round, roundLossSum, roundSamples, stepLosses);
  }

  /**
   * Opens the step that starts at the first split not acknowledged yet: {@code splitsPerStep}
   * splits, or fewer at the end of an epoch. The step's loss bookkeeping starts over.
   */
  MemberRun withRoundOpened(int splitsPerStep) {
    Run next = null;
    if (ledger.firstUnacked().isPresent()) {
      int first = ledger.firstUnacked().getAsInt();
      int epochEnd = (first / ledger.splitsPerEpoch() + 1) * ledger.splitsPerEpoch();
      next = new Run(first, Math.min(splitsPerStep, epochEnd - first));
    }
    return new MemberRun(member, name, initialized, ledger, plans, result, next, 0, 0, stepLosses);
  }

  /**
   * Counts an acked contribution towards the step in progress; when the step has every split
   * acked, records its loss and opens the next step.
   */
  MemberRun withContribution(double lossSum, int samples, int splitsPerStep) {
    if (round == null) {
      return this;
    }
    double sum = roundLossSum + lossSum;
    int count = roundSamples + samples;
    if (!ledger.allAcked(round.first(), round.end())) {
      return new MemberRun(member, name, initialized, ledger, plans, result, round, sum, count, stepLosses);
    }
    List<StepLoss> losses = new ArrayList<>(stepLosses);
    losses.add(new StepLoss(round.first(), count == 0 ? Double.NaN : sum / count));
    return new MemberRun(member, name, initialized, ledger, plans, result, round, 0, 0, losses)
        .withRoundOpened(splitsPerStep);
  }

  /** After a rewind: forget the losses of steps the rewind undid, and start the step again. */
  MemberRun withRoundRewound(int splitsPerStep) {
    int resumeAt = ledger.firstUnacked().orElse(ledger.totalSplits());
    List<StepLoss> kept = stepLosses.stream().filter(s -> s.firstSplit() < resumeAt).toList();
    return new MemberRun(member, name, initialized, ledger, plans, result, round, 0, 0, kept)
        .withRoundOpened(splitsPerStep);
  }
}
