package io.cowfs.fusefs.kernel;

import io.cowfs.fusefs.vfs.Errno;
import io.cowfs.fusefs.vfs.FsException;
import io.cowfs.fusefs.vfs.NodeFs;
import io.cowfs.fusefs.vfs.Stat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Nodes the vfs deleted (last name removed, no open handle) that the kernel may still hold, with
 * their last attributes and nlink 0. The kernel can still send such a node a late SETATTR of times
 * or a writeback WRITE (writeback cache); those succeed and go nowhere, as on a local filesystem,
 * instead of failing with ENOENT, which the kernel would report to an unrelated syncfs or close.
 * An orphan is dropped when the kernel forgets its node. A concurrent map: each use is atomic.
 */
final class Orphans {
    private final Map<Long, Stat> byNode = new ConcurrentHashMap<>();

    Stat get(long nodeid) {
        return byNode.isEmpty() ? null : byNode.get(nodeid);
    }

    void forgotten(long nodeid) {
        byNode.remove(nodeid);
    }

    /** Before a name goes away: the node it names and its attributes, if the kernel holds that node. */
    Map.Entry<Long, Stat> victim(NodeFs vfs, NodeTable nodes, long dir, String name) {
        try {
            long ino = vfs.lookup(dir, name);
            return nodes.count(ino) > 0 ? Map.entry(ino, vfs.getattr(ino)) : null;
        } catch (FsException e) {
            return null;
        }
    }

    /** After a name (or the last handle) went away: remember the node if the vfs deleted it. */
    void orphaned(NodeFs vfs, Map.Entry<Long, Stat> v) {
        if (v == null) {
            return;
        }
        try {
            vfs.getattr(v.getKey());
        } catch (FsException e) {
            if (e.errno() == Errno.ENOENT) {
                Stat s = v.getValue();
                byNode.put(v.getKey(), new Stat(s.ino(), s.mode(), 0, s.uid(), s.gid(), s.size(), s.blocks512(),
                        s.atimeNs(), s.mtimeNs(), s.ctimeNs(), s.rdev()));
            }
        }
    }

    /** What a request to an orphaned node gets: 0 with its reply encoded, or -ENOENT. */
    static int reply(Request rq, Stat s, Reply out) {
        out.begin();
        switch (rq.opcode) {
            case Proto.GETATTR, Proto.SETATTR -> {
                out.attrOut(s, 0);
                return 0;
            }
            case Proto.WRITE -> {
                out.u32(rq.u32(16)).u32(0);
                return 0;
            }
            case Proto.READ, Proto.FLUSH, Proto.FSYNC, Proto.RELEASE -> {
                return 0;
            }
            default -> {
                return -Errno.ENOENT.code;
            }
        }
    }
}
