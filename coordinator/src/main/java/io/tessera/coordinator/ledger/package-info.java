/** The split ledger: which parts of the training data are pending, leased and acknowledged. */
package io.tessera.coordinator.ledger;
