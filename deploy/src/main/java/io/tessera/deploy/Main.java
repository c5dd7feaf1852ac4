package io.tessera.deploy;

import java.util.Arrays;
import java.util.List;

/** The {@code bin/tessera} command line. Run with no arguments for help. */
public final class Main {
  private Main() {}

  static final String USAGE =
      """
      Usage: bin/tessera <command> [options]

        demo                 train a small ViT on Fashion-MNIST in one JVM (all roles, two
                             workers, two parameter shards) and print the test accuracy
            --data-dir DIR   where the Fashion-MNIST files are or go (data/fashion-mnist)
            --from DIR       take the files from DIR if they are missing
            --workers N      workers to start (2)
            --epochs N       override the demo job's epochs
            --spec FILE      train this job spec instead of the demo's
            --admin-port P   also serve the admin front on 127.0.0.1:P

        node                 start a cluster node and run until stopped
            --roles R,...    any of coordinator, ps, worker (required)
            --port P         cluster port (2552)          --host H   address to bind (127.0.0.1)
            --seed-nodes H:P,...   the same list on every node
            --bootstrap      instead of seeds: find the other nodes through Akka Discovery
                             (Cluster Bootstrap; turns akka-management on)
            --management-port P    akka-management's port (8558): /ready, /alive, bootstrap
            --data-dir DIR   Fashion-MNIST files for workers (data/fashion-mnist)
            --workers N      workers on this node (one per GPU, else one)
            --admin-port P   admin front port on coordinator nodes (7355)
            --metrics-port P Prometheus port (9095)
            --simulated      no GPU probe and no DJL until a real model comes (for workers
                             of synthetic jobs)
            --config FILE    extra HOCON configuration
                             A node on a non-loopback --host talks TLS with mutual authentication
                             and needs TESSERA_TLS_KEYSTORE, _TRUSTSTORE, _PASSWORD (see certs)

        certs                a cluster's TLS key store and trust store (one self-signed key that
                             every node shares), made with the JDK's keytool
            --out DIR        where to write keystore.p12, truststore.p12, tessera.crt (required)
            --hosts H,...    names and IPs the admin front is reached at (localhost,127.0.0.1)
            --password P     (env TESSERA_TLS_PASSWORD; else a random one, written to DIR/password)
            --days N         validity (825)      --name CN   the certificate's subject (tessera)

        submit SPEC          submit a job spec file to a running cluster; prints its id
        status JOB           show a job's progress      --watch: until it ends (exit 1 if failed)
        jobs                 list all jobs
        checkpoint JOB       have a running job take a checkpoint now; prints its id
        cancel JOB           stop a queued or running job (a pipeline's id: every stage not
                             finished); its leases end and its shards stop
        pause JOB            take a checkpoint, then pause the job: its leases end, its shards
                             stop, the next job may run   --no-checkpoint: pause at once
        resume JOB           queue a paused job again; it goes on from its newest checkpoint
        checkpoints JOB      list a job's complete checkpoints
        restore JOB ID       take a running or paused job back to checkpoint ID (newer ones
                             are dropped)
        set-lr JOB M RATE    set member M's learning rate (its peak: warm-up and decay still
                             apply) from its next step
        events JOB           what the coordinator journaled about a job, oldest first
                             --leases: with lease bookkeeping  --from SEQ --limit N (200)
        audit                list the operator commands the coordinator acknowledged
        workers              list the workers: state, member, k, leases; recently drained ones
        drain TARGET         have a worker (its id) or every worker of a node (HOST:PORT) finish
                             its window, ack its work and leave; a worker-only node then leaves
        set-batch JOB N      change a running job's global batch; the learning rate follows the
                             job's learning-rate-scaling
            --admin URL      admin front (http://127.0.0.1:7355, env TESSERA_ADMIN_URL); an
                             https URL trusts TESSERA_TLS_TRUSTSTORE (password TESSERA_TLS_PASSWORD)
            --token T        bearer token (env TESSERA_ADMIN_TOKEN, else --token-file)
            --token-file F   file holding the token (data/admin.token)
            --json           print the raw JSON

        chaos                fault injection: a 4-process loopback cluster (2 coordinator+ps nodes,
                             2 workers) journaling to PostgreSQL trains a job undisturbed, then
                             again while each round kills (-9) or freezes (SIGSTOP 3-30 s) a node,
                             cuts PostgreSQL off, drops/duplicates/delays worker messages or damages
                             a snapshot; reports splits applied twice or never (counted at the
                             shards), acknowledged commands lost, stuck jobs, accuracy drift
            --rounds N (30)  --seed S (1)  --tolerance POINTS (1.5)  --report FILE
            --yardstick-runs N   undisturbed runs whose mean accuracy is the yardstick (3)
            --faults F,...   only these: kill-worker, kill-parameter-server, kill-coordinator,
                             pause, database-outage, message-faults, corrupt-snapshot (all)
            --postgres-url URL   (env TESSERA_POSTGRES_URL, else
                             jdbc:postgresql://127.0.0.1:5432/test?user=postgres)
            --schema S       the schema it empties and journals into (tessera_chaos)
            --data-dir DIR   (data/fashion-mnist, fetched if missing)   --from DIR
            --spec FILE      (the subset job)  --epochs N (16)  --train-limit N (3000)
            --work-dir DIR   logs and report (data/chaos)

        data fetch           put the four Fashion-MNIST files in the data directory
            --data-dir DIR   target (data/fashion-mnist)     --from DIR  take them from DIR

        reference SPEC       train a job's first member in one process, no cluster (the yardstick)
            --data-dir DIR   (data/fashion-mnist)        --threads T  PyTorch threads (all cores)

        bench throughput     the same job through the reference trainer and through a cluster
                             (coordinator + 1 worker here, parameter shards in a second JVM)
            --spec FILE      (the demo job)   --epochs N (1)   --data-dir DIR   --threads T
        bench sync           the demo's job in sync mode: the reference trainer (one thread per core,
                             its own JVM) against --workers N (2) one-thread workers in one JVM
            --spec FILE      (the demo job)   --epochs N (1)   --data-dir DIR
        bench checkpoints    the demo's job with checkpoints off and every --interval (30s)
            --epochs N (4)   --data-dir DIR
        bench checkpoint-write   a --megabytes (100) model's checkpoint into H2 against a plain
                             file write of the same bytes   --shards N (16)   --dir DIR (data/bench)
        bench masking        samples/s of MAE (mask 0.75) against the same encoder on every patch,
                             and of FLIP at mask 0.5 against 0, training windows in this process
            --windows N (30)   --threads T (1)   --data-dir DIR

        reconstruct          a PNG of test images (original | masked | reconstructed) from an
                             mae-pretrain stage's last checkpoint in the snapshot store
            --spec FILE      the job's spec (required)     --job ID   e.g. job-1.pretrain (required)
            --stage NAME     (the spec's mae-pretrain stage)   --member M (0)   --count N (8)
            --journal FILE   the H2 file without .mv.db (data/demo/journal), or
            --postgres-url URL   jdbc:postgresql://...?user=...
            --out FILE       (reconstructions.png)   --data-dir DIR (data/fashion-mnist)

        export               a classifier member's last checkpoint as a DJL model directory
            --job ID         e.g. job-1, or job-1.finetune (required)    --out DIR (required)
            --member M       name or index (0)    --force   replace the model in a non-empty DIR
            --spec FILE      the job's spec (default: as the journal recorded it)
            --journal FILE   the H2 file without .mv.db (data/demo/journal), or
            --postgres-url URL   jdbc:postgresql://...?user=...

        predict FILE...      classify PNG/JPEG files (any size: made greyscale, longer side
                             scaled to the model's, centred); prints file, class, probability
            --model DIR      an exported model (required)   --invert  dark garments on light
        predict --data-dir DIR   the model's accuracy on a Fashion-MNIST test set
            --model DIR      (required)     --limit N   the first N test images (all)
      """;

  public static void main(String[] args) {
    System.exit(run(Arrays.asList(args)));
  }

  public static int run(List<String> args) {
    if (args.isEmpty() || args.get(0).equals("help") || args.get(0).equals("--help")) {
      System.out.print(USAGE);
      return args.isEmpty() ? 2 : 0;
    }
    List<String> rest = args.subList(1, args.size());
    try {
      NativeFlavour.apply(System.getenv());
      return switch (args.get(0)) {
        case "demo" -> DemoCommand.run(rest);
        case "node" -> NodeCommand.run(rest);
        case "submit", "status", "jobs", "checkpoint", "cancel", "pause", "resume", "checkpoints", "restore", "set-lr", "events", "audit",
            "workers", "drain", "set-batch" ->
            AdminClient.run(args.get(0), rest);
        case "certs" -> CertsCommand.run(rest);
        case "chaos" -> ChaosCommand.run(rest);
        case "data" -> DataCommand.run(rest);
        case "reference" -> ReferenceCommand.run(rest);
        case "bench" -> BenchCommand.run(rest);
        case "reconstruct" -> ReconstructCommand.run(rest);
        case "export" -> ExportCommand.run(rest);
        case "predict" -> PredictCommand.run(rest);
        default -> throw new CommandLine.UsageException("unknown command '" + args.get(0) + "'");
      };
    } catch (CommandLine.UsageException e) {
      System.err.println("tessera: " + e.getMessage());
      System.err.println("Run 'bin/tessera help' for usage.");
      return 2;
    }
  }
}
