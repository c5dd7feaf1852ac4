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
 * @param ledger null until the job runs (and once it is archived)
 * @param plans the newest {@link #PLANS_KEPT} accumulation plans, oldest first
 * @param result null until evaluated
 * @param round in {@code sync} mode, the splits of the step in progress; null otherwise, and once
 *     every step is taken
 * @param roundScale the learning-rate factor of the step in progress, fixed when it opened, so all
 *     of its contributions carry the same one even if an operator changes the batch meanwhile
 * @param roundLossSum summed training loss of the acked contributions to {@code round}
 * @param roundSamples samples of those contributions
 * @param stepLosses in {@code sync} mode, the mean training loss of each step taken, in order
 * @param backups in {@code sync} mode, the step's contributions duplicated by idle workers
 *     ({@code backup-workers}): the first copy acked counts for the lease it duplicates
 * @param validations with early stopping, the validation accuracy after each epoch scored, in
 *     epoch order
 * @param stoppedAfterEpoch the epoch after which early stopping ended the member's training; -1
 *     while it trains on (or without early stopping). A stopped member gets no new lease, and
 *     every split it would have trained is skipped; the leases it had out when it stopped are
 *     acknowledged as usual, and until they are it still counts as training (see {@link
 *     #isTraining}, {@link #wantsWork})
 */
public record MemberRun(
    int member,
    String name,
    boolean initialized,
    SplitLedger ledger,
    List<AccumulationPlan> plans,
    MemberResult result,
    Run round,
    double roundScale,
    double roundLossSum,
    int roundSamples,
    List<StepLoss> stepLosses,
    List<Backup> backups,
    List<Validation> validations,
    int stoppedAfterEpoch)
    implements TesseraSerializable {

  /** The mean training loss of the step whose first split is {@code firstSplit}. */
  public record StepLoss(int firstSplit, double loss) implements TesseraSerializable {}

  /** The member's validation accuracy after epoch {@code epoch} (0-based). */
  public record Validation(int epoch, double accuracy) implements TesseraSerializable {}

  /** Lease {@code leaseId}, held by {@code workerId}, duplicates lease {@code originalLeaseId}. */
  public record Backup(long leaseId, long originalLeaseId, String workerId) implements TesseraSerializable {}

  /** Accumulation plans kept per member, the newest; each holds a share per worker. */
  static final int PLANS_KEPT = 256;

  public MemberRun {
    plans = List.copyOf(plans);
    stepLosses = List.copyOf(stepLosses);
    backups = List.copyOf(backups);
    validations = List.copyOf(validations);
  }

  static MemberRun fresh(int member, String name) {
    return new MemberRun(member, name, false, null, List.of(), null, null, 1.0, 0, 0, List.of(), List.of(), List.of(), -1);
  }

  /**
   * The member of an archived job: no ledger, step in progress or backups, keeping its plans, loss
   * curve, scores and result.
   */
  MemberRun archived() {
    return new MemberRun(member, name, initialized, null, plans, result, null, roundScale, 0, 0, stepLosses, List.of(), validations, stoppedAfterEpoch);
  }

  /** Without its plans and loss curve, which an archived job keeps only for a while. */
  MemberRun withoutDetail() {
    return new MemberRun(member, name, initialized, ledger, List.of(), result, round, roundScale, roundLossSum, roundSamples, List.of(), backups, validations, stoppedAfterEpoch);
  }

  /** The backup lease {@code leaseId}, if it is one. */
  java.util.Optional<Backup> backup(long leaseId) {
    return backups.stream().filter(b -> b.leaseId() == leaseId).findFirst();
  }

  MemberRun withBackup(Backup backup) {
    List<Backup> next = new java.util.ArrayList<>(backups);
    next.add(backup);
    return new MemberRun(member, name, initialized, ledger, plans, result, round, roundScale, roundLossSum, roundSamples, stepLosses, next, validations, stoppedAfterEpoch);
  }

  /** Without backup lease {@code leaseId} (given back, or its copy is no longer needed). */
  MemberRun withoutBackup(long leaseId) {
    List<Backup> next = backups.stream().filter(b -> b.leaseId() != leaseId).toList();
    return new MemberRun(member, name, initialized, ledger, plans, result, round, roundScale, roundLossSum, roundSamples, stepLosses, next, validations, stoppedAfterEpoch);
  }

  /**
   * After {@code workerId} left: its backups are dropped, and where it held a lease that another
   * worker backs up, that worker takes the lease over (its copy becomes the contribution), so the
   * step does not wait for the run to be leased and computed again.
   */
  MemberRun withWorkerGone(String workerId) {
    SplitLedger next = ledger;
    List<Backup> kept = new java.util.ArrayList<>();
    for (Backup backup : backups) {
      if (backup.workerId().equals(workerId)) {
        continue;
      }
      java.util.Optional<SplitLedger.Run> original = next.runOfLease(backup.originalLeaseId());
      if (original.isPresent() && workerId.equals(next.holderOfLease(backup.originalLeaseId()).orElse(null))) {
        SplitLedger.Run run = original.get();
        next = next.release(backup.originalLeaseId()).lease(run.first(), run.count(), backup.leaseId(), backup.workerId());
      } else {
        kept.add(backup);
      }
    }
    next = settled(next.releaseAllOf(workerId));
    return new MemberRun(member, name, initialized, next, plans, result, round, roundScale, roundLossSum, roundSamples, stepLosses, kept, validations, stoppedAfterEpoch);
  }

  /**
   * Whether the member has training in flight or to come: its ledger is not complete. A member
   * stopped early is training until the leases it had out are acknowledged.
   */
  boolean isTraining() {
    return ledger != null && !ledger.isComplete();
  }

  /** Whether the member is to be given workers and leases: training, and not stopped early. */
  boolean wantsWork() {
    return isTraining() && !stoppedEarly();
  }

  boolean stoppedEarly() {
    return stoppedAfterEpoch >= 0;
  }

  /** Whether any of its splits is leased now. */
  boolean hasLeaseOut() {
    return ledger != null && ledger.anyLeased(0, ledger.totalSplits());
  }

  /** {@code next} as this member keeps it: once stopped early, a split given back is skipped. */
  private SplitLedger settled(SplitLedger next) {
    return stoppedEarly() && next != null ? next.skipPending() : next;
  }

  /** The last epoch scored on the validation split, or -1. */
  int lastValidatedEpoch() {
    return validations.isEmpty() ? -1 : validations.get(validations.size() - 1).epoch();
  }

  /** Records the validation accuracy after {@code epoch}. */
  MemberRun withValidation(int epoch, double accuracy) {
    List<Validation> next = new ArrayList<>(validations);
    next.add(new Validation(epoch, accuracy));
    return new MemberRun(member, name, initialized, ledger, plans, result, round, roundScale, roundLossSum, roundSamples, stepLosses, backups, next, stoppedAfterEpoch);
  }

  /**
   * Early stopping ends training after {@code epoch}: every pending split is skipped. Leases out
   * are acknowledged as usual (their pushes are already on their way to the shards), a backup's
   * copy included; in {@code sync} mode no further step opens.
   */
  MemberRun withStoppedEarly(int epoch) {
    return new MemberRun(member, name, initialized, ledger.skipPending(), plans, result, null, roundScale, 0, 0, stepLosses, backups, validations, epoch);
  }

  /**
   * After a rewind to {@code cut}: the ledger returns to it, scores of epochs no longer done are
   * forgotten, and so is a stop the rewind went back before. A cut that holds skipped splits was
   * taken after the stop: the member stays stopped, and a split that was leased then is skipped.
   * So it does after a cut that completes its ledger (nothing is left to train either way; the
   * status keeps where it stopped).
   */
  MemberRun rewoundTo(SplitLedger.Cut cut) {
    SplitLedger rewound = ledger.rewoundTo(cut);
    boolean staysStopped = stoppedEarly() && (rewound.skippedSplits() > 0 || rewound.isComplete());
    SplitLedger next = staysStopped ? rewound.skipPending() : rewound;
    int done = next.epochsDone();
    List<Validation> kept = validations.stream().filter(v -> v.epoch() < done).toList();
    return new MemberRun(member, name, initialized, next, plans, result, round, roundScale, roundLossSum, roundSamples, stepLosses, backups, kept, staysStopped ? stoppedAfterEpoch : -1);
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
    return new MemberRun(member, name, true, ledger, plans, result, round, roundScale, roundLossSum, roundSamples, stepLosses, backups, validations, stoppedAfterEpoch);
  }

  /** With {@code next} as the ledger (skipping what it gives back, if stopped early). */
  MemberRun withLedger(SplitLedger next) {
    return new MemberRun(member, name, initialized, settled(next), plans, result, round, roundScale, roundLossSum, roundSamples, stepLosses, backups, validations, stoppedAfterEpoch);
  }

  MemberRun withPlan(AccumulationPlan plan) {
    List<AccumulationPlan> next = new ArrayList<>(plans);
    next.add(plan);
    if (next.size() > PLANS_KEPT) {
      next.remove(0); // a long job with much churn would otherwise grow the state without bound
    }
    return new MemberRun(member, name, initialized, ledger, next, result, round, roundScale, roundLossSum, roundSamples, stepLosses, backups, validations, stoppedAfterEpoch);
  }

  MemberRun withResult(MemberResult next) {
    return new MemberRun(member, name, initialized, ledger, plans, next, round, roundScale, roundLossSum, roundSamples, stepLosses, backups, validations, stoppedAfterEpoch);
  }

  /**
   * Opens the step that starts at the first split not acknowledged yet: {@code splitsPerStep}
   * splits, or fewer at the end of an epoch. The step's loss bookkeeping starts over.
   */
  MemberRun withRoundOpened(int splitsPerStep, double scale) {
    Run next = null;
    if (ledger.firstUnacked().isPresent()) {
      int first = ledger.firstUnacked().getAsInt();
      int epochEnd = (first / ledger.splitsPerEpoch() + 1) * ledger.splitsPerEpoch();
      next = new Run(first, Math.min(splitsPerStep, epochEnd - first));
    }
    return new MemberRun(member, name, initialized, ledger, plans, result, next, scale, 0, 0, stepLosses, List.of(), validations, stoppedAfterEpoch);
  }

  /**
   * Counts an acked contribution towards the step in progress; when the step has every split
   * acked, records its loss and opens the next step.
   */
  MemberRun withContribution(double lossSum, int samples, int splitsPerStep, double scale) {
    if (round == null) {
      return this;
    }
    double sum = roundLossSum + lossSum;
    int count = roundSamples + samples;
    if (!ledger.allAcked(round.first(), round.end())) {
      return new MemberRun(member, name, initialized, ledger, plans, result, round, roundScale, sum, count, stepLosses, backups, validations, stoppedAfterEpoch);
    }
    List<StepLoss> losses = new ArrayList<>(stepLosses);
    losses.add(new StepLoss(round.first(), count == 0 ? Double.NaN : sum / count));
    return new MemberRun(member, name, initialized, ledger, plans, result, round, roundScale, 0, 0, losses, backups, validations, stoppedAfterEpoch)
        .withRoundOpened(splitsPerStep, scale);
  }

  /** After a rewind: forget the losses of steps the rewind undid, and start the step again. */
  MemberRun withRoundRewound(int splitsPerStep, double scale) {
    int resumeAt = ledger.firstUnacked().orElse(ledger.totalSplits());
    List<StepLoss> kept = stepLosses.stream().filter(s -> s.firstSplit() < resumeAt).toList();
    return new MemberRun(member, name, initialized, ledger, plans, result, round, roundScale, 0, 0, kept, List.of(), validations, stoppedAfterEpoch)
        .withRoundOpened(splitsPerStep, scale);
  }
}
