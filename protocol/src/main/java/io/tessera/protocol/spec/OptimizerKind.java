package io.tessera.protocol.spec;

/** The optimizers a parameter shard applies; spelled {@code adamw} and {@code sgd} in spec files. */
public enum OptimizerKind {
  /** Adam with decoupled weight decay (Loshchilov and Hutter). */
  ADAMW,
  /** Stochastic gradient descent with (optionally Nesterov) momentum and L2 weight decay. */
  SGD
}
