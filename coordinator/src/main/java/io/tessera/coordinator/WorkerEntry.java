package io.tessera.coordinator;

import akka.actor.typed.ActorRef;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.worker.WorkerProtocol;

/**
 * A live worker: its id (Akka's serialized form of its ref, unique per incarnation) and ref.
 *
 * @param draining an operator asked it to leave: it finishes what it holds and gets no new work
 * @param samplesPerSecond its training speed, a moving average over its acked leases (0 before
 *     the first); in {@code sync} mode plans give faster workers larger shares of a step
 */
public record WorkerEntry(
    String workerId, ActorRef<WorkerProtocol.Command> ref, boolean draining, double samplesPerSecond)
    implements TesseraSerializable {

  private static final double SPEED_SMOOTHING = 0.3;

  WorkerEntry(String workerId, ActorRef<WorkerProtocol.Command> ref) {
    this(workerId, ref, false, 0);
  }

  WorkerEntry asDraining() {
    return new WorkerEntry(workerId, ref, true, samplesPerSecond);
  }

  /** The speed after an acked lease of {@code samples} computed in {@code computeNanos}. */
  WorkerEntry withSpeedSample(int samples, long computeNanos) {
    if (samples <= 0 || computeNanos <= 0) {
      return this;
    }
    double measured = samples * 1e9 / computeNanos;
    double next =
        samplesPerSecond == 0 ? measured : (1 - SPEED_SMOOTHING) * samplesPerSecond + SPEED_SMOOTHING * measured;
    return new WorkerEntry(workerId, ref, draining, next);
  }
}
