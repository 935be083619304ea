package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.store.StoreException;
import java.util.regex.Pattern;

/**
 * One remote of a store, as {@code cowfs remote add} recorded it in STORE/remotes/NAME.properties
 * (docs/REMOTE.md). Never holds credentials: those come from the environment (AWS variables or
 * profile) of the process that uses the remote.
 *
 * @param name     the remote's name in this store
 * @param url      {@code s3://bucket/prefix}, or {@code file:///dir} (a directory as object store)
 * @param endpoint an S3-compatible server's URL, or "" for AWS itself
 * @param region   the region, or "" for the environment's
 */
public record RemoteConfig(String name, String url, String endpoint, String region) {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,63}");

    public RemoteConfig {
        checkName(name);
        if (url.startsWith("s3://")) {
            RemoteUrl.parse(url); // a bucket name S3 would refuse, a bad prefix: said now, not at the first push
            if (!endpoint.isEmpty()) {
                RemoteUrl.endpoint(endpoint);
            }
        } else if (!url.startsWith("file:///")) {
            throw new StoreException.InvalidRequestException("remote URL '" + url + "' is neither s3://BUCKET[/PREFIX] nor file:///DIR");
        }
    }

    public static void checkName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new StoreException.InvalidRequestException("invalid remote name '" + name + "': use 1-64 of letters, digits and ._- (not starting with . or -)");
        }
    }

    /** Where it is, for messages: the URL and the endpoint (never a credential). */
    public String describe() {
        return url + (endpoint.isEmpty() ? "" : " at " + endpoint);
    }
}
