package io.tessera.deploy;

import ai.djl.ndarray.NDManager;
import io.tessera.protocol.spec.ComputePrecision;
import io.tessera.protocol.spec.DistillSpec;
import io.tessera.protocol.spec.FlipSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.MaeSpec;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.StageKind;
import io.tessera.protocol.spec.StageSpec;
import io.tessera.protocol.worker.WorkerProtocol.StageInputs;
import io.tessera.worker.data.FashionMnist;
import io.tessera.worker.data.StageData;
import io.tessera.worker.train.MemberTrainer;
import io.tessera.worker.train.StageTrainers;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * {@code bin/tessera bench masking}: how much faster masked training runs than the same encoder on
 * every patch, measured as training windows (forward, backward, gradient drain) on this machine's
 * threads, without a cluster:
 *
 * <ul>
 *   <li>MAE pre-training at the research spec's mask ratio (0.75) against a classifier of the same
 *       encoder on every patch (what fine-tuning runs: no decoder, so a conservative baseline);
 *   <li>FLIP at the FLIP spec's ratio (0.5) against the same FLIP model at ratio 0.
 * </ul>
 */
final class MaskingBench {
  private static final String RESEARCH = "/jobs/mae-finetune-distill.conf";
  private static final String FLIP = "/jobs/flip-zero-shot.conf";

  private MaskingBench() {}

  /** Samples per second of one trainer, over {@code windows} windows after a warm-up. */
  record Throughput(String what, int samples, double seconds) {
    double perSecond() {
      return samples / seconds;
    }
  }

  static int run(FashionMnist data, int windows, int batch, java.util.Optional<java.nio.file.Path> maeSpec,
      java.util.Optional<java.nio.file.Path> flipSpec) {
    JobSpec mae = firstOf(maeSpec.map(MaskingBench::file).orElseGet(() -> packaged(RESEARCH)), StageKind.MAE_PRETRAIN);
    JobSpec unmaskedEncoder = as(mae, StageKind.CLASSIFY, mae.stage().mae(), mae.stage().flip());
    JobSpec flip = firstOf(flipSpec.map(MaskingBench::file).orElseGet(() -> packaged(FLIP)), StageKind.FLIP);
    FlipSpec f = flip.stage().flip();
    JobSpec flipUnmasked =
        as(flip, StageKind.FLIP, flip.stage().mae(),
            new FlipSpec(0, f.textDim(), f.textDepth(), f.textHeads(), f.textMlpDim(), f.embedDim(), 0));
    System.out.printf(
        "bench masking: windows of %d samples, %d timed after 2 warm-up, %s PyTorch thread(s)%n",
        batch, windows, System.getProperty("ai.djl.pytorch.num_threads", "default"));
    try (NDManager manager = NDManager.newBaseManager()) {
      Throughput maskedMae = measure("mae-pretrain, mask-ratio " + mae.stage().mae().maskRatio(), mae, data, manager, batch, windows);
      Throughput fullEncoder = measure("same encoder, every patch (classifier)", unmaskedEncoder, data, manager, batch, windows);
      Throughput maskedFlip = measure("flip, mask-ratio " + f.maskRatio(), flip, data, manager, batch, windows);
      Throughput fullFlip = measure("flip, mask-ratio 0", flipUnmasked, data, manager, batch, windows);
      System.out.printf(
          "MAE:  %.2fx the samples per second of the same encoder unmasked (target >= 2.5)%n",
          maskedMae.perSecond() / fullEncoder.perSecond());
      System.out.printf(
          "FLIP: %.2fx the image samples per second of no masking (target >= 1.6)%n",
          maskedFlip.perSecond() / fullFlip.perSecond());
    }
    return 0;
  }

  private static Throughput measure(String what, JobSpec spec, FashionMnist data, NDManager manager, int batch, int windows) {
    // A window of `batch` samples runs as the spec's micro-batches, as a worker would run it.
    try (MemberTrainer trainer =
        StageTrainers.create(
            spec, 0, () -> StageData.of(data, spec.dataset()), () -> manager, StageInputs.NONE, source -> null)) {
      float[] values = trainer.initialValues(1);
      float[] gradient = new float[values.length];
      for (int w = 0; w < 2; w++) {
        trainer.trainWindow(values, 0, w * batch, (w + 1) * batch, gradient);
      }
      long start = System.nanoTime();
      for (int w = 0; w < windows; w++) {
        int from = (w + 2) * batch;
        trainer.trainWindow(values, 0, from, from + batch, gradient);
      }
      Throughput t = new Throughput(what, windows * batch, (System.nanoTime() - start) / 1e9);
      System.out.printf("  %-44s %8.0f samples/s%n", what, t.perSecond());
      return t;
    }
  }

  /** {@code spec} with its stage turned into {@code kind}, all else equal. */
  private static JobSpec as(JobSpec spec, StageKind kind, MaeSpec mae, FlipSpec flip) {
    StageSpec s = spec.stage();
    return spec.withStage(new StageSpec(s.name(), kind, "", "", mae, flip, DistillSpec.defaults(), ComputePrecision.FP32));
  }

  private static JobSpec firstOf(PipelineSpec pipeline, StageKind kind) {
    return pipeline.stages().stream()
        .filter(s -> s.stage().kind() == kind)
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException(pipeline.name() + " has no " + kind + " stage"));
  }

  private static PipelineSpec file(java.nio.file.Path path) {
    try {
      return JobSpecParser.parsePipeline(java.nio.file.Files.readString(path));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static PipelineSpec packaged(String resource) {
    try (InputStream in = MaskingBench.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("the jar has no " + resource);
      }
      return JobSpecParser.parsePipeline(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
