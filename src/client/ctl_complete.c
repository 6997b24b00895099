/*
 * Shell completion: "raftcronctl completion bash|zsh" prints a small script; the script asks
 * "raftcronctl __complete WORD…" (the words typed after raftcronctl, the last one being the
 * word under the cursor, possibly empty) and offers the lines it prints. So the candidates come
 * from the program that will parse the line: groups, commands, the command's options, the
 * global options (ctl.c's table), enumerated values, and job names read from the cluster
 * (with a short deadline; nothing when it cannot be reached).
 *
 * The options of each command are listed here (the job definition keys come from
 * core/jobyaml.h's table); test_ctl_complete.sh checks each against the command's --help.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "core/jobyaml.h"
#include "ctl.h"
#include "raftcron/client.h"

/* Values of options that take one from a fixed set ("" ends each list). */
static const struct {
    const char *option;
    const char *values;
} option_values[] = {
    {"--output", "table json yaml"},
    {"-o", "table json yaml"},
    {"--overlap", "allow skip replace queue-one"},
    {"--backoff", "fixed linear exponential"},
    {"--dst-gap", "shift skip"},
    {"--dst-repeat", "once both"},
    {"--state", "pending assigned running succeeded failed timed_out lost retry_wait dead "
                "cancelled"},
};

/* Each command's own options; "*" marks one that takes a value. The definition keys of job
 * add/update are added from jobyaml's table. */
static const struct {
    const char *group;
    const char *cmd;
    const char *options;
    bool job_name; /* the positional argument is a job name */
} commands[] = {
    {"cluster", "status", "--stale", false},
    {"cluster", "digest", "--stale", false},
    {"cluster", "snapshot", "", false},
    {"member", "list", "--stale", false},
    {"member", "add", "--standby", false},
    {"member", "remove", "--force", false},
    {"member", "promote", "", false},
    {"member", "demote", "--force", false},
    {"member", "transfer", "", false},
    {"job", "add", "--no-coalesce --body-file*", false},
    {"job", "update", "--no-coalesce --body-file* --if-version*", true},
    {"job", "get", "--namespace* --stale", true},
    {"job", "list", "--namespace* --stale", false},
    {"job", "delete", "--namespace* --if-version*", true},
    {"job", "pause", "--namespace*", true},
    {"job", "resume", "--namespace*", true},
    {"job", "apply", "-f* --file* --prune --dry-run", false},
    {"job", "next", "-n* --count* --namespace* --stale", true},
    {"job", "decisions", "--limit* --namespace* --stale", true},
    {"job", "backfill", "--from* --to* --limit* --dry-run --namespace*", true},
    {"job", "run-now", "--namespace* --force", true},
    {"run", "list", "--job* --namespace* --state* --limit* --stale", false},
    {"run", "get", "--stale", false},
    {"run", "cancel", "", false},
    {"run", "now", "--namespace* --force", true},
    {"dlq", "list", "--namespace* --limit* --stale", false},
    {"dlq", "retry", "", false},
    {"cron", "next", "--tz* --from* -n* --explain --dst-gap* --dst-repeat*", false},
    {"cron", "prev", "--tz* --from* -n* --explain --dst-gap* --dst-repeat*", false},
    {"cron", "explain", "", false},
    {"completion", "bash", "", false},
    {"completion", "zsh", "", false},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

struct line {
    const char *group;
    const char *cmd;
    int cmd_index; /* in commands[], or -1 */
    int positionals;
};

static void offer(const char *word, const char *candidate, size_t len)
{
    if (strlen(word) <= len && strncmp(candidate, word, strlen(word)) == 0) {
        printf("%.*s\n", (int)len, candidate);
    }
}

/* Each blank-separated word of list (without a trailing '*'). */
static void offerList(const char *word, const char *list)
{
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, " ");
        offer(word, p, n > 0 && p[n - 1] == '*' ? n - 1 : n);
        p += n;
        p += strspn(p, " ");
    }
}

/* Whether option opt of the command takes a value. */
static bool takesValue(const struct line *l, const char *opt)
{
    for (size_t i = 0; ctlGlobalOption(i) != NULL; i++) {
        const struct ctl_global_option *o = ctlGlobalOption(i);
        bool is_short =
            o->short_name != 0 && opt[0] == '-' && opt[1] == o->short_name && opt[2] == '\0';
        if ((is_short || (strncmp(opt, "--", 2) == 0 && strcmp(opt + 2, o->name) == 0))) {
            return o->metavar != NULL;
        }
    }
    if (l->cmd_index < 0) {
        return false;
    }
    const char *list = commands[l->cmd_index].options;
    size_t n = strlen(opt);
    for (const char *p = strstr(list, opt); p != NULL; p = strstr(p + 1, opt)) {
        if ((p == list || p[-1] == ' ') && p[n] == '*') {
            return true;
        }
    }
    if (strcmp(l->group, "job") == 0 &&
        (strcmp(l->cmd, "add") == 0 || strcmp(l->cmd, "update") == 0)) {
        for (size_t i = 0; jobyamlKey(i) != NULL; i++) {
            char flag[40];
            snprintf(flag, sizeof flag, "--%s", jobyamlKey(i)->name);
            for (char *q = flag + 2; *q != '\0'; q++) {
                *q = *q == '_' ? '-' : *q;
            }
            if (strcmp(flag, opt) == 0) {
                return jobyamlKey(i)->metavar != NULL;
            }
        }
    }
    return false;
}

static int findCommand(const char *group, const char *cmd)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].group, group) == 0 && strcmp(commands[i].cmd, cmd) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void offerOptions(const struct line *l, const char *word)
{
    for (size_t i = 0; ctlGlobalOption(i) != NULL; i++) {
        char flag[48];
        snprintf(flag, sizeof flag, "--%s", ctlGlobalOption(i)->name);
        offer(word, flag, strlen(flag));
    }
    if (l->cmd_index < 0) {
        return;
    }
    offerList(word, commands[l->cmd_index].options);
    if (strcmp(l->group, "job") == 0 &&
        (strcmp(l->cmd, "add") == 0 || strcmp(l->cmd, "update") == 0)) {
        for (size_t i = 0; jobyamlKey(i) != NULL; i++) {
            char flag[40];
            snprintf(flag, sizeof flag, "--%s", jobyamlKey(i)->name);
            for (char *q = flag + 2; *q != '\0'; q++) {
                *q = *q == '_' ? '-' : *q;
            }
            offer(word, flag, strlen(flag));
        }
    }
    offer(word, "--help", 6);
}

/* The names of the cluster's jobs (NS/NAME outside the default namespace), when it answers
 * within a second. */
static void offerJobs(const struct ctl_global *g, const char *word)
{
    struct rc_client_options o = {.endpoints = g->endpoints,
                                  .timeout_us = g->timeout_us < 1000000 ? g->timeout_us : 1000000,
                                  .auth_token = getenv("RAFTCRON_AUTH_TOKEN")};
    struct rc_client *c;
    Raftcron__JobListResponse *l = NULL;
    if (rc_client_open(&o, &c) != 0) {
        return;
    }
    if (rc_job_list(c, "", 1, &l) == 0) {
        for (size_t i = 0; i < l->n_jobs; i++) {
            const Raftcron__JobSpec *s = l->jobs[i]->spec;
            char name[300];
            if (s == NULL) {
                continue;
            }
            bool dflt = s->namespace_[0] == '\0' || strcmp(s->namespace_, "default") == 0;
            snprintf(name, sizeof name, "%s%s%s", dflt ? "" : s->namespace_, dflt ? "" : "/",
                     s->name);
            offer(word, name, strlen(name));
        }
    }
    rc_message_free(l);
    rc_client_close(c);
}

/* Candidates for the value of option prev; false when prev takes no listed values. */
static bool offerValues(const struct ctl_global *g, const char *prev, const char *word)
{
    for (size_t i = 0; i < sizeof option_values / sizeof option_values[0]; i++) {
        if (strcmp(option_values[i].option, prev) == 0) {
            offerList(word, option_values[i].values);
            return true;
        }
    }
    if (strcmp(prev, "--job") == 0) {
        offerJobs(g, word);
        return true;
    }
    return false;
}

/* A global option on the line being completed (its value, when it has one): --endpoints must
 * reach offerJobs. A bad value's message goes to stderr, which the scripts discard. */
static void applyGlobal(struct ctl_global *g, const char *opt, const char *value)
{
    for (size_t i = 0; ctlGlobalOption(i) != NULL; i++) {
        const struct ctl_global_option *o = ctlGlobalOption(i);
        bool is_short = o->short_name != 0 && opt[1] == o->short_name && opt[2] == '\0';
        if (is_short || (strncmp(opt, "--", 2) == 0 && strcmp(opt + 2, o->name) == 0)) {
            (void)o->set(g, value);
            return;
        }
    }
}

int ctlCompleteWords(const struct ctl_global *global, int argc, char **argv)
{
    struct ctl_global local = *global;
    struct ctl_global *g = &local;
    if (argc < 1) {
        return CTL_OK;
    }
    const char *word = argv[argc - 1];
    struct line l = {.group = NULL, .cmd = NULL, .cmd_index = -1};
    const char *prev = NULL; /* an option whose value is the word under the cursor */
    for (int i = 0; i + 1 < argc; i++) {
        const char *w = argv[i];
        if (w[0] == '-' && w[1] != '\0' && strchr(w, '=') == NULL) {
            if (takesValue(&l, w)) {
                if (i + 2 == argc) {
                    prev = w;
                } else {
                    applyGlobal(g, w, argv[i + 1]);
                }
                i++;
            }
            continue;
        }
        if (l.group == NULL) {
            l.group = w;
        } else if (l.cmd == NULL) {
            l.cmd = w;
            l.cmd_index = findCommand(l.group, w);
        } else {
            l.positionals++;
        }
    }
    if (prev != NULL) {
        offerValues(g, prev, word);
        return CTL_OK;
    }
    if (word[0] == '-') {
        offerOptions(&l, word);
        return CTL_OK;
    }
    if (l.group == NULL) {
        for (size_t i = 0; ctlGroupAt(i) != NULL; i++) {
            offer(word, ctlGroupAt(i)->name, strlen(ctlGroupAt(i)->name));
        }
        offer(word, "completion", 10);
        return CTL_OK;
    }
    if (l.cmd == NULL) {
        for (size_t i = 0; i < N_COMMANDS; i++) {
            if (strcmp(commands[i].group, l.group) == 0) {
                offer(word, commands[i].cmd, strlen(commands[i].cmd));
            }
        }
        return CTL_OK;
    }
    if (strcmp(l.group, "cluster") == 0 && strcmp(l.cmd, "snapshot") == 0 && l.positionals == 0) {
        offer(word, "save", 4);
    }
    if (l.cmd_index >= 0 && commands[l.cmd_index].job_name && l.positionals == 0) {
        offerJobs(g, word);
    }
    return CTL_OK;
}

/* ---- The scripts --------------------------------------------------------------------------- */

static const char bash_script[] =
    "# bash completion for raftcronctl: source <(raftcronctl completion bash)\n"
    "_raftcronctl() {\n"
    "    local cur words cword\n"
    "    cur=${COMP_WORDS[COMP_CWORD]}\n"
    "    words=(\"${COMP_WORDS[@]:1:COMP_CWORD}\")\n"
    "    local IFS=$'\\n'\n"
    "    COMPREPLY=($(\"${COMP_WORDS[0]}\" __complete \"${words[@]}\" 2>/dev/null))\n"
    "    if [ ${#COMPREPLY[@]} -eq 0 ] && [ \"${cur#-}\" = \"$cur\" ]; then\n"
    "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
    "    fi\n"
    "}\n"
    "complete -o filenames -F _raftcronctl raftcronctl\n";

static const char zsh_script[] =
    "#compdef raftcronctl\n"
    "# zsh completion for raftcronctl: raftcronctl completion zsh > \"${fpath[1]}/_raftcronctl\"\n"
    "# (or: source <(raftcronctl completion zsh) after compinit)\n"
    "_raftcronctl() {\n"
    "    local -a candidates\n"
    "    candidates=(${(f)\"$(${words[1]} __complete \"${(@)words[2,CURRENT]}\" 2>/dev/null)\"})\n"
    "    if (( ${#candidates} )); then\n"
    "        compadd -- \"${candidates[@]}\"\n"
    "    else\n"
    "        _files\n"
    "    fi\n"
    "}\n"
    "if [ \"$funcstack[1]\" = \"_raftcronctl\" ]; then\n"
    "    _raftcronctl \"$@\"\n"
    "else\n"
    "    compdef _raftcronctl raftcronctl\n"
    "fi\n";

static void usage(FILE *f)
{
    fprintf(f, "Usage: raftcronctl completion bash|zsh\n"
               "\n"
               "Print a completion script for the shell. It completes groups, commands,\n"
               "options, their fixed values and the cluster's job names (asked with a 1 s\n"
               "deadline, at --endpoints).\n"
               "\n"
               "  bash: source <(raftcronctl completion bash)   (e.g. in ~/.bashrc), or\n"
               "        raftcronctl completion bash > /etc/bash_completion.d/raftcronctl\n"
               "  zsh:  raftcronctl completion zsh > \"${fpath[1]}/_raftcronctl\"\n");
}

int ctlCompletion(int argc, char **argv)
{
    if (argc == 2 && ctlIsHelp(argv[1])) {
        usage(stdout);
        return CTL_OK;
    }
    if (argc != 2) {
        usage(stderr);
        return CTL_USAGE;
    }
    if (strcmp(argv[1], "bash") == 0) {
        fputs(bash_script, stdout);
    } else if (strcmp(argv[1], "zsh") == 0) {
        fputs(zsh_script, stdout);
    } else {
        return ctlUsageError("completion: unknown shell \"%s\" (bash or zsh)", argv[1]);
    }
    return CTL_OK;
}
