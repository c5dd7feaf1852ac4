package io.tessera.worker.train;

import io.tessera.protocol.spec.ModelSpec;
import io.tessera.worker.model.PatchMasking;

/**
 * Turns rows of flattened patches (the layout {@link BatchAssembler} writes) back into images, for
 * showing what a masked autoencoder saw and what it reconstructed.
 */
final class PatchImages {
  /** The value of a hidden patch's pixels in the masked input: outside [0, 1], so it can be told from black. */
  static final float HIDDEN = -1f;

  private PatchImages() {}

  /**
   * For each of the batch's images: the original, the masked input (hidden patches {@link #HIDDEN}) and the
   * reconstruction (visible patches as they were, hidden ones as predicted; predictions in the
   * per-patch normalised space are mapped back with the original patch's mean and deviation).
   *
   * @return {@code [image][0 = original, 1 = masked, 2 = reconstruction][pixel]}, pixels in [0, 1]
   */
  static float[][][] triptych(ModelSpec spec, float[] patches, float[] predicted, PatchMasking.Mask mask, boolean normalised) {
    int perPatch = spec.patchValues();
    int count = spec.patchCount();
    float[][][] images = new float[mask.batch()][3][spec.imageSize() * spec.imageSize()];
    for (int b = 0; b < mask.batch(); b++) {
      for (int j = 0; j < count; j++) {
        int offset = (b * count + j) * perPatch;
        boolean hidden = mask.masked()[b * count + j] > 0.5f;
        double mean = 0;
        double squares = 0;
        for (int v = 0; v < perPatch; v++) {
          mean += patches[offset + v];
        }
        mean /= perPatch;
        for (int v = 0; v < perPatch; v++) {
          squares += (patches[offset + v] - mean) * (patches[offset + v] - mean);
        }
        double deviation = Math.sqrt(squares / perPatch + 1e-6);
        for (int v = 0; v < perPatch; v++) {
          float original = patches[offset + v];
          float guess = normalised ? (float) (predicted[offset + v] * deviation + mean) : predicted[offset + v];
          int pixel = pixelIndex(spec, j, v);
          images[b][0][pixel] = original;
          images[b][1][pixel] = hidden ? HIDDEN : original;
          images[b][2][pixel] = hidden ? Math.max(0f, Math.min(1f, guess)) : original;
        }
      }
    }
    return images;
  }

  /** Where value {@code v} of patch {@code j} lies in the image, row-major. */
  static int pixelIndex(ModelSpec spec, int j, int v) {
    int perSide = spec.imageSize() / spec.patchSize();
    int row = (j / perSide) * spec.patchSize() + v / spec.patchSize();
    int col = (j % perSide) * spec.patchSize() + v % spec.patchSize();
    return row * spec.imageSize() + col;
  }
}
