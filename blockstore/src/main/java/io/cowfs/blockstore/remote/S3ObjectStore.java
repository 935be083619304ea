package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.store.StoreException.InvalidRequestException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.AwsProfileRegionProvider;
import software.amazon.awssdk.regions.providers.InstanceProfileRegionProvider;
import software.amazon.awssdk.retries.api.BackoffStrategy;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.BucketLocationConstraint;
import software.amazon.awssdk.services.s3.model.CreateBucketConfiguration;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.utils.SdkAutoCloseable;

/**
 * An {@link ObjectStore} on S3 or an S3-compatible server (s3proxy, MinIO, ...), through the AWS
 * SDK v2 with the JDK's HttpURLConnection as HTTP client.
 *
 * <p>Configuration, all in {@link #create}: credentials from the SDK's default chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws profiles, ...); region explicit, else
 * AWS_REGION, AWS_DEFAULT_REGION, the profile, else us-east-1 for a custom endpoint (EC2 instance
 * metadata only for AWS itself); a custom endpoint gets path-style requests. Checksums only where
 * an operation requires one: the SDK's default (CRC32 trailers in aws-chunked bodies) is refused by
 * many S3-compatible servers; puts carry Content-MD5 instead, which every server checks, in a plain
 * (not aws-chunked) body.
 *
 * <p>Each call makes at most {@value #ATTEMPTS} attempts (network errors, 5xx and throttling are
 * retried with exponential backoff from 100 ms to 2 s), each attempt at most 20 s, the call at most
 * 60 s; a connection is given up after 2 s. {@link #requests()} counts attempts (an interceptor
 * sees each HTTP request, retries included). The one client is thread-safe; close() closes it.
 */
public final class S3ObjectStore implements ObjectStore {
    static final int ATTEMPTS = 5;
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
    private static final Duration ATTEMPT_TIMEOUT = Duration.ofSeconds(20);
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(60);

    private final RemoteUrl url;
    private final String where;
    private final S3Client s3;
    private final AwsCredentialsProvider credentials; // closed with the client (the client does not close it)
    private final AtomicLong requests = new AtomicLong();
    private volatile boolean closed;

    private S3ObjectStore(RemoteUrl url, AwsCredentialsProvider credentials, Region region) {
        this.url = url;
        this.credentials = credentials;
        this.where = url + (url.endpoint() == null ? "" : " at " + url.endpoint());
        var builder = S3Client.builder()
                .httpClientBuilder(UrlConnectionHttpClient.builder()
                        .connectionTimeout(CONNECT_TIMEOUT)
                        .socketTimeout(ATTEMPT_TIMEOUT))
                .credentialsProvider(credentials)
                .region(region)
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                // plain bodies with a signed SHA-256: over http the SDK otherwise streams aws-chunked
                // signed chunks, after which s3proxy's Jetty drops the connection now and then
                // (about 1 PUT in 100 failed on the reused connection and was retried)
                .serviceConfiguration(c -> c.chunkedEncodingEnabled(false))
                .overrideConfiguration(o -> o
                        .retryStrategy(AwsRetryStrategy.standardRetryStrategy().toBuilder()
                                .maxAttempts(ATTEMPTS)
                                .backoffStrategy(BackoffStrategy.exponentialDelay(Duration.ofMillis(100), Duration.ofSeconds(2)))
                                .throttlingBackoffStrategy(BackoffStrategy.exponentialDelay(Duration.ofMillis(100), Duration.ofSeconds(2)))
                                // a shared client must not stop retrying for every caller after a long outage
                                .circuitBreakerEnabled(false)
                                .build())
                        .apiCallAttemptTimeout(ATTEMPT_TIMEOUT)
                        .apiCallTimeout(CALL_TIMEOUT)
                        .addExecutionInterceptor(new ExecutionInterceptor() {
                            @Override
                            public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
                                requests.incrementAndGet();
                            }
                        }));
        if (url.endpoint() != null) {
            builder.endpointOverride(url.endpoint()).forcePathStyle(true);
        }
        this.s3 = builder.build();
    }

    /**
     * The store for url, configured from the process environment (credentials through the SDK's
     * default chain; COWFS_S3_ENDPOINT if url has no endpoint).
     *
     * @throws InvalidRequestException if no region can be found for AWS
     */
    public static S3ObjectStore create(RemoteUrl url) {
        return create(url, System.getenv(), DefaultCredentialsProvider.builder().build());
    }

    /**
     * The store for url, configured from env only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
     * AWS_SESSION_TOKEN, AWS_REGION, AWS_DEFAULT_REGION, COWFS_S3_ENDPOINT): for tests and for
     * configuration that must not come from this process's environment.
     *
     * @throws InvalidRequestException if env has no access key and secret, or no region can be found for AWS
     */
    public static S3ObjectStore create(RemoteUrl url, Map<String, String> env) {
        String id = env.get("AWS_ACCESS_KEY_ID");
        String secret = env.get("AWS_SECRET_ACCESS_KEY");
        if (id == null || id.isEmpty() || secret == null || secret.isEmpty()) {
            throw new InvalidRequestException("no credentials for " + url + ": AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
        }
        String token = env.get("AWS_SESSION_TOKEN");
        AwsCredentialsProvider creds = StaticCredentialsProvider.create(token == null || token.isEmpty()
                ? AwsBasicCredentials.create(id, secret)
                : AwsSessionCredentials.create(id, secret, token));
        return create(url, env, creds);
    }

    private static S3ObjectStore create(RemoteUrl url, Map<String, String> env, AwsCredentialsProvider creds) {
        String endpoint = env.get("COWFS_S3_ENDPOINT");
        if (url.endpoint() == null && endpoint != null && !endpoint.isEmpty()) {
            url = url.withEndpoint(RemoteUrl.endpoint(endpoint));
        }
        return new S3ObjectStore(url, creds, region(url, env));
    }

    private static Region region(RemoteUrl url, Map<String, String> env) {
        if (url.region() != null) {
            return Region.of(url.region());
        }
        // the SDK itself reads AWS_REGION but not AWS_DEFAULT_REGION (the CLI's name for it)
        for (String name : List.of("AWS_REGION", "AWS_DEFAULT_REGION")) {
            String v = env.get(name);
            if (v != null && !v.isBlank()) {
                return Region.of(url.withRegion(v.strip()).region());
            }
        }
        try {
            return new AwsProfileRegionProvider().getRegion();
        } catch (RuntimeException e) {
            // no profile file, or no region in it
        }
        if (url.endpoint() != null) {
            return Region.US_EAST_1;
        }
        try {
            return new InstanceProfileRegionProvider().getRegion();
        } catch (RuntimeException e) {
            throw new InvalidRequestException("no region for " + url + ": set AWS_REGION (or the region in ~/.aws/config)");
        }
    }

    /** The remote this store writes to. */
    public RemoteUrl url() {
        return url;
    }

    @Override
    public void put(String key, byte[] data) {
        call("PUT", key, () -> s3.putObject(b -> b.bucket(url.bucket()).key(url.objectKey(key)).contentMD5(md5(data)),
                RequestBody.fromBytes(data)));
    }

    @Override
    public byte[] get(String key) {
        return call("GET", key, () -> s3.getObjectAsBytes(b -> b.bucket(url.bucket()).key(url.objectKey(key))).asByteArray());
    }

    /**
     * {@inheritDoc} An offset at or past the end gives an empty array.
     *
     * @throws IllegalArgumentException if offset or length is negative
     */
    @Override
    public byte[] getRange(String key, long offset, int length) {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException("bad range " + offset + "+" + length + " of " + key);
        }
        if (length == 0) {
            return new byte[0];
        }
        String range = "bytes=" + offset + "-" + (offset + length - 1);
        try {
            return call("GET", key + " " + range, () -> s3.getObjectAsBytes(b -> b.bucket(url.bucket())
                    .key(url.objectKey(key)).range(range)).asByteArray());
        } catch (RemoteException e) {
            if (e.getCause() instanceof AwsServiceException s && s.statusCode() == 416) {
                return new byte[0]; // the object ends at or before offset
            }
            throw e;
        }
    }

    @Override
    public ObjectInfo head(String key) {
        try {
            HeadObjectResponse r = call("HEAD", key, () -> s3.headObject(b -> b.bucket(url.bucket()).key(url.objectKey(key))));
            return new ObjectInfo(key, r.contentLength() == null ? 0 : r.contentLength(), millis(r.lastModified()));
        } catch (RemoteException.Missing e) {
            return null;
        }
    }

    @Override
    public List<ObjectInfo> list(String prefix) {
        List<ObjectInfo> out = new ArrayList<>();
        String token = null;
        do {
            ListObjectsV2Request.Builder req = ListObjectsV2Request.builder().bucket(url.bucket()).prefix(url.objectKey(prefix));
            if (token != null) {
                req.continuationToken(token);
            }
            ListObjectsV2Response page = call("LIST", prefix + "*", () -> s3.listObjectsV2(req.build()));
            for (S3Object o : page.contents()) {
                out.add(new ObjectInfo(url.relativeKey(o.key()), o.size() == null ? 0 : o.size(), millis(o.lastModified())));
            }
            token = Boolean.TRUE.equals(page.isTruncated()) ? page.nextContinuationToken() : null;
        } while (token != null);
        return out;
    }

    @Override
    public void delete(String key) {
        try {
            call("DELETE", key, () -> s3.deleteObject(b -> b.bucket(url.bucket()).key(url.objectKey(key))));
        } catch (RemoteException.Missing e) {
            // already gone
        }
    }

    /** Creates the bucket unless it exists (in this store's region). */
    @Override
    public void ensureBucket() {
        try {
            call("HEAD", "bucket", () -> s3.headBucket(b -> b.bucket(url.bucket())));
            return;
        } catch (RemoteException e) {
            if (!(e instanceof RemoteException.Missing || e.getCause() instanceof AwsServiceException s && s.statusCode() == 404)) {
                throw e;
            }
        }
        Region region = s3.serviceClientConfiguration().region();
        try {
            call("CREATE", "bucket", () -> s3.createBucket(b -> {
                b.bucket(url.bucket());
                if (!region.equals(Region.US_EAST_1)) {
                    b.createBucketConfiguration(CreateBucketConfiguration.builder()
                            .locationConstraint(BucketLocationConstraint.fromValue(region.id())).build());
                }
            }));
        } catch (RemoteException e) {
            if (!(e.getCause() instanceof AwsServiceException s && "BucketAlreadyOwnedByYou".equals(s.awsErrorDetails().errorCode()))) {
                throw e;
            }
        }
    }

    @Override
    public long requests() {
        return requests.get();
    }

    @Override
    public String describe() {
        return where;
    }

    @Override
    public void close() {
        closed = true;
        s3.close();
        if (credentials instanceof SdkAutoCloseable c) {
            c.close();
        }
    }

    /**
     * Runs one SDK call; every failure becomes a RemoteException naming the operation and key
     * (Missing for a missing object). The cause is the SDK's exception.
     */
    private <T> T call(String op, String key, Supplier<T> work) {
        if (closed) {
            throw new IllegalStateException("remote store " + where + " is closed");
        }
        try {
            return work.get();
        } catch (SdkException e) {
            if (e instanceof AwsServiceException s && isMissingObject(s)) {
                throw new RemoteException.Missing(key, where);
            }
            throw new RemoteException(op + " " + key + (op.equals("PUT") ? " to " : " from ") + where + ": " + reason(e), e);
        }
    }

    /**
     * A 404 that says the object is missing: from a server that answers like S3 (a request id;
     * for a HEAD, which has no body, the SDK makes up "NoSuchKey" whoever answered), and not
     * NoSuchBucket. A 404 from whatever else listens at a wrong endpoint must not read as "this
     * object is not there yet".
     */
    private static boolean isMissingObject(AwsServiceException s) {
        return s.statusCode() == 404 && s.requestId() != null && !s.requestId().isEmpty()
                && !(s.awsErrorDetails() != null && "NoSuchBucket".equals(s.awsErrorDetails().errorCode()));
    }

    /** What went wrong, in one line: the server's error code and message, or the network error. */
    private String reason(SdkException e) {
        String why;
        if (e instanceof AwsServiceException s) {
            var d = s.awsErrorDetails();
            String code = d == null ? null : d.errorCode();
            if ("NoSuchBucket".equals(code)) {
                why = "bucket " + url.bucket() + " does not exist (cowfs remote add --create-bucket creates it)";
            } else {
                String msg = d == null ? null : d.errorMessage();
                why = (code == null ? "" : code + ": ") + (msg == null || msg.isBlank() ? "no message" : msg) + " (HTTP " + s.statusCode() + ")";
                if (s.requestId() == null || s.requestId().isEmpty()) {
                    why += "; the answer has no S3 request id: is " + (url.endpoint() == null ? "this" : url.endpoint()) + " an S3 server?";
                }
            }
        } else if (e instanceof ApiCallTimeoutException) {
            why = "no answer within " + CALL_TIMEOUT.toSeconds() + " s";
        } else if (e instanceof ApiCallAttemptTimeoutException) {
            why = "no answer within " + ATTEMPT_TIMEOUT.toSeconds() + " s";
        } else {
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            String msg = root == e ? e.rawMessage() : root.getMessage();
            why = msg == null || msg.isBlank() ? root.getClass().getSimpleName() : firstLine(msg);
            if (why.startsWith("Unable to load credentials")) {
                // the SDK lists every provider of its chain with its own complaint: 1.5 KB on one line
                why = "no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or write ~/.aws/credentials: docs/REMOTE.md)";
            } else if (why.length() > 300) {
                why = why.substring(0, 300) + "...";
            }
            if (!why.isEmpty() && Character.isUpperCase(why.charAt(0)) && (why.length() == 1 || Character.isLowerCase(why.charAt(1)))) {
                why = Character.toLowerCase(why.charAt(0)) + why.substring(1); // "Connection refused" reads as part of the line
            }
        }
        Integer attempts = e.numAttempts();
        if (attempts != null && attempts > 1) {
            why += " (after " + attempts + " attempts)";
        }
        return why;
    }

    /** Some S3-compatible servers leave the modification time out: 0 then. */
    private static long millis(java.time.Instant t) {
        return t == null ? 0 : t.toEpochMilli();
    }

    private static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    private static String md5(byte[] data) {
        try {
            return Base64.getEncoder().encodeToString(MessageDigest.getInstance("MD5").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
