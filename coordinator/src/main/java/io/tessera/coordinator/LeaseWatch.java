package io.tessera.coordinator;

import io.tessera.coordinator.ledger.SplitLedger.LiveLease;
import io.tessera.protocol.coordinator.CoordinatorProtocol.SplitReport;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The coordinator's runtime watch over the leases out: when each last showed a sign of life, and
 * what its holder last reported done ({@code LeaseProgress}). Nothing here is journaled. A
 * coordinator that restarts starts every lease's clock afresh (a lease then lives a little longer,
 * never shorter) and has no reports (the lease's whole run is leased again when it ends, and the
 * shards answer the windows they applied as duplicates). Time is passed in, in {@link
 * System#nanoTime} units, so tests need not wait.
 */
final class LeaseWatch {

  /** A live lease whose holder has been silent for {@code silentNanos}. */
  record Silent(int member, LiveLease lease, long silentNanos) {}

  private record Report(String workerId, SplitReport report) {}

  private final Map<Long, Long> lastSeen = new HashMap<>();
  private final Map<Long, Report> reports = new HashMap<>();

  /**
   * {@code workerId} reports lease {@code leaseId} done up to {@code report} (reports are
   * cumulative; an older one arriving late changes nothing).
   */
  void progressed(long leaseId, String workerId, SplitReport report, long nowNanos) {
    Report known = reports.get(leaseId);
    if (known == null || !known.workerId().equals(workerId) || known.report().samples() <= report.samples()) {
      reports.put(leaseId, new Report(workerId, report));
    }
    lastSeen.put(leaseId, nowNanos);
  }

  /** What {@code holder} last reported done of lease {@code leaseId}, if it reported anything. */
  Optional<SplitReport> reported(long leaseId, String holder) {
    Report known = reports.get(leaseId);
    return known != null && known.workerId().equals(holder) ? Optional.of(known.report()) : Optional.empty();
  }

  /**
   * The leases of {@code job} whose holders have been silent for longer than {@code timeout}. A
   * lease seen for the first time starts its clock now; leases no longer out are forgotten.
   */
  List<Silent> silent(JobRun job, long nowNanos, Duration timeout) {
    List<Silent> silent = new ArrayList<>();
    Set<Long> out = new HashSet<>();
    for (MemberRun member : job.members()) {
      if (member.ledger() == null) {
        continue;
      }
      for (LiveLease lease : member.ledger().liveLeases()) {
        out.add(lease.leaseId());
        long since = nowNanos - lastSeen.computeIfAbsent(lease.leaseId(), id -> nowNanos);
        if (since > timeout.toNanos()) {
          silent.add(new Silent(member.member(), lease, since));
        }
      }
    }
    lastSeen.keySet().retainAll(out);
    reports.keySet().retainAll(out);
    return silent;
  }

  /** Nothing is out (no job is running): forget everything. */
  void clear() {
    lastSeen.clear();
    reports.clear();
  }
}
