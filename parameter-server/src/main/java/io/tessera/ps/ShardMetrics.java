package io.tessera.ps;

import java.util.Map;
import kamon.Kamon;
import kamon.metric.Counter;
import kamon.metric.Timer;
import kamon.tag.TagSet;

/** The Kamon instruments one parameter shard reports to, tagged with its job. */
final class ShardMetrics {
  final Counter accepted;
  final Counter stale;
  final Counter duplicate;
  final Counter rejected;
  final Counter revoked;
  final Counter overlap;
  final Counter pullBytes;
  final Counter pushBytes;
  final Counter steps;
  final Timer stepTime;

  ShardMetrics(String jobId) {
    TagSet job = TagSet.of("job", jobId);
    accepted = pushes(jobId, "accepted");
    stale = pushes(jobId, "stale");
    duplicate = pushes(jobId, "duplicate");
    rejected = pushes(jobId, "rejected");
    revoked = pushes(jobId, "revoked");
    overlap = pushes(jobId, "overlap");
    pullBytes = Kamon.counter("tessera_ps_pull_bytes").withTags(job);
    pushBytes = Kamon.counter("tessera_ps_push_bytes").withTags(job);
    steps = Kamon.counter("tessera_ps_optimizer_steps").withTags(job);
    stepTime = Kamon.timer("tessera_ps_optimizer_step_time").withTags(job);
  }

  private static Counter pushes(String jobId, String outcome) {
    return Kamon.counter("tessera_ps_pushes").withTags(TagSet.from(Map.of("job", jobId, "outcome", outcome)));
  }
}
