package io.tessera.protocol.spec;

/**
 * The largest value every size in a job spec may take. Specs arrive from whoever may submit jobs
 * over the admin API, and the coordinator, the parameter shards and the workers allocate in
 * proportion to these sizes, so each one is capped where no accepted spec can run a node out of
 * memory. The caps
 * are far above what the shipped specs use (a 64-wide, 4-deep ViT on 28x28 images: 139,018
 * parameters) and above what a CPU cluster can train in reasonable time.
 *
 * <p>The records' constructors enforce the caps; a refusal names the field, as every other check
 * of a spec does. The caps on a stage as a whole (parameters and activations, counted by {@link
 * ModelSize}, and the micro-batches the coordinator tracks) are checked by {@link JobSpec}.
 */
public final class SpecLimits {
  /** Characters of a job's {@code name}. */
  public static final int MAX_NAME_LENGTH = 128;

  /** {@code epochs}, and so {@code early-stopping.patience} and {@code flip.unmasked-epochs}. */
  public static final int MAX_EPOCHS = 1_000;

  /** {@code global-batch}; an operator may still grow it 64-fold while the job runs. */
  public static final int MAX_GLOBAL_BATCH = 65_536;

  /** {@code micro-batch}: samples of one forward and backward pass on a worker. */
  public static final int MAX_MICRO_BATCH = 4_096;

  /** {@code split-size}: samples a worker leases at once. */
  public static final int MAX_SPLIT_SIZE = 1_000_000;

  /** {@code staleness}: versions or windows of lag. */
  public static final int MAX_STALENESS = 1_000;

  /** {@code shards}: parameter shards per member. */
  public static final int MAX_SHARDS = 256;

  /** Entries of {@code members}, or {@code ensemble-size}. */
  public static final int MAX_MEMBERS = 64;

  /** {@code backup-workers}. */
  public static final int MAX_BACKUP_WORKERS = 64;

  /** Entries of {@code stages}. */
  public static final int MAX_STAGES = 16;

  /** {@code checkpoint.every-pushes}. */
  public static final long MAX_CHECKPOINT_EVERY_PUSHES = 1_000_000_000L;

  /** {@code dataset.train-limit}, {@code dataset.test-limit} and {@code dataset.validation}. */
  public static final int MAX_DATASET_SAMPLES = 1_000_000;

  /**
   * The training samples a spec with {@code dataset.train-limit = 0} is assumed to train on when
   * its work is counted ({@link #MAX_MICRO_BATCHES}): all of Fashion-MNIST's.
   */
  public static final int FASHION_MNIST_TRAIN_SAMPLES = 60_000;

  /**
   * Members x epochs x micro-batches per epoch of one stage: the coordinator's split ledger keeps
   * an entry (about 21 bytes) for each, so this caps a running stage's ledgers near 84 MB.
   */
  public static final int MAX_MICRO_BATCHES = 4_000_000;

  /** {@code model.image-size}, in pixels. */
  public static final int MAX_IMAGE_SIZE = 512;

  /** {@code model.channels}. */
  public static final int MAX_CHANNELS = 16;

  /** {@code model.patch-size}, in pixels. */
  public static final int MAX_PATCH_SIZE = 64;

  /** Patches per image, {@code (image-size / patch-size)^2}: the tokens attention is square in. */
  public static final int MAX_PATCHES = 1_024;

  /**
   * Token widths: {@code model.dim}, {@code mae.decoder-dim}, {@code flip.text-dim} and {@code
   * flip.embed-dim}. One block of width 2048 already holds 17 million parameters.
   */
  public static final int MAX_WIDTH = 2_048;

  /** Transformer blocks: {@code model.depth}, {@code mae.decoder-depth}, {@code flip.text-depth}. */
  public static final int MAX_DEPTH = 64;

  /** Attention heads: {@code model.heads}, {@code mae.decoder-heads}, {@code flip.text-heads}. */
  public static final int MAX_HEADS = 64;

  /** MLP widths: {@code model.mlp-dim}, {@code mae.decoder-mlp-dim}, {@code flip.text-mlp-dim}. */
  public static final int MAX_MLP_DIM = 8_192;

  /** {@code model.classes}. */
  public static final int MAX_CLASSES = 10_000;

  /**
   * Parameters of one member's model ({@link ModelSize#parameters}), or {@code model.parameters}
   * of a synthetic one: 200 MB of fp32 values, about 800 MB with AdamW's moments and a gradient.
   */
  public static final long MAX_PARAMETERS_PER_MEMBER = 50_000_000L;

  /** Parameters of all of a stage's members together: what its shards hold, spread over the pool. */
  public static final long MAX_PARAMETERS_PER_STAGE = 200_000_000L;

  /**
   * Activation values a worker keeps for one micro-batch's backward pass ({@link
   * ModelSize#activations}): 4 GiB of fp32.
   */
  public static final long MAX_ACTIVATIONS = 1L << 30;

  private SpecLimits() {}
}
