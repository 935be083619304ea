package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.store.StoreException;

/**
 * A remote (object store) operation failed after its retries: the network, the server, or
 * credentials. A mount answers EIO for the file that needed it, as for any StoreException.
 */
public class RemoteException extends StoreException {
    public RemoteException(String message) {
        super(message);
    }

    public RemoteException(String message, Throwable cause) {
        super(message, cause);
    }

    /** The object does not exist on the remote. */
    public static final class Missing extends RemoteException {
        private final String key;

        public Missing(String key, String where) {
            super("remote object " + key + " is missing" + (where.isEmpty() ? "" : " (" + where + ")"));
            this.key = key;
        }

        public String key() {
            return key;
        }
    }
}
