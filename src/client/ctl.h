/*
 * raftcronctl: the ops CLI. ctl.c parses the global options and dispatches to one
 * ctl_<group>.c per command group. Exit codes: 0 ok, 1 operation failed, 2 usage error.
 */
#ifndef RC_CLIENT_CTL_H
#define RC_CLIENT_CTL_H

#include <stdbool.h>
#include <stdint.h>

enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 2 };

enum ctl_output { CTL_OUTPUT_TABLE = 0, CTL_OUTPUT_JSON = 1 };

/* Global options, shared by every group (borrowed strings from argv/environ). */
struct ctl_global {
    const char *endpoints;  /* --endpoints or RAFTCRON_ENDPOINTS */
    int64_t timeout_us;     /* --timeout */
    enum ctl_output output; /* -o table|json */
    const char *cacert;     /* --cacert or RAFTCRON_CACERT: TLS with this CA */
    const char *cert;       /* --cert or RAFTCRON_CERT: our certificate */
    const char *key;        /* --key or RAFTCRON_KEY */
    const char *token_file; /* --token-file or RAFTCRON_TOKEN_FILE */
};

struct ctl_group {
    const char *name;
    const char *summary;
    int (*run)(const struct ctl_global *g, int argc, char **argv); /* argv[0] is the group */
};

/* Print a usage error ("raftcronctl: …" and a hint to --help) and return CTL_USAGE. */
int ctlUsageError(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print an operation failure on stderr and return CTL_FAILED. */
int ctlFail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Whether argv[i] is -h or --help. */
bool ctlIsHelp(const char *arg);

int ctlCron(const struct ctl_global *g, int argc, char **argv);
int ctlCluster(const struct ctl_global *g, int argc, char **argv);
int ctlMember(const struct ctl_global *g, int argc, char **argv);
int ctlJob(const struct ctl_global *g, int argc, char **argv);
/* ctl_run.c: the run and dlq groups. */
int ctlRun(const struct ctl_global *g, int argc, char **argv);
int ctlDlq(const struct ctl_global *g, int argc, char **argv);

struct rc_client;
struct Raftcron__ClusterStatus;
/* Open a client on the global options (auth token from --token-file, else env
 * RAFTCRON_AUTH_TOKEN; TLS files). Returns 0,
 * or CTL_USAGE / CTL_FAILED after printing why. */
int ctlClientOpen(const struct ctl_global *g, struct rc_client **out);
/* Print why the last call of c failed ("what: message (STATUS)") and return CTL_FAILED. */
int ctlCallFailed(const struct rc_client *c, int rv, const char *what);
/* Print the members of a Cluster.Status reply (table, or JSON {"leader_id", "members"}). */
void ctlClusterPrintMembers(const struct ctl_global *g, const struct Raftcron__ClusterStatus *st);

#endif /* RC_CLIENT_CTL_H */
