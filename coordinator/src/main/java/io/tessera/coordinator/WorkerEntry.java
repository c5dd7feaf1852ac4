package io.tessera.coordinator;

import akka.actor.typed.ActorRef;
import io.tessera.protocol.TesseraSerializable;
import io.tessera.protocol.worker.WorkerProtocol;

/** A live worker: its id (Akka's serialized form of its ref, unique per incarnation) and ref. */
public record WorkerEntry(String workerId, ActorRef<WorkerProtocol.Command> ref)
    implements TesseraSerializable {}
