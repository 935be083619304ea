package io.cowfs.cli;

import io.cowfs.blockstore.store.StoreException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cowfs agent start|stop|status}: the per-user CLI agent ({@link Agent}, docs/STARTUP.md). */
@Command(name = "agent", mixinStandardHelpOptions = true,
        description = {"Start, stop or show the CLI agent, which saves each command a JVM start.",
                "One JVM per user that runs fork, list, show, snapshot, rm, mount and umount for the launcher, so",
                "each call skips a JVM start (a fork: 0.04 s, not 0.48 s). Start it at the beginning of a CI run;",
                "it exits by itself after --idle without a call (--idle 0: never)."})
final class AgentCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "ACTION", description = "start, stop or status")
    String action;

    @Option(names = "--idle", paramLabel = "DURATION", defaultValue = "30m",
            description = "exit after this long without a call (e.g. 90s, 30m, 2h; 0: never, run until 'cowfs agent stop'; "
                    + "default ${DEFAULT-VALUE})")
    String idle;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Path dir = Agent.dir();
        if (dir == null) {
            throw new StoreException("no home directory: the agent keeps its state in ~/.cache/cowfs/agent");
        }
        if (action.equals("status")) {
            return act(dir);
        }
        // one start or stop at a time: three concurrent starts left three agents, two of them
        // unreachable (each overwrote the state file) until their idle timeout
        Files.createDirectories(dir);
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(dir.resolve("lock"),
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
             java.nio.channels.FileLock l = ch.lock()) {
            return act(dir);
        }
    }

    private int act(Path dir) throws Exception {
        Agent.State s = Agent.State.read(dir);
        boolean running = s != null && s.alive();
        switch (action) {
            case "status" -> {
                if (!running) {
                    spec.commandLine().getOut().println("no agent running");
                    return Main.EXIT_NOT_FOUND;
                }
                spec.commandLine().getOut().printf("agent %d on 127.0.0.1:%d%s%n", s.pid(), s.port(),
                        s.jarKey().equals(Agent.jarKey()) ? "" : " (another build of cowfs: it exits at its next call)");
                return 0;
            }
            case "stop" -> {
                if (!running) {
                    spec.commandLine().getOut().println("no agent running");
                    return 0;
                }
                ProcessHandle p = s.agent().orElse(null);
                if (p == null) { // gone since the check above
                    spec.commandLine().getOut().println("no agent running");
                    return 0;
                }
                p.destroy();
                p.onExit().get(10, java.util.concurrent.TimeUnit.SECONDS);
                Files.deleteIfExists(dir.resolve("state"));
                spec.commandLine().getOut().println("stopped agent " + s.pid());
                return 0;
            }
            case "start" -> {
                long idleMillis = GcCommand.duration(idle); // whole seconds: 0 (never idles out) or at least 1 s
                if (running && s.jarKey().equals(Agent.jarKey())) {
                    spec.commandLine().getOut().printf("agent %d already running on 127.0.0.1:%d%n", s.pid(), s.port());
                    return 0;
                }
                if (running) { // another build's agent: this one replaces it
                    s.agent().ifPresent(ProcessHandle::destroy);
                }
                return start(dir, idleMillis / 1000);
            }
            default -> throw new CommandLine.ParameterException(spec.commandLine(),
                    "unknown action '" + action + "': use start, stop or status");
        }
    }

    private int start(Path dir, long idleSeconds) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path log = dir.resolve("agent.log");
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
            cmd.add("/usr/bin/setsid");
        }
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        // this JVM's options (the launcher's: its class-data-sharing archive, the small JIT), a
        // heap that fits a long-lived process on a CI runner
        cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.add("-Xmx256m");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Agent.class.getName());
        cmd.add(Long.toString(idleSeconds));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process p = pb.start();
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (System.nanoTime() < deadline) {
            Agent.State s = Agent.State.read(dir);
            if (s != null && s.pid() == p.pid()) {
                spec.commandLine().getOut().printf("agent %d on 127.0.0.1:%d (%s; log: %s)%n", s.pid(), s.port(),
                        idleSeconds == 0 ? "runs until cowfs agent stop" : "exits after " + idleSeconds + " s without a call", log);
                return 0;
            }
            if (!p.isAlive()) {
                throw new StoreException("the agent exited with " + p.exitValue() + " (see " + log + ")");
            }
            Thread.sleep(20);
        }
        p.destroy();
        throw new StoreException("the agent did not start within 30 s (see " + log + ")");
    }
}
