/**
 * The optimizers a parameter shard applies to its slice of the model: AdamW and SGD with
 * momentum, written as tight loops over {@code float[]} because a slice holds up to tens of
 * millions of values and one step is bound by memory bandwidth.
 *
 * <p>An {@link io.tessera.ps.optimizer.Optimizer} owns its moment buffers and is not
 * thread-safe; it belongs to the one actor that owns the slice. Its {@link
 * io.tessera.ps.optimizer.OptimizerState} is a copy that can be persisted and restored.
 */
package io.tessera.ps.optimizer;
