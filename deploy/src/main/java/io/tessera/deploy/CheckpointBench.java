package io.tessera.deploy;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AskPattern;
import akka.actor.typed.javadsl.Behaviors;
import akka.pattern.StatusReply;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.tessera.protocol.coordinator.CoordinatorProtocol;
import io.tessera.protocol.ps.ShardProtocol;
import io.tessera.protocol.spec.OptimizerKind;
import io.tessera.protocol.spec.OptimizerSpec;
import io.tessera.protocol.spec.TrainingMode;
import io.tessera.protocol.tensor.Segment;
import io.tessera.protocol.tensor.ShardRange;
import io.tessera.protocol.tensor.TensorPayload;
import io.tessera.protocol.tensor.WirePrecision;
import io.tessera.ps.ParameterShard;
import io.tessera.ps.ShardSettings;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;

/**
 * {@code bin/tessera bench checkpoint-write}: how fast a model's checkpoint reaches the H2
 * snapshot store, against a plain file write of the same bytes to the same disk. The model is cut
 * into shards small enough for one message each, the way a job would cut it, and all shards
 * checkpoint at once.
 */
final class CheckpointBench {
  private static final Duration ASK = Duration.ofMinutes(2);

  private CheckpointBench() {}

  static int run(int megabytes, int shards, int rounds, Path dir) throws IOException {
    if (rounds < 1) {
      throw new CommandLine.UsageException("--rounds must be at least 1, was " + rounds);
    }
    Files.createDirectories(dir);
    Map<String, Object> overrides = new HashMap<>();
    overrides.put("akka.actor.provider", "local");
    // The shards' role: it is what makes createTables set up the journal and snapshot tables.
    overrides.put("akka.cluster.roles", List.of("ps"));
    overrides.put("tessera.persistence.database", "h2");
    overrides.put("tessera.persistence.h2.file", dir.resolve("journal").toString());
    Config config = Persistence.configure(ConfigFactory.parseMap(overrides).withFallback(ConfigFactory.load()));
    Persistence.createTables(config);
    int values = megabytes * 1024 * 1024 / Float.BYTES;
    System.out.printf(
        "bench: checkpoint of a %d MB model (%d parameters, SGD without momentum) in %d shards, H2 in %s%n",
        megabytes, values, shards, dir);

    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "checkpoint-bench", config);
    try {
      ActorRef<CoordinatorProtocol.Command> coordinator = system.systemActorOf(freshPlans(), "plans", akka.actor.typed.Props.empty());
      ShardSettings settings = ShardSettings.fromConfig(config);
      List<ActorRef<ShardProtocol.Command>> refs = new ArrayList<>();
      long[] sizes = new long[shards];
      for (int i = 0; i < shards; i++) {
        int from = (int) ((long) values * i / shards);
        int to = (int) ((long) values * (i + 1) / shards);
        sizes[i] = to - from;
        String entity = ShardProtocol.entityId("bench", 0, i);
        refs.add(system.systemActorOf(
            ParameterShard.create(entity, system.ignoreRef(), coordinator, settings), "shard-" + i, akka.actor.typed.Props.empty()));
      }
      for (int i = 0; i < shards; i++) {
        initialize(system, refs.get(i), i, (int) sizes[i]);
      }
      // Several checkpoints in a row, as a job takes them: the first follows the shards' setup
      // (which journals every parameter once); each one completes, and once the coordinator keeps
      // tessera.coordinator.checkpoints-kept, each also deletes the snapshot of the oldest. Each is
      // timed against a plain write of the same bytes just after it.
      int checkpointsKept = config.getInt("tessera.coordinator.checkpoints-kept");
      long bytes = (long) values * Float.BYTES;
      double[] ratios = new double[rounds];
      for (int round = 0; round < rounds; round++) {
        long checkpointId = round + 1;
        // Checkpoint k is every shard's journal entry k + 1 (entry 1 is the set-up, checkpoint 0).
        List<Long> keep = new ArrayList<>();
        for (long kept = Math.max(0, checkpointId - checkpointsKept); kept < checkpointId; kept++) {
          keep.add(kept + 1);
        }
        long start = System.nanoTime();
        List<CompletableFuture<ShardProtocol.CheckpointSaved>> saved = new ArrayList<>();
        for (ActorRef<ShardProtocol.Command> ref : refs) {
          saved.add(
              AskPattern.<ShardProtocol.Command, ShardProtocol.CheckpointSaved>askWithStatus(
                      ref, replyTo -> new ShardProtocol.TakeCheckpoint(checkpointId, 0, keep, replyTo), ASK, system.scheduler())
                  .toCompletableFuture());
        }
        CompletableFuture.allOf(saved.toArray(CompletableFuture[]::new)).join();
        double checkpointSeconds = (System.nanoTime() - start) / 1e9;
        double fileSeconds = plainWrite(dir, bytes, shards);
        ratios[round] = fileSeconds / checkpointSeconds;
        System.out.printf(
            "checkpoint %d: %.2f s (%.0f MB/s of parameters); plain file write (fsync) of the same bytes: %.2f s"
                + " (%.0f MB/s); write-rate ratio %.2f%n",
            checkpointId, checkpointSeconds, megabytes / checkpointSeconds, fileSeconds, megabytes / fileSeconds,
            ratios[round]);
      }
      double[] sorted = ratios.clone();
      java.util.Arrays.sort(sorted);
      System.out.printf("write rate of a checkpoint / of a plain write, median of %d: %.2f%n", rounds, sorted[rounds / 2]);
      return 0;
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().join();
    }
  }

  /** A stand-in coordinator that starts every shard fresh. */
  private static Behavior<CoordinatorProtocol.Command> freshPlans() {
    return Behaviors.receive(CoordinatorProtocol.Command.class)
        .onMessage(
            CoordinatorProtocol.ResolveShardRecovery.class,
            ask -> {
              ask.replyTo().tell(new CoordinatorProtocol.ShardRecoveryPlan(0, -1, 0));
              return Behaviors.same();
            })
        .build();
  }

  private static void initialize(ActorSystem<?> system, ActorRef<ShardProtocol.Command> shard, int index, int size) {
    float[] values = new float[size];
    SplittableRandom random = new SplittableRandom(index);
    for (int i = 0; i < size; i++) {
      values[i] = (float) (random.nextDouble() - 0.5);
    }
    OptimizerSpec sgd = OptimizerSpec.builder().optKind(OptimizerKind.SGD).optMomentum(0).optWeightDecay(0).build();
    ShardProtocol.ShardSetup setup =
        new ShardProtocol.ShardSetup(
            "bench", 0, new ShardRange(index, 0, size), List.of(new Segment("w" + index, 0, 0, size, false)),
            sgd, 64, 4, 1000, TrainingMode.ASYNC, false);
    AskPattern.<ShardProtocol.Command, ShardProtocol.Initialized>askWithStatus(
            shard,
            replyTo -> new ShardProtocol.Initialize(setup, TensorPayload.encode(values, WirePrecision.FP32), replyTo),
            ASK,
            system.scheduler())
        .toCompletableFuture()
        .join();
  }

  /** Writes {@code bytes} in {@code files} equal files next to the journal, each forced to disk. */
  private static double plainWrite(Path dir, long bytes, int files) {
    byte[] chunk = new byte[1 << 20];
    new SplittableRandom(7).nextBytes(chunk);
    long start = System.nanoTime();
    try {
      for (int f = 0; f < files; f++) {
        Path file = dir.resolve("plain-" + f + ".bin");
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
          long left = bytes / files;
          while (left > 0) {
            ByteBuffer buffer = ByteBuffer.wrap(chunk, 0, (int) Math.min(chunk.length, left));
            left -= out.write(buffer);
          }
          out.force(true);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return (System.nanoTime() - start) / 1e9;
  }
}
