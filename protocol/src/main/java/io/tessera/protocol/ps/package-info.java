/**
 * The parameter-shard protocol. Senders: workers ({@code Pull}, {@code Push}, and {@code
 * Initialize} when they set up a new job's shards) and operators' tools ({@code GetStatus}).
 * Receiver: {@code io.tessera.ps.ParameterShard}, a Cluster Sharding entity on role {@code ps}.
 */
package io.tessera.protocol.ps;
