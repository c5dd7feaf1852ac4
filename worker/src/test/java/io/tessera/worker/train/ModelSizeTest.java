package io.tessera.worker.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.protocol.spec.ComputePrecision;
import io.tessera.protocol.spec.DistillSpec;
import io.tessera.protocol.spec.FlipSpec;
import io.tessera.protocol.spec.JobSpec;
import io.tessera.protocol.spec.JobSpecParser;
import io.tessera.protocol.spec.MaeSpec;
import io.tessera.protocol.spec.ModelSize;
import io.tessera.protocol.spec.ModelSpec;
import io.tessera.protocol.spec.PipelineSpec;
import io.tessera.protocol.spec.StageKind;
import io.tessera.protocol.spec.StageSpec;
import io.tessera.worker.data.Captions;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The parameter count by which a job spec is capped ({@link ModelSize#parameters}, computed from
 * the spec alone in the protocol module) is the length of the parameter vector the worker's models
 * actually lay out, for every kind of stage whose shards hold a whole model.
 */
class ModelSizeTest {
  private static final List<ModelSpec> MODELS =
      List.of(
          ModelSpec.builder().build(),
          ModelSpec.builder().optPatchSize(4).optDim(96).optDepth(6).optHeads(6).optMlpDim(192).build(),
          ModelSpec.builder().optPatchSize(14).optDim(32).optDepth(1).optHeads(2).optMlpDim(40).optClasses(3).build(),
          ModelSpec.builder()
              .optImageSize(32)
              .optChannels(3)
              .optPatchSize(8)
              .optDim(48)
              .optDepth(3)
              .optHeads(3)
              .optMlpDim(200)
              .optClasses(100)
              .build());

  private static final List<MaeSpec> MAES =
      List.of(MaeSpec.defaults(), new MaeSpec(0.6, 48, 2, 3, 96, false), new MaeSpec(0.9, 16, 3, 1, 20, true));

  private static final List<FlipSpec> FLIPS =
      List.of(FlipSpec.defaults(), new FlipSpec(0.75, 32, 1, 2, 48, 24, 0), new FlipSpec(0.0, 96, 3, 6, 128, 80, 0));

  @Test
  void aClassifiersCountIsItsLayoutsSize() {
    for (ModelSpec model : MODELS) {
      for (StageKind kind : List.of(StageKind.CLASSIFY, StageKind.FINETUNE)) {
        String from = kind == StageKind.FINETUNE ? "pretrain" : "";
        assertCountIsLayoutSize(job(model, stage(kind, from, "", MaeSpec.defaults(), FlipSpec.defaults())));
      }
    }
  }

  @Test
  void aDistilledStudentsCountIsItsLayoutsSize() {
    for (ModelSpec model : MODELS) {
      assertCountIsLayoutSize(job(model, stage(StageKind.DISTILL, "", "teacher", MaeSpec.defaults(), FlipSpec.defaults())));
      assertCountIsLayoutSize(
          job(model, stage(StageKind.DISTILL, "pretrain", "teacher", MaeSpec.defaults(), FlipSpec.defaults())));
    }
  }

  @Test
  void aMaskedAutoencodersCountIsItsLayoutsSize() {
    for (ModelSpec model : MODELS) {
      for (MaeSpec mae : MAES) {
        assertCountIsLayoutSize(job(model, stage(StageKind.MAE_PRETRAIN, "", "", mae, FlipSpec.defaults())));
      }
    }
  }

  @Test
  void aFlipModelsCountIsItsLayoutsSize() {
    assertEquals(FlipTrainer.MAX_TOKENS, ModelSize.FLIP_TOKENS);
    assertEquals(Captions.fashionMnist(FlipTrainer.MAX_TOKENS).vocabularySize(), ModelSize.FLIP_VOCABULARY);
    for (ModelSpec model : MODELS) {
      for (FlipSpec flip : FLIPS) {
        assertCountIsLayoutSize(job(model, stage(StageKind.FLIP, "", "", MaeSpec.defaults(), flip)));
      }
    }
  }

  @Test
  void everyStageOfTheShippedResearchPipelineCountsAsItsLayout() {
    PipelineSpec pipeline =
        JobSpecParser.parsePipeline(
            """
            name = research
            model { patch-size = 7, dim = 64, depth = 4, heads = 4, mlp-dim = 128 }
            stages = [
              { name = pretrain, kind = mae-pretrain, mae { decoder-dim = 32, decoder-depth = 1 } }
              { name = finetune, kind = finetune, from = pretrain, ensemble-size = 3 }
              { name = student, kind = distill, teacher = finetune, model { dim = 32, depth = 2, heads = 2 } }
              { name = clip, kind = flip }
            ]
            """);
    for (JobSpec stage : pipeline.stages()) {
      assertCountIsLayoutSize(stage);
    }
    JobSpec finetune = pipeline.stage("finetune");
    assertEquals(139_018, ModelSize.parameters(finetune.model(), finetune.stage()), "the demo's ViT, as the README says");
  }

  private static void assertCountIsLayoutSize(JobSpec spec) {
    assertEquals(
        StageTrainers.layoutOf(spec).totalSize(),
        ModelSize.parameters(spec.model(), spec.stage()),
        () -> spec.stage().kind() + " of " + spec.model() + " / " + spec.stage());
  }

  private static JobSpec job(ModelSpec model, StageSpec stage) {
    return JobSpec.builder().setName("size").optModel(model).optStage(stage).build();
  }

  private static StageSpec stage(StageKind kind, String from, String teacher, MaeSpec mae, FlipSpec flip) {
    return new StageSpec("s", kind, from, teacher, mae, flip, DistillSpec.defaults(), ComputePrecision.FP32);
  }
}
