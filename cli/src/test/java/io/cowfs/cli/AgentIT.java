package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI agent through the repository's launcher, as a CI runner uses it: {@code cowfs agent
 * start}, then fork/list/show/snapshot/rm answered by the agent with the same output and exit
 * codes as a JVM of their own gives on a twin store; what it must decline (another environment,
 * a caller without the token, another build of the jar) still works through a JVM; a killed agent
 * costs nothing but speed. Each test has its own HOME, so its own agent and state file.
 */
class AgentIT {
    @TempDir
    Path tmp;

    private Path launcher;
    private Path jar;
    private Path home;

    record Run(int rc, String out, String err) {
    }

    private Run cowfs(String extraEnv, String args) throws Exception {
        Path err = Files.createTempFile(tmp, "err", ".txt");
        Cowfs.Result r = Cowfs.shRc(tmp, "env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=" + home + " COWFS_JAR=" + jar + " "
                + extraEnv + " " + launcher + " " + args + " 2>" + err);
        return new Run(r.rc(), r.out(), Files.readString(err));
    }

    private void setUp() throws Exception {
        launcher = tmp.resolve("cowfs");
        Files.copy(Podman.repo().resolve("cowfs"), launcher);
        Cowfs.sh(tmp, "chmod 0755 cowfs && mkdir -p home src/d && echo one > src/a && echo two > src/d/b");
        jar = Podman.jar(tmp);
        home = tmp.resolve("home");
    }

    private Path agentLog() {
        return home.resolve(".cache/cowfs/agent/agent.log");
    }

    private long served() throws Exception {
        return Files.exists(agentLog()) ? Files.readAllLines(agentLog()).stream().filter(l -> l.startsWith("cowfs agent: ran ")).count() : 0;
    }

    private Agent.State state() {
        return Agent.State.read(home.resolve(".cache/cowfs/agent"));
    }

    /** Timings, creation times, root hashes and the store's path are what may differ between the twins. */
    private static String normal(String s, Path store) {
        return s.replace(store.toString(), "STORE")
                .replaceAll("in [0-9.]+ ms", "in N ms")
                .replaceAll("\\d{4}-\\d\\d-\\d\\d[ T]\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z?", "TIME")
                .replaceAll("\"createdMillis\" : \\d+", "\"createdMillis\" : N")
                .replaceAll("[0-9a-f]{64}", "HASH"); // a snapshot's root hashes its import's times
    }

    private void stopAgent() throws Exception {
        Agent.State s = state();
        if (s != null) {
            s.agent().ifPresent(p -> { // a stale pid may be anyone's by now
                p.destroyForcibly();
                p.onExit().join();
            });
        }
    }

    @Test
    void answersQuickCommandsAsAJvmWouldAndDeclinesWhatItMustNot() throws Exception {
        setUp();
        try {
            for (String st : List.of("a", "b")) {
                assertEquals(0, cowfs("", "init --store " + tmp.resolve(st)).rc());
                assertEquals(0, cowfs("", "import " + tmp.resolve("src") + " --name t --store " + tmp.resolve(st)).rc());
            }
            Run start = cowfs("", "agent start --idle 5m");
            assertEquals(0, start.rc(), start.out() + start.err());
            assertTrue(start.out().startsWith("agent "), start.out());
            assertEquals(0, cowfs("", "agent status").rc());

            // the same commands on twin stores: "a" through the agent, "b" through a JVM each
            List<String> calls = List.of("fork t --name v1", "list", "list --json", "list --names", "show v1", "show v1 --json",
                    "snapshot v1 --name s1", "fork s1 --name v2", "rm s1 v2", "list",
                    "fork nothing --name x", "fork t --name 'bad name'", "rm nothing", "show", "fork t --name v1");
            long before = served();
            for (String c : calls) {
                Run viaAgent = cowfs("", c + " --store " + tmp.resolve("a"));
                Run viaJvm = cowfs("COWFS_NO_AGENT=1", c + " --store " + tmp.resolve("b"));
                assertEquals(viaJvm.rc(), viaAgent.rc(), c + ": " + viaAgent.err());
                assertEquals(normal(viaJvm.out(), tmp.resolve("b")), normal(viaAgent.out(), tmp.resolve("a")), c);
                assertEquals(normal(viaJvm.err(), tmp.resolve("b")), normal(viaAgent.err(), tmp.resolve("a")), c);
            }
            assertEquals(calls.size(), served() - before, "every call went to the agent:\n" + Files.readString(agentLog()));

            // a relative --store is the caller's, not the agent's
            Files.createDirectories(tmp.resolve("sub"));
            Cowfs.Result r = Cowfs.shRc(tmp.resolve("sub"), "env -i PATH=/usr/bin:/bin HOME=" + home + " COWFS_JAR=" + jar + " "
                    + launcher + " list --names --store ../a");
            assertEquals(0, r.rc(), r.out());
            assertEquals("t\nv1\n", r.out());
            assertEquals(calls.size() + 1, served() - before);

            // another environment (here the default store): declined, run by a JVM, right answer
            Run env = cowfs("COWFS_STORE=" + tmp.resolve("b"), "list --names");
            assertEquals(0, env.rc(), env.err());
            assertEquals("t\nv1\n", env.out());
            assertTrue(Files.readString(agentLog()).contains("declined list: env-COWFS_STORE"), Files.readString(agentLog()));
            // what only mount and umount read, sent by the launcher too (COWFS_MOUNT_SPARE was not, before
            // 2026-12-07: a caller's COWFS_MOUNT_SPARE=0 mount was served by the agent, with spares)
            Run spare = cowfs("COWFS_MOUNT_SPARE=0", "umount --store " + tmp.resolve("a") + " " + tmp.resolve("nothing-mounted"));
            assertEquals(3, spare.rc(), spare.err());
            assertTrue(Files.readString(agentLog()).contains("declined umount: env-COWFS_MOUNT_SPARE"), Files.readString(agentLog()));

            // a caller without the token gets nothing run
            Agent.State s = state();
            assertEquals("fallback refused", request(s.port(), "cowfs-agent-1 " + "0".repeat(64) + " " + jar, "/", "0", "3", "rm", "--store=" + tmp.resolve("a"), "t"));
            assertEquals(0, cowfs("", "show t --store " + tmp.resolve("a")).rc(), "the refused rm removed nothing");

            // killed: the launcher sees the dead pid and runs a JVM; a new start replaces the state
            ProcessHandle.of(s.pid()).orElseThrow().destroyForcibly();
            ProcessHandle.of(s.pid()).ifPresent(p -> p.onExit().join());
            Run afterKill = cowfs("", "list --names --store " + tmp.resolve("a"));
            assertEquals(0, afterKill.rc(), afterKill.err());
            assertEquals("t\nv1\n", afterKill.out());
            assertEquals(3, cowfs("", "agent status").rc());
            assertEquals(0, cowfs("", "agent start --idle 5m").rc());
            assertTrue(state().pid() != s.pid());

            // another build of the jar (here: the same path, touched): the launcher does not ask,
            // and the agent, asked anyway, says it is stale and exits
            Agent.State s2 = state();
            Cowfs.sh(tmp, "touch -d '+2 seconds' cowfs.jar");
            long n = served();
            assertEquals(0, cowfs("", "list --names --store " + tmp.resolve("a")).rc());
            assertEquals(n, served(), "a newer jar than the agent's is not sent to it");
            assertEquals("fallback stale", request(s2.port(), "cowfs-agent-1 " + s2.token() + " " + jar, "/", "0", "1", "list"));
            assertTrue(ProcessHandle.of(s2.pid()).map(p -> {
                try {
                    p.onExit().get(10, TimeUnit.SECONDS);
                    return true;
                } catch (Exception e) {
                    return false;
                }
            }).orElse(true), "a stale agent exits");
        } finally {
            stopAgent();
        }
    }

    @Test
    void badInputAndStop() throws Exception {
        setUp();
        try {
            Run idle = cowfs("", "agent start --idle soon");
            assertEquals(2, idle.rc(), idle.err());
            assertEquals(1, idle.err().lines().count(), idle.err());
            assertTrue(idle.err().startsWith("cowfs: invalid duration 'soon'"), idle.err());
            Run what = cowfs("", "agent frobnicate");
            assertEquals(2, what.rc(), what.err());
            assertTrue(what.err().startsWith("cowfs: unknown action 'frobnicate'"), what.err());
            assertFalse(Files.exists(home.resolve(".cache/cowfs/agent/state")), "nothing started");

            assertEquals(0, cowfs("", "agent start --idle 2s").rc());
            Agent.State s = state();
            assertTrue(ProcessHandle.of(s.pid()).orElseThrow().onExit().get(30, TimeUnit.SECONDS) != null, "exits when idle");
            assertEquals(3, cowfs("", "agent status").rc());
            assertTrue(Files.readString(agentLog()).contains("idle for 2 s, exiting"), Files.readString(agentLog()));

            // --idle 0, which the duration's error message offers: no idle timeout (it was refused)
            Run never = cowfs("", "agent start --idle 0");
            assertEquals(0, never.rc(), never.err());
            assertTrue(never.out().contains("runs until cowfs agent stop"), never.out());
            Agent.State forever = state();
            Thread.sleep(2500);
            assertTrue(forever.alive(), "an agent started with --idle 0 stays");
            assertEquals(0, cowfs("", "agent stop").rc());

            assertEquals(0, cowfs("", "agent start").rc());
            Run stop = cowfs("", "agent stop");
            assertEquals(0, stop.rc(), stop.err());
            assertTrue(stop.out().startsWith("stopped agent "), stop.out());
            assertEquals("no agent running\n", cowfs("", "agent status").out());
        } finally {
            stopAgent();
        }
    }

    /**
     * A state file left by an agent killed with kill -9 names a pid that another process may
     * have by now: status, stop and start leave that process alone, and quick commands still work.
     */
    @Test
    void aStalePidInTheStateFileIsNeverSignalled() throws Exception {
        setUp();
        Process other = new ProcessBuilder("sleep", "120").start(); // stands for whoever got the pid
        try {
            assertEquals(0, cowfs("", "init --store " + tmp.resolve("a")).rc());
            Path dir = home.resolve(".cache/cowfs/agent");
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("state"), "1 " + "0".repeat(64) + " " + other.pid() + " "
                    + Files.size(jar) + "-" + Files.getLastModifiedTime(jar).toMillis() / 1000 + "\n");
            assertEquals(other.pid(), state().pid());

            Run status = cowfs("", "agent status");
            assertEquals(3, status.rc(), status.out() + status.err());
            assertEquals("no agent running\n", status.out());
            Run stop = cowfs("", "agent stop");
            assertEquals(0, stop.rc(), stop.err());
            assertEquals("no agent running\n", stop.out());
            Run list = cowfs("", "list --names --store " + tmp.resolve("a"));
            assertEquals(0, list.rc(), list.err());
            assertTrue(other.isAlive(), "the process that has the pid was not signalled");

            Run start = cowfs("", "agent start --idle 5m");
            assertEquals(0, start.rc(), start.out() + start.err());
            assertTrue(start.out().startsWith("agent "), "a new agent, not 'already running': " + start.out());
            assertTrue(state().pid() != other.pid());
            assertTrue(other.isAlive(), "the process that has the pid was not signalled");
        } finally {
            other.destroyForcibly();
            stopAgent();
        }
    }

    /**
     * Three `agent start` at once leave one agent, which all three name (before, each started
     * its own and overwrote the state file: two agents nobody could reach or stop).
     */
    @Test
    void concurrentStartsLeaveOneAgent() throws Exception {
        setUp();
        try {
            Path out = tmp.resolve("starts");
            Cowfs.sh(tmp, "for i in 1 2 3; do env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=" + home + " COWFS_JAR=" + jar + " "
                    + launcher + " agent start --idle 5m > " + out + ".$i 2>&1 & done; wait");
            java.util.Set<String> pids = new java.util.TreeSet<>();
            for (int i = 1; i <= 3; i++) {
                String o = Files.readString(Path.of(out + "." + i));
                assertTrue(o.startsWith("agent "), o);
                pids.add(o.split(" ")[1]);
            }
            assertEquals(1, pids.size(), "every start names the same agent: " + pids);
            long agents = ProcessHandle.allProcesses().filter(p -> p.info().commandLine().map(
                    c -> c.contains(Agent.class.getName()) && c.contains(jar.toString())).orElse(false)).count();
            assertEquals(1, agents, "agent processes of this test's jar");
        } finally {
            stopAgent();
            ProcessHandle.allProcesses().filter(p -> p.info().commandLine().map( // any a failure left
                    c -> c.contains(Agent.class.getName()) && c.contains(jar.toString())).orElse(false)).forEach(ProcessHandle::destroyForcibly);
        }
    }

    /**
     * An agent that ends after taking a request, before answering: the launcher cannot know whether
     * the command ran, so one that changes something is not run again in a JVM (a fork that had
     * succeeded then failed with "name taken", a mount that had come up with "already a
     * mountpoint"); it says so and fails. One that only reads is run in a JVM. The agent here is a
     * stand-in that reads the request and hangs up.
     */
    @Test
    void anAgentThatEndsWithoutAnsweringIsNotRunAgainForAChange() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Cowfs.shRc(tmp, "command -v python3").rc() == 0, "needs python3");
        setUp();
        Path dir = Files.createDirectories(home.resolve(".cache/cowfs/agent"));
        Path port = tmp.resolve("port");
        Process fake = new ProcessBuilder("python3", "-c", String.join("\n",
                "import socket, sys",
                "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(8)",
                "open(sys.argv[1], 'w').write(str(s.getsockname()[1]))",
                "while True:",
                "    c, _ = s.accept(); f = c.makefile('r')",
                "    f.readline(); f.readline()", // hello, cwd
                "    for _ in range(int(f.readline())): f.readline()", // the environment
                "    for _ in range(int(f.readline())): f.readline()", // the arguments: the whole request read
                "    f.close(); c.close()"), port.toString()).start();
        try {
            for (int i = 0; i < 200 && !Files.exists(port); i++) {
                Thread.sleep(25);
            }
            Files.writeString(dir.resolve("state"), Files.readString(port).trim() + " " + "0".repeat(64) + " " + fake.pid() + " x\n");
            String store = " --store " + tmp.resolve("a");
            assertEquals(0, cowfs("COWFS_NO_AGENT=1", "init" + store).rc());
            assertEquals(0, cowfs("COWFS_NO_AGENT=1", "import " + tmp.resolve("src") + " --name t" + store).rc());
            Run fork = cowfs("", "fork t --name f" + store);
            assertEquals(1, fork.rc(), fork.out() + fork.err());
            assertEquals(1, fork.err().lines().count(), fork.err());
            assertTrue(fork.err().contains("ended without answering 'fork'") && fork.err().contains("not run again"), fork.err());
            Run list = cowfs("", "list --names" + store);
            assertEquals(0, list.rc(), list.err());
            assertEquals("t\n", list.out(), "a read is run in a JVM; the fork was not run by anyone");
        } finally {
            fake.destroyForcibly();
        }
    }

    @Test
    void mountsAndUnmountsThroughTheAgent() throws Exception {
        Cowfs.assumeFuse();
        setUp();
        Path mp = tmp.resolve("mnt");
        String store = " --store " + tmp.resolve("a");
        try {
            assertEquals(0, cowfs("", "init" + store).rc());
            assertEquals(0, cowfs("", "import " + tmp.resolve("src") + " --name t" + store).rc());
            assertEquals(0, cowfs("", "fork t --name v" + store).rc());
            Files.createDirectories(mp);
            assertEquals(0, cowfs("", "agent start --idle 5m").rc());
            long before = served();

            Run m = cowfs("", "mount v mnt" + store); // a mountpoint relative to the caller's directory
            assertEquals(0, m.rc(), m.err());
            assertEquals("mounted view 'v' at " + mp + "\n", m.out());
            assertTrue(Cowfs.isMounted(mp));
            Files.writeString(mp.resolve("new.txt"), "written in a mount the agent started");
            assertEquals("one\n", Files.readString(mp.resolve("a")));
            // the agent checks a mountpoint and a umount as a JVM does: no second mount on a mount,
            // no umount of a view that a bind keeps mounted (MountConflictIT)
            Run stacked = cowfs("", "mount t mnt" + store);
            assertEquals(Main.EXIT_BUSY, stacked.rc(), stacked.err());
            assertTrue(stacked.err().contains("is already a mountpoint of view 'v'"), stacked.err());
            assertEquals(cowfs("COWFS_NO_AGENT=1", "mount t mnt" + store).err(), stacked.err());
            if (Accounts.isRoot()) {
                Path bind = Files.createDirectories(tmp.resolve("bind"));
                Cowfs.sh(tmp, "mount --bind mnt bind");
                try {
                    Run refused = cowfs("", "umount mnt" + store);
                    assertEquals(Main.EXIT_BUSY, refused.rc(), refused.err());
                    assertTrue(refused.err().contains("is also mounted at " + bind), refused.err());
                } finally {
                    Cowfs.sh(tmp, "umount bind");
                }
                before += 1;
            }
            before += 1;
            Run u = cowfs("", "umount mnt" + store);
            assertEquals(0, u.rc(), u.err());
            assertFalse(Cowfs.isMounted(mp));
            assertEquals(before + 2, served(), Files.readString(agentLog()));
            assertTrue(cowfs("", "diff t v" + store).out().contains("new.txt"), "the write was persisted");

            // errors read as a JVM's would
            Run missing = cowfs("", "mount nothing mnt" + store);
            Run missingJvm = cowfs("COWFS_NO_AGENT=1", "mount nothing mnt" + store);
            assertEquals(Main.EXIT_NOT_FOUND, missing.rc(), missing.err());
            assertEquals(missingJvm.err(), missing.err());
            Run notMounted = cowfs("", "umount mnt" + store);
            Run notMountedJvm = cowfs("COWFS_NO_AGENT=1", "umount mnt" + store);
            assertEquals(Main.EXIT_NOT_FOUND, notMounted.rc(), notMounted.err());
            assertEquals(notMountedJvm.rc(), notMounted.rc());
            assertEquals(notMountedJvm.err(), notMounted.err());
            assertEquals(1, notMounted.err().lines().count(), notMounted.err());
        } finally {
            if (Cowfs.isMounted(mp)) {
                Cowfs.unmountHard(mp);
            }
            stopAgent();
        }
    }

    /**
     * The launcher sends every variable the agent compares: one it does not send reads as unset,
     * so the agent would serve a caller whose value differs from its own (COWFS_MOUNT_SPARE was
     * missing until 2026-12-07).
     */
    @Test
    void theLauncherSendsEveryVariableTheAgentCompares() throws Exception {
        String text = Files.readString(Podman.repo().resolve("cowfs"));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("local names=\\(([^)]*)\\)").matcher(text);
        assertTrue(m.find(), "names=(...) in the launcher's agent_call");
        List<String> sent = List.of(m.group(1).trim().split("\\s+"));
        for (String v : concat(Agent.ENV, Agent.MOUNT_ENV)) {
            assertTrue(sent.contains(v), v + " is compared by the agent but not sent by the launcher: " + sent);
        }
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new java.util.ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** What the agent declines, asked in this process (the launcher then starts a JVM). */
    @Test
    void declinesForegroundMountsAndAnotherEnvironment() {
        java.util.Map<String, String> env = new java.util.HashMap<>(System.getenv());
        assertEquals("foreground", Agent.refusal(Path.of("/"), env, List.of("mount", "--foreground", "v", "/x")));
        assertEquals(null, Agent.refusal(Path.of("/"), env, List.of("mount", "v", "/x")));
        env.put("PATH", "/elsewhere");
        assertEquals("env-PATH", Agent.refusal(Path.of("/"), env, List.of("mount", "v", "/x")));
        assertEquals(null, Agent.refusal(Path.of("/"), env, List.of("fork", "t", "--name", "v")), "fork does not read PATH");
        assertEquals("not-served", Agent.refusal(Path.of("/"), env, List.of("gc")));
        assertEquals("cwd", Agent.refusal(Path.of("rel"), new java.util.HashMap<>(System.getenv()), List.of("list")));
    }

    /** One raw request, as the launcher sends it; the reply's first line. */
    private static String request(int port, String... lines) throws Exception {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.getOutputStream().write((String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
            s.getOutputStream().flush();
            return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8)).readLine();
        }
    }
}
