#include "ctl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/civil.h"
#include "core/duration.h"
#include "core/err.h"
#include "net/tls.h"
#include "print.h"

static const struct ctl_group groups[] = {
    {"cron", "preview and explain cron expressions", ctlCron},
    {"cluster", "leader, term, indexes, members; state digest; snapshot save", ctlCluster},
    {"member", "list, add, remove, promote, demote members; transfer leadership", ctlMember},
    {"job", "add, update, get, list, delete, pause, resume, apply jobs; next, decisions", ctlJob},
    {"run", "list and show runs (the run history)", ctlRun},
    {"dlq", "list dead letters (runs that exhausted their retries)", ctlDlq},
    {"events", "follow job and run events as the cluster applies them", ctlEvents},
};

const struct ctl_group *ctlGroupAt(size_t i)
{
    return i < sizeof groups / sizeof groups[0] ? &groups[i] : NULL;
}

bool ctlColorWanted(FILE *f)
{
    const char *no_color = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    if (no_color != NULL && no_color[0] != '\0') {
        return false;
    }
    return isatty(fileno(f)) && !(term != NULL && strcmp(term, "dumb") == 0);
}

/* ---- Global options ----------------------------------------------------------------------------
 *
 * One table: the parser, --help and shell completion read it. A global option may stand
 * anywhere on the line (before the group, between the command and its arguments, at the end),
 * as kubectl and etcdctl take theirs: ctlGlobalParse takes each one out of argv before the group
 * parses the rest. Only exact names are recognised ("--timeout", "--timeout=5s", "-o json",
 * "-ojson"), never abbreviations, so that a group's own "--timeout-run" stays the group's. A
 * value that itself starts with "-" goes with '=' ("--description=-o"). "--" ends the options.
 */

static int setEndpoints(struct ctl_global *g, const char *v)
{
    g->endpoints = v;
    return CTL_OK;
}

static int setTimeout(struct ctl_global *g, const char *v)
{
    char err[RC_ERRMSG_SIZE];
    if (durationParse(v, &g->timeout_us, err, sizeof err) != 0) {
        return ctlUsageError("--timeout: %s", err);
    }
    return CTL_OK;
}

static int setOutput(struct ctl_global *g, const char *v)
{
    /* -o yaml is structured output like json: the same documents, in YAML syntax (print.h). */
    if (strcmp(v, "json") == 0 || strcmp(v, "yaml") == 0) {
        g->output = CTL_OUTPUT_JSON;
        printSetYaml(strcmp(v, "yaml") == 0);
    } else if (strcmp(v, "table") == 0) {
        g->output = CTL_OUTPUT_TABLE;
        printSetYaml(false);
    } else {
        return ctlUsageError("-o: unknown output format \"%s\" (table, json or yaml)", v);
    }
    return CTL_OK;
}

static int setToken(struct ctl_global *g, const char *v)
{
    g->token = v;
    g->token_file = NULL;
    return CTL_OK;
}

static int setTokenFile(struct ctl_global *g, const char *v)
{
    g->token_file = v;
    return CTL_OK;
}

static int setCacert(struct ctl_global *g, const char *v)
{
    g->cacert = v;
    return CTL_OK;
}

static int setCert(struct ctl_global *g, const char *v)
{
    g->cert = v;
    return CTL_OK;
}

static int setKey(struct ctl_global *g, const char *v)
{
    g->key = v;
    return CTL_OK;
}

static const struct ctl_global_option global_options[] = {
    {"endpoints", 0, "A,B,C", "RPC endpoints (env RAFTCRON_ENDPOINTS; default 127.0.0.1:7101)",
     setEndpoints},
    {"timeout", 0, "DURATION", "deadline of each operation (default 10s)", setTimeout},
    {"output", 'o', "FMT", "table (default), json or yaml", setOutput},
    {"token", 0, "TOKEN",
     "credential: the cluster's shared secret or a bearer JWT (env RAFTCRON_TOKEN)", setToken},
    {"token-file", 0, "FILE",
     "the credential from the first line of FILE (env RAFTCRON_TOKEN_FILE)", setTokenFile},
    {"cacert", 0, "FILE",
     "TLS: the CA the servers' certificates must chain to (env RAFTCRON_CACERT)", setCacert},
    {"cert", 0, "FILE", "TLS: our certificate, for servers that ask (env RAFTCRON_CERT)", setCert},
    {"key", 0, "FILE", "its key, mode 0600 (env RAFTCRON_KEY)", setKey},
};

const struct ctl_global_option *ctlGlobalOption(size_t i)
{
    return i < sizeof global_options / sizeof global_options[0] ? &global_options[i] : NULL;
}

/* The option arg names (with its value when it is "--name=value" or "-oVALUE"), or NULL. */
static const struct ctl_global_option *matchGlobal(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    for (const struct ctl_global_option *o = global_options;
         o < global_options + sizeof global_options / sizeof global_options[0]; o++) {
        size_t n = strlen(o->name);
        if (arg[0] == '-' && arg[1] == '-' && strncmp(arg + 2, o->name, n) == 0) {
            if (arg[2 + n] == '\0') {
                return o;
            }
            if (arg[2 + n] == '=' && o->metavar != NULL) {
                *inline_value = arg + 3 + n;
                return o;
            }
        }
        if (o->short_name != 0 && arg[0] == '-' && arg[1] == o->short_name) {
            if (arg[2] == '\0') {
                return o;
            }
            if (o->metavar != NULL) {
                *inline_value = arg + 2;
                return o;
            }
        }
    }
    return NULL;
}

int ctlGlobalParse(struct ctl_global *g, int *argc, char **argv)
{
    int out = 1;
    int i = 1;
    for (; i < *argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            break;
        }
        const char *value;
        const struct ctl_global_option *o = matchGlobal(arg, &value);
        if (o == NULL) {
            argv[out++] = argv[i];
            continue;
        }
        if (o->metavar != NULL && value == NULL) {
            if (i + 1 >= *argc) {
                return ctlUsageError("%s: needs a value (%s)", arg, o->metavar);
            }
            value = argv[++i];
        }
        int rv = o->set(g, value);
        if (rv != CTL_OK) {
            return rv;
        }
    }
    for (; i < *argc; i++) {
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    *argc = out;
    return CTL_OK;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: raftcronctl GROUP COMMAND [ARGS] [OPTIONS]\n"
               "\n"
               "The ops CLI of raftcron, the highly available cron and job scheduler.\n"
               "\n"
               "Groups:\n");
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        fprintf(f, "  %-10s %s\n", groups[i].name, groups[i].summary);
    }
    fprintf(f, "  %-10s %s\n", "completion", "print a bash or zsh completion script");
    fprintf(f, "\n"
               "Global options (anywhere on the line):\n");
    for (const struct ctl_global_option *o = global_options;
         o < global_options + sizeof global_options / sizeof global_options[0]; o++) {
        char flag[64];
        int n = o->short_name != 0 ? snprintf(flag, sizeof flag, "-%c, ", o->short_name)
                                   : snprintf(flag, sizeof flag, "    ");
        snprintf(flag + n, sizeof flag - (size_t)n, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(f, "  %-24s %s\n", flag, o->help);
    }
    fprintf(f, "  %-24s %s\n", "-h, --help", "this help; 'raftcronctl GROUP --help' for a group");
    fprintf(
        f,
        "\n"
        "Environment: RAFTCRON_ENDPOINTS, RAFTCRON_TOKEN, RAFTCRON_TOKEN_FILE, RAFTCRON_CACERT,\n"
        "RAFTCRON_CERT, RAFTCRON_KEY; NO_COLOR turns colour off.\n"
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

/* The first line of a token file that only its owner may read, without its line break. */
static int readTokenFile(const char *path, char *buf, size_t len)
{
    char err[RC_ERRMSG_SIZE];
    if (tlsCheckPrivateFile(path, "--token-file", err, sizeof err) != 0) {
        return ctlUsageError("%s", err);
    }
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
    const char **files[] = {&g.cacert, &g.cert, &g.key};
    const char *const envs[] = {"RAFTCRON_CACERT", "RAFTCRON_CERT", "RAFTCRON_KEY"};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        const char *v = getenv(envs[i]);
        *files[i] = v != NULL && v[0] != '\0' ? v : NULL;
    }
    g.token = getenv("RAFTCRON_TOKEN");
    if (g.token == NULL || g.token[0] == '\0') {
        g.token = getenv("RAFTCRON_AUTH_TOKEN");
    }
    g.token_file = getenv("RAFTCRON_TOKEN_FILE");
    if (g.token_file != NULL && g.token_file[0] == '\0') {
        g.token_file = NULL;
    }
    printSetColor(ctlColorWanted(stdout));
    /* Completion runs on partial lines: it must see them as typed, global options included. */
    if (argc >= 2 && strcmp(argv[1], "__complete") == 0) {
        return ctlCompleteWords(&g, argc - 2, argv + 2);
    }
    int rv = ctlGlobalParse(&g, &argc, argv);
    if (rv != CTL_OK) {
        return rv;
    }
    if (argc < 2) {
        usage(stderr);
        return CTL_USAGE;
    }
    if (ctlIsHelp(argv[1])) {
        usage(stdout);
        return CTL_OK;
    }
    if (argv[1][0] == '-') {
        return ctlUsageError("unknown or incomplete option \"%s\"", argv[1]);
    }
    if (strcmp(argv[1], "completion") == 0) {
        return ctlCompletion(argc - 1, argv + 1);
    }
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (strcmp(argv[1], groups[i].name) == 0) {
            return groups[i].run(&g, argc - 1, argv + 1);
        }
    }
    return ctlUsageError("unknown command group \"%s\"", argv[1]);
}
