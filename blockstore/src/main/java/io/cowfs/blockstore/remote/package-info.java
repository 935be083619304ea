/**
 * Remote stores (docs/REMOTE.md): the {@link io.cowfs.blockstore.remote.ObjectStore} interface
 * that push, pull and lazy reads use, its S3 implementation
 * ({@link io.cowfs.blockstore.remote.S3ObjectStore}, the only code that imports the AWS SDK) and
 * where a remote is ({@link io.cowfs.blockstore.remote.RemoteUrl}). Imports store only for its
 * exception types; knows nothing of FUSE.
 */
package io.cowfs.blockstore.remote;
