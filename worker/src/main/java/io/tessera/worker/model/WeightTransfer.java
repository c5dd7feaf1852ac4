package io.tessera.worker.model;

import io.tessera.protocol.tensor.ParameterLayout;
import io.tessera.protocol.tensor.TensorSpec;
import java.util.Arrays;
import java.util.List;

/**
 * Carries parameters from one model's flat vector into another's by tensor name, so a later stage
 * (fine-tuning after pre-training, say) can start from an earlier stage's encoder even though the
 * two models lay their tensors out differently.
 */
public final class WeightTransfer {
  private WeightTransfer() {}

  /**
   * Copies into {@code targetValues} every tensor of {@code target} whose name starts with one of
   * {@code prefixes}, taking it by name from {@code sourceValues}. Tensors of the target that match
   * no prefix keep their values.
   *
   * @param what names the transfer in error messages, e.g. {@code stage 'finetune' from 'pretrain'}
   * @return how many values were copied
   * @throws IllegalArgumentException if a value array does not fit its layout, if a matching tensor
   *     is missing from the source or has another shape there, or if no tensor matches at all;
   *     {@code targetValues} is left untouched then
   */
  public static int carryOver(
      ParameterLayout source,
      float[] sourceValues,
      ParameterLayout target,
      float[] targetValues,
      List<String> prefixes,
      String what) {
    checkLength(source, sourceValues, what, "source");
    checkLength(target, targetValues, what, "target");
    // Checks everything before copying anything, so a refused transfer leaves no half-copied model.
    List<TensorSpec> carried =
        target.tensors().stream().filter(t -> prefixes.stream().anyMatch(t.name()::startsWith)).toList();
    if (carried.isEmpty()) {
      throw new IllegalArgumentException(
          what + ": no tensor of the target starts with any of " + prefixes);
    }
    for (TensorSpec wanted : carried) {
      TensorSpec found = find(source, wanted.name());
      if (found == null) {
        throw new IllegalArgumentException(
            what + ": tensor " + wanted.name() + " is missing in the source");
      }
      if (!Arrays.equals(found.shape(), wanted.shape())) {
        throw new IllegalArgumentException(
            what + ": tensor " + wanted.name() + " has shape " + Arrays.toString(found.shape())
                + " in the source but " + Arrays.toString(wanted.shape()) + " in the target");
      }
    }
    int copied = 0;
    for (TensorSpec tensor : carried) {
      System.arraycopy(
          sourceValues,
          source.offsetOf(tensor.name()),
          targetValues,
          target.offsetOf(tensor.name()),
          tensor.size());
      copied += tensor.size();
    }
    return copied;
  }

  /**
   * A copy of the values of tensor {@code name} in {@code values}, a flat vector laid out per
   * {@code layout}.
   *
   * @throws IllegalArgumentException if the layout has no such tensor or the vector does not fit it
   */
  public static float[] extract(ParameterLayout layout, float[] values, String name) {
    checkLength(layout, values, "extracting " + name, "vector");
    TensorSpec tensor = find(layout, name);
    if (tensor == null) {
      throw new IllegalArgumentException("no tensor named " + name + " in the layout");
    }
    int from = layout.offsetOf(name);
    return Arrays.copyOfRange(values, from, from + tensor.size());
  }

  private static TensorSpec find(ParameterLayout layout, String name) {
    for (TensorSpec tensor : layout.tensors()) {
      if (tensor.name().equals(name)) {
        return tensor;
      }
    }
    return null;
  }

  private static void checkLength(ParameterLayout layout, float[] values, String what, String side) {
    if (values.length != layout.totalSize()) {
      throw new IllegalArgumentException(
          what + ": the " + side + " holds " + values.length + " values but its layout has "
              + layout.totalSize());
    }
  }
}
