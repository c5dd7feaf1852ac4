package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;

import io.tessera.protocol.TesseraSerializable;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A job as submitted: a short pipeline of stages run in order, each a {@link JobSpec} whose {@link
 * StageSpec} may name earlier stages to start from ({@code from}) or learn from ({@code teacher}).
 * A spec file without {@code stages} is a pipeline of one stage.
 */
public record PipelineSpec(String name, List<JobSpec> stages) implements TesseraSerializable {
  public PipelineSpec {
    require(name != null && !name.isBlank(), "name", "is required");
    require(stages != null && !stages.isEmpty(), "stages", "must list at least one stage");
    require(
        stages.size() <= SpecLimits.MAX_STAGES,
        "stages",
        "may list at most " + SpecLimits.MAX_STAGES + " stages, has " + stages.size());
    stages = List.copyOf(stages);
    Set<String> earlier = new HashSet<>();
    Map<String, JobSpec> byName = new HashMap<>();
    for (JobSpec stage : stages) {
      StageSpec s = stage.stage();
      require(!byName.containsKey(s.name()), "stages", "has the name '" + s.name() + "' twice");
      require(
          s.from().isEmpty() || earlier.contains(s.from()),
          "stages[" + s.name() + "].from",
          "must name an earlier stage, was '" + s.from() + "'");
      require(
          s.teacher().isEmpty() || earlier.contains(s.teacher()),
          "stages[" + s.name() + "].teacher",
          "must name an earlier stage, was '" + s.teacher() + "'");
      if (!s.from().isEmpty()) {
        require(
            byName.get(s.from()).stage().kind() != StageKind.LINEAR_PROBE,
            "stages[" + s.name() + "].from",
            "names the linear probe '" + s.from() + "', which has no encoder of its own");
        boolean carriesEncoder = s.kind() == StageKind.FINETUNE || s.kind() == StageKind.DISTILL;
        ModelSpec source = byName.get(s.from()).model();
        require(
            !carriesEncoder || source.kind() == ModelKind.SYNTHETIC || sameEncoder(source, stage.model()),
            "stages[" + s.name() + "].model",
            "must have the encoder of '" + s.from() + "', which it starts from (" + encoder(source) + "), was "
                + encoder(stage.model()));
      }
      if (!s.teacher().isEmpty()) {
        require(
            byName.get(s.teacher()).stage().kind().classifies(),
            "stages[" + s.name() + "].teacher",
            "names '" + s.teacher() + "', which does not train a classifier");
        require(
            byName.get(s.teacher()).stage().kind() != StageKind.LINEAR_PROBE,
            "stages[" + s.name() + "].teacher",
            "names the linear probe '" + s.teacher() + "'; a teacher must be a whole classifier");
      }
      earlier.add(s.name());
      byName.put(s.name(), stage);
    }
  }

  private static boolean sameEncoder(ModelSpec a, ModelSpec b) {
    return encoder(a).equals(encoder(b));
  }

  private static String encoder(ModelSpec m) {
    return "image-size " + m.imageSize() + ", channels " + m.channels() + ", patch-size " + m.patchSize() + ", dim "
        + m.dim() + ", depth " + m.depth() + ", heads " + m.heads() + ", mlp-dim " + m.mlpDim();
  }

  /** The stage named {@code name}. */
  public JobSpec stage(String name) {
    return stages.stream()
        .filter(s -> s.stage().name().equals(name))
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no stage " + name));
  }
}
