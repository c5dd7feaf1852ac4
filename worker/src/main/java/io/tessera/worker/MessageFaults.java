package io.tessera.worker;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.Extension;
import akka.actor.typed.ExtensionId;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fault injection for chaos tests, never for production: drops, duplicates and delays the
 * messages a worker exchanges with parameter shards (the asks of {@link ShardClient#push} and
 * {@link ShardClient#pull}) and with the coordinator (lease requests and acks, progress reports
 * and give-backs).
 *
 * <p>Off unless {@value #SETTING} names a file (see reference.conf); then this is a no-op costing
 * one boolean check per message. When it names one, the file is looked at (its modification time,
 * size and identity) at most once a second, on the next message after a second has passed, and
 * read again when it changed. It is HOCON:
 *
 * <pre>
 * drop = 0.1          # probability a message is lost, in [0, 1]; default 0
 * duplicate = 0.1     # probability a message (not lost) is sent twice, in [0, 1]; default 0
 * delay-ms = 500      # each copy is sent after a uniform random delay in [0, delay-ms]; default 0
 * until = 1735689600000  # epoch millis; required: faults apply while the clock is before it
 * </pre>
 *
 * A missing or empty file means no faults; so does an unreadable or invalid one (unknown key,
 * probability outside [0, 1], negative delay, no {@code until}), which is logged once as a
 * warning. Each new plan is logged at INFO, and so is a plan starting or ceasing to apply. Write
 * the file atomically ({@link #write} does: a temporary file moved over it), so it is never read
 * half written.
 *
 * <p>An ask ({@link #ask}) that is dropped loses, with even odds, its request (never sent) or its
 * reply (sent, so the shard applies it, but the answer is discarded); either way the caller's
 * future fails with a {@link TimeoutException} once the ask's timeout has passed from the call,
 * as a real loss would. A duplicated ask is sent twice and its future completes with the first
 * answer. A told message ({@link #tell}) that is dropped is not sent. Delays, and the timeouts of
 * dropped asks, are scheduled, never slept. Every fault is counted.
 *
 * <p>One instance per actor system ({@link #get}); thread-safe.
 */
public final class MessageFaults implements Extension {

  /** The setting naming the fault file; {@code ""} turns fault injection off. */
  public static final String SETTING = "tessera.chaos.fault-file";

  /** How long the file's attributes are trusted before they are looked at again. */
  static final long RECHECK_MILLIS = 1000;

  private static final Logger log = LoggerFactory.getLogger(MessageFaults.class);

  /** The node's instance: on only when {@value #SETTING} names a file. */
  public static MessageFaults get(ActorSystem<?> system) {
    return Id.INSTANCE.apply(system);
  }

  /** The extension id: one {@link MessageFaults} per actor system. */
  public static final class Id extends ExtensionId<MessageFaults> {
    static final Id INSTANCE = new Id();

    private Id() {}

    @Override
    public MessageFaults createExtension(ActorSystem<?> system) {
      Config config = system.settings().config();
      String file = config.hasPath(SETTING) ? config.getString(SETTING) : "";
      if (file.isBlank()) {
        return off();
      }
      log.warn("Fault injection is on ({} = {}): for chaos tests only, never in production", SETTING, file);
      Scheduler scheduler =
          (delayMillis, task) ->
              system.scheduler().scheduleOnce(Duration.ofMillis(delayMillis), task, system.executionContext());
      return new MessageFaults(Path.of(file), System::currentTimeMillis, new Random(), scheduler);
    }
  }

  /** Runs a task after a delay without holding a thread meanwhile. */
  @FunctionalInterface
  public interface Scheduler {
    void schedule(long delayMillis, Runnable task);
  }

  /**
   * What the fault file asks for.
   *
   * @param drop probability that a message is lost, in [0, 1]
   * @param duplicate probability that a message that is not lost is sent twice, in [0, 1]
   * @param delayMillis the most a copy of a message is held back before it is sent (uniformly
   *     from 0 to this), {@code >= 0}
   * @param until epoch millis: the faults apply only before this
   */
  public record Plan(double drop, double duplicate, long delayMillis, long until) {
    /** No faults. */
    public static final Plan NONE = new Plan(0, 0, 0, Long.MIN_VALUE);

    private static final Set<String> KEYS = Set.of("drop", "duplicate", "delay-ms", "until");

    /** @throws IllegalArgumentException if a probability is outside [0, 1] or the delay negative */
    public Plan {
      if (!(drop >= 0 && drop <= 1)) {
        throw new IllegalArgumentException("drop must be in [0, 1], not " + drop);
      }
      if (!(duplicate >= 0 && duplicate <= 1)) {
        throw new IllegalArgumentException("duplicate must be in [0, 1], not " + duplicate);
      }
      if (delayMillis < 0) {
        throw new IllegalArgumentException("delay-ms must be >= 0, not " + delayMillis);
      }
    }

    /** Whether any fault applies at {@code nowMillis} (epoch millis). */
    public boolean activeAt(long nowMillis) {
      return nowMillis < until && (drop > 0 || duplicate > 0 || delayMillis > 0);
    }

    /**
     * The plan a fault file's text describes; text without any key is {@link #NONE}.
     *
     * @throws IllegalArgumentException if the text is not HOCON, has a key other than {@code drop},
     *     {@code duplicate}, {@code delay-ms} and {@code until}, lacks {@code until}, or has a
     *     value out of range
     */
    public static Plan parse(String hocon) {
      try {
        Config config = ConfigFactory.parseString(hocon).resolve();
        if (config.root().isEmpty()) {
          return NONE;
        }
        for (String key : config.root().keySet()) {
          if (!KEYS.contains(key)) {
            throw new IllegalArgumentException("unknown key '" + key + "' (known: drop, duplicate, delay-ms, until)");
          }
        }
        if (!config.hasPath("until")) {
          throw new IllegalArgumentException("'until' (epoch millis) is required");
        }
        return new Plan(
            config.hasPath("drop") ? config.getDouble("drop") : 0,
            config.hasPath("duplicate") ? config.getDouble("duplicate") : 0,
            config.hasPath("delay-ms") ? config.getLong("delay-ms") : 0,
            config.getLong("until"));
      } catch (ConfigException e) {
        throw new IllegalArgumentException(e.getMessage(), e);
      }
    }

    /** The plan as a fault file's text, which {@link #parse} reads back. */
    public String toHocon() {
      return "drop = " + drop + "\nduplicate = " + duplicate + "\ndelay-ms = " + delayMillis + "\nuntil = " + until
          + "\n";
    }

    @Override
    public String toString() {
      if (this.equals(NONE)) {
        return "no faults";
      }
      return "drop " + drop + ", duplicate " + duplicate + ", delay up to " + delayMillis + " ms, until "
          + (until == Long.MIN_VALUE ? "never" : Instant.ofEpochMilli(until).toString());
    }
  }

  /**
   * Writes {@code plan} to {@code file} atomically (a temporary file beside it, moved over it), so
   * a worker never reads it half written. For chaos runners; {@code Plan.NONE} or deleting the file
   * turns the faults off.
   */
  public static void write(Path file, Plan plan) throws IOException {
    Path absolute = file.toAbsolutePath();
    Path temporary = Files.createTempFile(absolute.getParent(), absolute.getFileName().toString(), ".tmp");
    try {
      Files.writeString(temporary, plan.toHocon());
      try {
        Files.move(temporary, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(temporary, absolute, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(temporary);
    }
  }

  private static final MessageFaults OFF = new MessageFaults();

  /** An instance that never injects a fault. */
  public static MessageFaults off() {
    return OFF;
  }

  /** What was last seen of the file: its attributes, or that it was missing or unreadable. */
  private record FileVersion(FileTime modified, long size, Object key) {
    static final FileVersion MISSING = new FileVersion(null, -1, "missing");
    static final FileVersion UNREADABLE = new FileVersion(null, -2, "unreadable");
  }

  private final boolean enabled;
  private final Path file;
  private final LongSupplier clock;
  private final Random random;
  private final Scheduler scheduler;

  private volatile Plan plan = Plan.NONE;
  private volatile long nextCheckMillis = Long.MIN_VALUE;
  private FileVersion seen; // guarded by this
  private final AtomicBoolean applying = new AtomicBoolean();

  private final AtomicLong droppedRequests = new AtomicLong();
  private final AtomicLong droppedReplies = new AtomicLong();
  private final AtomicLong duplicates = new AtomicLong();
  private final AtomicLong delays = new AtomicLong();

  private MessageFaults() {
    this.enabled = false;
    this.file = null;
    this.clock = System::currentTimeMillis;
    this.random = null;
    this.scheduler = null;
  }

  /**
   * Faults as {@code file} says, for tests and for {@link #get}.
   *
   * @param clock epoch millis: when the file is looked at again, and whether a plan's {@code until}
   *     has passed
   * @param random decides each message's fate (seed it for repeatable tests)
   * @param scheduler runs delayed sends and the timeouts of dropped asks
   */
  public MessageFaults(Path file, LongSupplier clock, Random random, Scheduler scheduler) {
    this.enabled = true;
    this.file = Objects.requireNonNull(file, "file");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.random = Objects.requireNonNull(random, "random");
    this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
  }

  /** Whether a fault file is configured at all; false means every call just sends. */
  public boolean enabled() {
    return enabled;
  }

  /** The plan in force now, after looking at the file again if a second has passed. */
  public Plan plan() {
    return enabled ? current(clock.getAsLong()) : Plan.NONE;
  }

  /**
   * Sends an ask through the faults. {@code send} makes the ask (its reply future); it may be
   * called on another thread after a delay, once or twice, or not at all.
   *
   * @param timeout the ask's timeout: how long after this call the future of a dropped ask fails
   *     with a {@link TimeoutException}
   */
  public <T> CompletionStage<T> ask(Supplier<? extends CompletionStage<T>> send, Duration timeout) {
    if (!enabled) {
      return send.get();
    }
    long now = clock.getAsLong();
    Plan plan = current(now);
    if (!plan.activeAt(now)) {
      return send.get();
    }
    CompletableFuture<T> result = new CompletableFuture<>();
    if (chance(plan.drop())) {
      if (random.nextBoolean()) {
        droppedReplies.incrementAndGet();
        sendLater(plan, () -> discard(send)); // the receiver gets it and acts on it; its answer is lost
      } else {
        droppedRequests.incrementAndGet();
      }
      scheduler.schedule(
          timeout.toMillis(),
          () -> result.completeExceptionally(
              new TimeoutException("Ask timed out after [" + timeout.toMillis() + " ms] (message dropped by fault injection)")));
      return result;
    }
    boolean twice = chance(plan.duplicate());
    if (!twice && plan.delayMillis() == 0) {
      return send.get();
    }
    sendLater(plan, () -> forward(send, result));
    if (twice) {
      duplicates.incrementAndGet();
      sendLater(plan, () -> forward(send, result)); // the first answer completes the caller's future
    }
    return result;
  }

  /** Sends a fire-and-forget message through the faults: dropped means not sent. */
  public void tell(Runnable send) {
    if (!enabled) {
      send.run();
      return;
    }
    long now = clock.getAsLong();
    Plan plan = current(now);
    if (!plan.activeAt(now)) {
      send.run();
      return;
    }
    if (chance(plan.drop())) {
      droppedRequests.incrementAndGet();
      return;
    }
    boolean twice = chance(plan.duplicate());
    sendLater(plan, send);
    if (twice) {
      duplicates.incrementAndGet();
      sendLater(plan, send);
    }
  }

  /** Messages lost so far, requests and replies. */
  public long drops() {
    return droppedRequests.get() + droppedReplies.get();
  }

  /** Messages lost before they were sent (asks and tells). */
  public long droppedRequests() {
    return droppedRequests.get();
  }

  /** Asks sent (and so acted on) whose reply was lost. */
  public long droppedReplies() {
    return droppedReplies.get();
  }

  /** Messages sent twice so far. */
  public long duplicates() {
    return duplicates.get();
  }

  /** Copies of messages held back by a delay above 0 so far. */
  public long delays() {
    return delays.get();
  }

  // ------------------------------------------------------------------ internals

  private boolean chance(double probability) {
    return probability > 0 && random.nextDouble() < probability;
  }

  private void sendLater(Plan plan, Runnable send) {
    long delay = plan.delayMillis() > 0 ? random.nextLong(plan.delayMillis() + 1) : 0;
    if (delay == 0) {
      send.run();
    } else {
      delays.incrementAndGet();
      scheduler.schedule(delay, send);
    }
  }

  private static <T> void forward(Supplier<? extends CompletionStage<T>> send, CompletableFuture<T> result) {
    try {
      send.get().whenComplete((value, failure) -> {
        if (failure == null) {
          result.complete(value);
        } else {
          result.completeExceptionally(failure);
        }
      });
    } catch (RuntimeException e) {
      result.completeExceptionally(e);
    }
  }

  private static void discard(Supplier<? extends CompletionStage<?>> send) {
    try {
      send.get();
    } catch (RuntimeException e) {
      log.debug("A send whose reply fault injection drops failed: {}", e.toString());
    }
  }

  private Plan current(long now) {
    if (now >= nextCheckMillis) {
      refresh(now);
    }
    Plan current = plan;
    boolean active = current.activeAt(now);
    if (applying.compareAndSet(!active, active)) {
      if (active) {
        log.info("Fault injection applies now: {}", current);
      } else {
        log.info("Fault injection stopped applying ({}); so far {}", current, counts());
      }
    }
    return current;
  }

  private synchronized void refresh(long now) {
    if (now < nextCheckMillis) {
      return; // another thread looked meanwhile
    }
    FileVersion version;
    try {
      BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
      version = new FileVersion(attributes.lastModifiedTime(), attributes.size(), attributes.fileKey());
    } catch (NoSuchFileException e) {
      version = FileVersion.MISSING;
    } catch (IOException e) {
      version = FileVersion.UNREADABLE;
      if (!version.equals(seen)) {
        log.warn("Cannot read the fault file {}: {}; no faults", file, e.toString());
      }
    }
    if (!version.equals(seen)) {
      seen = version;
      Plan next = Plan.NONE;
      if (version != FileVersion.MISSING && version != FileVersion.UNREADABLE) {
        try {
          next = Plan.parse(Files.readString(file));
        } catch (IOException | IllegalArgumentException e) {
          log.warn("Invalid fault file {}: {}; no faults", file, e.getMessage());
        }
      }
      if (!next.equals(plan)) {
        log.info(
            "Fault plan from {} changed: {}{}; so far {}",
            file, next, version == FileVersion.MISSING ? " (no file)" : "", counts());
        plan = next;
      }
    }
    nextCheckMillis = now + RECHECK_MILLIS;
  }

  private String counts() {
    return droppedRequests.get() + " requests and " + droppedReplies.get() + " replies dropped, "
        + duplicates.get() + " duplicated, " + delays.get() + " delayed";
  }
}
