#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cron.h"
#include "core/err.h"

static const struct ctl_group groups[] = {
    {"cron", "preview and explain cron expressions", ctlCron},
    {"cluster", "leader, term, indexes, members; state digest", ctlCluster},
    {"member", "list, add, remove, promote, demote members; transfer leadership", ctlMember},
    {"job", "add, update, get, list, delete, pause, resume, apply jobs; next, decisions", ctlJob},
    {"run", "list and show runs (the run history)", ctlRun},
    {"dlq", "list dead letters (runs that exhausted their retries)", ctlDlq},
    {"events", "follow job and run events as the cluster applies them", ctlEvents},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: raftcronctl [GLOBAL OPTIONS] GROUP COMMAND [ARGS]\n"
               "\n"
               "The ops CLI of raftcron, the highly available cron and job scheduler.\n"
               "\n"
               "Groups:\n");
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        fprintf(f, "  %-10s %s\n", groups[i].name, groups[i].summary);
    }
    fprintf(f, "\n"
               "Global options:\n"
               "  --endpoints A,B,C  RPC endpoints of the cluster (env RAFTCRON_ENDPOINTS,\n"
               "                     default 127.0.0.1:7101)\n"
               "  --timeout DURATION deadline of each operation (default 10s)\n"
               "  -o, --output FMT   table (default) or json\n"
               "  --token TOKEN      credential: the cluster's shared secret or a bearer JWT\n"
               "                     (env RAFTCRON_TOKEN; docs/rest.md \"Tenancy and auth\")\n"
               "  --token-file FILE  the credential from the first line of FILE\n"
               "                     (env RAFTCRON_TOKEN_FILE)\n"
               "  -h, --help         this help; 'raftcronctl GROUP --help' for a group\n"
               "\n"
               "Exit status: 0 ok, 1 the operation failed, 2 usage error.\n");
}

int ctlUsageError(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("raftcronctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(see 'raftcronctl --help')\n", stderr);
    va_end(ap);
    return CTL_USAGE;
}

int ctlFail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("raftcronctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CTL_FAILED;
}

bool ctlIsHelp(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* The first line of the token file, without its line break. */
static int readTokenFile(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return ctlUsageError("--token-file %s: %s", path, strerror(errno));
    }
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    buf[ok ? strcspn(buf, "\r\n") : 0] = '\0';
    if (buf[0] == '\0') {
        return ctlUsageError("--token-file %s: no token on its first line", path);
    }
    return 0;
}

int ctlClientOpen(const struct ctl_global *g, struct rc_client **out)
{
    static char token[16 * 1024 + 2];
    const char *t = g->token;
    if (g->token_file != NULL) {
        int rv = readTokenFile(g->token_file, token, sizeof token);
        if (rv != 0) {
            return rv;
        }
        t = token;
    }
    struct rc_client_options o = {
        .endpoints = g->endpoints,
        .timeout_us = g->timeout_us,
        .auth_token = t,
    };
    int rv = rc_client_open(&o, out);
    if (rv == RC_EINVAL) {
        return ctlUsageError("--endpoints: \"%s\" is not a list of host:port[,host:port…]",
                             g->endpoints);
    }
    return rv != 0 ? ctlFail("%s", rc_strerror(rv)) : CTL_OK;
}

int ctlCallFailed(const struct rc_client *c, int rv, const char *what)
{
    const char *msg = rc_client_errmsg(c);
    return ctlFail("%s: %s (%s)", what, msg[0] != '\0' ? msg : rc_strerror(rv),
                   rc_status_name(rc_client_status(c)));
}

int main(int argc, char **argv)
{
    struct ctl_global g = {
        .endpoints = getenv("RAFTCRON_ENDPOINTS"),
        .timeout_us = 10 * RC_USEC_PER_SEC,
        .output = CTL_OUTPUT_TABLE,
    };
    if (g.endpoints == NULL || g.endpoints[0] == '\0') {
        g.endpoints = "127.0.0.1:7101";
    }
    g.token = getenv("RAFTCRON_TOKEN");
    if (g.token == NULL || g.token[0] == '\0') {
        g.token = getenv("RAFTCRON_AUTH_TOKEN");
    }
    g.token_file = getenv("RAFTCRON_TOKEN_FILE");
    if (g.token_file != NULL && g.token_file[0] == '\0') {
        g.token_file = NULL;
    }
    static const struct option opts[] = {
        {"endpoints", required_argument, NULL, 'e'},
        {"timeout", required_argument, NULL, 't'},
        {"output", required_argument, NULL, 'o'},
        {"token", required_argument, NULL, 'T'},
        {"token-file", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char err[RC_ERRMSG_SIZE];
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            g.endpoints = optarg;
            break;
        case 't':
            if (cronParseDuration(optarg, &g.timeout_us, err, sizeof err) != 0) {
                return ctlUsageError("--timeout: %s", err);
            }
            break;
        case 'o':
            if (strcmp(optarg, "json") == 0) {
                g.output = CTL_OUTPUT_JSON;
            } else if (strcmp(optarg, "table") == 0) {
                g.output = CTL_OUTPUT_TABLE;
            } else {
                return ctlUsageError("-o: unknown output format \"%s\" (table or json)", optarg);
            }
            break;
        case 'T':
            g.token = optarg;
            g.token_file = NULL;
            break;
        case 'F':
            g.token_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return CTL_OK;
        default:
            return ctlUsageError("unknown or incomplete option \"%s\"", argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (strcmp(argv[optind], groups[i].name) == 0) {
            return groups[i].run(&g, argc - optind, argv + optind);
        }
    }
    return ctlUsageError("unknown command group \"%s\"", argv[optind]);
}
