/*
 * Integration-test harness: real raftcrond processes on 127.0.0.1, each with its own data dir
 * and log file under a temporary directory, started, signalled and restarted by the test.
 * Ports come from a per-process base so that tests can run in parallel.
 * Every wait is a poll with a deadline; nothing sleeps for synchronisation.
 */
#ifndef RC_TESTS_HARNESS_H
#define RC_TESTS_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "raftcron/client.h"

#define HARNESS_MAX_NODES 8

struct harness {
    char dir[256]; /* temporary root: nodeN/ data dirs and nodeN.log */
    char bin[512]; /* directory of raftcrond / raftcronctl */
    int base_port;
    pid_t pids[HARNESS_MAX_NODES + 1]; /* by node id; 0 = not running */
    /* TLS of the harness's clients: CA, certificate, key ("" = plain), for clusters started
     * with TLS (test_tls.c). */
    char tls_ca[300], tls_cert[300], tls_key[300];
    bool http;         /* nodes started with --http-addr (harnessHttpAddr) */
    const char *token; /* the credential of harnessClient's clients, or NULL */
};

#define HARNESS_STOP_MS 20000 /* a graceful stop: drain, then at most a 3 s handover, then exit */

/* Create the temp dir and pick ports. */
void harnessInit(struct harness *h);
/* Stop every node still running (SIGCONT, SIGTERM; SIGKILL after HARNESS_STOP_MS), check every
 * node log for crashes and sanitizer reports, and remove the temp dir unless RC_KEEP is set or
 * something was wrong. Returns false (the test fails) when a log is not clean, or a node hung on
 * SIGTERM, or a node exited non-zero or by a signal without the test waiting for that exit
 * (harnessWait, or harnessSignal with SIGKILL, takes an exit the test expects). */
bool harnessClose(struct harness *h);

/* "127.0.0.1:PORT" of node id's RPC / Raft listener (static buffer per call site: copy it). */
void harnessRpcAddr(const struct harness *h, int id, char *buf, size_t len);
void harnessRaftAddr(const struct harness *h, int id, char *buf, size_t len);
/* "127.0.0.1:PORT" for node id's --http-addr (the harness does not pass it: a test does). */
void harnessHttpAddr(const struct harness *h, int id, char *buf, size_t len);
/* Comma-separated RPC endpoints of nodes 1..n. */
void harnessEndpoints(const struct harness *h, int n, char *buf, size_t len);
/* The node's data dir. */
void harnessDataDir(const struct harness *h, int id, char *buf, size_t len);

/* Start node id with its standard flags plus extra (NULL-terminated argv fragment). */
void harnessStart(struct harness *h, int id, const char *const *extra);
/* Start a worker agent (raftcrond --worker) with id, joined through nodes 1..n, plus extra
 * flags; its log is nodeID.log and it is signalled and waited for like a node. */
void harnessStartAgent(struct harness *h, int id, int n, const char *const *extra);
/* Send sig to node id (and forget the pid for SIGKILL). */
void harnessSignal(struct harness *h, int id, int sig);
/* Wait for node id to exit within timeout_ms; returns its exit status (or -1 on timeout,
 * 128+signal when killed). */
int harnessWait(struct harness *h, int id, int timeout_ms);

/* Node 1 bootstraps, nodes 2..n join through it (each with extra flags, NULL-terminated);
 * returns the leader once n voters are reachable, 0 on timeout. */
uint64_t harnessStartCluster(struct harness *h, int n, const char *const *extra);

/* A client on nodes 1..n. */
struct rc_client *harnessClient(const struct harness *h, int n, int64_t timeout_us);
/* A client on node id only. */
struct rc_client *harnessClientOf(const struct harness *h, int id, int64_t timeout_us);

/* Poll Cluster.Status until some node reports a leader with at least voters voters that are
 * reachable; returns the leader id or 0 on timeout. */
uint64_t harnessWaitLeader(const struct harness *h, int n, int voters, int timeout_ms);
/* Polls until node id's local state digest equals the leader's (found among nodes 1..n). */
bool harnessWaitConverged(const struct harness *h, int n, int id, int timeout_ms);

/* Run a shell command, capturing up to len bytes of stdout+stderr; returns the exit status. */
int harnessRun(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether the file contains the text. */
bool harnessFileContains(const char *path, const char *text);

/* Milliseconds of the monotonic clock. */
int64_t harnessNowMs(void);

/* ---- cmocka fixtures and jobs/runs through the client (harness_jobs.c; these fail the test) - */

/* The harness of a test program: harnessSetup (cmocka setup) gives each test a fresh one,
 * harnessTeardown stops its nodes and fails the test when a log shows a crash. */
extern struct harness H;
int harnessSetup(void **state);
int harnessTeardown(void **state);

/* A job for tests: a shell job unless noop or executor says otherwise. Zero fields take the
 * cluster's defaults; the policy and the retry policy are sent only when one of their fields
 * is set (then the policy's other fields are sent as given: set the grace and max instances
 * too). */
struct harness_job {
    const char *name;
    const char *cron;    /* NULL: "0 0 1 1 *" (yearly: only manual runs happen in a test) */
    const char *command; /* run with /bin/sh -c, or NULL to run argv0 directly */
    const char *argv0;
    const char *zone; /* target tag zone=ZONE, or NULL for any worker */
    int64_t timeout_us;
    uint32_t attempts;
    uint32_t backoff; /* 0 fixed, 1 linear, 2 exponential */
    int64_t delay_us;
    double multiplier;
    int64_t misfire_grace_us;
    uint32_t max_instances;
    bool noop; /* the noop executor instead of a command */
    bool coalesce;
    uint32_t overlap; /* enum rc_overlap: 0 allow, 1 skip, 2 replace, 3 queue-one */
    /* http, sql, …: the executor instead of command/argv0/noop (borrowed) */
    const struct Raftcron__Executor *executor;
    int64_t at_us; /* a one-off trigger at this instant instead of cron */
};

/* Create the job (create-only): harnessTryPutJob returns rc_job_put's result (safe off the
 * test's thread), harnessPutJob fails the test with the client's message. */
int harnessTryPutJob(struct rc_client *c, const struct harness_job *j);
void harnessPutJob(struct rc_client *c, const struct harness_job *j);
/* Poll run id until its state is want (RC_RUN_* of runs.h); returns the run (free it with
 * rc_message_free) or fails the test after timeout_ms. */
struct Raftcron__Run *harnessWaitRun(struct rc_client *c, uint64_t id, uint32_t want,
                                     int timeout_ms);

#endif /* RC_TESTS_HARNESS_H */
