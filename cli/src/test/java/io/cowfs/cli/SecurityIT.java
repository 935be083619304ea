package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * docs/SECURITY.md, tested with real accounts: a store is private whatever the umask (or its
 * group's with --shared-group), fsck finds and repairs a store opened up by chmod, control sockets
 * answer only their owner, an ordinary user runs the whole job with the default store, and a mount
 * shows others only what its files' modes allow (and nothing without --allow-other).
 */
class SecurityIT {

    /** Every directory and file under store with its mode (and group name), one per line. */
    private static List<String> modes(Path store) throws Exception {
        List<String> out = new ArrayList<>();
        try (Stream<Path> all = Files.walk(store)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777;
                String group = Files.readAttributes(p, java.nio.file.attribute.PosixFileAttributes.class,
                        LinkOption.NOFOLLOW_LINKS).group().getName();
                out.add((Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? "d " : "f ") + Integer.toOctalString(mode) + " " + group + " " + p);
            }
        }
        return out;
    }

    private static void assertAll(List<String> modes, String dirMode, String fileMode, String group) {
        for (String m : modes) {
            String[] f = m.split(" ", 4);
            assertEquals(f[0].equals("d") ? dirMode : fileMode, f[1], () -> "wrong mode: " + m + "\n" + String.join("\n", modes));
            if (group != null) {
                assertEquals(group, f[2], () -> "wrong group: " + m);
            }
        }
    }

    private static String sh(String script) {
        return "set -e; " + script;
    }

    /**
     * An export by a user other than root cannot give files their owners, so it drops the
     * set-user-ID and set-group-ID bits it cannot keep, as `cp -p` does: a setuid-root program
     * of the snapshot must not come out as a setuid program of the exporting user. Before
     * 2026-12-05 it came out 4755, owned by the user. The user's own set-ID files keep theirs.
     */
    @Test
    void anExportByAnotherUserDropsTheSetIdBitsItCannotKeep() throws Exception {
        try (Accounts acc = Accounts.open()) {
            Accounts.Account a = acc.user();
            Path src = Files.createDirectories(acc.base.resolve("setid-src"));
            Files.setAttribute(src, "unix:mode", 0755);
            Cowfs.sh(src, "echo root > su && chmod 4755 su && echo g > sg && chmod 2755 sg && mkdir sgdir && chmod 2775 sgdir"
                    + " && echo mine > own && chown " + a.name() + ":" + a.name() + " own && chmod 6755 own");
            Cowfs.Result r = acc.as(a, sh("$COWFS init; $COWFS import " + src + " --name s; $COWFS export s out;"
                    + " cd out && stat -c '%n %a %U' su sg sgdir own"));
            assertEquals(0, r.rc(), r.out());
            assertTrue(r.out().endsWith("su 755 " + a.name() + "\nsg 755 " + a.name() + "\nsgdir 775 " + a.name()
                    + "\nown 6755 " + a.name() + "\n"), r.out());
        }
    }

    @Test
    void storeIsPrivateWhateverTheUmaskAndFsckRepairsAChmod() throws Exception {
        Cowfs.assumeFuse();
        try (Accounts acc = Accounts.open()) {
            Path store = acc.base.resolve("store");
            Path mp = acc.base.resolve("mp");
            Files.createDirectories(mp);
            Files.createDirectories(acc.base.resolve("src/d"));
            Files.writeString(acc.base.resolve("src/d/f"), "private\n");
            String c = String.join(" ", Accounts.cowfsCommand());
            String s = " --store=" + store;
            try {
                Cowfs.Result r = Accounts.root("bash", "-c", sh("umask 000; cd " + acc.base + "; "
                        + c + " init" + s + "; " + c + " import" + s + " src --name snap; " + c + " fork" + s + " snap --name v; "
                        + c + " mount" + s + " v " + mp + "; echo new > " + mp + "/new; " + c + " snapshot" + s + " v --name v2; "
                        + c + " gc" + s + "; " + c + " umount " + mp + "; " + c + " fsck" + s));
                assertEquals(0, r.rc(), r.out());
            } finally {
                Cowfs.unmountHard(mp);
            }
            List<String> modes = modes(store);
            assertTrue(modes.stream().anyMatch(m -> m.contains("/packs/pack-")), String.join("\n", modes));
            assertTrue(modes.stream().anyMatch(m -> m.endsWith("/index/lock.mdb")), String.join("\n", modes));
            assertTrue(modes.stream().anyMatch(m -> m.endsWith("/run/v.log")), String.join("\n", modes));
            assertAll(modes, "700", "600", null);

            // someone opens the store up: fsck names it, --repair closes it again
            Accounts.root("chmod", "-R", "a+rX", store.toString()).ok();
            Cowfs.Result bad = Cowfs.runRaw("fsck", "--store=" + store);
            assertEquals(Main.EXIT_DAMAGED, bad.rc(), bad.out() + bad.err());
            assertTrue(bad.out().contains(store.resolve("packs") + " is more open than the store allows (mode 755, the store's is 700)"), bad.out());
            assertTrue(bad.out().contains("data.mdb is more open than the store allows (mode 644"), bad.out());
            Cowfs.Result fixed = Cowfs.runRaw("fsck", "--repair", "--store=" + store);
            assertEquals(0, fixed.rc(), fixed.out() + fixed.err());
            assertTrue(fixed.out().contains("REPAIRED "), fixed.out());
            Cowfs.runRaw("fsck", "--store=" + store).ok();
            assertAll(modes(store), "700", "600", null);
        }
    }

    /**
     * Two members share a store; an account outside its group is refused with the group named,
     * whether the group's directory above the store keeps it out or the store itself does (it was
     * told the store belonged to its creator and was "not shared with you", or, under a closed
     * directory, that there was no store: run cowfs init).
     */
    @Test
    void sharedGroupStoreServesSeveralAccounts() throws Exception {
        Cowfs.assumeFuse();
        try (Accounts acc = Accounts.open()) {
            Path pool = acc.base.resolve("pool");
            String g = sharedStoreServesTwoMembers(acc, pool);
            Path store = pool.resolve("store");
            Accounts.Account outsider = acc.user();
            String addYou = " (root can add you: usermod -aG " + g + " " + outsider.name() + ", effective at your next login;"
                    + " see docs/SECURITY.md)\n";
            Cowfs.Result hidden = acc.as(outsider, "$COWFS list --store=" + store);
            assertEquals(1, hidden.rc(), hidden.out());
            assertEquals("cowfs: permission denied: the store " + store + " is inside " + pool + ", which is open to group "
                    + g + " only, and you are not in it" + addYou, hidden.out());
            Files.setAttribute(pool, "unix:mode", 0771); // the pool lets anyone through to the store
            Cowfs.Result refused = acc.as(outsider, "$COWFS list --store=" + store);
            assertEquals(1, refused.rc(), refused.out());
            assertEquals("cowfs: permission denied: the store " + store + " is shared with group " + g
                    + ", which you are not in" + addYou, refused.out());
        }
    }

    /**
     * A store whose run/ path is too long for a socket address (108 bytes): its control sockets
     * stay in run/ with the store's group (they used to go to /tmp/cowfs-HASH with the first user's
     * group, where the second member was refused and anyone who made that directory first blocked
     * every mount). The old directory is made here by an outsider, as such a user would.
     */
    @Test
    void sharedGroupStoreOnALongPathServesSeveralAccounts() throws Exception {
        Cowfs.assumeFuse();
        try (Accounts acc = Accounts.open()) {
            Path pool = acc.base.resolve("pool-" + "p".repeat(40)).resolve("q".repeat(40));
            Path store = pool.resolve("store");
            assertTrue(store.resolve("run/v1.sock").toString().length() > 108, store.toString());
            Accounts.Account outsider = acc.user();
            String oldDir = "/tmp/cowfs-" + Integer.toHexString(store.toString().hashCode());
            acc.as(outsider, "mkdir -m 700 " + oldDir).ok();
            try {
                sharedStoreServesTwoMembers(acc, pool);
            } finally {
                Accounts.root("rm", "-rf", oldDir).ok();
            }
        }
    }

    /** Two members of a group share a store made in pool (a new directory, the group's); returns the group. */
    private static String sharedStoreServesTwoMembers(Accounts acc, Path pool) throws Exception {
        String g = acc.group();
        Accounts.Account a = acc.user(g);
        Accounts.Account b = acc.user(g);
        Files.createDirectories(pool);
        Files.setAttribute(pool.getParent(), "unix:mode", 0755);
        Accounts.root("chgrp", g, pool.toString()).ok();
        Files.setAttribute(pool, "unix:mode", 0770);
        Path store = pool.resolve("store");
        Path mp = a.home().resolve("mp");
        String s = " --store=" + store;
        Accounts.openDevFuse();
        try {
            // umask 077 on both: the group's bits come from the store, not from the umask
            acc.as(a, sh("umask 077; mkdir -p src/d mp; echo from-a > src/d/f; $COWFS init --shared-group " + g + s
                    + "; $COWFS import" + s + " src --name a-snap; $COWFS fork" + s + " a-snap --name a-view; $COWFS mount"
                    + s + " a-view mp; echo written > mp/d/w")).ok();
            // b asks a's mount to persist (its control socket admits the group) and freezes the view
            acc.as(b, sh("umask 077; mkdir -p src; echo from-b > src/g; $COWFS snapshot" + s + " a-view --name b-snap; "
                    + "$COWFS import" + s + " src --name b-src; $COWFS fork" + s + " b-src --name b-view; $COWFS gc" + s)).ok();
            acc.as(a, sh("$COWFS umount mp")).ok();
            Cowfs.Result exported = acc.as(b, sh("umask 077; $COWFS export" + s + " b-snap out; cat out/d/w; $COWFS rm" + s
                    + " b-view; $COWFS gc" + s + "; $COWFS fsck" + s));
            exported.ok();
            assertTrue(exported.out().contains("written"), exported.out());
        } finally {
            Cowfs.unmountHard(mp);
            Accounts.releaseDevFuse();
        }
        List<String> modes = modes(store);
        assertAll(modes, "2770", "660", g);
        Cowfs.runRaw("fsck", "--store=" + store).ok();
        return g;
    }

    /** The /dev/fuse descriptors of process pid that lack O_CLOEXEC (fdinfo's octal flags); fails if it has none. */
    private static List<String> fuseFdsWithoutCloexec(Long pid) throws Exception {
        assertTrue(pid != null, "no mount process");
        List<String> out = new ArrayList<>();
        int fuse = 0;
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    if (Files.readSymbolicLink(fd).toString().equals("/dev/fuse")) {
                        fuse++;
                        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/fdinfo/" + fd.getFileName()))) {
                            if (line.startsWith("flags:") && (Long.parseLong(line.substring(6).trim(), 8) & 02000000) == 0) {
                                out.add(fd.getFileName() + " " + line);
                            }
                        }
                    }
                } catch (java.nio.file.NoSuchFileException closed) {
                    // a descriptor the mount closed while it was listed (a pack, a log): not /dev/fuse
                }
            }
        }
        assertTrue(fuse > 0, "the mount process " + pid + " holds /dev/fuse");
        return out;
    }

    @Test
    void ordinaryUserRunsTheWholeJobWithTheDefaultStore() throws Exception {
        Cowfs.assumeFuse();
        try (Accounts acc = Accounts.open()) {
            Accounts.Account a = acc.user();
            Accounts.Account other = acc.user();
            Path mp = a.home().resolve("mp");
            Accounts.openDevFuse();
            try {
                acc.as(a, sh("mkdir -p src/d mp; echo secret > src/d/f; $COWFS init; $COWFS import src --name s; "
                        + "$COWFS fork s --name v; $COWFS mount v mp; echo new > mp/new; cat mp/d/f")).ok();
                assertTrue(Cowfs.isMounted(mp));
                // the session's descriptor, which fusermount3 passed, is close-on-exec like every other
                assertEquals(List.of(), fuseFdsWithoutCloexec(UmountCommand.daemonPid(mp)));
                // nor unmounts it: one line naming who mounted it (it was umount(8)'s "must be superuser to unmount")
                Cowfs.Result umount = acc.as(other, "$COWFS umount " + mp);
                assertEquals(1, umount.rc(), umount.out());
                assertEquals("cowfs: cannot unmount " + mp + ": it was mounted by " + a.name() + " (uid " + a.uid()
                        + "); only that user or root can unmount it\n", umount.out());
                assertTrue(Cowfs.isMounted(mp));
                // without --allow-other nobody else enters the mount (the mountpoint's parent is opened for the check)
                Files.setAttribute(a.home(), "unix:mode", 0711);
                Cowfs.Result denied = acc.as(other, "ls " + mp);
                assertTrue(denied.rc() != 0 && denied.out().contains("Permission denied"), denied.out());
                Cowfs.Result rootDenied = Accounts.root("ls", mp.toString()); // the kernel's FUSE check spares no one
                assertTrue(rootDenied.rc() != 0 && rootDenied.out().contains("Permission denied"), rootDenied.out());
                Files.setAttribute(a.home(), "unix:mode", 0700);

                Cowfs.Result r = acc.as(a, sh("$COWFS snapshot v --name v2; $COWFS umount mp; $COWFS rm v2; $COWFS gc; "
                        + "$COWFS fsck; $COWFS list; stat -c '%a %U' .local/share/cowfs .local/share/cowfs/packs"));
                r.ok();
                assertTrue(r.out().contains("700 " + a.name() + "\n700 " + a.name()), r.out());
                assertFalse(r.out().contains("warning"), "an ordinary user sees no JVM warnings: " + r.out());

                if (fuseConfAllowsOther()) {
                    System.out.println("skipped the --allow-other refusal: /etc/fuse.conf has user_allow_other");
                } else {
                    Cowfs.Result ao = acc.as(a, "$COWFS mount v mp --allow-other");
                    assertEquals(2, ao.rc(), ao.out());
                    assertEquals(1, ao.out().strip().lines().count(), ao.out());
                    assertTrue(ao.out().contains("user_allow_other") && ao.out().contains("/etc/fuse.conf"), ao.out());
                    assertFalse(Cowfs.isMounted(mp));
                }
            } finally {
                Cowfs.unmountHard(mp);
                Accounts.releaseDevFuse();
            }
        }
    }

    static boolean fuseConfAllowsOther() throws Exception {
        Path conf = Path.of("/etc/fuse.conf");
        return Files.exists(conf) && Files.readAllLines(conf).stream().anyMatch(l -> l.strip().equals("user_allow_other"));
    }

    /** What account o can read of each entry under dir: one line per path, "ok" or "denied". */
    private static String readable(Accounts acc, Accounts.Account o, Path dir) throws Exception {
        return acc.as(o, "cd " + dir + " && for p in pub secret private private/inner; do "
                + "if [ -d $p ]; then ls $p >/dev/null 2>&1 && echo \"$p ok\" || echo \"$p denied\"; "
                + "else cat $p >/dev/null 2>&1 && echo \"$p ok\" || echo \"$p denied\"; fi; done").ok().out();
    }

    @Test
    void aMountShowsOthersWhatTheSourceShowedThemAndOnlyWithAllowOther() throws Exception {
        Cowfs.assumeFuse();
        try (Accounts acc = Accounts.open(); Cowfs c = new Cowfs(acc.base)) {
            Accounts.Account o = acc.user();
            Path src = acc.base.resolve("src");
            Files.createDirectories(src.resolve("private"));
            Files.writeString(src.resolve("pub"), "public\n");
            Files.writeString(src.resolve("secret"), "key\n");
            Files.writeString(src.resolve("private/inner"), "inner\n");
            Files.setAttribute(src, "unix:mode", 0755);
            Files.setAttribute(src.resolve("pub"), "unix:mode", 0644);
            Files.setAttribute(src.resolve("secret"), "unix:mode", 0600);
            Files.setAttribute(src.resolve("private"), "unix:mode", 0700);
            Files.setAttribute(src.resolve("private/inner"), "unix:mode", 0644);
            String inSource = readable(acc, o, src);
            assertEquals("pub ok\nsecret denied\nprivate denied\nprivate/inner denied\n", inSource);

            c.run("import", src.toString(), "--name", "s").ok();
            c.run("fork", "s", "--name", "v").ok();
            try (Cowfs.Mounted snap = c.mount("s", "--allow-other"); Cowfs.Mounted view = c.mount("v", "--allow-other")) {
                assertEquals(inSource, readable(acc, o, snap.dir));
                assertEquals(inSource, readable(acc, o, view.dir));
                Cowfs.Result ls = acc.as(o, "stat -c '%a %U %n' " + view.dir + "/secret " + view.dir + "/private");
                assertEquals("600 root " + view.dir + "/secret\n700 root " + view.dir + "/private\n", ls.ok().out());
                Cowfs.Result write = acc.as(o, "echo x > " + view.dir + "/new");
                assertTrue(write.rc() != 0 && write.out().contains("Permission denied"), write.out());
            }
            try (Cowfs.Mounted plain = c.mount("v")) {
                Cowfs.Result denied = acc.as(o, "ls " + plain.dir);
                assertTrue(denied.rc() != 0 && denied.out().contains("Permission denied"), denied.out());
                Cowfs.Result umount = acc.as(o, "$COWFS umount " + plain.dir);
                assertEquals("cowfs: cannot unmount " + plain.dir + ": it was mounted by root; only root can unmount it\n", umount.out());
                assertEquals(1, umount.rc(), umount.out());
                assertTrue(Cowfs.isMounted(plain.dir));
            }
        }
    }

    /** What account o gets from the set-ID, device and capability probes of tree dir (see the test below). */
    private static String privileges(Accounts acc, Accounts.Account o, Path dir) throws Exception {
        return acc.as(o, "cd " + dir + " && echo \"euid $(./sid -u)\"; "
                + "(echo x > null) 2>/dev/null && echo 'device ok' || echo 'device denied'; "
                + "./capcat secret 2>/dev/null || echo 'secret denied'").out();
    }

    @Test
    void setIdProgramsCapabilitiesAndDeviceNodesWorkOnlyInAMountMadeWithSuidAndDev() throws Exception {
        Cowfs.assumeFuse();
        try (Accounts acc = Accounts.open(); Cowfs c = new Cowfs(acc.base)) {
            Accounts.Account o = acc.user();
            Path src = acc.base.resolve("rootfs");
            Files.createDirectories(src);
            Files.setAttribute(src, "unix:mode", 0755);
            // a root filesystem's three kinds of privilege: a setuid-root program, a device node, a file capability
            Accounts.root("cp", "/usr/bin/id", src.resolve("sid").toString()).ok();
            Accounts.root("chmod", "4755", src.resolve("sid").toString()).ok();
            Accounts.root("mknod", "-m", "666", src.resolve("null").toString(), "c", "1", "3").ok();
            Accounts.root("cp", "/bin/cat", src.resolve("capcat").toString()).ok();
            Cowfs.Result setcap = Accounts.root("setcap", "cap_dac_read_search+ep", src.resolve("capcat").toString());
            org.junit.jupiter.api.Assumptions.assumeTrue(setcap.rc() == 0, () -> "skipped: setcap failed: " + setcap.out());
            Files.writeString(src.resolve("secret"), "s3cret\n");
            Files.setAttribute(src.resolve("secret"), "unix:mode", 0600);
            String granted = "euid 0\ndevice ok\ns3cret\n";
            String plain = "euid " + o.uid() + "\ndevice denied\nsecret denied\n";
            assertEquals(granted, privileges(acc, o, src), "the host tree itself grants all three");

            c.run("import", src.toString(), "--name", "s").ok();
            c.run("fork", "s", "--name", "v").ok();
            try (Cowfs.Mounted view = c.mount("v", "--allow-other")) {
                assertEquals(plain, privileges(acc, o, view.dir), "by default a mount is nosuid,nodev");
                assertTrue(mountOptions(view.dir).contains(",nosuid,nodev,"), mountOptions(view.dir));
            }
            try (Cowfs.Mounted view = c.mount("v", "--allow-other", "--suid", "--dev");
                 Cowfs.Mounted snap = c.mount("s", "--allow-other", "--suid")) {
                assertEquals(granted, privileges(acc, o, view.dir));
                assertFalse(mountOptions(view.dir).contains("nosuid") || mountOptions(view.dir).contains("nodev"), mountOptions(view.dir));
                assertEquals("euid 0\ndevice denied\ns3cret\n", privileges(acc, o, snap.dir), "--suid without --dev");
                // a write by another user still takes the set-ID bit away, as on any filesystem
                Accounts.root("chmod", "4777", view.dir.resolve("sid").toString()).ok();
                acc.as(o, "cat /usr/bin/id > " + view.dir.resolve("sid")).ok();
                assertEquals("euid " + o.uid() + "\n", acc.as(o, "echo \"euid $(" + view.dir.resolve("sid") + " -u)\"").out());
            }

            // an ordinary user cannot have either: one line, exit 2, nothing mounted
            Path mp = o.home().resolve("mp");
            Cowfs.Result r = acc.as(o, sh("mkdir -p src mp; $COWFS init >/dev/null; $COWFS import src --name s >/dev/null; "
                    + "$COWFS fork s --name v >/dev/null; $COWFS mount v mp --suid --dev"));
            assertEquals(2, r.rc(), r.out());
            assertEquals("cowfs: --suid and --dev need root: only mounts root makes may honour set-user-ID programs "
                    + "(an ordinary user's FUSE mounts are nosuid,nodev)\n", r.out());
            assertFalse(Cowfs.isMounted(mp));
            Cowfs.Result d = acc.as(o, "$COWFS mount v mp --dev");
            assertEquals(2, d.rc(), d.out());
            assertTrue(d.out().startsWith("cowfs: --dev needs root: only mounts root makes may honour device nodes"), d.out());
        }
    }

    /** The mount options /proc/self/mountinfo gives the mount at mp, with a comma on either side. */
    private static String mountOptions(Path mp) throws Exception {
        for (String l : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = l.split(" ");
            if (f.length > 5 && f[4].equals(mp.toString())) {
                return "," + f[5] + ",";
            }
        }
        throw new AssertionError("no mount at " + mp);
    }

    @Test
    void controlSocketAnswersOnlyItsOwner() throws Exception {
        Cowfs.assumeFuse();
        try (Accounts acc = Accounts.open(); Cowfs c = new Cowfs(acc.base)) {
            Accounts.Account o = acc.user();
            Path src = acc.base.resolve("src");
            Files.createDirectories(src);
            Files.writeString(src.resolve("f"), "x\n");
            c.run("import", src.toString(), "--name", "s").ok();
            c.run("fork", "s", "--name", "v").ok();
            Path probe = acc.base.resolve("Probe.java");
            Files.writeString(probe, """
                    import java.net.UnixDomainSocketAddress;
                    import java.nio.ByteBuffer;
                    import java.nio.channels.SocketChannel;
                    public class Probe {
                        public static void main(String[] a) throws Exception {
                            try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(a[0]))) {
                                c.write(ByteBuffer.wrap("persist\\n".getBytes()));
                                ByteBuffer b = ByteBuffer.allocate(512);
                                while (c.read(b) > 0) { }
                                System.out.print(new String(b.array(), 0, b.position()));
                            }
                        }
                    }
                    """);
            Files.setAttribute(probe, "unix:mode", 0644);
            String java = Accounts.cowfsCommand().get(0);
            try (Cowfs.Mounted view = c.mount("v")) {
                Path sock;
                try (var s = Files.list(c.store.resolve("run"))) {
                    sock = s.filter(p -> p.toString().endsWith(".sock")).findFirst().orElseThrow();
                }
                assertEquals("600", Integer.toOctalString((Integer) Files.getAttribute(sock, "unix:mode") & 0777));
                // run/ keeps everyone else out; open the way (as a careless chmod would) to reach the peer check
                Cowfs.Result list = acc.as(o, "$COWFS list --store=" + c.store);
                assertEquals(1, list.rc(), list.out());
                assertEquals("cowfs: permission denied: the store " + c.store + " belongs to root and is not shared with you"
                        + " (see docs/SECURITY.md; a store for several users: cowfs init --shared-group GROUP)\n", list.out());
                Cowfs.Result blocked = acc.as(o, java + " " + probe + " " + sock);
                assertTrue(blocked.rc() != 0 && blocked.out().contains("Permission denied"), blocked.out());
                Accounts.root("chmod", "o+x", c.store.toString(), c.store.resolve("run").toString()).ok();
                Accounts.root("chmod", "0666", sock.toString()).ok();
                for (int i = 0; i < 2; i++) {
                    Cowfs.Result r = acc.as(o, java + " " + probe + " " + sock);
                    assertEquals("error refused: uid " + o.uid() + " may not use this mount\n", r.out());
                }
                c.run("snapshot", "v", "--name", "by-owner").ok(); // the owner (root) is answered
                String log = Files.readString(c.store.resolve("run/v.log"));
                assertEquals(1, log.lines().filter(l -> l.contains("refused uid " + o.uid() + " ")).count(), log);

                Cowfs.Result bad = c.run("fsck");
                assertEquals(Main.EXIT_DAMAGED, bad.rc(), bad.out());
                assertTrue(bad.out().contains(sock + " is more open than the store allows (mode 666, the store's is 600)"), bad.out());
                c.run("fsck", "--repair").ok();
                c.run("fsck").ok();
            }
        }
    }
}
