package io.cowfs.blockstore.remote;

import io.cowfs.blockstore.store.Store;
import io.cowfs.blockstore.store.StoreException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.stream.Stream;

/**
 * The remotes a store knows: STORE/remotes/NAME.properties (url, endpoint, region; never
 * credentials), and beside each a cache of the remote's immutable index objects
 * (STORE/remotes/NAME.cache/). docs/REMOTE.md.
 */
public final class Remotes {
    private final Store store;
    private final Path dir;

    public Remotes(Store store) {
        this.store = store;
        this.dir = store.dir().resolve("remotes");
    }

    private Path file(String name) {
        RemoteConfig.checkName(name);
        return dir.resolve(name + ".properties");
    }

    /** Records a new remote; a taken name is a CatalogException. */
    public RemoteConfig add(RemoteConfig c) {
        Path f = file(c.name());
        if (Files.exists(f)) {
            throw new StoreException.CatalogException("a remote named '" + c.name() + "' exists (see: cowfs remote list; cowfs remote remove " + c.name() + ")");
        }
        Properties p = new Properties();
        p.setProperty("url", c.url());
        p.setProperty("endpoint", c.endpoint());
        p.setProperty("region", c.region());
        try {
            store.access().createDirectories(dir);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            p.store(out, "cowfs remote (docs/REMOTE.md); credentials come from the environment, never from here");
            Path tmp = dir.resolve(c.name() + ".properties.tmp");
            store.access().writeForced(tmp, out.toByteArray());
            io.cowfs.blockstore.store.StoreAccess.publishDurably(tmp, f, false);
        } catch (IOException e) {
            throw StoreException.io("cannot record remote " + c.name(), e);
        }
        return c;
    }

    /** Forgets a remote (and its cache); the objects on the remote stay. */
    public void remove(String name) {
        get(name);
        try {
            Files.delete(file(name));
            deleteTree(cacheDir(name));
        } catch (IOException e) {
            throw StoreException.io("cannot remove remote " + name, e);
        }
    }

    public RemoteConfig find(String name) {
        Path f = file(name);
        if (!Files.exists(f)) {
            return null;
        }
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(f)) {
            p.load(in);
        } catch (IOException e) {
            throw StoreException.io("cannot read " + f, e);
        }
        return new RemoteConfig(name, p.getProperty("url", ""), p.getProperty("endpoint", ""), p.getProperty("region", ""));
    }

    public RemoteConfig get(String name) {
        RemoteConfig c = find(name);
        if (c == null) {
            throw new StoreException.NotFoundException("no remote named '" + name + "' (see: cowfs remote list)");
        }
        return c;
    }

    public List<RemoteConfig> list() {
        List<RemoteConfig> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (Stream<Path> s = Files.list(dir)) {
            for (Path f : s.sorted(Comparator.naturalOrder()).toList()) {
                String n = f.getFileName().toString();
                if (n.endsWith(".properties")) {
                    out.add(find(n.substring(0, n.length() - ".properties".length())));
                }
            }
        } catch (IOException e) {
            throw StoreException.io("cannot list " + dir, e);
        }
        return out;
    }

    /** The remote named, or the only one if name is null. */
    public RemoteConfig resolve(String name) {
        if (name != null) {
            return get(name);
        }
        List<RemoteConfig> all = list();
        if (all.isEmpty()) {
            throw new StoreException.NotFoundException("this store has no remote (add one: cowfs remote add NAME s3://BUCKET/PREFIX)");
        }
        if (all.size() > 1) {
            throw new StoreException.InvalidRequestException("this store has " + all.size() + " remotes: name one with --remote (see: cowfs remote list)");
        }
        return all.get(0);
    }

    Path cacheDir(String name) {
        return dir.resolve(name + ".cache");
    }

    /** Opens the remote: its object store, with this store's cache of its index objects. */
    public Remote open(RemoteConfig c) {
        return new Remote(c, ObjectStores.open(c), cacheDir(c.name()), store);
    }

    /** The object store of c: S3 (or S3-compatible) for s3://, a directory for file:///. */
    static final class ObjectStores {
        static ObjectStore open(RemoteConfig c) {
            if (c.url().startsWith("file:///")) {
                return new DirObjectStore(Paths.get(java.net.URI.create(c.url())));
            }
            RemoteUrl u = RemoteUrl.parse(c.url());
            if (!c.endpoint().isEmpty()) {
                u = u.withEndpoint(RemoteUrl.endpoint(c.endpoint()));
            }
            if (!c.region().isEmpty()) {
                u = u.withRegion(c.region());
            }
            return S3ObjectStore.create(u);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(q);
            }
        }
    }
}
