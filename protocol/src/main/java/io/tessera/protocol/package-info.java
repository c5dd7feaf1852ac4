/**
 * The contracts between Tessera's nodes: job specifications, tensor payloads and the three
 * protocols spoken between the coordinator, workers and parameter shards.
 *
 * <p>Everything in here is plain data (records and enums) plus the Kryo serializer that carries it.
 * Nothing in this module decides anything or touches DJL.
 */
package io.tessera.protocol;
