/*
 * Raft commit throughput and latency over our transport (src/raft/transport.c, TCP_NODELAY)
 * versus libraft's stock raft_uv_tcp, measured in the same run on the same machine
 * (DESIGN.md §8, docs/performance.md).
 *
 *   bench_raft_transport [--transport ours|stock|secret|tls|both|all] [--seconds S]
 *                        [--count N] [--inflight K[,K...]] [--size BYTES] [--warmup S]
 *                        [--dir DIR]
 *
 * Modes: ours (plain TCP, the handshake and message checks of transport.c), stock, secret (ours
 * with the cluster secret's HMAC handshake), tls (ours with mutual TLS, certificates made by
 * scripts/gen-certs, found through RC_SRC or the source tree this was built from): what
 * security costs a commit. both = ours and stock; all = every mode.
 *
 * Each mode starts a 3-voter cluster as 3 forked processes (one libuv loop and one raft_uv
 * data dir each, under a fresh temporary directory in DIR, default /tmp) on 127.0.0.1. The
 * node that wins the election keeps K entries of BYTES bytes in flight (pipelined raft_apply,
 * default 256 × 512 B): it warms up for --warmup seconds (default 1), then measures for S
 * seconds (default 10) or until N entries were proposed, drains, and reports commits/s and
 * the p50/p99/max latency from raft_apply to its callback (committed by a majority and
 * applied on the leader). Default: both modes at K = 256, one table row each; a list of
 * depths runs every mode at each (Nagle's stall shows at moderate depths, where a message
 * waits for the previous one's ACK; at 256 the pipe is full and throughput hides it).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/tls.h"
#include "raft/transport.h"

#ifndef RC_SOURCE_DIR
#define RC_SOURCE_DIR "."
#endif

#define N_NODES    3
#define MAX_DEPTHS 8

struct options {
    const char *transport; /* a mode, "both" or "all" */
    char certs[300];       /* tls: the gen-certs directory of this run */
    double seconds;
    double warmup;
    uint64_t count;    /* 0: no limit */
    unsigned inflight; /* the depth being run */
    unsigned depths[MAX_DEPTHS];
    unsigned n_depths;
    size_t size;
    const char *dir;
};

/* What the leader sends back to the parent through a pipe (one write, < PIPE_BUF). */
struct result {
    int ok;
    uint64_t commits;
    uint64_t failed;
    double seconds;
    double p50_us;
    double p99_us;
    double max_us;
    char msg[128];
};

enum phase { PHASE_FOLLOWING, PHASE_WARMUP, PHASE_MEASURE, PHASE_DRAIN, PHASE_DONE };

struct slot {
    struct raft_apply req;
    struct node *n;
    uint64_t t0_ns;
    bool measured;
};

struct node {
    const struct options *opt;
    int mode; /* enum mode */
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    uv_timer_t poll;   /* watches for leadership */
    uv_pipe_t control; /* EOF from the parent means stop */
    int result_fd;
    uint64_t applied;
    enum phase phase;
    bool stopping;
    struct slot *slots;
    unsigned outstanding;
    uint64_t measure_start_ns;
    uint64_t warmup_end_ns;
    uint64_t measure_end_ns;
    uint64_t last_done_ns;
    uint64_t proposed; /* measured proposals */
    uint64_t failed;
    uint32_t *lat_us; /* latencies of measured commits */
    size_t n_lat;
    size_t cap_lat;
};

/* ---- The trivial replicated state: a counter -------------------------------------------- */

static int fsmApply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct node *n = fsm->data;
    n->applied++;
    *result = NULL;
    return 0;
}

static int fsmSnapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct node *n = fsm->data;
    *bufs = raft_malloc(sizeof **bufs);
    if (*bufs == NULL) {
        return RAFT_NOMEM;
    }
    (*bufs)[0].len = sizeof n->applied;
    (*bufs)[0].base = raft_malloc(sizeof n->applied);
    if ((*bufs)[0].base == NULL) {
        raft_free(*bufs);
        return RAFT_NOMEM;
    }
    memcpy((*bufs)[0].base, &n->applied, sizeof n->applied);
    *n_bufs = 1;
    return 0;
}

static int fsmRestore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct node *n = fsm->data;
    if (buf->len != sizeof n->applied) {
        return RAFT_MALFORMED;
    }
    memcpy(&n->applied, buf->base, sizeof n->applied);
    raft_free(buf->base);
    return 0;
}

/* ---- The leader's workload -------------------------------------------------------------- */

static int cmpU32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double percentile(const uint32_t *sorted, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return sorted[i];
}

static void report(struct node *n)
{
    struct result r;
    memset(&r, 0, sizeof r);
    qsort(n->lat_us, n->n_lat, sizeof *n->lat_us, cmpU32);
    r.ok = n->n_lat > 0;
    r.commits = n->n_lat;
    r.failed = n->failed;
    r.seconds = (double)(n->last_done_ns - n->measure_start_ns) / 1e9;
    r.p50_us = percentile(n->lat_us, n->n_lat, 0.50);
    r.p99_us = percentile(n->lat_us, n->n_lat, 0.99);
    r.max_us = n->n_lat > 0 ? n->lat_us[n->n_lat - 1] : 0;
    if (!r.ok) {
        snprintf(r.msg, sizeof r.msg, "no entry committed (%" PRIu64 " failed)", n->failed);
    }
    if (write(n->result_fd, &r, sizeof r) != (ssize_t)sizeof r) {
        perror("bench: write result");
    }
    n->phase = PHASE_DONE;
}

static void recordLatency(struct node *n, uint64_t ns)
{
    if (n->n_lat == n->cap_lat) {
        size_t cap = n->cap_lat > 0 ? n->cap_lat * 2 : 65536;
        uint32_t *p = realloc(n->lat_us, cap * sizeof *p);
        if (p == NULL) {
            n->failed++;
            return;
        }
        n->lat_us = p;
        n->cap_lat = cap;
    }
    n->lat_us[n->n_lat++] = (uint32_t)(ns / 1000);
}

/* Move the phase on by the clock; returns whether another entry should be proposed. */
static bool keepProposing(struct node *n, uint64_t now)
{
    if (n->phase == PHASE_WARMUP && now >= n->warmup_end_ns) {
        n->phase = PHASE_MEASURE;
        n->measure_start_ns = now;
        n->measure_end_ns = now + (uint64_t)(n->opt->seconds * 1e9);
    }
    if (n->phase == PHASE_MEASURE &&
        (now >= n->measure_end_ns || (n->opt->count > 0 && n->proposed >= n->opt->count))) {
        n->phase = PHASE_DRAIN;
    }
    return !n->stopping && (n->phase == PHASE_WARMUP || n->phase == PHASE_MEASURE);
}

static void applied(struct raft_apply *req, int status, void *result);

static void propose(struct slot *s)
{
    struct node *n = s->n;
    struct raft_buffer buf = {.base = raft_malloc(n->opt->size), .len = n->opt->size};
    if (buf.base == NULL) {
        n->failed++;
        return;
    }
    memset(buf.base, 0x5a, buf.len);
    s->req.data = s;
    s->t0_ns = uv_hrtime();
    s->measured = n->phase == PHASE_MEASURE;
    int rv = raft_apply(&n->raft, &s->req, &buf, 1, applied);
    if (rv != 0) {
        raft_free(buf.base);
        n->failed++;
        return;
    }
    n->outstanding++;
    n->proposed += s->measured;
}

static void applied(struct raft_apply *req, int status, void *result)
{
    struct slot *s = req->data;
    struct node *n = s->n;
    uint64_t now = uv_hrtime();
    n->outstanding--;
    if (status != 0) {
        n->failed++;
    } else if (s->measured) {
        recordLatency(n, now - s->t0_ns);
        n->last_done_ns = now;
    }
    if (keepProposing(n, now)) {
        propose(s);
    }
    /* Drained, or every proposal is being refused (leadership lost): report either way. */
    if (n->outstanding == 0 && n->phase != PHASE_DONE && !n->stopping) {
        n->phase = PHASE_DRAIN;
        report(n);
    }
}

static void startWorkload(struct node *n)
{
    n->slots = calloc(n->opt->inflight, sizeof *n->slots);
    if (n->slots == NULL) {
        n->phase = PHASE_DRAIN;
        n->last_done_ns = n->measure_start_ns = uv_hrtime();
        report(n);
        return;
    }
    n->phase = PHASE_WARMUP;
    n->warmup_end_ns = uv_hrtime() + (uint64_t)(n->opt->warmup * 1e9);
    for (unsigned i = 0; i < n->opt->inflight; i++) {
        n->slots[i].n = n;
        propose(&n->slots[i]);
    }
}

static void pollLeader(uv_timer_t *t)
{
    struct node *n = t->data;
    if (n->phase == PHASE_FOLLOWING && raft_state(&n->raft) == RAFT_LEADER) {
        startWorkload(n);
    }
}

/* ---- One node process ------------------------------------------------------------------- */

static void raftClosed(struct raft *r)
{
}

static void controlAlloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char sink[64];
    *buf = uv_buf_init(sink, sizeof sink);
}

static void controlRead(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct node *n = s->data;
    if (nread >= 0 || n->stopping) {
        return;
    }
    n->stopping = true;
    uv_close((uv_handle_t *)&n->poll, NULL);
    uv_close((uv_handle_t *)&n->control, NULL);
    raft_close(&n->raft, raftClosed);
}

enum mode { OURS = 0, STOCK, SECRET, TLS, N_MODES };
static const char *const modeNames[N_MODES] = {"ours", "stock", "secret", "tls"};

static struct tls_ctx *tls_server, *tls_client;

static int transportSetUp(struct node *n)
{
    if (n->mode == STOCK) {
        n->transport.version = 1;
        return raft_uv_tcp_init(&n->transport, &n->loop);
    }
    int rv = transportInit(&n->transport, &n->loop);
    struct transport_security sec = {0};
    if (rv == 0 && n->mode == SECRET) {
        sec.secret = "a cluster secret of the benchmark";
        sec.secret_len = strlen(sec.secret);
    }
    if (rv == 0 && n->mode == TLS) {
        char ca[400], cert[400], key[400], err[256];
        snprintf(ca, sizeof ca, "%s/ca.pem", n->opt->certs);
        snprintf(cert, sizeof cert, "%s/node1.pem", n->opt->certs);
        snprintf(key, sizeof key, "%s/node1.key", n->opt->certs);
        struct tls_files f = {ca, cert, key};
        if (tlsCtxOpen(&f, TLS_SERVER, TLS_PEER_REQUIRED, &tls_server, err, sizeof err) != 0 ||
            tlsCtxOpen(&f, TLS_CLIENT, TLS_PEER_REQUIRED, &tls_client, err, sizeof err) != 0) {
            fprintf(stderr, "bench: %s\n", err);
            return 1;
        }
        sec.tls_server = tls_server;
        sec.tls_client = tls_client;
    }
    return rv == 0 ? transportSetSecurity(&n->transport, &sec) : rv;
}

static void transportTearDown(struct node *n)
{
    if (n->mode == STOCK) {
        raft_uv_tcp_close(&n->transport);
    } else {
        transportClose(&n->transport);
    }
}

static int runNode(const struct options *opt, int mode, raft_id id, char addrs[][32],
                   const char *dir, int control_fd, int result_fd)
{
    struct node *n = calloc(1, sizeof *n);
    struct raft_configuration conf;
    if (n == NULL || uv_loop_init(&n->loop) != 0) {
        return 1;
    }
    n->opt = opt;
    n->mode = mode;
    n->result_fd = result_fd;
    n->fsm = (struct raft_fsm){
        .version = 1, .data = n, .apply = fsmApply, .snapshot = fsmSnapshot, .restore = fsmRestore};
    if (transportSetUp(n) != 0 || raft_uv_init(&n->io, &n->loop, dir, &n->transport) != 0 ||
        raft_init(&n->raft, &n->io, &n->fsm, id, addrs[id - 1]) != 0) {
        fprintf(stderr, "bench: node %" PRIu64 ": cannot initialise raft\n", (uint64_t)id);
        return 1;
    }
    raft_uv_set_connect_retry_delay(&n->io, 100);
    raft_set_snapshot_threshold(&n->raft, 65536);
    raft_set_snapshot_trailing(&n->raft, 8192);
    raft_configuration_init(&conf);
    for (int i = 0; i < N_NODES; i++) {
        raft_configuration_add(&conf, (raft_id)(i + 1), addrs[i], RAFT_VOTER);
    }
    int rv = raft_bootstrap(&n->raft, &conf);
    raft_configuration_close(&conf);
    if (rv != 0 || raft_start(&n->raft) != 0) {
        fprintf(stderr, "bench: node %" PRIu64 ": %s\n", (uint64_t)id, raft_errmsg(&n->raft));
        return 1;
    }
    uv_timer_init(&n->loop, &n->poll);
    n->poll.data = n;
    uv_timer_start(&n->poll, pollLeader, 10, 10);
    uv_pipe_init(&n->loop, &n->control, 0);
    n->control.data = n;
    uv_pipe_open(&n->control, control_fd);
    uv_read_start((uv_stream_t *)&n->control, controlAlloc, controlRead);

    uv_run(&n->loop, UV_RUN_DEFAULT);
    raft_uv_close(&n->io);
    transportTearDown(n);
    tlsCtxClose(tls_server);
    tlsCtxClose(tls_client);
    rv = uv_loop_close(&n->loop);
    free(n->slots);
    free(n->lat_us);
    free(n);
    return rv == 0 ? 0 : 1;
}

/* ---- The parent: one cluster per mode --------------------------------------------------- */

static int freePort(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static int removeEntry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Wait for the leader's result, at most the run's length plus a generous margin. */
static int awaitResult(int fd, const struct options *opt, struct result *r)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int timeout_ms = (int)((opt->seconds + opt->warmup) * 1000) + 60000;
    int rv = poll(&p, 1, timeout_ms);
    if (rv <= 0) {
        snprintf(r->msg, sizeof r->msg, "no result within %d ms", timeout_ms);
        return -1;
    }
    if (read(fd, r, sizeof *r) != (ssize_t)sizeof *r) {
        snprintf(r->msg, sizeof r->msg, "no result (a node exited early)");
        return -1;
    }
    return r->ok ? 0 : -1;
}

static int runMode(struct options *opt, int mode, struct result *r)
{
    char root[256];
    char dirs[N_NODES][300];
    char addrs[N_NODES][32];
    int control[N_NODES][2];
    int results[2];
    pid_t pids[N_NODES];
    memset(r, 0, sizeof *r);
    snprintf(root, sizeof root, "%s/rc-bench-raft-XXXXXX", opt->dir);
    if (mkdtemp(root) == NULL || pipe(results) != 0) {
        snprintf(r->msg, sizeof r->msg, "%.80s: %.40s", root, strerror(errno));
        return -1;
    }
    if (mode == TLS) {
        const char *src = getenv("RC_SRC") != NULL ? getenv("RC_SRC") : RC_SOURCE_DIR;
        char cmd[1024];
        snprintf(opt->certs, sizeof opt->certs, "%.250s/certs", root);
        snprintf(cmd, sizeof cmd, "%s/scripts/gen-certs %s >/dev/null", src, opt->certs);
        if (system(cmd) != 0) {
            snprintf(r->msg, sizeof r->msg, "gen-certs failed (set RC_SRC to the source tree)");
            return -1;
        }
    }
    for (int i = 0; i < N_NODES; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/node%d", root, i + 1);
        snprintf(addrs[i], sizeof addrs[i], "127.0.0.1:%d", freePort());
        if (mkdir(dirs[i], 0700) != 0 || pipe(control[i]) != 0) {
            snprintf(r->msg, sizeof r->msg, "%.80s: %.40s", dirs[i], strerror(errno));
            return -1;
        }
    }
    fflush(stdout);
    for (int i = 0; i < N_NODES; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            /* libuv writes sockets with write(2): a peer that exits first must cost an EPIPE
             * on that connection, not this process. */
            signal(SIGPIPE, SIG_IGN);
            for (int j = 0; j < N_NODES; j++) {
                close(control[j][1]);
                if (j != i) {
                    close(control[j][0]);
                }
            }
            close(results[0]);
            _exit(runNode(opt, mode, (raft_id)(i + 1), addrs, dirs[i], control[i][0], results[1]));
        }
    }
    close(results[1]);
    for (int i = 0; i < N_NODES; i++) {
        close(control[i][0]);
    }
    int rv = awaitResult(results[0], opt, r);
    for (int i = 0; i < N_NODES; i++) {
        close(control[i][1]); /* EOF: the node closes raft and exits */
    }
    for (int i = 0; i < N_NODES; i++) {
        int status;
        if (rv != 0) {
            kill(pids[i], SIGKILL);
        }
        waitpid(pids[i], &status, 0);
        if (rv == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            fprintf(stderr, "bench: node %d did not shut down cleanly (%s %d)\n", i + 1,
                    WIFSIGNALED(status) ? "signal" : "exit status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
    }
    close(results[0]);
    nftw(root, removeEntry, 8, FTW_DEPTH | FTW_PHYS);
    return rv;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_raft_transport [--transport ours|stock|secret|tls|both|all]\n"
                    "       [--seconds S]\n"
                    "       [--count N] [--inflight K[,K...]] [--size BYTES] [--warmup S]\n"
                    "       [--dir DIR]\n");
    exit(2);
}

static void parseDepths(const char *v, struct options *opt)
{
    opt->n_depths = 0;
    for (const char *p = v; *p != '\0';) {
        char *end;
        unsigned long k = strtoul(p, &end, 10);
        if (end == p || k == 0 || k > 100000 || opt->n_depths == MAX_DEPTHS ||
            (*end != ',' && *end != '\0')) {
            usage();
        }
        opt->depths[opt->n_depths++] = (unsigned)k;
        p = *end == ',' ? end + 1 : end;
    }
    if (opt->n_depths == 0) {
        usage();
    }
}

static void parseArgs(int argc, char **argv, struct options *opt)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage();
        }
        if (strcmp(a, "--transport") == 0) {
            opt->transport = v;
        } else if (strcmp(a, "--seconds") == 0) {
            opt->seconds = atof(v);
        } else if (strcmp(a, "--warmup") == 0) {
            opt->warmup = atof(v);
        } else if (strcmp(a, "--count") == 0) {
            opt->count = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--inflight") == 0) {
            parseDepths(v, opt);
        } else if (strcmp(a, "--size") == 0) {
            opt->size = strtoul(v, NULL, 10);
        } else if (strcmp(a, "--dir") == 0) {
            opt->dir = v;
        } else {
            usage();
        }
        i++;
    }
    bool known = strcmp(opt->transport, "both") == 0 || strcmp(opt->transport, "all") == 0;
    for (int m = 0; m < N_MODES; m++) {
        known = known || strcmp(opt->transport, modeNames[m]) == 0;
    }
    if (!known || opt->seconds <= 0 || opt->warmup < 0 || opt->size == 0) {
        usage();
    }
}

int main(int argc, char **argv)
{
    struct options opt = {.transport = "both",
                          .seconds = 10,
                          .warmup = 1,
                          .depths = {256},
                          .n_depths = 1,
                          .size = 512,
                          .dir = "/tmp"};
    parseArgs(argc, argv, &opt);
    printf("3 voters on 127.0.0.1, one process each, data under %s; %zu B entries, "
           "%g s warm-up, %g s",
           opt.dir, opt.size, opt.warmup, opt.seconds);
    if (opt.count > 0) {
        printf(" or %" PRIu64 " entries", opt.count);
    }
    printf(" per run\n");
    printf("%-9s %8s %10s %8s %11s %9s %9s %9s %7s\n", "transport", "inflight", "commits",
           "seconds", "commits/s", "p50 ms", "p99 ms", "max ms", "failed");
    int failures = 0;
    const char *const *modes = modeNames;
    for (unsigned d = 0; d < opt.n_depths; d++) {
        opt.inflight = opt.depths[d];
        for (int m = 0; m < N_MODES; m++) {
            bool want = strcmp(opt.transport, "all") == 0 ||
                        (strcmp(opt.transport, "both") == 0 && m <= STOCK) ||
                        strcmp(opt.transport, modes[m]) == 0;
            if (!want) {
                continue;
            }
            struct result r;
            if (runMode(&opt, m, &r) != 0) {
                printf("%-9s %8u failed: %s\n", modes[m], opt.inflight, r.msg);
                failures++;
                continue;
            }
            printf("%-9s %8u %10" PRIu64 " %8.2f %11.0f %9.2f %9.2f %9.2f %7" PRIu64 "\n", modes[m],
                   opt.inflight, r.commits, r.seconds, (double)r.commits / r.seconds,
                   r.p50_us / 1000, r.p99_us / 1000, r.max_us / 1000, r.failed);
            fflush(stdout);
        }
    }
    return failures == 0 ? 0 : 1;
}
