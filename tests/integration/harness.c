#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.pb-c.h"

int64_t harnessNowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause10ms(void)
{
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Whether every port of [base, base + 30) can be bound on 127.0.0.1 right now. */
static bool portsFree(int base)
{
    for (int p = base; p < base + 30; p++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            return false;
        }
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rv = bind(fd, (struct sockaddr *)&a, sizeof a);
        close(fd);
        if (rv != 0) {
            return false;
        }
    }
    return true;
}

/* 30 ports per test process (RPC, Raft and HTTP of up to 9 nodes), below the kernel's
 * ephemeral range (32768-60999 by default): there, the many short client connections of a busy
 * suite would take a node's port before it binds it. Spread by pid over 10000-31999, skipping
 * blocks in use. */
static int pickPorts(void)
{
    int slot = (int)(getpid() % 730);
    for (int i = 0; i < 730; i++) {
        int base = 10000 + ((slot + i * 37) % 730) * 30;
        if (portsFree(base)) {
            return base;
        }
    }
    return 10000 + slot * 30;
}

void harnessInit(struct harness *h)
{
    memset(h, 0, sizeof *h);
    snprintf(h->dir, sizeof h->dir, "/tmp/raftcron-it-XXXXXX");
    if (mkdtemp(h->dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    const char *bin = getenv("RC_BIN");
    snprintf(h->bin, sizeof h->bin, "%s", bin != NULL ? bin : "build/bin");
    h->base_port = pickPorts();
    signal(SIGPIPE, SIG_IGN);
    /* Run outside ctest, the nodes still get the suite's LeakSanitizer suppressions. */
    const char *src = getenv("RC_SRC");
    if (getenv("LSAN_OPTIONS") == NULL) {
        char opt[600];
        snprintf(opt, sizeof opt, "suppressions=%s/tests/lsan.supp:print_suppressions=0",
                 src != NULL ? src : ".");
        setenv("LSAN_OPTIONS", opt, 1);
    }
}

/* A sanitizer report or a failed assertion in any node's log fails the test: nodes still
 * running are stopped with SIGTERM first, so that LeakSanitizer runs at their exit. */
static bool logsClean(struct harness *h)
{
    bool clean = true;
    for (int id = 1; id <= HARNESS_MAX_NODES; id++) {
        char log[300];
        snprintf(log, sizeof log, "%s/node%d.log", h->dir, id);
        if (harnessFileContains(log, "Sanitizer") || harnessFileContains(log, "runtime error:") ||
            harnessFileContains(log, "Assertion")) {
            fprintf(stderr, "harness: %s reports a crash or a sanitizer finding\n", log);
            clean = false;
        }
    }
    return clean;
}

/* Every node still running is stopped with SIGTERM (continued first, should a test have left it
 * stopped) and must exit 0 within HARNESS_STOP_MS; so must a node that exited on its own and
 * that the test never waited for. A node that hangs is killed and, like a non-zero exit or a
 * signal (a plain segfault outside ASan), fails the test. */
static bool nodesStopCleanly(struct harness *h)
{
    bool clean = true;
    for (int id = 1; id <= HARNESS_MAX_NODES; id++) {
        if (h->pids[id] > 0) {
            kill(h->pids[id], SIGCONT);
            kill(h->pids[id], SIGTERM);
        }
    }
    for (int id = 1; id <= HARNESS_MAX_NODES; id++) {
        if (h->pids[id] <= 0) {
            continue;
        }
        pid_t pid = h->pids[id];
        int status = harnessWait(h, id, HARNESS_STOP_MS);
        if (status == -1) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            h->pids[id] = 0;
            fprintf(stderr, "harness: node %d (pid %d) did not stop within %d ms of SIGTERM\n", id,
                    (int)pid, HARNESS_STOP_MS);
            clean = false;
        } else if (status != 0) {
            fprintf(stderr, "harness: node %d (pid %d) exited with status %d%s\n", id, (int)pid,
                    status, status > 128 ? " (128 + signal)" : "");
            clean = false;
        }
    }
    return clean;
}

bool harnessClose(struct harness *h)
{
    bool stopped = nodesStopCleanly(h);
    bool clean = logsClean(h) && stopped;
    if (!clean) {
        setenv("RC_KEEP", "1", 1);
    }
    if (getenv("RC_KEEP") == NULL) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "harness: could not remove %s\n", h->dir);
        }
    } else {
        fprintf(stderr, "harness: kept %s\n", h->dir);
    }
    return clean;
}

void harnessRpcAddr(const struct harness *h, int id, char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1:%d", h->base_port + id);
}

void harnessRaftAddr(const struct harness *h, int id, char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1:%d", h->base_port + 10 + id);
}

void harnessHttpAddr(const struct harness *h, int id, char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1:%d", h->base_port + 20 + id);
}

void harnessDataDir(const struct harness *h, int id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/node%d", h->dir, id);
}

void harnessEndpoints(const struct harness *h, int n, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int id = 1; id <= n && off < len; id++) {
        off += (size_t)snprintf(buf + off, len - off, "%s127.0.0.1:%d", id > 1 ? "," : "",
                                h->base_port + id);
    }
}

static void spawn(struct harness *h, int id, const char **argv, int argc, const char *const *extra)
{
    char log[300];
    snprintf(log, sizeof log, "%s/node%d.log", h->dir, id);
    for (int i = 0; extra != NULL && extra[i] != NULL && argc < 39; i++) {
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    h->pids[id] = pid;
}

void harnessStart(struct harness *h, int id, const char *const *extra)
{
    char idbuf[16], raft[64], rpc[64], data[300], exe[600];
    snprintf(idbuf, sizeof idbuf, "%d", id);
    harnessRaftAddr(h, id, raft, sizeof raft);
    harnessRpcAddr(h, id, rpc, sizeof rpc);
    harnessDataDir(h, id, data, sizeof data);
    snprintf(exe, sizeof exe, "%s/raftcrond", h->bin);
    /* Tests run shell jobs as whoever runs them, root included (test_security covers
     * --run-as and the refusal). */
    const char *argv[40] = {exe,     "--id",
                            idbuf,   "--raft-addr",
                            raft,    "--rpc-addr",
                            rpc,     "--data",
                            data,    "--election-timeout",
                            "500ms", "--heartbeat-timeout",
                            "50ms",  "--allow-root-jobs"};
    char http[64];
    int argc = 14;
    if (h->http) {
        harnessHttpAddr(h, id, http, sizeof http);
        argv[argc++] = "--http-addr";
        argv[argc++] = http;
    }
    spawn(h, id, argv, argc, extra);
}

void harnessStartAgent(struct harness *h, int id, int n, const char *const *extra)
{
    char idbuf[16], join[400], exe[600];
    snprintf(idbuf, sizeof idbuf, "%d", id);
    harnessEndpoints(h, n, join, sizeof join);
    snprintf(exe, sizeof exe, "%s/raftcrond", h->bin);
    const char *argv[40] = {exe, "--worker", "--id", idbuf, "--join", join, "--allow-root-jobs"};
    spawn(h, id, argv, 7, extra);
}

void harnessSignal(struct harness *h, int id, int sig)
{
    if (h->pids[id] > 0) {
        kill(h->pids[id], sig);
        if (sig == SIGKILL) {
            waitpid(h->pids[id], NULL, 0);
            h->pids[id] = 0;
        }
    }
}

int harnessWait(struct harness *h, int id, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    while (h->pids[id] > 0) {
        int status;
        pid_t r = waitpid(h->pids[id], &status, WNOHANG);
        if (r == h->pids[id]) {
            h->pids[id] = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (harnessNowMs() > deadline) {
            return -1;
        }
        pause10ms();
    }
    return -1;
}

static void tlsOptions(const struct harness *h, struct rc_client_options *o)
{
    o->ca_file = h->tls_ca[0] != '\0' ? h->tls_ca : NULL;
    o->cert_file = h->tls_cert[0] != '\0' ? h->tls_cert : NULL;
    o->key_file = h->tls_key[0] != '\0' ? h->tls_key : NULL;
}

struct rc_client *harnessClient(const struct harness *h, int n, int64_t timeout_us)
{
    char eps[512];
    harnessEndpoints(h, n, eps, sizeof eps);
    struct rc_client_options o = {
        .endpoints = eps, .timeout_us = timeout_us, .auth_token = h->token};
    tlsOptions(h, &o);
    struct rc_client *c = NULL;
    if (rc_client_open(&o, &c) != 0) {
        return NULL;
    }
    return c;
}

struct rc_client *harnessClientOf(const struct harness *h, int id, int64_t timeout_us)
{
    char ep[64];
    harnessRpcAddr(h, id, ep, sizeof ep);
    struct rc_client_options o = {
        .endpoints = ep, .timeout_us = timeout_us, .auth_token = h->token};
    tlsOptions(h, &o);
    struct rc_client *c = NULL;
    if (rc_client_open(&o, &c) != 0) {
        return NULL;
    }
    return c;
}

uint64_t harnessWaitLeader(const struct harness *h, int n, int voters, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    struct rc_client *c = harnessClient(h, n, 1000000);
    uint64_t leader = 0;
    while (leader == 0 && harnessNowMs() < deadline) {
        Raftcron__ClusterStatus *st = NULL;
        if (rc_cluster_status(c, 0, &st) == 0) {
            int ok = 0;
            for (size_t i = 0; i < st->n_members; i++) {
                if (strcmp(st->members[i]->role, "voter") == 0 && st->members[i]->reachable) {
                    ok++;
                }
            }
            if (st->leader_id != 0 && ok >= voters) {
                leader = st->leader_id;
            }
            rc_message_free(st);
        }
        if (leader == 0) {
            pause10ms();
        }
    }
    rc_client_close(c);
    return leader;
}

/* Convergence, not equality with a digest taken earlier: the replicated state may move on
 * between two reads (a restarted node's worker says hello, a run finishes), so the node's
 * local digest is compared with the leader's, read again on every poll. */
bool harnessWaitConverged(const struct harness *h, int n, int id, int timeout_ms)
{
    int64_t deadline = harnessNowMs() + timeout_ms;
    struct rc_client *node = harnessClientOf(h, id, 1000000);
    struct rc_client *cluster = harnessClient(h, n, 1000000);
    bool ok = false;
    while (!ok && harnessNowMs() < deadline) {
        Raftcron__DigestResponse *mine = NULL;
        Raftcron__DigestResponse *lead = NULL;
        if (rc_cluster_digest(cluster, 0, &lead) == 0 && rc_cluster_digest(node, 1, &mine) == 0) {
            ok = mine->digest == lead->digest;
        }
        rc_message_free(mine);
        rc_message_free(lead);
        if (!ok) {
            pause10ms();
        }
    }
    rc_client_close(node);
    rc_client_close(cluster);
    return ok;
}

int harnessRun(char *out, size_t len, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[4200];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (p == NULL) {
        return -1;
    }
    size_t n = 0;
    if (out != NULL && len > 0) {
        n = fread(out, 1, len - 1, p);
        out[n] = '\0';
    }
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool harnessFileContains(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        found = strstr(line, text) != NULL;
    }
    fclose(f);
    return found;
}

uint64_t harnessStartCluster(struct harness *h, int n, const char *const *extra)
{
    const char *args[24] = {"--bootstrap"};
    int k = 1;
    for (int i = 0; extra != NULL && extra[i] != NULL && k < 22; i++) {
        args[k++] = extra[i];
    }
    args[k] = NULL;
    harnessStart(h, 1, args);
    if (harnessWaitLeader(h, 1, 1, 20000) == 0) {
        return 0;
    }
    char join[64];
    harnessRpcAddr(h, 1, join, sizeof join);
    for (int id = 2; id <= n; id++) {
        const char *jargs[24] = {"--join", join};
        k = 2;
        for (int i = 0; extra != NULL && extra[i] != NULL && k < 22; i++) {
            jargs[k++] = extra[i];
        }
        jargs[k] = NULL;
        harnessStart(h, id, jargs);
    }
    return harnessWaitLeader(h, n, n, 30000);
}
