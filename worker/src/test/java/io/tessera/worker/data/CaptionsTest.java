package io.tessera.worker.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CaptionsTest {

  private final Captions captions = Captions.fashionMnist(8);

  @Test
  void fashionMnistHasItsTenClassesInLabelOrder() {
    assertEquals(
        List.of(
            "t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
            "ankle boot"),
        Captions.FASHION_MNIST_CLASSES);
    assertEquals(10, captions.classes());
    assertEquals(Captions.TEMPLATES.size(), captions.templates());
    assertEquals(8, captions.maxTokens());
    assertEquals("a photo of a t-shirt/top", captions.caption(0, 0));
    assertEquals("a ankle boot", captions.caption(9, 3));
  }

  @Test
  void theVocabularyIsEverySortedWordNumberedFromOne() {
    // Template words: a, an, closeup, greyscale, image, of, photo, picture, product (9).
    // Class words: ankle, bag, boot, coat, dress, pullover, sandal, shirt, sneaker, top, trouser,
    // tshirt (12). Sorted together: a=1 an=2 ankle=3 bag=4 boot=5 closeup=6 coat=7 dress=8
    // greyscale=9 image=10 of=11 photo=12 picture=13 product=14 pullover=15 sandal=16 shirt=17
    // sneaker=18 top=19 trouser=20 tshirt=21; with padding 22 ids.
    assertEquals(22, captions.vocabularySize());
    // a photo of a t-shirt/top
    assertArrayEquals(new long[] {1, 12, 11, 1, 21, 19, 0, 0}, captions.tokens(0, 0));
    // a close-up photo of a ankle boot
    assertArrayEquals(new long[] {1, 6, 12, 11, 1, 3, 5, 0}, captions.tokens(9, 4));
    assertArrayEquals(new long[] {2, 10, 11, 1, 8, 0, 0, 0}, captions.tokens(3, 2), "an image of a dress");
  }

  @Test
  void everyCaptionTokenisesWithinTheVocabularyAndPadsWithZero() {
    for (int label = 0; label < captions.classes(); label++) {
      for (int template = 0; template < captions.templates(); template++) {
        String caption = captions.caption(label, template);
        long[] tokens = captions.tokens(label, template);
        assertEquals(8, tokens.length);
        int words = caption.split("[ /]").length;
        for (int i = 0; i < tokens.length; i++) {
          if (i < words) {
            assertTrue(tokens[i] >= 1 && tokens[i] < captions.vocabularySize(), caption);
          } else {
            assertEquals(0, tokens[i], "padding after the words of " + caption);
          }
        }
      }
    }
  }

  @Test
  void distinctClassesGetDistinctTokenSequences() {
    for (int template = 0; template < captions.templates(); template++) {
      Set<String> sequences = new HashSet<>();
      for (int label = 0; label < captions.classes(); label++) {
        sequences.add(Arrays.toString(captions.tokens(label, template)));
      }
      assertEquals(10, sequences.size(), "template " + template);
    }
    // "shirt" and "t-shirt/top" share no token: the hyphen does not split "tshirt".
    assertNotEquals(captions.tokens(6, 3)[1], captions.tokens(0, 3)[1]);
  }

  @Test
  void refusesACaptionLongerThanMaxTokensNamingIt() {
    Captions short6 = Captions.fashionMnist(6);

    assertArrayEquals(new long[] {1, 8, 0, 0, 0, 0}, short6.tokens(3, 3), "a dress fits");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> short6.tokens(0, 4));
    assertTrue(e.getMessage().contains("a close-up photo of a t-shirt/top"), e.getMessage());
    assertTrue(e.getMessage().contains("7 words"), e.getMessage());
  }

  @Test
  void refusesLabelsTemplatesAndSettingsOutOfRange() {
    assertThrows(IllegalArgumentException.class, () -> captions.caption(10, 0));
    assertThrows(IllegalArgumentException.class, () -> captions.tokens(-1, 0));
    assertThrows(IllegalArgumentException.class, () -> captions.caption(0, Captions.TEMPLATES.size()));
    assertThrows(IllegalArgumentException.class, () -> Captions.fashionMnist(0));
    IllegalArgumentException noSlot =
        assertThrows(
            IllegalArgumentException.class, () -> new Captions(List.of("cat"), List.of("a photo"), 4));
    assertTrue(noSlot.getMessage().contains("a photo"), noSlot.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new Captions(List.of(), List.of("a {}"), 4));
  }

  @Test
  void templateForIsDeterministicAndUsesEveryTemplate() {
    int[] counts = new int[captions.templates()];
    int differentSeed = 0;
    int differentEpoch = 0;
    Captions longer = Captions.fashionMnist(12);
    for (int position = 0; position < 7000; position++) {
      int template = captions.templateFor(42, 3, position);
      assertEquals(template, captions.templateFor(42, 3, position));
      assertEquals(template, longer.templateFor(42, 3, position), "depends on nothing else");
      counts[template]++;
      differentSeed += template != captions.templateFor(43, 3, position) ? 1 : 0;
      differentEpoch += template != captions.templateFor(42, 4, position) ? 1 : 0;
    }
    // 7000 uniform draws over 7 templates: 1000 each, standard deviation about 29.
    for (int template = 0; template < counts.length; template++) {
      assertEquals(1000, counts[template], 150, "template " + template);
    }
    // Independent draws differ 6 times in 7: about 6000.
    assertEquals(6000, differentSeed, 300);
    assertEquals(6000, differentEpoch, 300);
  }
}
