package io.tessera.worker.data;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;

/**
 * Captions for FLIP-style image-text training on a labelled image set: each class name dropped
 * into a handful of templates ("a photo of a dress"), tokenised by a word vocabulary built from
 * every caption. Which template a training sample gets is drawn per sample from the job's seed,
 * so every worker pairs the sample with the same text.
 */
public final class Captions {

  /** Fashion-MNIST's class names in label order, lower-cased. */
  public static final List<String> FASHION_MNIST_CLASSES =
      FashionMnist.CLASS_NAMES.stream().map(name -> name.toLowerCase(Locale.ROOT)).toList();

  /** Caption templates; {@code {}} stands for the class name. */
  public static final List<String> TEMPLATES =
      List.of(
          "a photo of a {}",
          "a picture of a {}",
          "an image of a {}",
          "a {}",
          "a close-up photo of a {}",
          "a product photo of a {}",
          "a greyscale photo of a {}");

  private static final String SLOT = "{}";
  // Keeps this stream of draws apart from others seeded by the same (seed, epoch, position).
  private static final long SALT = 0x43415054494F4E53L;

  private final List<String> classes;
  private final List<String> templates;
  private final int maxTokens;
  private final Map<String, Integer> vocabulary = new HashMap<>();

  /**
   * Captions for Fashion-MNIST's classes with {@link #TEMPLATES}; the longest caption has 7 words
   * ("a close-up photo of a t-shirt/top").
   */
  public static Captions fashionMnist(int maxTokens) {
    return new Captions(FASHION_MNIST_CLASSES, TEMPLATES, maxTokens);
  }

  /**
   * @param classes class names, indexed by label
   * @param templates caption templates, each holding {@code {}} where the class name goes
   * @param maxTokens the length every token sequence is padded to
   */
  public Captions(List<String> classes, List<String> templates, int maxTokens) {
    if (classes.isEmpty()) {
      throw new IllegalArgumentException("captions need at least one class name");
    }
    if (templates.isEmpty()) {
      throw new IllegalArgumentException("captions need at least one template");
    }
    for (String template : templates) {
      if (!template.contains(SLOT)) {
        throw new IllegalArgumentException(
            "template '" + template + "' has no " + SLOT + " for the class name");
      }
    }
    if (maxTokens <= 0) {
      throw new IllegalArgumentException("maxTokens must be positive, was " + maxTokens);
    }
    this.classes = List.copyOf(classes);
    this.templates = List.copyOf(templates);
    this.maxTokens = maxTokens;
    TreeSet<String> words = new TreeSet<>();
    for (int label = 0; label < classes.size(); label++) {
      for (int template = 0; template < templates.size(); template++) {
        words.addAll(words(caption(label, template)));
      }
    }
    int id = 1; // 0 is padding
    for (String word : words) {
      vocabulary.put(word, id++);
    }
  }

  /** Number of token ids, the padding id 0 included. */
  public int vocabularySize() {
    return vocabulary.size() + 1;
  }

  /** The length of every token sequence. */
  public int maxTokens() {
    return maxTokens;
  }

  /** Number of class names. */
  public int classes() {
    return classes.size();
  }

  /** Number of templates. */
  public int templates() {
    return templates.size();
  }

  /** Template {@code template} with class {@code label}'s name filled in. */
  public String caption(int label, int template) {
    if (label < 0 || label >= classes.size()) {
      throw new IllegalArgumentException("label " + label + " is outside [0, " + classes.size() + ")");
    }
    if (template < 0 || template >= templates.size()) {
      throw new IllegalArgumentException(
          "template " + template + " is outside [0, " + templates.size() + ")");
    }
    return templates.get(template).replace(SLOT, classes.get(label));
  }

  /**
   * The caption's token ids, one per word, padded with 0 to {@link #maxTokens()}. Words are the
   * lower-cased pieces between spaces and slashes with punctuation stripped, so "t-shirt/top" is
   * "tshirt", "top".
   *
   * @throws IllegalArgumentException if the caption has more words than {@code maxTokens}
   */
  public long[] tokens(int label, int template) {
    String caption = caption(label, template);
    List<String> words = words(caption);
    if (words.size() > maxTokens) {
      throw new IllegalArgumentException(
          "caption '" + caption + "' has " + words.size() + " words, more than maxTokens = " + maxTokens);
    }
    long[] tokens = new long[maxTokens];
    for (int i = 0; i < words.size(); i++) {
      tokens[i] = vocabulary.get(words.get(i));
    }
    return tokens;
  }

  /**
   * The template that the sample at {@code position} of epoch {@code epoch} is captioned with,
   * drawn uniformly from a generator seeded by {@code (seed, epoch, position)} alone.
   */
  public int templateFor(long seed, int epoch, int position) {
    return new SplittableRandom(mix(mix(mix(seed ^ SALT) + epoch) + position)).nextInt(templates.size());
  }

  private static List<String> words(String caption) {
    List<String> words = new ArrayList<>();
    for (String piece : caption.toLowerCase(Locale.ROOT).split("[ /]+")) {
      String word = piece.replaceAll("[^\\p{L}\\p{N}]", "");
      if (!word.isEmpty()) {
        words.add(word);
      }
    }
    return words;
  }

  // SplitMix64's finaliser: nearby inputs (consecutive positions) give unrelated seeds.
  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
