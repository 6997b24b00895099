/*
 * Job definitions as users write them: raftcronctl's job flags and the YAML files of
 * `raftcronctl job apply -f`, turned into a raftcron.JobSpec (proto/raftcron.proto).
 *
 * One table of keys serves both forms: the YAML key is snake_case ("misfire_grace") and the
 * flag is the same with dashes ("--misfire-grace"). Values are text either way and are parsed
 * by one function per kind: durations "1h30m" (durationParse), instants RFC 3339
 * (timefmtParse), enums by name, booleans (YAML true/false/yes/no/on/off; a flag without a
 * value is true), and the repeatable keys header "K:V", target "k=v", env "K=V", expect CODE
 * (in YAML also a mapping, or a list).
 *
 * Rules checked here, before anything is sent (docs/cli.md):
 *   - exactly one trigger (cron | every | at) and one executor (shell | http | sql, sql with
 *     exactly one of dsn and conn);
 *   - keys that belong to one trigger or executor (tz, dst_gap, dst_repeat: cron; method,
 *     header, body, expect, follow_redirects, insecure, ca_file: http; dsn, conn, once: sql;
 *     workdir: shell) only with it;
 *   - the cron expression parses and the zone exists (triggerInitCron), then every rule of
 *     fsmValidateSpec.
 * Errors are RC_EINVAL (RC_ENOMEM when memory ran out) with a message naming the flag
 * ("--cron: field 2 (hour): 25 is out of range 0-23"), or in a file the file and line
 * ("jobs.yaml:7: cron: ...").
 *
 * Policy is always written in full: keys not given take policyDefaults' values, so the stored
 * spec says what applies. Retry is written only when a retry key is given (retries N means
 * N + 1 attempts). Map entries are sorted by key, so equal definitions give equal bytes.
 *
 * The YAML file (jobyamlLoad):
 *     namespace: ops          # optional: namespace of jobs that name none (default "default")
 *     jobs:
 *       - name: backup
 *         cron: "0 3 * * *"
 *         tz: Europe/Berlin
 *         shell: /usr/local/bin/backup
 *         retries: 2
 */
#ifndef RC_CORE_JOBYAML_H
#define RC_CORE_JOBYAML_H

#include <stdbool.h>
#include <stddef.h>

#include "raftcron.pb-c.h"

/* One key of a job definition, for flag tables and help texts. */
struct rc_jobkey {
    const char *name;    /* YAML key, snake_case */
    const char *metavar; /* what the flag takes ("EXPR"); NULL: a switch (boolean) */
    const char *help;    /* one line */
    bool repeatable;     /* may be given more than once (a list) */
};

/* The i-th key (i from 0), or NULL past the last. */
const struct rc_jobkey *jobyamlKey(size_t i);

/* The word for value of an enumerated key ("dst_gap" 1 → "skip"), or NULL when key is not
 * enumerated or value out of range: how specs are shown back to users. */
const char *jobyamlEnumName(const char *key, unsigned value);

/* A job definition being assembled, one key at a time. */
struct rc_jobdraft;

/* file: the YAML file name for messages (borrowed; NULL for command-line flags, "" for a
 * document without lines such as a JSON body: messages then name the key alone).
 * Returns 0 or RC_ENOMEM. */
int jobyamlDraftCreate(const char *file, struct rc_jobdraft **out);
void jobyamlDraftDestroy(struct rc_jobdraft *d);

/*
 * Set key from its text (value NULL: a switch given without a value, i.e. "true"). line is
 * where the key stands in the file (messages only; 0 for flags). A key given twice is an
 * error unless it is repeatable. Returns 0, RC_EINVAL with a message, or RC_ENOMEM.
 */
int jobyamlSet(struct rc_jobdraft *d, const char *key, const char *value, int line, char *err,
               size_t errlen);

/* A built definition: the spec and what JobPut carries beside it. */
struct rc_jobdef {
    Raftcron__JobSpec *spec; /* owned: raftcron__job_spec__free_unpacked(spec, NULL) */
    bool paused;             /* create paused */
    bool paused_set;         /* "paused" was given */
    int line;                /* where the job starts in its file (0 for flags) */
};

/*
 * Check the draft against the rules above and build the spec into *out (which the caller
 * clears with jobyamlDefClear). ns_default is the namespace of a draft that names none
 * (NULL: "default"). Returns 0, RC_EINVAL with a message, or RC_ENOMEM.
 */
int jobyamlBuild(const struct rc_jobdraft *d, const char *ns_default, struct rc_jobdef *out,
                 char *err, size_t errlen);
void jobyamlDefClear(struct rc_jobdef *def);

/* The jobs of one YAML file, in file order. */
struct rc_jobfile {
    struct rc_jobdef *jobs; /* owned */
    size_t n_jobs;
    char **namespaces; /* owned: every namespace the file names, sorted, no duplicates */
    size_t n_namespaces;
};

/*
 * Parse a YAML document (text of len bytes, read from file, which names it in messages) into
 * *out. Every job is built as jobyamlBuild does; a (namespace, name) listed twice is an error.
 * Returns 0, or RC_EPARSE (not YAML, or not the shape above), RC_EINVAL (a bad job) with a
 * message "file:line: …", or RC_ENOMEM. On error *out is left empty.
 */
int jobyamlLoad(const char *file, const char *text, size_t len, struct rc_jobfile *out, char *err,
                size_t errlen);
void jobyamlFileClear(struct rc_jobfile *f);

/*
 * Whether two specs are the same definition: equal bytes once map entries are sorted by key
 * and expected HTTP codes by value (both specs are reordered in place to get there).
 */
bool jobyamlSpecEqual(Raftcron__JobSpec *a, Raftcron__JobSpec *b);

/* ---- Showing a job: raftcronctl job get and the REST API's job object -----------------------
 *
 * A job is shown as the keys of its definition (the ones jobyamlSet reads back, so that what is
 * shown can be sent again), then the state the cluster keeps. Keys whose value is the default
 * and that a definition may leave out are not shown (tz when UTC, max_instances when 0, …).
 * One call per key, in this order:
 *   name, namespace, id, version, paused, paused_at (when paused), created, updated,
 *   description, cron | every | at, tz, dst_gap, dst_repeat, anchor, start, end, jitter,
 *   shell, workdir | http, method, follow_redirects, insecure, ca_file, header, body, expect |
 *   sql, conn | dsn, once | noop, misfire_grace, coalesce, overlap, max_instances, retries,
 *   backoff, retry_delay, retry_multiplier, retry_max_delay, retry_jitter, timeout_run, target,
 *   env, at_most_once, cursor, history_floor, runs_total, runs_failed, last_outcome,
 *   last_finished.
 */
struct rc_jobemit {
    void (*str)(void *data, const char *key, const char *v);
    void (*bytes)(void *data, const char *key, const uint8_t *v, size_t len);
    void (*uint)(void *data, const char *key, uint64_t v);
    void (*boolean)(void *data, const char *key, bool v);
    void (*real)(void *data, const char *key, double v);
    void (*duration)(void *data, const char *key, int64_t us);
    void (*instant)(void *data, const char *key, int64_t us); /* 0: never */
    /* A map<string, string> (every entry type is {base, key, value}); sep is how a flag writes
     * one entry ('=' or ':'). n > 0. */
    void (*map)(void *data, const char *key, Raftcron__JobSpec__EnvEntry *const *e, size_t n,
                char sep);
    void (*codes)(void *data, const char *key, const uint32_t *codes, size_t n); /* n > 0 */
};

/* The definition's keys only (description .. at_most_once). */
void jobyamlEmitSpec(const Raftcron__JobSpec *spec, const struct rc_jobemit *e, void *data);
/* The whole job, as listed above. */
void jobyamlEmitJob(const Raftcron__Job *job, const struct rc_jobemit *e, void *data);

/* Whether key is one of the job's state keys above (id, version, paused_at, created, updated,
 * cursor, history_floor, runs_total, runs_failed, last_outcome, last_finished), which a
 * definition sent back may carry and which are then ignored. */
bool jobyamlStateKey(const char *key);

/* Set one entry of a map key (header, target, env) from a structured source (a YAML or JSON
 * mapping), as jobyamlSet does for "K:V" text. Returns as jobyamlSet. */
int jobyamlSetPair(struct rc_jobdraft *d, const char *key, const char *k, const char *v, int line,
                   char *err, size_t errlen);

#endif /* RC_CORE_JOBYAML_H */
