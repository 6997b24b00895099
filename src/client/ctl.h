/*
 * raftcronctl: the ops CLI. ctl.c parses the global options and dispatches to one
 * ctl_<group>.c per command group. Exit codes: 0 ok, 1 operation failed, 2 usage error.
 */
#ifndef RC_CLIENT_CTL_H
#define RC_CLIENT_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 2 };

/* CTL_OUTPUT_JSON is structured output: one document per command, written by print.h's
 * writer in JSON or, after -o yaml, in YAML syntax (printSetYaml). Groups need not tell them
 * apart. */
enum ctl_output { CTL_OUTPUT_TABLE = 0, CTL_OUTPUT_JSON = 1 };

/* Global options, shared by every group (borrowed strings from argv/environ). */
struct ctl_global {
    const char *endpoints;  /* --endpoints or RAFTCRON_ENDPOINTS */
    int64_t timeout_us;     /* --timeout */
    enum ctl_output output; /* -o table|json|yaml */
    const char *token;      /* --token, or RAFTCRON_TOKEN (RAFTCRON_AUTH_TOKEN, older) */
    const char *token_file; /* --token-file (its first line), or RAFTCRON_TOKEN_FILE */
    const char *cacert;     /* --cacert or RAFTCRON_CACERT: TLS with this CA */
    const char *cert;       /* --cert or RAFTCRON_CERT: our certificate */
    const char *key;        /* --key or RAFTCRON_KEY */
};

/* One global option (ctl.c's table): accepted anywhere on the command line. */
struct ctl_global_option {
    const char *name;    /* long name, without the dashes */
    char short_name;     /* 0: none */
    const char *metavar; /* what it takes; NULL: a switch */
    const char *help;
    /* Store value (borrowed from argv; NULL for a switch). Returns CTL_OK, or CTL_USAGE after
     * printing why. */
    int (*set)(struct ctl_global *g, const char *value);
};

/* The i-th global option (from 0), or NULL past the last. */
const struct ctl_global_option *ctlGlobalOption(size_t i);
/* Take every global option out of argv[1..argc) (up to a "--", which stays) and apply it to g;
 * *argc and argv are compacted to what remains, argv[*argc] = NULL. Returns CTL_OK, or
 * CTL_USAGE after printing why (a bad value, a value missing at the end of the line). */
int ctlGlobalParse(struct ctl_global *g, int *argc, char **argv);

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

/* The i-th command group (from 0), or NULL past the last: for completion. */
const struct ctl_group *ctlGroupAt(size_t i);

/* Whether output to f may be coloured: a terminal, NO_COLOR unset or empty
 * (no-color.org), TERM not "dumb". */
bool ctlColorWanted(FILE *f);

/* ctl_complete.c: "raftcronctl completion bash|zsh" prints a script that asks
 * "raftcronctl __complete WORDS…" for the candidates of the last word, one per line. */
int ctlCompletion(int argc, char **argv);
int ctlCompleteWords(const struct ctl_global *g, int argc, char **argv);

int ctlCron(const struct ctl_global *g, int argc, char **argv);
int ctlCluster(const struct ctl_global *g, int argc, char **argv);
int ctlMember(const struct ctl_global *g, int argc, char **argv);
int ctlJob(const struct ctl_global *g, int argc, char **argv);
/* ctl_run.c: the run and dlq groups. */
int ctlRun(const struct ctl_global *g, int argc, char **argv);
int ctlDlq(const struct ctl_global *g, int argc, char **argv);
/* ctl_events.c: the events group (Events.Watch). */
int ctlEvents(const struct ctl_global *g, int argc, char **argv);

struct rc_client;
struct Raftcron__ClusterStatus;
/* Open a client on the global options (the credential from --token or --token-file; TLS
 * files). Returns 0, or CTL_USAGE / CTL_FAILED after printing why. */
int ctlClientOpen(const struct ctl_global *g, struct rc_client **out);
/* Print why the last call of c failed ("what: message (STATUS)") and return CTL_FAILED. */
int ctlCallFailed(const struct rc_client *c, int rv, const char *what);
/* Print the members of a Cluster.Status reply (table, or JSON {"leader_id", "members"}). */
void ctlClusterPrintMembers(const struct ctl_global *g, const struct Raftcron__ClusterStatus *st);

#endif /* RC_CLIENT_CTL_H */
