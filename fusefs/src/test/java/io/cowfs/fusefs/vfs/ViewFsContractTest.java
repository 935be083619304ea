package io.cowfs.fusefs.vfs;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The POSIX contract on {@link ViewFs} itself: a real store in a temp dir, no mount. */
class ViewFsContractTest extends PosixContractTest {
    @TempDir
    Path tmp;

    private BaseFixture fx;

    @Override
    protected PosixTarget writable() throws Exception {
        fx = new BaseFixture(tmp);
        return new ViewFsTarget(fx.view());
    }

    @Override
    protected PosixTarget readOnly() {
        return new ViewFsTarget(fx.snapshot());
    }

    @Override
    protected void cleanUp() {
        fx.close();
    }
}
