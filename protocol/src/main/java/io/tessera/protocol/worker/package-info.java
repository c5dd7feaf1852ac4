/**
 * The worker protocol. Sender: the {@code Coordinator} singleton. Receiver: {@code
 * io.tessera.worker.Worker}, one actor per device on nodes with role {@code worker}, found through
 * the Receptionist under {@link io.tessera.protocol.worker.WorkerProtocol#SERVICE_KEY}.
 */
package io.tessera.protocol.worker;
