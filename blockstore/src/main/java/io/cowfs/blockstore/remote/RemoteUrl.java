package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.store.StoreException.InvalidRequestException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.regex.Pattern;

/**
 * Where a remote's objects are: {@code s3://BUCKET[/PREFIX]}, plus the endpoint of an
 * S3-compatible server (null: AWS) and the region (null: from the environment).
 *
 * <p>The prefix has no leading or trailing slash and no empty, "." or ".." segment; it is empty
 * for a whole bucket. The bucket name follows S3's rules for new buckets.
 *
 * @param bucket   the bucket name
 * @param prefix   key prefix without slashes at either end, or ""
 * @param endpoint http(s) URI of an S3-compatible server, or null for AWS
 * @param region   region name, or null to take it from the environment
 */
public record RemoteUrl(String bucket, String prefix, URI endpoint, String region) {
    private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");
    private static final Pattern IPV4 = Pattern.compile("\\d+\\.\\d+\\.\\d+\\.\\d+");
    private static final Pattern REGION = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");

    public RemoteUrl {
        checkBucket(bucket);
        checkPrefix(prefix);
        if (endpoint != null) {
            checkEndpoint(endpoint);
        }
        if (region != null && !REGION.matcher(region).matches()) {
            throw new InvalidRequestException("bad region '" + region + "' (expected a name such as us-east-1)");
        }
    }

    /**
     * Parses {@code s3://BUCKET} or {@code s3://BUCKET/PREFIX} (a trailing slash is dropped).
     *
     * @throws InvalidRequestException for another scheme, a missing or invalid bucket name, or a bad prefix
     */
    public static RemoteUrl parse(String url) {
        if (url == null || !url.startsWith("s3://")) {
            throw new InvalidRequestException("bad remote URL '" + url + "': expected s3://BUCKET[/PREFIX]");
        }
        String rest = url.substring("s3://".length());
        int slash = rest.indexOf('/');
        String bucket = slash < 0 ? rest : rest.substring(0, slash);
        String prefix = slash < 0 ? "" : rest.substring(slash + 1);
        while (prefix.endsWith("/")) {
            prefix = prefix.substring(0, prefix.length() - 1);
        }
        if (bucket.isEmpty()) {
            throw new InvalidRequestException("bad remote URL '" + url + "': no bucket name (expected s3://BUCKET[/PREFIX])");
        }
        return new RemoteUrl(bucket, prefix, null, null);
    }

    /** This remote on an S3-compatible server (path-style requests to that endpoint). */
    public RemoteUrl withEndpoint(URI endpoint) {
        return new RemoteUrl(bucket, prefix, endpoint, region);
    }

    /** This remote with an explicit region. */
    public RemoteUrl withRegion(String region) {
        return new RemoteUrl(bucket, prefix, endpoint, region);
    }

    /** Parses an endpoint given as text (an option or COWFS_S3_ENDPOINT). */
    public static URI endpoint(String text) {
        try {
            URI u = new URI(text);
            checkEndpoint(u);
            return u;
        } catch (URISyntaxException e) {
            throw new InvalidRequestException("bad endpoint '" + text + "': " + e.getReason());
        }
    }

    /** The key of an object of this remote, relative key to bucket key. */
    String objectKey(String key) {
        return prefix.isEmpty() ? key : prefix + "/" + key;
    }

    /** The key relative to the prefix of a bucket key listed under it. */
    String relativeKey(String objectKey) {
        return prefix.isEmpty() ? objectKey : objectKey.substring(prefix.length() + 1);
    }

    /** {@code s3://bucket/prefix}, the form parse reads (no endpoint, no region). */
    @Override
    public String toString() {
        return "s3://" + bucket + (prefix.isEmpty() ? "" : "/" + prefix);
    }

    private static void checkBucket(String b) {
        String why = null;
        if (b == null || b.length() < 3 || b.length() > 63) {
            why = "3 to 63 characters";
        } else if (!BUCKET.matcher(b).matches()) {
            why = "lower-case letters, digits, '.' and '-', starting and ending with a letter or digit";
        } else if (b.contains("..") || b.contains(".-") || b.contains("-.")) {
            why = "no '..', '.-' or '-.'";
        } else if (IPV4.matcher(b).matches()) {
            why = "not an IP address";
        } else if (b.startsWith("xn--") || b.startsWith("sthree-") || b.endsWith("-s3alias") || b.endsWith("--ol-s3")) {
            why = "no prefix xn-- or sthree-, no suffix -s3alias or --ol-s3";
        }
        if (why != null) {
            throw new InvalidRequestException("bad bucket name '" + b + "': S3 bucket names have " + why);
        }
    }

    private static void checkPrefix(String p) {
        if (p == null) {
            throw new InvalidRequestException("no prefix (use \"\" for a whole bucket)");
        }
        if (p.isEmpty()) {
            return;
        }
        for (String seg : p.split("/", -1)) {
            if (seg.isEmpty() || seg.equals(".") || seg.equals("..")) {
                throw new InvalidRequestException("bad prefix '" + p + "': empty, '.' or '..' path segment");
            }
        }
        if (p.chars().anyMatch(c -> c < 0x20 || c == 0x7f || c == '\\')) {
            throw new InvalidRequestException("bad prefix '" + p + "': control character or backslash");
        }
    }

    private static void checkEndpoint(URI u) {
        String s = u.getScheme();
        if (s == null || !(s.equals("http") || s.equals("https")) || u.getHost() == null) {
            throw new InvalidRequestException("bad endpoint '" + u + "': expected http(s)://HOST[:PORT]");
        }
        if (u.getRawUserInfo() != null) {
            // credentials come from the environment, never from a URL that ends up in messages
            throw new InvalidRequestException("bad endpoint: no user:password@ (credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
        }
        if (u.getRawQuery() != null || u.getRawFragment() != null || (u.getRawPath() != null && !u.getRawPath().isEmpty() && !u.getRawPath().equals("/"))) {
            throw new InvalidRequestException("bad endpoint '" + u + "': no path, query or fragment (the bucket goes in s3://BUCKET)");
        }
    }
}
