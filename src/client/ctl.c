#include "ctl.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cron.h"
#include "core/err.h"
#include "net/tls.h"

static const struct ctl_group groups[] = {
    {"cron", "preview and explain cron expressions", ctlCron},
    {"cluster", "leader, term, indexes, members; state digest", ctlCluster},
    {"member", "list, add, remove, promote, demote members; transfer leadership", ctlMember},
    {"job", "add, update, get, list, delete, pause, resume, apply jobs; next, decisions", ctlJob},
    {"run", "list and show runs (the run history)", ctlRun},
    {"dlq", "list dead letters (runs that exhausted their retries)", ctlDlq},
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
               "  --cacert FILE      TLS: the CA the servers' certificates must chain to\n"
               "                     (env RAFTCRON_CACERT); the servers must then speak TLS\n"
               "  --cert FILE        TLS: our certificate, for servers that ask (RAFTCRON_CERT)\n"
               "  --key FILE         its key, mode 0600 (RAFTCRON_KEY)\n"
               "  --token-file FILE  the auth token, first line, mode 0600 (RAFTCRON_TOKEN_FILE;\n"
               "                     else env RAFTCRON_AUTH_TOKEN)\n"
               "  -o, --output FMT   table (default) or json\n"
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

/* The first line of a token file that only its owner may read. */
static int readToken(const char *path, char *buf, size_t len)
{
    char err[RC_ERRMSG_SIZE];
    if (tlsCheckPrivateFile(path, "--token-file", err, sizeof err) != 0) {
        return ctlFail("%s", err);
    }
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(buf, (int)len, f) == NULL) {
        if (f != NULL) {
            fclose(f);
        }
        return ctlFail("--token-file %s: cannot read it", path);
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] == '\0' ? ctlFail("--token-file %s: empty", path) : CTL_OK;
}

int ctlClientOpen(const struct ctl_global *g, struct rc_client **out)
{
    char token[512] = "";
    if (g->token_file != NULL && g->token_file[0] != '\0') {
        int rc = readToken(g->token_file, token, sizeof token);
        if (rc != CTL_OK) {
            return rc;
        }
    }
    struct rc_client_options o = {
        .endpoints = g->endpoints,
        .timeout_us = g->timeout_us,
        .auth_token = token[0] != '\0' ? token : getenv("RAFTCRON_AUTH_TOKEN"),
        .ca_file = g->cacert,
        .cert_file = g->cert,
        .key_file = g->key,
    };
    if ((g->cert != NULL || g->key != NULL) && g->cacert == NULL) {
        return ctlUsageError("--cert and --key need --cacert (the CA of the servers)");
    }
    int rv = rc_client_open(&o, out);
    memset(token, 0, sizeof token);
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
    const char **files[] = {&g.cacert, &g.cert, &g.key, &g.token_file};
    const char *const envs[] = {"RAFTCRON_CACERT", "RAFTCRON_CERT", "RAFTCRON_KEY",
                                "RAFTCRON_TOKEN_FILE"};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        const char *v = getenv(envs[i]);
        *files[i] = v != NULL && v[0] != '\0' ? v : NULL;
    }
    static const struct option opts[] = {
        {"endpoints", required_argument, NULL, 'e'},
        {"timeout", required_argument, NULL, 't'},
        {"cacert", required_argument, NULL, 'C'},
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"token-file", required_argument, NULL, 'T'},
        {"output", required_argument, NULL, 'o'},
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
        case 'C':
            g.cacert = optarg;
            break;
        case 'c':
            g.cert = optarg;
            break;
        case 'k':
            g.key = optarg;
            break;
        case 'T':
            g.token_file = optarg;
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
