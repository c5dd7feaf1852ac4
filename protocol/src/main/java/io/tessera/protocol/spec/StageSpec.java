package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;

import io.tessera.protocol.TesseraSerializable;

/**
 * What a stage of a job is: its name within the job, its kind, the earlier stages it builds on,
 * and the settings of its kind.
 *
 * @param from the earlier stage whose final parameters the encoder starts from (carried over by
 *     parameter name): required by {@code finetune} and {@code linear-probe}, optional for
 *     {@code distill} (the student's encoder), refused elsewhere; "" for none
 * @param teacher the earlier stage whose members teach a {@code distill} stage; "" for none
 * @param compute the precision of a classifier stage's forward and backward passes: fp32, or fp16
 *     with dynamic loss scaling (meant for GPUs; it runs, slower than fp32, on CPUs). Other
 *     stages compute in fp32
 */
public record StageSpec(
    String name,
    StageKind kind,
    String from,
    String teacher,
    MaeSpec mae,
    FlipSpec flip,
    DistillSpec distill,
    ComputePrecision compute)
    implements TesseraSerializable {

  public StageSpec {
    require(
        name != null && name.matches("[a-z0-9][a-z0-9-]{0,31}"),
        "stages[].name",
        "must be 1-32 lower-case letters, digits or '-', was '" + name + "'");
    require(kind != null, "stages[].kind", "is required");
    require(from != null && teacher != null, "stages[].from", "is required (empty for none)");
    require(mae != null && flip != null && distill != null && compute != null, "stages[]", "settings are required");
    boolean needsFrom = kind == StageKind.FINETUNE || kind == StageKind.LINEAR_PROBE;
    require(
        !needsFrom || !from.isEmpty(),
        "stages[" + name + "].from",
        "must name the earlier stage a " + SpecNames.of(kind) + " stage starts from");
    require(
        from.isEmpty() || needsFrom || kind == StageKind.DISTILL,
        "stages[" + name + "].from",
        "applies to finetune, linear-probe and distill stages; a " + SpecNames.of(kind)
            + " stage starts from random weights"
            + (kind == StageKind.CLASSIFY ? " (use kind = finetune to start from '" + from + "')" : ""));
    require(
        kind != StageKind.DISTILL || !teacher.isEmpty(),
        "stages[" + name + "].teacher",
        "must name the earlier stage whose members teach this distill stage");
    require(
        teacher.isEmpty() || kind == StageKind.DISTILL,
        "stages[" + name + "].teacher",
        "applies to distill stages only");
    require(!from.equals(name) && !teacher.equals(name), "stages[" + name + "]", "cannot start from itself");
    require(
        compute == ComputePrecision.FP32 || kind == StageKind.CLASSIFY || kind == StageKind.FINETUNE
            || kind == StageKind.DISTILL,
        "stages[" + name + "].compute-precision",
        "applies to classify, finetune and distill stages; a " + SpecNames.of(kind) + " stage computes in fp32");
  }

  /** A plain classifier stage named {@code name}. */
  public static StageSpec classify(String name) {
    return new StageSpec(
        name, StageKind.CLASSIFY, "", "", MaeSpec.defaults(), FlipSpec.defaults(), DistillSpec.defaults(),
        ComputePrecision.FP32);
  }
}
