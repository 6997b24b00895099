/*
 * Least privilege for runs (DESIGN.md §5, §9), as pure parsers and checks:
 *
 * Which executors a namespace may use, a node's --executors setting: "NS=KIND[+KIND...]" items
 * separated by commas, KIND one of shell, http, sql, noop, NS a namespace or "*" for every
 * namespace not named. "ops=shell+http,*=http+sql+noop" lets only ops run shell. An empty
 * setting allows everything (as before the setting existed). The leader refuses a Job.Put
 * whose executor its namespace may not use (PERMISSION_DENIED); a worker refuses to run one.
 *
 * Resource limits of a shell run, setrlimit(2) after fork (a job's rlimits, or the node's
 * --job-rlimits when the job sets none): "NAME=VALUE" items separated by commas, NAME one of
 *   cpu     seconds of CPU time (RLIMIT_CPU): "30", "30s", "5m", "2h"
 *   as      bytes of address space (RLIMIT_AS): "512M", "2G", "1048576", suffixes K M G T (1024)
 *   fsize   bytes of the largest file it may write (RLIMIT_FSIZE)
 *   core    bytes of a core dump (RLIMIT_CORE), 0 for none
 *   nofile  open files (RLIMIT_NOFILE)
 *   nproc   processes of its user (RLIMIT_NPROC)
 *   stack   bytes of stack (RLIMIT_STACK)
 * each once; "unlimited" is a value too. Soft and hard limit are both set.
 */
#ifndef RC_CORE_EXECPOLICY_H
#define RC_CORE_EXECPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXECPOLICY_RULES_MAX 32
#define EXECPOLICY_NS_MAX    64 /* bytes of a namespace name, NUL included */

/* Executor kinds as bits. */
enum {
    EXECPOLICY_SHELL = 1u << 0,
    EXECPOLICY_HTTP = 1u << 1,
    EXECPOLICY_SQL = 1u << 2,
    EXECPOLICY_NOOP = 1u << 3,
    EXECPOLICY_ALL = 0xFu,
};

struct execpolicy {
    unsigned n;
    struct {
        char ns[EXECPOLICY_NS_MAX]; /* "*": the default */
        unsigned kinds;             /* EXECPOLICY_* bits */
    } rules[EXECPOLICY_RULES_MAX];
};

/* Parse a --executors setting into *p. Returns 0 or RC_EINVAL with a message naming the item. */
int execpolicyParse(const char *spec, struct execpolicy *p, char *err, size_t errlen);

/* The EXECPOLICY_* bit of an executor kind name ("shell"…), 0 for an unknown one. */
unsigned execpolicyKind(const char *name);

/* Whether namespace ns ("" is "default") may use kind ("shell", "http", "sql", "noop"): its own
 * rule, else the "*" rule, else no (once any rule exists); everything when p has no rules. */
bool execpolicyAllows(const struct execpolicy *p, const char *ns, const char *kind);

/* Resource limits. */
enum execpolicy_rlimit {
    RLIM_CPU = 0,
    RLIM_AS,
    RLIM_FSIZE,
    RLIM_CORE,
    RLIM_NOFILE,
    RLIM_NPROC,
    RLIM_STACK,
    RLIM__N
};

#define EXECPOLICY_UNLIMITED UINT64_MAX

struct execpolicy_rlimits {
    bool set[RLIM__N];
    uint64_t value[RLIM__N]; /* EXECPOLICY_UNLIMITED for "unlimited" */
};

/* Parse a rlimits setting ("" gives no limits). Returns 0 or RC_EINVAL with a message. */
int execpolicyRlimitsParse(const char *spec, struct execpolicy_rlimits *out, char *err,
                           size_t errlen);

/* "cpu", "as", …, for messages. */
const char *execpolicyRlimitName(enum execpolicy_rlimit r);

#endif /* RC_CORE_EXECPOLICY_H */
