package io.cowfs.blockstore.remote;

/**
 * What push and pull report as they go (the CLI draws a progress bar from it) and when done.
 */
public final class Transfer {
    private Transfer() {
    }

    /** Progress of a transfer in bytes. */
    public interface Progress {
        Progress NONE = new Progress() {
            @Override
            public void total(long bytes) {
            }

            @Override
            public void step(long bytes) {
            }
        };

        /** The bytes this transfer will move at most (called once, before any step). */
        void total(long bytes);

        /** bytes more have been moved. */
        void step(long bytes);
    }

    /**
     * One push or pull, done.
     *
     * @param snapshot     the remote snapshot's name
     * @param local        the local snapshot's name
     * @param already      nothing to do: the other side had it
     * @param lazy         a lazy pull (data stays on the remote until read)
     * @param chunks       chunks the snapshot refers to
     * @param movedChunks  chunks uploaded (push) or downloaded (pull)
     * @param movedBytes   bytes of pack objects uploaded, or of records downloaded
     * @param objects      objects written (push) or read whole or in part (pull)
     * @param remoteChunks chunks a lazy pull left on the remote
     * @param requests     requests made to the object store
     * @param seconds      wall time
     */
    public record Result(String snapshot, String local, boolean already, boolean lazy, long chunks, long movedChunks,
                         long movedBytes, long objects, long remoteChunks, long requests, double seconds) {
    }
}
