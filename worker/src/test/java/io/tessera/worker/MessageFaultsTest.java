package io.tessera.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import io.tessera.worker.MessageFaults.Plan;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MessageFaultsTest {

  private static final long START = 1_700_000_000_000L;
  private static final long UNTIL = START + 60_000;
  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);

  /** A clock and scheduler that move only when the test says. */
  private static final class FakeTime implements LongSupplier, MessageFaults.Scheduler {
    private record Task(long at, long order, Runnable run) {}

    private final PriorityQueue<Task> tasks =
        new PriorityQueue<>((a, b) -> a.at != b.at ? Long.compare(a.at, b.at) : Long.compare(a.order, b.order));
    private long now = START;
    private long order;

    @Override
    public long getAsLong() {
      return now;
    }

    @Override
    public void schedule(long delayMillis, Runnable task) {
      tasks.add(new Task(now + delayMillis, order++, task));
    }

    void advance(long millis) {
      long target = now + millis;
      while (!tasks.isEmpty() && tasks.peek().at <= target) {
        Task task = tasks.poll();
        now = task.at;
        task.run.run();
      }
      now = target;
    }
  }

  @TempDir Path dir;
  private Path file;
  private FakeTime time;
  private MessageFaults faults;

  @BeforeEach
  void setUp() {
    file = dir.resolve("faults.conf");
    time = new FakeTime();
    faults = new MessageFaults(file, time, new Random(42), time);
  }

  private void plan(String hocon) throws IOException {
    Path temporary = dir.resolve("next.tmp");
    Files.writeString(temporary, hocon);
    Files.move(temporary, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }

  @Test
  void dropsAboutTheAskedShareOfTells() throws IOException {
    MessageFaults.write(file, new Plan(0.2, 0, 0, UNTIL));
    AtomicInteger sent = new AtomicInteger();
    for (int i = 0; i < 10_000; i++) {
      faults.tell(sent::incrementAndGet);
    }
    assertEquals(10_000, sent.get() + faults.drops());
    assertEquals(faults.drops(), faults.droppedRequests());
    assertTrue(faults.drops() > 1_800 && faults.drops() < 2_200, "drops: " + faults.drops());
    assertEquals(0, faults.duplicates());
  }

  @Test
  void duplicatesAboutTheAskedShareOfTells() throws IOException {
    plan("duplicate = 0.25, until = " + UNTIL);
    AtomicInteger sent = new AtomicInteger();
    for (int i = 0; i < 10_000; i++) {
      faults.tell(sent::incrementAndGet);
    }
    assertEquals(10_000 + faults.duplicates(), sent.get());
    assertTrue(faults.duplicates() > 2_300 && faults.duplicates() < 2_700, "duplicates: " + faults.duplicates());
    assertEquals(0, faults.drops());
  }

  @Test
  void delaysEachMessageUniformlyUpToDelayMs() throws IOException {
    plan("delay-ms = 500\nuntil = " + UNTIL);
    List<Long> sentAfter = new ArrayList<>();
    List<CompletionStage<String>> replies = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      long askedAt = time.getAsLong();
      replies.add(
          faults.ask(
              () -> {
                sentAfter.add(time.getAsLong() - askedAt);
                return CompletableFuture.completedFuture("ok");
              },
              ASK_TIMEOUT));
    }
    time.advance(250);
    assertTrue(sentAfter.size() > 50 && sentAfter.size() < 150, "about half sent: " + sentAfter.size());
    assertTrue(replies.stream().anyMatch(reply -> !reply.toCompletableFuture().isDone()), "the rest held back");
    time.advance(250);
    assertEquals(200, sentAfter.size());
    for (CompletionStage<String> reply : replies) {
      assertEquals("ok", reply.toCompletableFuture().getNow(null));
    }
    assertTrue(sentAfter.stream().allMatch(d -> d >= 0 && d <= 500));
    assertTrue(sentAfter.stream().anyMatch(d -> d < 100) && sentAfter.stream().anyMatch(d -> d > 400));
    assertEquals(sentAfter.stream().filter(d -> d > 0).count(), faults.delays());
  }

  @Test
  void noFaultsOnceUntilHasPassed() throws IOException {
    plan("drop = 1, duplicate = 1, delay-ms = 500, until = " + (START - 1));
    AtomicInteger sent = new AtomicInteger();
    faults.tell(sent::incrementAndGet);
    CompletionStage<String> reply = faults.ask(() -> CompletableFuture.completedFuture("ok"), ASK_TIMEOUT);
    assertEquals(1, sent.get(), "sent at once, once");
    assertEquals("ok", reply.toCompletableFuture().getNow(null));
    assertEquals(0, faults.drops() + faults.duplicates() + faults.delays());

    plan("drop = 1, until = " + (START + 5_000));
    time.advance(1_000);
    faults.tell(sent::incrementAndGet);
    assertEquals(1, sent.get(), "dropped while before until");
    time.advance(4_000);
    faults.tell(sent::incrementAndGet);
    assertEquals(2, sent.get(), "until reached: no more faults");
  }

  @Test
  void picksUpAChangedFileWithinASecond() throws IOException {
    AtomicInteger sent = new AtomicInteger();
    faults.tell(sent::incrementAndGet); // no file: no faults
    assertEquals(1, sent.get());
    assertEquals(Plan.NONE, faults.plan());

    MessageFaults.write(file, new Plan(1, 0, 0, UNTIL));
    faults.tell(sent::incrementAndGet);
    assertEquals(2, sent.get(), "looked at the file less than a second ago");
    time.advance(1_000);
    faults.tell(sent::incrementAndGet);
    assertEquals(2, sent.get(), "the new plan drops everything");
    assertEquals(new Plan(1, 0, 0, UNTIL), faults.plan());

    MessageFaults.write(file, new Plan(0, 1, 0, UNTIL));
    time.advance(1_000);
    faults.tell(sent::incrementAndGet);
    assertEquals(4, sent.get(), "the next plan duplicates");

    Files.delete(file);
    time.advance(1_000);
    faults.tell(sent::incrementAndGet);
    assertEquals(5, sent.get(), "file gone: no faults");
    assertEquals(Plan.NONE, faults.plan());
  }

  @Test
  void anInvalidFileMeansNoFaults() throws IOException {
    AtomicInteger sent = new AtomicInteger();
    int expected = 0;
    for (String invalid :
        List.of(
            "drop = 1.5, until = " + UNTIL,
            "duplicate = -0.1, until = " + UNTIL,
            "delay-ms = -1, until = " + UNTIL,
            "drop = 1", // no until
            "dorp = 1, until = " + UNTIL,
            "drop = lots, until = " + UNTIL,
            "drop = {{")) {
      plan(invalid);
      time.advance(1_000);
      faults.tell(sent::incrementAndGet);
      assertEquals(++expected, sent.get(), invalid);
      assertEquals(Plan.NONE, faults.plan(), invalid);
      assertThrows(IllegalArgumentException.class, () -> Plan.parse(invalid));
    }
    plan("drop = 1, until = " + UNTIL); // fixed: faults again
    time.advance(1_000);
    faults.tell(sent::incrementAndGet);
    assertEquals(expected, sent.get());
  }

  @Test
  void aDroppedAskFailsWithATimeoutAfterTheAskTimeoutAndAReplyDropWasSent() throws IOException {
    plan("drop = 1, until = " + UNTIL);
    AtomicInteger applied = new AtomicInteger(); // what a shard applied
    List<CompletableFuture<String>> replies = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      replies.add(
          faults
              .ask(
                  () -> {
                    applied.incrementAndGet();
                    return CompletableFuture.completedFuture("Accepted");
                  },
                  ASK_TIMEOUT)
              .toCompletableFuture());
    }
    assertEquals(40, faults.drops());
    assertTrue(faults.droppedRequests() > 0 && faults.droppedReplies() > 0, "both halves occur");
    assertEquals(faults.droppedReplies(), applied.get(), "a reply drop was sent: the shard applied it");

    time.advance(ASK_TIMEOUT.toMillis() - 1);
    assertTrue(replies.stream().noneMatch(CompletableFuture::isDone), "a loss costs the whole ask timeout");
    time.advance(1);
    for (CompletableFuture<String> reply : replies) {
      ExecutionException failure = assertThrows(ExecutionException.class, reply::get);
      assertInstanceOf(TimeoutException.class, failure.getCause());
    }
  }

  @Test
  void aDuplicatedAskIsSentTwiceAndAnsweredOnce() throws IOException {
    plan("duplicate = 1, until = " + UNTIL);
    List<CompletableFuture<String>> sends = new ArrayList<>();
    CompletableFuture<String> reply =
        faults
            .ask(
                () -> {
                  CompletableFuture<String> answer = new CompletableFuture<>();
                  sends.add(answer);
                  return answer;
                },
                ASK_TIMEOUT)
            .toCompletableFuture();
    assertEquals(2, sends.size());
    assertEquals(1, faults.duplicates());
    sends.get(0).complete("Accepted");
    sends.get(1).complete("Duplicate");
    assertEquals("Accepted", reply.getNow(null));
  }

  @Test
  void offSendsEverythingAsIs() {
    MessageFaults off = MessageFaults.off();
    assertFalse(off.enabled());
    AtomicInteger sent = new AtomicInteger();
    off.tell(sent::incrementAndGet);
    CompletableFuture<String> answer = new CompletableFuture<>();
    assertTrue(off.ask(() -> answer, ASK_TIMEOUT) == answer, "the very future of the send");
    assertEquals(1, sent.get());
  }

  @Test
  void aSystemWithoutAFaultFileHasFaultsOff() {
    ActorTestKit testKit = ActorTestKit.create("MessageFaultsTest");
    try {
      assertEquals("", testKit.system().settings().config().getString(MessageFaults.SETTING));
      MessageFaults faults = MessageFaults.get(testKit.system());
      assertFalse(faults.enabled());
      assertTrue(faults == MessageFaults.get(testKit.system()), "one per system");
    } finally {
      testKit.shutdownTestKit();
    }
  }

  @Test
  void aPlanWrittenIsReadBack() {
    Plan plan = new Plan(0.1, 0.05, 250, UNTIL);
    assertEquals(plan, Plan.parse(plan.toHocon()));
    assertEquals(Plan.NONE, Plan.parse(""));
  }
}
