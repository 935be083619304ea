/*
 * A measuring instrument, not part of cowfs: the smallest FUSE server that serves a fixed tree
 * from memory, over either of the kernel's two transports, so that the transport alone can be
 * compared on this machine.
 *
 *   classic  N threads, each read()s a request from /dev/fuse and writev()s the reply
 *   uring    FUSE over io_uring (Linux 6.14+, fuse.enable_uring=Y): one ring and one thread per
 *            possible CPU, each with DEPTH entries registered; a reply and the fetch of the next
 *            request are one IORING_OP_URING_CMD. FORGET and INTERRUPT still come through
 *            /dev/fuse, so one classic thread stays.
 *
 * The tree: /big (BIG_MIB MiB, bytes i & 0xff) and DIRS directories of FILES files of 100 bytes.
 * OPEN, OPENDIR, FLUSH, ACCESS and xattrs are answered ENOSYS, as cowfs's kernel adapter does.
 *
 * usage: uring-floor MOUNTPOINT classic|uring THREADS_OR_DEPTH [BIG_MIB DIRS FILES]
 * Runs in the foreground until unmounted; prints "ready" once the mount answers.
 * Build: gcc -O2 -pthread -o uring-floor uring-floor.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

/* From the kernel's current include/uapi/linux/fuse.h (7.42); Debian's header is 7.38. */
#define OVER_IO_URING_FLAGS2 (1u << (41 - 32))
#define URING_CMD_REGISTER 1
#define URING_CMD_COMMIT_AND_FETCH 2
struct uring_ent_in_out { uint64_t flags, commit_id; uint32_t payload_sz, padding; uint64_t reserved; };
struct uring_req_header { char in_out[128]; char op_in[128]; struct uring_ent_in_out ent; };
struct uring_cmd_req { uint64_t flags, commit_id; uint16_t qid; uint8_t padding[6]; };

static int fuse_fd;
static uint64_t big_size;
static unsigned dirs = 100, files = 160;
static int kernel_minor;
static uint64_t served_classic, served_ring; /* requests per transport, printed at exit */
/* Ends the process once the mount is gone, from whichever thread sees it first. */
static void unmounted(void) {
    static int once;
    if (__atomic_exchange_n(&once, 1, __ATOMIC_SEQ_CST)) for (;;) pause();
    fprintf(stderr, "served classic=%lu ring=%lu\n", (unsigned long)served_classic, (unsigned long)served_ring);
    _exit(0);
}
static unsigned char *big;
#define MAX_PAYLOAD (1u << 20)
#define BIG_INO 2
#define DIR_INO(i) (3 + (uint64_t)(i))
#define FILE_INO(i, j) (3 + (uint64_t)dirs + (uint64_t)(i) * files + (j))
#define SMALL 100

static void attr_of(uint64_t ino, struct fuse_attr *a) {
    memset(a, 0, sizeof *a);
    a->ino = ino;
    a->nlink = 1;
    a->blksize = 4096;
    if (ino == FUSE_ROOT_ID) { a->mode = 040755; a->nlink = 2 + dirs; }
    else if (ino == BIG_INO) { a->mode = 0100644; a->size = big_size; }
    else if (ino < DIR_INO(dirs)) { a->mode = 040755; a->nlink = 2; }
    else { a->mode = 0100644; a->size = SMALL; }
    a->blocks = (a->size + 511) / 512;
}

/* Finds a child's inode by name, 0 if none. */
static uint64_t lookup(uint64_t parent, const char *name) {
    unsigned n;
    if (parent == FUSE_ROOT_ID) {
        if (!strcmp(name, "big")) return BIG_INO;
        if (sscanf(name, "d%u", &n) == 1 && n < dirs) return DIR_INO(n);
    } else if (parent >= DIR_INO(0) && parent < DIR_INO(dirs)) {
        if (sscanf(name, "f%u", &n) == 1 && n < files) return FILE_INO(parent - DIR_INO(0), n);
    }
    return 0;
}

static size_t add_dirent(char *out, size_t cap, size_t at, uint64_t ino, uint64_t off, unsigned type, const char *name) {
    size_t namelen = strlen(name), len = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen);
    if (at + len > cap) return 0;
    struct fuse_dirent *d = (struct fuse_dirent *)(out + at);
    d->ino = ino; d->off = off; d->namelen = namelen; d->type = type;
    memcpy(d->name, name, namelen);
    memset(d->name + namelen, 0, len - FUSE_NAME_OFFSET - namelen);
    return len;
}

/*
 * Serves one request. in: the request's header; arg: its arguments after the header (for io_uring
 * the per-op header and the payload are apart, so both are passed). Writes the reply's body to out
 * and returns its length, or a negative errno; returns INT32_MIN for requests that get no reply.
 */
#define NO_REPLY INT32_MIN
static int serve(const struct fuse_in_header *in, const void *op, const void *payload, char *out) {
    switch (in->opcode) {
    case FUSE_INIT: {
        const struct fuse_init_in *ii = op;
        kernel_minor = ii->minor;
        struct fuse_init_out *o = (struct fuse_init_out *)out;
        memset(o, 0, sizeof *o);
        o->major = FUSE_KERNEL_VERSION;
        o->minor = ii->minor < 42 ? ii->minor : 42;
        o->max_readahead = ii->max_readahead;
        o->flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_PARALLEL_DIROPS
                 | FUSE_INIT_EXT | FUSE_DO_READDIRPLUS;
        o->flags &= ii->flags;
        o->flags2 = (getenv("FLOOR_URING") ? OVER_IO_URING_FLAGS2 : 0) & ii->flags2;
        o->max_background = 64;
        o->congestion_threshold = 48;
        o->max_write = MAX_PAYLOAD;
        o->max_pages = MAX_PAYLOAD / 4096;
        o->time_gran = 1;
        return sizeof *o;
    }
    case FUSE_LOOKUP: {
        const char *name = payload ? payload : op;
        uint64_t ino = lookup(in->nodeid, name);
        if (!ino) return -ENOENT;
        struct fuse_entry_out *e = (struct fuse_entry_out *)out;
        memset(e, 0, sizeof *e);
        e->nodeid = ino;
        e->entry_valid = e->attr_valid = 3600;
        attr_of(ino, &e->attr);
        return sizeof *e;
    }
    case FUSE_GETATTR: {
        struct fuse_attr_out *a = (struct fuse_attr_out *)out;
        memset(a, 0, sizeof *a);
        a->attr_valid = 3600;
        attr_of(in->nodeid, &a->attr);
        return sizeof *a;
    }
    case FUSE_READ: {
        const struct fuse_read_in *r = op;
        uint64_t size = in->nodeid == BIG_INO ? big_size : SMALL;
        if (r->offset >= size) return 0;
        uint64_t n = size - r->offset < r->size ? size - r->offset : r->size;
        if (in->nodeid == BIG_INO) memcpy(out, big + r->offset, n);
        else memset(out, 'x', n);
        return n;
    }
    case FUSE_READDIR: case FUSE_READDIRPLUS: {
        const struct fuse_read_in *r = op;
        size_t at = 0, cap = r->size < MAX_PAYLOAD ? r->size : MAX_PAYLOAD;
        unsigned n = in->nodeid == FUSE_ROOT_ID ? dirs + 3 : files + 2;
        char name[32];
        for (uint64_t k = r->offset; k < n; k++) {
            uint64_t ino; unsigned type;
            if (k == 0) { strcpy(name, "."); ino = in->nodeid; type = 4; }
            else if (k == 1) { strcpy(name, ".."); ino = FUSE_ROOT_ID; type = 4; }
            else if (in->nodeid == FUSE_ROOT_ID && k == 2) { strcpy(name, "big"); ino = BIG_INO; type = 8; }
            else if (in->nodeid == FUSE_ROOT_ID) { sprintf(name, "d%u", (unsigned)(k - 3)); ino = DIR_INO(k - 3); type = 4; }
            else { sprintf(name, "f%u", (unsigned)(k - 2)); ino = FILE_INO(in->nodeid - DIR_INO(0), k - 2); type = 8; }
            if (in->opcode == FUSE_READDIRPLUS) {
                size_t len = FUSE_DIRENTPLUS_SIZE(&(struct fuse_direntplus){ .dirent.namelen = strlen(name) });
                if (at + len > cap) break;
                struct fuse_direntplus *d = (struct fuse_direntplus *)(out + at);
                memset(&d->entry_out, 0, sizeof d->entry_out);
                if (k >= 2) {
                    d->entry_out.nodeid = ino;
                    d->entry_out.entry_valid = d->entry_out.attr_valid = 3600;
                    attr_of(ino, &d->entry_out.attr);
                }
                size_t l = add_dirent((char *)&d->dirent, len - sizeof d->entry_out, 0, ino, k + 1, type, name);
                if (!l) break;
                at += len;
            } else {
                size_t l = add_dirent(out, cap, at, ino, k + 1, type, name);
                if (!l) break;
                at += l;
            }
        }
        return at;
    }
    case FUSE_STATFS: {
        struct fuse_statfs_out *s = (struct fuse_statfs_out *)out;
        memset(s, 0, sizeof *s);
        s->st.bsize = s->st.frsize = 4096; s->st.namelen = 255; s->st.blocks = 1 << 20;
        return sizeof *s;
    }
    case FUSE_RELEASE: case FUSE_RELEASEDIR: return 0;
    case FUSE_FORGET: case FUSE_BATCH_FORGET: case FUSE_INTERRUPT: return NO_REPLY;
    case FUSE_DESTROY: return 0;
    default: return -ENOSYS;
    }
}

/* ---------------------------------------------------------------- classic transport */

/*
 * FLOOR_SPIN_US=N (an experiment): the worker reads on a non-blocking clone of the session and,
 * when no request is waiting, tries again for N microseconds before it sleeps in poll(): a request
 * that comes within that time finds the worker awake, with no wake-up to pay.
 */
static long spin_us;
static long now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000L + t.tv_nsec / 1000; }

static void *classic_worker(void *unused) {
    (void)unused;
    size_t cap = MAX_PAYLOAD + 4096 * 2;
    char *buf = malloc(cap), *out = malloc(cap);
    int fd = fuse_fd;
    if (spin_us > 0) {
        fd = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);
        uint32_t master = fuse_fd;
        if (fd < 0 || ioctl(fd, FUSE_DEV_IOC_CLONE, &master) != 0) { perror("clone"); exit(1); }
    }
    long idle_since = 0;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EAGAIN && spin_us > 0) {
            long t = now_us();
            if (!idle_since) idle_since = t;
            if (t - idle_since < spin_us) continue;
            struct pollfd p = { .fd = fd, .events = POLLIN };
            poll(&p, 1, -1);
            idle_since = 0;
            continue;
        }
        idle_since = 0;
        if (n < 0) {
            if (errno == EINTR || errno == ENOENT || errno == EAGAIN) continue;
            if (errno == ENODEV) unmounted();
            perror("read /dev/fuse"); exit(1);
        }
        struct fuse_in_header *in = (struct fuse_in_header *)buf;
        const char *arg = buf + sizeof *in;
        __atomic_add_fetch(&served_classic, 1, __ATOMIC_RELAXED);
        int r = serve(in, arg, NULL, out);
        if (r == NO_REPLY) continue;
        struct fuse_out_header oh = { .unique = in->unique, .error = r < 0 ? r : 0,
                                      .len = sizeof oh + (r > 0 ? r : 0) };
        struct iovec iov[2] = { { &oh, sizeof oh }, { out, r > 0 ? r : 0 } };
        if (writev(fd, iov, 2) < 0 && errno != ENOENT) { perror("writev /dev/fuse"); }
        if (in->opcode == FUSE_INIT && getenv("FLOOR_INIT_FD")) {
            /* tell main the INIT is answered */
            uint64_t one = 1; (void)!write(atoi(getenv("FLOOR_INIT_FD")), &one, sizeof one);
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- io_uring transport */

struct ring {
    int fd, qid;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes; /* 128-byte entries */
    struct io_uring_cqe *cqes;
    unsigned depth, pending;
};
struct ent { struct uring_req_header *hdr; char *payload; struct iovec iov[2]; };

/* Queues one command; the tail is published after the SQE is filled. */
static void queue_cmd(struct ring *r, struct ent *e, unsigned op, uint64_t commit_id) {
    unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask;
    struct io_uring_sqe *sqe = (struct io_uring_sqe *)((char *)r->sqes + 128 * idx);
    memset(sqe, 0, 128);
    r->sq_array[idx] = idx;
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = fuse_fd;
    sqe->cmd_op = op;
    sqe->user_data = (uint64_t)(uintptr_t)e;
    if (op == URING_CMD_REGISTER) { sqe->addr = (uint64_t)(uintptr_t)e->iov; sqe->len = 2; }
    struct uring_cmd_req *req = (struct uring_cmd_req *)sqe->cmd;
    req->qid = r->qid;
    req->commit_id = commit_id;
    __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
    r->pending++;
}

static unsigned depth;
static int rings_registered;
static void *uring_worker(void *arg) {
    struct ring r = { .qid = (int)(intptr_t)arg, .depth = depth };
    if (!getenv("FLOOR_NOPIN")) { /* as libfuse does: the thread on its queue's CPU */
        cpu_set_t set; CPU_ZERO(&set); CPU_SET(r.qid, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    struct io_uring_params p = { .flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE, .cq_entries = 2 * depth };
    r.fd = syscall(__NR_io_uring_setup, depth, &p);
    if (r.fd < 0) { perror("io_uring_setup"); exit(1); }
    char *sq = mmap(0, p.sq_off.array + p.sq_entries * 4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r.fd, IORING_OFF_SQ_RING);
    char *cq = mmap(0, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r.fd, IORING_OFF_CQ_RING);
    r.sqes = mmap(0, p.sq_entries * 128, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r.fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || r.sqes == MAP_FAILED) { perror("mmap ring"); exit(1); }
    r.sq_head = (unsigned *)(sq + p.sq_off.head); r.sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r.sq_mask = (unsigned *)(sq + p.sq_off.ring_mask); r.sq_array = (unsigned *)(sq + p.sq_off.array);
    r.cq_head = (unsigned *)(cq + p.cq_off.head); r.cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r.cq_mask = (unsigned *)(cq + p.cq_off.ring_mask); r.cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);

    struct ent *ents = calloc(depth, sizeof *ents);
    for (unsigned k = 0; k < depth; k++) {
        struct ent *e = &ents[k];
        e->hdr = aligned_alloc(4096, 4096);
        e->payload = aligned_alloc(4096, MAX_PAYLOAD);
        memset(e->hdr, 0, 4096);
        e->iov[0] = (struct iovec){ e->hdr, sizeof *e->hdr };
        e->iov[1] = (struct iovec){ e->payload, MAX_PAYLOAD };
        queue_cmd(&r, e, URING_CMD_REGISTER, 0);
    }
    /* register without waiting, so that main can say "ready" once every queue has entries */
    if (syscall(__NR_io_uring_enter, r.fd, r.pending, 0, 0, NULL, 0) != (int)r.pending) { perror("register"); exit(1); }
    r.pending = 0;
    __atomic_add_fetch(&rings_registered, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        int n = syscall(__NR_io_uring_enter, r.fd, r.pending, 1, IORING_ENTER_GETEVENTS, NULL, 0);
        if (n < 0 && errno != EINTR) { perror("io_uring_enter"); exit(1); }
        if (n >= 0) r.pending -= (unsigned)n < r.pending ? (unsigned)n : r.pending; /* SQEs the kernel took */
        unsigned head = *r.cq_head, tail = __atomic_load_n(r.cq_tail, __ATOMIC_ACQUIRE);
        for (; head != tail; head++) {
            struct io_uring_cqe *c = &r.cqes[head & *r.cq_mask];
            struct ent *e = (struct ent *)(uintptr_t)c->user_data;
            if (c->res < 0) {
                if (c->res == -ENOTCONN || c->res == -ENODEV) unmounted();
                fprintf(stderr, "ring %d: cqe %d\n", r.qid, c->res); exit(1);
            }
            struct fuse_in_header *in = (struct fuse_in_header *)e->hdr->in_out;
            uint64_t commit = e->hdr->ent.commit_id;
            __atomic_add_fetch(&served_ring, 1, __ATOMIC_RELAXED);
            int res = serve(in, e->hdr->op_in, e->payload, e->payload);
            /* serve() may write the reply over its own input only for READ/READDIR (inputs in op_in) */
            struct fuse_out_header *oh = (struct fuse_out_header *)e->hdr->in_out;
            uint64_t unique = in->unique;
            memset(oh, 0, sizeof *oh);
            oh->unique = unique;
            oh->error = res < 0 ? res : 0;
            oh->len = sizeof *oh + (res > 0 ? res : 0);
            e->hdr->ent.payload_sz = res > 0 ? res : 0;
            queue_cmd(&r, e, URING_CMD_COMMIT_AND_FETCH, commit);
        }
        __atomic_store_n(r.cq_head, head, __ATOMIC_RELEASE);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s MOUNTPOINT classic|uring N [BIG_MIB DIRS FILES]\n", argv[0]); return 2; }
    int uring = !strcmp(argv[2], "uring");
    int n = atoi(argv[3]);
    big_size = (uint64_t)(argc > 4 ? atoi(argv[4]) : 1024) << 20;
    if (argc > 6) { dirs = atoi(argv[5]); files = atoi(argv[6]); }
    big = malloc(big_size);
    for (uint64_t i = 0; i < big_size; i++) big[i] = (unsigned char)(i * 2654435761u >> 13);
    if (uring) setenv("FLOOR_URING", "1", 1);
    if (getenv("FLOOR_SPIN_US")) spin_us = atol(getenv("FLOOR_SPIN_US"));
    fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fuse_fd < 0) { perror("/dev/fuse"); return 1; }
    char opts[256];
    snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,max_read=%u", fuse_fd, MAX_PAYLOAD);
    if (mount("uring-floor", argv[1], "fuse.uring-floor", MS_NOSUID | MS_NODEV, opts) < 0) { perror("mount"); return 1; }
    int initfd[2];
    if (pipe(initfd) < 0) return 1;
    char fdname[16]; snprintf(fdname, sizeof fdname, "%d", initfd[1]);
    setenv("FLOOR_INIT_FD", fdname, 1);
    int classic = uring ? 1 : n;
    pthread_t t;
    for (int k = 0; k < classic; k++) pthread_create(&t, NULL, classic_worker, NULL);
    uint64_t one;
    if (read(initfd[0], &one, sizeof one) != sizeof one) return 1;
    if (uring) {
        depth = n;
        long cpus = sysconf(_SC_NPROCESSORS_CONF);
        for (long q = 0; q < cpus; q++) pthread_create(&t, NULL, uring_worker, (void *)(intptr_t)q);
        while (__atomic_load_n(&rings_registered, __ATOMIC_SEQ_CST) < cpus) usleep(1000);
    }
    printf("ready minor=%d transport=%s n=%d\n", kernel_minor, argv[2], n);
    fflush(stdout);
    pthread_join(t, NULL);
    pause();
    return 0;
}
