package io.tessera.coordinator;

import io.tessera.coordinator.ledger.SplitLedger;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.coordinator.CoordinatorProtocol.AccumulationPlan;
import io.tessera.protocol.coordinator.CoordinatorProtocol.MemberResult;
import java.util.ArrayList;
import java.util.List;

/**
 * One member of a job: whether its shards are set up, its split ledger once training starts, every
 * accumulation plan it was given, and its test result at the end.
 *
 * @param ledger null until the job runs
 * @param result null until evaluated
 */
public record MemberRun(
    int member,
    String name,
    boolean initialized,
    SplitLedger ledger,
    List<AccumulationPlan> plans,
    MemberResult result)
    implements TesseraSerializable {

  public MemberRun {
    plans = List.copyOf(plans);
  }

  static MemberRun fresh(int member, String name) {
    return new MemberRun(member, name, false, null, List.of(), null);
  }

  boolean isTraining() {
    return ledger != null && !ledger.isComplete();
  }

  /** The plan in force, or null before the first. */
  AccumulationPlan currentPlan() {
    return plans.isEmpty() ? null : plans.get(plans.size() - 1);
  }

  MemberRun withInitialized() {
    return new MemberRun(member, name, true, ledger, plans, result);
  }

  MemberRun withLedger(SplitLedger next) {
    return new MemberRun(member, name, initialized, next, plans, result);
  }

  MemberRun withPlan(AccumulationPlan plan) {
    List<AccumulationPlan> next = new ArrayList<>(plans);
    next.add(plan);
    return new MemberRun(member, name, initialized, ledger, next, result);
  }

  MemberRun withResult(MemberResult next) {
    return new MemberRun(member, name, initialized, ledger, plans, next);
  }
}
