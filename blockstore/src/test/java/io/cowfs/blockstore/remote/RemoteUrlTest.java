package io.cowfs.blockstore.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.cowfs.blockstore.store.StoreException.InvalidRequestException;
import java.net.URI;
import org.junit.jupiter.api.Test;

/** s3:// URLs: what parses, and the message for what does not. */
class RemoteUrlTest {
    @Test
    void bucketAndPrefix() {
        RemoteUrl u = RemoteUrl.parse("s3://my-bucket.backups/cowfs/host1/");
        assertEquals("my-bucket.backups", u.bucket());
        assertEquals("cowfs/host1", u.prefix());
        assertNull(u.endpoint());
        assertNull(u.region());
        assertEquals("s3://my-bucket.backups/cowfs/host1", u.toString());
        assertEquals("cowfs/host1/packs/ab", u.objectKey("packs/ab"));
        assertEquals("packs/ab", u.relativeKey("cowfs/host1/packs/ab"));

        RemoteUrl whole = RemoteUrl.parse("s3://bkt");
        assertEquals("", whole.prefix());
        assertEquals("packs/ab", whole.objectKey("packs/ab"));
        assertEquals(whole, RemoteUrl.parse("s3://bkt/"));
    }

    @Test
    void endpointAndRegion() {
        RemoteUrl u = RemoteUrl.parse("s3://bkt/p").withEndpoint(RemoteUrl.endpoint("http://127.0.0.1:9000")).withRegion("eu-west-1");
        assertEquals(URI.create("http://127.0.0.1:9000"), u.endpoint());
        assertEquals("eu-west-1", u.region());
        assertEquals("s3://bkt/p", u.toString());
    }

    @Test
    void badUrlsSayWhy() {
        bad("http://x", "expected s3://BUCKET[/PREFIX]");
        bad("s3://", "no bucket name");
        bad("s3:///prefix", "no bucket name");
        bad("bkt/prefix", "expected s3://");
        bad("s3://ab", "3 to 63 characters");
        bad("s3://" + "a".repeat(64), "3 to 63 characters");
        bad("s3://My_Bucket", "lower-case letters");
        bad("s3://-bucket", "starting and ending");
        bad("s3://bucket-", "starting and ending");
        bad("s3://my..bucket", "no '..'");
        bad("s3://192.168.1.1", "not an IP address");
        bad("s3://xn--bucket", "xn--");
        bad("s3://bkt/a//b", "empty, '.' or '..'");
        bad("s3://bkt/a/../b", "empty, '.' or '..'");
        bad("s3://bkt/a\tb", "control character");
    }

    @Test
    void badEndpointsAndRegionsSayWhy() {
        RemoteUrl u = RemoteUrl.parse("s3://bkt");
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> u.withEndpoint(URI.create("ftp://host")));
        assertTrue(e.getMessage().contains("expected http(s)://HOST[:PORT]"), e.getMessage());
        e = assertThrows(InvalidRequestException.class, () -> RemoteUrl.endpoint("http://key:secret@host:9000"));
        assertTrue(e.getMessage().contains("no user:password@") && !e.getMessage().contains("secret@"), e.getMessage());
        e = assertThrows(InvalidRequestException.class, () -> RemoteUrl.endpoint("http://host:9000/bkt"));
        assertTrue(e.getMessage().contains("no path"), e.getMessage());
        e = assertThrows(InvalidRequestException.class, () -> u.withRegion("EU West"));
        assertTrue(e.getMessage().contains("bad region"), e.getMessage());
    }

    private static void bad(String url, String why) {
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> RemoteUrl.parse(url), url);
        assertTrue(e.getMessage().contains(why), url + ": " + e.getMessage());
    }
}
