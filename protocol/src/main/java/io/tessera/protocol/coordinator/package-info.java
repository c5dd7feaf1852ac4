/**
 * The coordinator protocol. Senders: workers (leases and split acknowledgements) and the admin
 * front (submit, status). Receiver: {@code io.tessera.coordinator.Coordinator}, a Cluster
 * Singleton on role {@code coordinator}.
 */
package io.tessera.protocol.coordinator;
