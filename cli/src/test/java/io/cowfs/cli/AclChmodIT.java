package io.cowfs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Views do not take POSIX ACLs, but keep the ones imported from the host and export them again.
 * A chmod in a view must change such an ACL as the kernel's chmod does (owner, mask and other
 * entries follow the mode), or export brings the old rights back: before the fix, chmod 600 of a
 * file with mode 670 (640 and a named user's rwx) exported as 670 again, the named user's rwx
 * effective. The ACL is set raw with setfattr (the attr package), as setfacl -m u:65534:rwx would.
 */
class AclChmodIT {
    /** Version 2; user::rw-, user:65534:rwx, group::r--, mask::rwx, other::---. */
    private static final String ACL = "0x0200000001000600ffffffff02000700feff000004000400ffffffff10000700ffffffff20000000ffffffff";

    @TempDir
    Path tmp;

    @Test
    void aChmodInAViewChangesTheImportedAclAsTheKernelWould() throws Exception {
        Cowfs.assumeFuse();
        Cowfs.sh(tmp, "mkdir -p src && echo data > src/f && echo data > src/g && chmod 640 src/f src/g");
        Assumptions.assumeTrue(Cowfs.shRc(tmp, "setfattr -n system.posix_acl_access -v " + ACL + " src/f src/g").rc() == 0,
                "skipped: the temp directory's filesystem takes no POSIX ACLs");
        assertEquals("670\n", Cowfs.sh(tmp, "stat -c %a src/f"));
        try (Cowfs c = new Cowfs(tmp)) {
            c.run("import", tmp.resolve("src").toString(), "--name", "snap").ok();
            c.run("fork", "snap", "--name", "v").ok();
            try (Cowfs.Mounted m = c.mount("v")) {
                Cowfs.sh(m.dir, "chmod 600 f && chmod 754 g");
                assertEquals("600\n754\n", Cowfs.sh(m.dir, "stat -c %a f g"));
            }
            Path out = tmp.resolve("out");
            c.run("export", "v", out.toString()).ok();
            assertEquals("600\n754\n", Cowfs.sh(out, "stat -c %a f g"), "the exported modes");
            // the named entry stays; the mask (its ceiling), the owner and other follow the mode
            assertEquals("0x0200000001000600ffffffff02000700feff000004000400ffffffff10000000ffffffff20000000ffffffff\n",
                    Cowfs.sh(out, "getfattr --only-values -e hex -n system.posix_acl_access f | od -An -tx1 | tr -d ' \\n'; echo")
                            .replaceFirst("^", "0x"), "f's exported ACL");
            assertEquals("0x0200000001000700ffffffff02000700feff000004000400ffffffff10000500ffffffff20000400ffffffff\n",
                    Cowfs.sh(out, "getfattr --only-values -e hex -n system.posix_acl_access g | od -An -tx1 | tr -d ' \\n'; echo")
                            .replaceFirst("^", "0x"), "g's exported ACL");
        }
    }
}
