#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/jobyaml.h"

#define SEC INT64_C(1000000)

/* ---- helpers --------------------------------------------------------------------------------- */

/* Build a job from flags: kv is a NULL-terminated list of key, value (value NULL = switch). */
static int buildFlags(struct rc_jobdef *def, char *err, const char *const *kv)
{
    struct rc_jobdraft *d;
    assert_int_equal(jobyamlDraftCreate(NULL, &d), 0);
    int rv = 0;
    for (size_t i = 0; kv[i] != NULL && rv == 0; i += 2) {
        rv = jobyamlSet(d, kv[i], kv[i + 1], 0, err, RC_ERRMSG_SIZE);
    }
    if (rv == 0) {
        rv = jobyamlBuild(d, NULL, def, err, RC_ERRMSG_SIZE);
    }
    jobyamlDraftDestroy(d);
    return rv;
}

#define FLAGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static Raftcron__JobSpec *mustBuild(struct rc_jobdef *def, const char *const *kv)
{
    char err[RC_ERRMSG_SIZE] = "";
    int rv = buildFlags(def, err, kv);
    if (rv != 0) {
        fail_msg("build failed: %s", err);
    }
    return def->spec;
}

/* The build fails with RC_EINVAL and a message equal to want. */
static void expectError(const char *want, const char *const *kv)
{
    struct rc_jobdef def = {0};
    char err[RC_ERRMSG_SIZE] = "";
    int rv = buildFlags(&def, err, kv);
    if (rv != RC_EINVAL || strcmp(err, want) != 0) {
        fail_msg("want RC_EINVAL \"%s\", got %d \"%s\"", want, rv, err);
    }
    assert_null(def.spec);
}

/* The build fails with RC_EINVAL and a message starting with prefix. */
static void expectErrorPrefix(const char *prefix, const char *const *kv)
{
    struct rc_jobdef def = {0};
    char err[RC_ERRMSG_SIZE] = "";
    int rv = buildFlags(&def, err, kv);
    if (rv != RC_EINVAL || strncmp(err, prefix, strlen(prefix)) != 0) {
        fail_msg("want RC_EINVAL \"%s…\", got %d \"%s\"", prefix, rv, err);
    }
}

static int loadYaml(const char *text, struct rc_jobfile *f, char *err)
{
    return jobyamlLoad("jobs.yaml", text, strlen(text), f, err, RC_ERRMSG_SIZE);
}

static void expectYamlError(const char *text, int code, const char *want)
{
    struct rc_jobfile f;
    char err[RC_ERRMSG_SIZE] = "";
    int rv = loadYaml(text, &f, err);
    if (rv != code || strcmp(err, want) != 0) {
        fail_msg("want %d \"%s\", got %d \"%s\"", code, want, rv, err);
    }
    assert_int_equal(f.n_jobs, 0);
    assert_null(f.jobs);
}

static const char *mapGet(Raftcron__JobSpec__EnvEntry **e, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i]->key, key) == 0) {
            return e[i]->value;
        }
    }
    return NULL;
}

/* ---- flags: every field ---------------------------------------------------------------------- */

static void test_cron_shell_defaults(void **state)
{
    (void)state;
    struct rc_jobdef def;
    Raftcron__JobSpec *s =
        mustBuild(&def, FLAGS("name", "backup", "cron", "0 3 * * *", "shell", "backup.sh"));
    assert_string_equal(s->namespace_, "default");
    assert_string_equal(s->name, "backup");
    assert_string_equal(s->description, "");
    assert_int_equal(s->trigger->kind_case, RAFTCRON__TRIGGER__KIND_CRON);
    assert_string_equal(s->trigger->cron, "0 3 * * *");
    assert_string_equal(s->trigger->tz, "");
    assert_int_equal(s->trigger->start_us, 0);
    assert_int_equal(s->trigger->end_us, 0);
    /* Policy is written in full with policyDefaults' values. */
    assert_non_null(s->policy);
    assert_int_equal(s->policy->misfire_grace_us, 60 * SEC);
    assert_true(s->policy->coalesce);
    assert_int_equal(s->policy->overlap, 0);
    assert_int_equal(s->policy->max_instances, 1);
    /* No retry key: no retry policy. */
    assert_null(s->retry);
    assert_int_equal(s->executor->kind_case, RAFTCRON__EXECUTOR__KIND_SHELL);
    assert_string_equal(s->executor->shell->command, "backup.sh");
    assert_string_equal(s->executor->shell->workdir, "");
    assert_false(def.paused);
    assert_false(def.paused_set);
    assert_int_equal(def.line, 0);
    jobyamlDefClear(&def);
    assert_null(def.spec);
}

static void test_trigger_fields(void **state)
{
    (void)state;
    struct rc_jobdef def;
    Raftcron__JobSpec *s =
        mustBuild(&def, FLAGS("name", "t", "cron", "30 2 * * *", "tz", "Europe/Berlin", "dst_gap",
                              "skip", "dst_repeat", "both", "start", "2025-01-01T00:00:00Z", "end",
                              "2026-01-01T00:00:00+01:00", "jitter", "1m30s", "shell", "x"));
    assert_string_equal(s->trigger->tz, "Europe/Berlin");
    assert_int_equal(s->trigger->dst_gap, 1);
    assert_int_equal(s->trigger->dst_repeat, 1);
    assert_int_equal(s->trigger->start_us, INT64_C(1735689600) * SEC);
    assert_int_equal(s->trigger->end_us, (INT64_C(1767225600) - 3600) * SEC);
    assert_int_equal(s->trigger->jitter_us, 90 * SEC);
    jobyamlDefClear(&def);

    s = mustBuild(&def, FLAGS("name", "t", "every", "1h30m", "shell", "x"));
    assert_int_equal(s->trigger->kind_case, RAFTCRON__TRIGGER__KIND_INTERVAL_US);
    assert_int_equal(s->trigger->interval_us, 5400 * SEC);
    jobyamlDefClear(&def);

    s = mustBuild(&def, FLAGS("name", "t", "at", "2030-05-01T12:00:00.25Z", "shell", "x"));
    assert_int_equal(s->trigger->kind_case, RAFTCRON__TRIGGER__KIND_AT_US);
    assert_int_equal(s->trigger->at_us, INT64_C(1903867200) * SEC + 250000);
    jobyamlDefClear(&def);

    /* dst defaults and a cron expression carrying its own zone. */
    s = mustBuild(&def, FLAGS("name", "t", "cron", "CRON_TZ=Asia/Tokyo 0 9 * * *", "shell", "x"));
    assert_int_equal(s->trigger->dst_gap, 0);
    assert_int_equal(s->trigger->dst_repeat, 0);
    assert_string_equal(s->trigger->tz, "");
    jobyamlDefClear(&def);
}

static void test_http_fields(void **state)
{
    (void)state;
    struct rc_jobdef def;
    Raftcron__JobSpec *s = mustBuild(
        &def, FLAGS("name", "ping", "every", "10s", "http", "https://example.com/hook", "method",
                    "POST", "header", "X-Trace: abc", "header", "Content-Type:application/json",
                    "body", "{\"a\":1}", "expect", "204", "expect", "200"));
    Raftcron__HttpExec *h = s->executor->http;
    assert_int_equal(s->executor->kind_case, RAFTCRON__EXECUTOR__KIND_HTTP);
    assert_string_equal(h->url, "https://example.com/hook");
    assert_string_equal(h->method, "POST");
    assert_int_equal(h->n_headers, 2);
    /* Sorted by name, blanks after ':' dropped. */
    assert_string_equal(h->headers[0]->key, "Content-Type");
    assert_string_equal(h->headers[0]->value, "application/json");
    assert_string_equal(h->headers[1]->key, "X-Trace");
    assert_string_equal(h->headers[1]->value, "abc");
    assert_int_equal(h->body.len, 7);
    assert_memory_equal(h->body.data, "{\"a\":1}", 7);
    assert_int_equal(h->n_expect_codes, 2);
    assert_int_equal(h->expect_codes[0], 200);
    assert_int_equal(h->expect_codes[1], 204);
    jobyamlDefClear(&def);

    s = mustBuild(&def, FLAGS("name", "ping", "every", "10s", "http", "http://h/"));
    assert_string_equal(s->executor->http->method, "GET");
    assert_int_equal(s->executor->http->n_headers, 0);
    assert_int_equal(s->executor->http->body.len, 0);
    jobyamlDefClear(&def);
}

static void test_sql_shell_fields(void **state)
{
    (void)state;
    struct rc_jobdef def;
    Raftcron__JobSpec *s = mustBuild(&def, FLAGS("name", "vacuum", "cron", "@daily", "sql",
                                                 "VACUUM", "dsn", "postgres://db/x", "once", NULL));
    assert_int_equal(s->executor->kind_case, RAFTCRON__EXECUTOR__KIND_SQL);
    assert_string_equal(s->executor->sql->query, "VACUUM");
    assert_string_equal(s->executor->sql->dsn, "postgres://db/x");
    assert_true(s->executor->sql->dedupe);
    jobyamlDefClear(&def);

    s = mustBuild(&def, FLAGS("name", "db", "every", "1h", "sql", "SELECT 1", "conn", "main"));
    assert_string_equal(s->executor->sql->conn, "main");
    assert_string_equal(s->executor->sql->dsn, "");
    assert_false(s->executor->sql->dedupe);
    jobyamlDefClear(&def);

    s = mustBuild(&def,
                  FLAGS("name", "hook", "every", "1h", "http", "https://h/x", "body", "{}",
                        "follow_redirects", "true", "insecure", "true", "ca_file", "/etc/ca.pem"));
    assert_string_equal(s->executor->http->method, "POST"); /* a body without a method */
    assert_true(s->executor->http->follow_redirects);
    assert_true(s->executor->http->tls_insecure);
    assert_string_equal(s->executor->http->ca_file, "/etc/ca.pem");
    jobyamlDefClear(&def);

    s = mustBuild(&def, FLAGS("name", "w", "cron", "@hourly", "shell", "make", "workdir", "/srv"));
    assert_string_equal(s->executor->shell->workdir, "/srv");
    assert_string_equal(s->executor->shell->rlimits, "");
    jobyamlDefClear(&def);
    s = mustBuild(&def, FLAGS("name", "w", "cron", "@hourly", "shell", "make", "rlimits",
                              "cpu=60s,nofile=256"));
    assert_string_equal(s->executor->shell->rlimits, "cpu=60s,nofile=256");
    jobyamlDefClear(&def);
}

static void test_policy_retry_misc_fields(void **state)
{
    (void)state;
    struct rc_jobdef def;
    Raftcron__JobSpec *s =
        mustBuild(&def, FLAGS("name", "j", "namespace", "ops", "description", "nightly job",
                              "every", "5m", "shell", "x", "misfire_grace", "2m", "coalesce",
                              "false", "overlap", "queue-one", "max_instances", "3", "retries", "4",
                              "backoff", "exponential", "retry_delay", "10s", "retry_multiplier",
                              "2.5", "retry_max_delay", "5m", "retry_jitter", "1s", "timeout_run",
                              "30m", "target", "zone=eu", "target", "gpu = yes", "env", "A=1",
                              "env", "B=x=y", "at_most_once", NULL, "paused", NULL));
    assert_string_equal(s->namespace_, "ops");
    assert_string_equal(s->description, "nightly job");
    assert_int_equal(s->policy->misfire_grace_us, 120 * SEC);
    assert_false(s->policy->coalesce);
    assert_int_equal(s->policy->overlap, 3);
    assert_int_equal(s->policy->max_instances, 3);
    assert_non_null(s->retry);
    assert_int_equal(s->retry->max_attempts, 5);
    assert_int_equal(s->retry->backoff, 2);
    assert_int_equal(s->retry->delay_us, 10 * SEC);
    assert_true(s->retry->multiplier == 2.5);
    assert_int_equal(s->retry->max_delay_us, 300 * SEC);
    assert_int_equal(s->retry->jitter_us, SEC);
    assert_int_equal(s->timeout_us, 1800 * SEC);
    assert_int_equal(s->n_target, 2);
    assert_string_equal(mapGet((Raftcron__JobSpec__EnvEntry **)s->target, s->n_target, "zone"),
                        "eu");
    assert_string_equal(mapGet((Raftcron__JobSpec__EnvEntry **)s->target, s->n_target, "gpu"),
                        "yes");
    assert_int_equal(s->n_env, 2);
    assert_string_equal(mapGet(s->env, s->n_env, "B"), "x=y");
    assert_true(s->at_most_once);
    assert_true(def.paused);
    assert_true(def.paused_set);
    jobyamlDefClear(&def);

    /* misfire grace "none" is unlimited; overlap names; one retry key alone gives 1 attempt. */
    const char *overlaps[] = {"allow", "skip", "replace", "queue-one"};
    for (uint32_t i = 0; i < 4; i++) {
        s = mustBuild(&def, FLAGS("name", "j", "every", "5m", "shell", "x", "misfire_grace", "none",
                                  "overlap", overlaps[i], "retry_delay", "1s", "paused", "no"));
        assert_int_equal(s->policy->misfire_grace_us, -1);
        assert_int_equal(s->policy->overlap, i);
        assert_int_equal(s->retry->max_attempts, 1);
        assert_int_equal(s->retry->backoff, 0);
        assert_false(def.paused);
        assert_true(def.paused_set);
        jobyamlDefClear(&def);
    }
}

static void test_booleans(void **state)
{
    (void)state;
    const char *yes[] = {"true", "YES", "On", "1"};
    const char *no[] = {"false", "No", "OFF", "0"};
    struct rc_jobdef def;
    for (size_t i = 0; i < 4; i++) {
        Raftcron__JobSpec *s = mustBuild(
            &def, FLAGS("name", "j", "every", "5m", "shell", "x", "at_most_once", yes[i]));
        assert_true(s->at_most_once);
        jobyamlDefClear(&def);
        s = mustBuild(&def, FLAGS("name", "j", "every", "5m", "shell", "x", "at_most_once", no[i]));
        assert_false(s->at_most_once);
        jobyamlDefClear(&def);
    }
}

static void test_key_table(void **state)
{
    (void)state;
    size_t n = 0;
    for (const struct rc_jobkey *k; (k = jobyamlKey(n)) != NULL; n++) {
        assert_non_null(k->help);
        for (size_t j = 0; j < n; j++) {
            assert_string_not_equal(jobyamlKey(j)->name, k->name);
        }
    }
    assert_int_equal(n, 44);
    assert_string_equal(jobyamlKey(0)->name, "name");
    /* switches take no value, the repeatable keys are the four lists */
    size_t repeatable = 0, switches = 0;
    for (size_t i = 0; i < n; i++) {
        repeatable += jobyamlKey(i)->repeatable;
        switches += jobyamlKey(i)->metavar == NULL;
    }
    assert_int_equal(repeatable, 4);
    assert_int_equal(switches, 7);
    assert_null(jobyamlKey(n));
}

static void test_enum_names(void **state)
{
    (void)state;
    assert_string_equal(jobyamlEnumName("dst_gap", 1), "skip");
    assert_string_equal(jobyamlEnumName("dst_repeat", 0), "once");
    assert_string_equal(jobyamlEnumName("overlap", 3), "queue-one");
    assert_string_equal(jobyamlEnumName("backoff", 2), "exponential");
    assert_null(jobyamlEnumName("backoff", 3));
    assert_null(jobyamlEnumName("cron", 0));
    assert_null(jobyamlEnumName("nonsense", 0));
}

/* ---- flags: every error ---------------------------------------------------------------------- */

static void test_value_errors(void **state)
{
    (void)state;
    expectError("unknown option \"color\"", FLAGS("name", "j", "color", "red"));
    expectError("--cron: given twice", FLAGS("name", "j", "cron", "@daily", "cron", "@daily"));
    expectError("--shell: a value is required", FLAGS("name", "j", "shell", NULL));
    expectErrorPrefix("--every: invalid duration \"5 minutes\"",
                      FLAGS("name", "j", "every", "5 minutes"));
    /* Zero durations are refused by the duration parser itself. */
    expectErrorPrefix("--every: invalid duration \"0s\"", FLAGS("name", "j", "every", "0s"));
    expectErrorPrefix("--retry-delay: ", FLAGS("name", "j", "retry_delay", "-1s"));
    expectErrorPrefix("--misfire-grace: ", FLAGS("name", "j", "misfire_grace", "never"));
    expectErrorPrefix("--at: timestamp \"tomorrow\"", FLAGS("name", "j", "at", "tomorrow"));
    expectErrorPrefix("--start: timestamp", FLAGS("name", "j", "start", "2025-01-01"));
    expectError("--max-instances: \"0\" is not a whole number from 1 to 1000",
                FLAGS("name", "j", "max_instances", "0"));
    expectError("--max-instances: \"1001\" is not a whole number from 1 to 1000",
                FLAGS("name", "j", "max_instances", "1001"));
    expectError("--retries: \"-1\" is not a whole number from 0 to 99",
                FLAGS("name", "j", "retries", "-1"));
    expectError("--retries: \"3x\" is not a whole number from 0 to 99",
                FLAGS("name", "j", "retries", "3x"));
    expectError("--retries: \"99999999999999999999\" is not a whole number from 0 to 99",
                FLAGS("name", "j", "retries", "99999999999999999999"));
    expectError("--coalesce: \"maybe\" is not true or false",
                FLAGS("name", "j", "coalesce", "maybe"));
    expectError("--overlap: \"never\" is not allow, skip, replace or queue-one",
                FLAGS("name", "j", "overlap", "never"));
    expectError("--backoff: \"quadratic\" is not fixed, linear or exponential",
                FLAGS("name", "j", "backoff", "quadratic"));
    expectError("--dst-gap: \"later\" is not shift or skip",
                FLAGS("name", "j", "dst_gap", "later"));
    expectError("--dst-repeat: \"twice\" is not once or both",
                FLAGS("name", "j", "dst_repeat", "twice"));
    expectError("--retry-multiplier: \"0.5\" is not a number >= 1",
                FLAGS("name", "j", "retry_multiplier", "0.5"));
    expectError("--retry-multiplier: \"inf\" is not a number >= 1",
                FLAGS("name", "j", "retry_multiplier", "inf"));
    expectError("--retry-multiplier: \"\" is not a number >= 1",
                FLAGS("name", "j", "retry_multiplier", ""));
}

static void test_list_errors(void **state)
{
    (void)state;
    expectError("--header: \"X-Trace\" is not K:V", FLAGS("name", "j", "header", "X-Trace"));
    expectError("--header: empty key", FLAGS("name", "j", "header", ": v"));
    expectError("--header: \"X Trace\" is not a header name",
                FLAGS("name", "j", "header", "X Trace: v"));
    expectError("--header: \"x-trace\" given twice",
                FLAGS("name", "j", "header", "X-Trace: a", "header", "x-trace: b"));
    expectError("--target: \"zone\" is not k=v", FLAGS("name", "j", "target", "zone"));
    expectError("--env: \"A\" given twice", FLAGS("name", "j", "env", "A=1", "env", "A=2"));
    expectError("--expect: \"99\" is not an HTTP status from 100 to 599",
                FLAGS("name", "j", "expect", "99"));
    expectError("--expect: \"600\" is not an HTTP status from 100 to 599",
                FLAGS("name", "j", "expect", "600"));
    expectError("--expect: 200 given twice", FLAGS("name", "j", "expect", "200", "expect", "200"));
    /* Env keys are case-sensitive: A and a are two variables. */
    struct rc_jobdef def;
    Raftcron__JobSpec *s = mustBuild(
        &def, FLAGS("name", "j", "every", "1m", "shell", "x", "env", "A=1", "env", "a=2"));
    assert_int_equal(s->n_env, 2);
    jobyamlDefClear(&def);
}

static void test_shape_errors(void **state)
{
    (void)state;
    expectError("a trigger is required: --cron, --every or --at", FLAGS("name", "j", "shell", "x"));
    expectError("an executor is required: --shell, --http, --sql or --noop",
                FLAGS("name", "j", "cron", "@daily"));
    expectError("--cron and --every exclude each other",
                FLAGS("name", "j", "cron", "@daily", "every", "1m", "shell", "x"));
    expectError("--every and --at exclude each other",
                FLAGS("name", "j", "at", "2030-01-01T00:00:00Z", "every", "1m", "shell", "x"));
    expectError("--shell and --http exclude each other",
                FLAGS("name", "j", "every", "1m", "shell", "x", "http", "http://h/"));
    expectError("--tz: requires --cron",
                FLAGS("name", "j", "every", "1m", "tz", "Europe/Paris", "shell", "x"));
    expectError("--dst-gap: requires --cron",
                FLAGS("name", "j", "every", "1m", "dst_gap", "skip", "shell", "x"));
    expectError("--workdir: requires --shell",
                FLAGS("name", "j", "every", "1m", "http", "http://h/", "workdir", "/"));
    expectError("--rlimits: requires --shell",
                FLAGS("name", "j", "every", "1m", "http", "http://h/", "rlimits", "cpu=1"));
    expectError("--method: requires --http",
                FLAGS("name", "j", "every", "1m", "shell", "x", "method", "POST"));
    expectError("--expect: requires --http",
                FLAGS("name", "j", "every", "1m", "shell", "x", "expect", "200"));
    expectError("--sql: requires --dsn or --conn",
                FLAGS("name", "j", "every", "1m", "sql", "SELECT 1"));
    expectError(
        "--sql: give --dsn or --conn, not both",
        FLAGS("name", "j", "every", "1m", "sql", "SELECT 1", "dsn", "host=db", "conn", "main"));
    expectError("--conn: requires --sql",
                FLAGS("name", "j", "every", "1m", "shell", "x", "conn", "main"));
    expectError("--follow-redirects: requires --http",
                FLAGS("name", "j", "every", "1m", "shell", "x", "follow_redirects", "true"));
    expectError(
        "executor.sql.dsn: holds a password, which would be stored in the replicated "
        "job table; name a connection of the workers' configuration (--conn, with its "
        "password file) or use PGPASSFILE on the workers",
        FLAGS("name", "j", "every", "1m", "sql", "SELECT 1", "dsn", "host=db password=hunter2"));
    expectError("executor.http.url: must start with http:// or https://",
                FLAGS("name", "j", "every", "1m", "http", "ftp://example.org/x"));
    expectError(
        "executor.http.headers: Idempotency-Key is set by raftcron on every request "
        "(docs/executors.md)",
        FLAGS("name", "j", "every", "1m", "http", "http://h/", "header", "Idempotency-Key: 1"));
    expectError("--dsn: requires --sql",
                FLAGS("name", "j", "every", "1m", "shell", "x", "dsn", "postgres://"));
    expectError("--once: requires --sql",
                FLAGS("name", "j", "every", "1m", "shell", "x", "once", NULL));
    expectError("NAME: required", FLAGS("every", "1m", "shell", "x"));
}

static void test_validation_errors(void **state)
{
    (void)state;
    expectError("--cron: field 2 (hour): 25 is out of range 0-23",
                FLAGS("name", "j", "cron", "0 25 * * *", "shell", "x"));
    expectErrorPrefix("--tz: ",
                      FLAGS("name", "j", "cron", "@daily", "tz", "Mars/Olympus", "shell", "x"));
    /* A zone named inside the expression is reported on the expression. */
    expectErrorPrefix("--cron: ",
                      FLAGS("name", "j", "cron", "CRON_TZ=Mars/Olympus @daily", "shell", "x"));
    /* Rules of fsmValidateSpec come through with its message. */
    struct rc_jobdef def = {0};
    char err[RC_ERRMSG_SIZE] = "";
    assert_int_equal(buildFlags(&def, err, FLAGS("name", "bad name", "every", "1m", "shell", "x")),
                     RC_EINVAL);
    assert_non_null(strstr(err, "name"));
    assert_null(def.spec);
    assert_int_equal(buildFlags(&def, err,
                                FLAGS("name", "j", "every", "1m", "shell", "x", "start",
                                      "2030-01-01T00:00:00Z", "end", "2029-01-01T00:00:00Z")),
                     RC_EINVAL);
    assert_string_equal(err, "trigger.end_us: before trigger.start_us");
    assert_int_equal(buildFlags(&def, err, FLAGS("name", "j", "every", "1m", "shell", "")),
                     RC_EINVAL);
    assert_string_equal(err, "executor.shell.command: empty (and no argv)");
}

/* A value that was refused leaves the key unset: it can be given again, and the build
 * neither sees the refused value nor complains that the key was given twice. */
static void test_refused_value_leaves_key_unset(void **state)
{
    (void)state;
    struct rc_jobdraft *d;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(jobyamlDraftCreate(NULL, &d), 0);
    assert_int_equal(jobyamlSet(d, "name", "j", 0, err, sizeof err), 0);
    assert_int_equal(jobyamlSet(d, "shell", "x", 0, err, sizeof err), 0);
    assert_int_equal(jobyamlSet(d, "every", "x", 0, err, sizeof err), RC_EINVAL);
    struct rc_jobdef def;
    assert_int_equal(jobyamlBuild(d, NULL, &def, err, sizeof err), RC_EINVAL);
    assert_string_equal(err, "a trigger is required: --cron, --every or --at");
    assert_int_equal(jobyamlSet(d, "every", "1m", 0, err, sizeof err), 0);
    assert_int_equal(jobyamlSet(d, "retries", "x", 0, err, sizeof err), RC_EINVAL);
    assert_int_equal(jobyamlBuild(d, "ns", &def, err, sizeof err), 0);
    assert_int_equal(def.spec->trigger->interval_us, 60 * SEC);
    assert_null(def.spec->retry);
    assert_string_equal(def.spec->namespace_, "ns");
    jobyamlDefClear(&def);
    jobyamlDraftDestroy(d);
    jobyamlDraftDestroy(NULL);
}

/* ---- YAML ------------------------------------------------------------------------------------ */

static const char full_yaml[] = "# every key once\n"
                                "namespace: ops\n"
                                "jobs:\n"
                                "  - name: backup\n" /* line 4 */
                                "    description: nightly backup\n"
                                "    cron: \"30 2 * * *\"\n"
                                "    tz: Europe/Berlin\n"
                                "    dst_gap: skip\n"
                                "    dst_repeat: both\n"
                                "    start: 2025-01-01T00:00:00Z\n"
                                "    end: 2030-01-01T00:00:00Z\n"
                                "    jitter: 30s\n"
                                "    shell: /usr/local/bin/backup --full\n"
                                "    workdir: /var/backups\n"
                                "    misfire_grace: none\n"
                                "    coalesce: false\n"
                                "    overlap: skip\n"
                                "    max_instances: 2\n"
                                "    retries: 3\n"
                                "    backoff: linear\n"
                                "    retry_delay: 1m\n"
                                "    retry_multiplier: 2\n"
                                "    retry_max_delay: 1h\n"
                                "    retry_jitter: 5s\n"
                                "    timeout_run: 2h\n"
                                "    target: {zone: eu, disk: ssd}\n"
                                "    env: [\"MODE=full\", \"LEVEL=9\"]\n"
                                "    at_most_once: yes\n"
                                "    paused: true\n"
                                "  - name: hook\n" /* line 30 */
                                "    namespace: web\n"
                                "    every: 10s\n"
                                "    http: https://example.com/hook\n"
                                "    method: PUT\n"
                                "    header:\n"
                                "      Content-Type: application/json\n"
                                "      X-Token: abc\n"
                                "    body: '{\"ping\": true}'\n"
                                "    expect: 202\n"
                                "  - name: report\n" /* line 40 */
                                "    at: 2030-06-01T08:00:00+02:00\n"
                                "    sql: SELECT refresh()\n"
                                "    dsn: postgres://db/reports\n"
                                "    once: on\n"
                                "    header_free: \n";

static void test_yaml_full(void **state)
{
    (void)state;
    /* The last line holds an unknown key: first check the error names it, then load without. */
    expectYamlError(full_yaml, RC_EINVAL, "jobs.yaml:45: unknown key \"header_free\"");
    char text[sizeof full_yaml];
    strcpy(text, full_yaml);
    *strstr(text, "    header_free") = '\0';

    struct rc_jobfile f;
    char err[RC_ERRMSG_SIZE] = "";
    int rv = loadYaml(text, &f, err);
    if (rv != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(f.n_jobs, 3);
    Raftcron__JobSpec *s = f.jobs[0].spec;
    assert_int_equal(f.jobs[0].line, 4);
    assert_string_equal(s->namespace_, "ops");
    assert_string_equal(s->name, "backup");
    assert_string_equal(s->description, "nightly backup");
    assert_string_equal(s->trigger->cron, "30 2 * * *");
    assert_string_equal(s->trigger->tz, "Europe/Berlin");
    assert_int_equal(s->trigger->dst_gap, 1);
    assert_int_equal(s->trigger->dst_repeat, 1);
    assert_int_equal(s->trigger->start_us, INT64_C(1735689600) * SEC);
    assert_int_equal(s->trigger->end_us, INT64_C(1893456000) * SEC);
    assert_int_equal(s->trigger->jitter_us, 30 * SEC);
    assert_string_equal(s->executor->shell->command, "/usr/local/bin/backup --full");
    assert_string_equal(s->executor->shell->workdir, "/var/backups");
    assert_int_equal(s->policy->misfire_grace_us, -1);
    assert_false(s->policy->coalesce);
    assert_int_equal(s->policy->overlap, 1);
    assert_int_equal(s->policy->max_instances, 2);
    assert_int_equal(s->retry->max_attempts, 4);
    assert_int_equal(s->retry->backoff, 1);
    assert_int_equal(s->retry->delay_us, 60 * SEC);
    assert_true(s->retry->multiplier == 2);
    assert_int_equal(s->retry->max_delay_us, 3600 * SEC);
    assert_int_equal(s->retry->jitter_us, 5 * SEC);
    assert_int_equal(s->timeout_us, 7200 * SEC);
    assert_int_equal(s->n_target, 2);
    assert_string_equal(s->target[0]->key, "disk");
    assert_string_equal(s->target[1]->value, "eu");
    assert_int_equal(s->n_env, 2);
    assert_string_equal(s->env[0]->key, "LEVEL");
    assert_string_equal(s->env[1]->value, "full");
    assert_true(s->at_most_once);
    assert_true(f.jobs[0].paused);

    s = f.jobs[1].spec;
    assert_int_equal(f.jobs[1].line, 30);
    assert_string_equal(s->namespace_, "web");
    assert_int_equal(s->trigger->interval_us, 10 * SEC);
    Raftcron__HttpExec *h = s->executor->http;
    assert_string_equal(h->url, "https://example.com/hook");
    assert_string_equal(h->method, "PUT");
    assert_int_equal(h->n_headers, 2);
    assert_string_equal(h->headers[0]->key, "Content-Type");
    assert_string_equal(h->headers[1]->value, "abc");
    assert_int_equal(h->body.len, strlen("{\"ping\": true}"));
    assert_int_equal(h->n_expect_codes, 1);
    assert_int_equal(h->expect_codes[0], 202);
    assert_false(f.jobs[1].paused_set);

    s = f.jobs[2].spec;
    assert_string_equal(s->namespace_, "ops");
    assert_int_equal(s->trigger->at_us, INT64_C(1906524000) * SEC);
    assert_string_equal(s->executor->sql->query, "SELECT refresh()");
    assert_true(s->executor->sql->dedupe);

    assert_int_equal(f.n_namespaces, 2);
    assert_string_equal(f.namespaces[0], "ops");
    assert_string_equal(f.namespaces[1], "web");
    jobyamlFileClear(&f);
    assert_int_equal(f.n_jobs, 0);
}

static void test_yaml_lists_and_defaults(void **state)
{
    (void)state;
    struct rc_jobfile f;
    char err[RC_ERRMSG_SIZE] = "";
    const char *text = "jobs:\n"
                       "  - {name: a, every: 1m, http: 'http://h/', header: ['A: 1', 'B:2'],\n"
                       "     expect: [200, 201]}\n"
                       "  - name: b\n"
                       "    every: 1m\n"
                       "    shell: x\n";
    assert_int_equal(loadYaml(text, &f, err), 0);
    assert_int_equal(f.n_jobs, 2);
    Raftcron__HttpExec *h = f.jobs[0].spec->executor->http;
    assert_int_equal(h->n_headers, 2);
    assert_string_equal(h->headers[1]->value, "2");
    assert_int_equal(h->n_expect_codes, 2);
    assert_string_equal(f.jobs[1].spec->namespace_, "default");
    assert_int_equal(f.n_namespaces, 1);
    assert_string_equal(f.namespaces[0], "default");
    jobyamlFileClear(&f);

    /* An empty list is a valid file with no jobs; its namespaces are the top-level one. */
    assert_int_equal(loadYaml("namespace: ops\njobs: []\n", &f, err), 0);
    assert_int_equal(f.n_jobs, 0);
    assert_int_equal(f.n_namespaces, 1);
    assert_string_equal(f.namespaces[0], "ops");
    jobyamlFileClear(&f);
}

/* What `job get -o yaml` and `job list -o yaml` print loads back: one job alone, or a jobs list,
 * with the state the cluster keeps (id, version, cursor, …) left out of the definition. */
static void test_yaml_state_documents(void **state)
{
    (void)state;
    struct rc_jobfile f;
    char err[RC_ERRMSG_SIZE] = "";
    const char *one = "name: backup\n"
                      "namespace: ops\n"
                      "id: 4\n"
                      "version: 2\n"
                      "paused: true\n"
                      "paused_at: \"2025-01-02T00:00:00Z\"\n"
                      "created: \"2025-01-01T00:00:00Z\"\n"
                      "updated: \"2025-01-02T08:00:00Z\"\n"
                      "cron: 0 3 * * *\n"
                      "tz: Europe/Berlin\n"
                      "shell: backup.sh\n"
                      "cursor: null\n"
                      "history_floor: \"2025-01-01T00:00:00Z\"\n"
                      "runs_total: 2\n"
                      "runs_failed: 0\n"
                      "last_outcome: \"\"\n"
                      "last_finished: null\n"
                      "next: \"2025-01-03T03:00:00+01:00\"\n";
    assert_int_equal(loadYaml(one, &f, err), 0);
    assert_int_equal(f.n_jobs, 1);
    assert_string_equal(f.jobs[0].spec->namespace_, "ops");
    assert_string_equal(f.jobs[0].spec->name, "backup");
    assert_string_equal(f.jobs[0].spec->trigger->tz, "Europe/Berlin");
    assert_true(f.jobs[0].paused_set && f.jobs[0].paused);
    assert_int_equal(f.n_namespaces, 1);
    assert_string_equal(f.namespaces[0], "ops");
    jobyamlFileClear(&f);

    const char *list = "jobs:\n"
                       "  - {name: a, namespace: x, id: 1, version: 7, every: 1m, noop: true}\n"
                       "  - {name: b, id: 2, version: 1, runs_total: 9, every: 1m, noop: true}\n";
    assert_int_equal(loadYaml(list, &f, err), 0);
    assert_int_equal(f.n_jobs, 2);
    assert_int_equal(f.n_namespaces, 2);
    jobyamlFileClear(&f);

    /* A state key is no definition key: add/update flags still refuse it, and a single job is
     * checked like any other. */
    expectYamlError("name: a\nid: 1\nevery: 1m\n", RC_EINVAL,
                    "jobs.yaml:1: an executor is required: shell, http, sql or noop");
    expectYamlError("name: a\nevery: 1m\nnoop: true\ncolour: red\n", RC_EINVAL,
                    "jobs.yaml:4: unknown key \"colour\"");
}

static void test_yaml_errors(void **state)
{
    (void)state;
    expectYamlError("jobs:\n  - name: a\n    cron: [unclosed\n", RC_EPARSE,
                    "jobs.yaml:4: did not find expected ',' or ']' while parsing a flow sequence");
    expectYamlError("", RC_EPARSE, "jobs.yaml: empty document (expected \"jobs:\")");
    expectYamlError("- a\n- b\n", RC_EPARSE, "jobs.yaml:1: expected a mapping with \"jobs:\"");
    expectYamlError("namespace: x\n", RC_EPARSE, "jobs.yaml: no \"jobs:\" list");
    expectYamlError("jobs: x\n", RC_EPARSE, "jobs.yaml:1: jobs: expected a list of jobs");
    expectYamlError("\njob:\n  - name: a\n", RC_EPARSE,
                    "jobs.yaml:2: unknown key \"job\" (expected jobs, namespace; or one job with "
                    "its name)");
    expectYamlError("namespace: [a]\njobs: []\n", RC_EPARSE,
                    "jobs.yaml:1: namespace: expected a single value");
    expectYamlError("namespace: 'bad ns'\njobs: []\n", RC_EINVAL,
                    "jobs.yaml: namespace: job namespace: character 0x20 at offset 3 is not one "
                    "of A-Z a-z 0-9 . _ -");
    expectYamlError("jobs:\n  - just a string\n", RC_EPARSE,
                    "jobs.yaml:2: a job must be a mapping of key: value");
    expectYamlError("jobs:\n  - name: a\n    [x]: 1\n", RC_EPARSE,
                    "jobs.yaml:3: a key must be a plain word");
    expectYamlError("jobs:\n  - name: a\n    every: 1m\n    shell: x\n    colour: red\n", RC_EINVAL,
                    "jobs.yaml:5: unknown key \"colour\"");
    expectYamlError("jobs:\n  - name: a\n    colour: [red]\n", RC_EINVAL,
                    "jobs.yaml:3: unknown key \"colour\"");
    expectYamlError("jobs:\n  - name: a\n    shell: [a, b]\n", RC_EINVAL,
                    "jobs.yaml:3: shell: expected a single value");
    expectYamlError("jobs:\n  - name: a\n    expect: {a: 1}\n", RC_EINVAL,
                    "jobs.yaml:3: expect: expected a value or a list of values");
    expectYamlError("jobs:\n  - name: a\n    env: [[A, 1]]\n", RC_EINVAL,
                    "jobs.yaml:3: env: expected a list of values");
    expectYamlError("jobs:\n  - name: a\n    env: {A: [1]}\n", RC_EINVAL,
                    "jobs.yaml:3: env: expected key: value pairs");
    expectYamlError("jobs:\n  - name: a\n    env:\n      A: 1\n      A: 2\n", RC_EINVAL,
                    "jobs.yaml:5: env: \"A\" given twice");
    expectYamlError("jobs:\n  - name: a\n    every: 1m\n    every: 2m\n", RC_EINVAL,
                    "jobs.yaml:4: every: given twice");
    expectYamlError("jobs:\n  - name: a\n    every: soon\n", RC_EINVAL,
                    "jobs.yaml:3: every: invalid duration \"soon\": expected a number at \"soon\"");
    expectYamlError("jobs:\n  - name: a\n    expect:\n      - 200\n      - 700\n", RC_EINVAL,
                    "jobs.yaml:5: expect: \"700\" is not an HTTP status from 100 to 599");
    expectYamlError("jobs:\n  - name: a\n    paused:\n", RC_EINVAL,
                    "jobs.yaml:3: paused: \"\" is not true or false");
    /* Errors found when the job is built point at the key, or at the job. */
    expectYamlError("jobs:\n  - name: a\n    shell: x\n    cron: '0 25 * * *'\n", RC_EINVAL,
                    "jobs.yaml:4: cron: field 2 (hour): 25 is out of range 0-23");
    expectYamlError("jobs:\n  - name: a\n    shell: x\n", RC_EINVAL,
                    "jobs.yaml:2: a trigger is required: cron, every or at");
    expectYamlError("jobs:\n  - every: 1m\n    shell: x\n", RC_EINVAL,
                    "jobs.yaml:2: name: required");
    expectYamlError("jobs:\n  - name: a\n    every: 1m\n    shell: x\n    dsn: pg://\n", RC_EINVAL,
                    "jobs.yaml:5: dsn: requires sql");
    expectYamlError("jobs:\n  - name: a\n    every: 1m\n    at: 2030-01-01T00:00:00Z\n"
                    "    shell: x\n",
                    RC_EINVAL, "jobs.yaml:4: every and at exclude each other");
    expectYamlError(
        "jobs:\n  - name: 'a b'\n    every: 1m\n    shell: x\n", RC_EINVAL,
        "jobs.yaml:2: job name: character 0x20 at offset 1 is not one of A-Z a-z 0-9 . _ -");
    /* The same job twice (the namespace counts): the message names the first. */
    expectYamlError("jobs:\n  - {name: a, every: 1m, shell: x}\n"
                    "  - {name: a, namespace: other, every: 1m, shell: x}\n"
                    "  - {name: a, every: 2m, shell: y}\n",
                    RC_EINVAL, "jobs.yaml:4: job default/a is already defined at line 2");
}

static void test_spec_equal(void **state)
{
    (void)state;
    struct rc_jobdef a, b;
    mustBuild(&a, FLAGS("name", "j", "every", "1m", "http", "http://h/", "header", "A:1", "header",
                        "B:2", "expect", "200", "expect", "201", "env", "X=1", "env", "Y=2"));
    mustBuild(&b, FLAGS("name", "j", "every", "1m", "http", "http://h/", "header", "B:2", "header",
                        "A:1", "expect", "201", "expect", "200", "env", "Y=2", "env", "X=1"));
    /* Scramble b's map order as another client might have stored it. */
    Raftcron__JobSpec__EnvEntry *e = b.spec->env[0];
    b.spec->env[0] = b.spec->env[1];
    b.spec->env[1] = e;
    uint32_t *codes = b.spec->executor->http->expect_codes;
    uint32_t c = codes[0];
    codes[0] = codes[1];
    codes[1] = c;
    Raftcron__HttpExec__HeadersEntry **hs = b.spec->executor->http->headers;
    Raftcron__HttpExec__HeadersEntry *h = hs[0];
    hs[0] = hs[1];
    hs[1] = h;
    assert_true(jobyamlSpecEqual(a.spec, b.spec));
    b.spec->timeout_us = 1;
    assert_false(jobyamlSpecEqual(a.spec, b.spec));
    b.spec->timeout_us = 0;
    b.spec->policy->coalesce = false;
    assert_false(jobyamlSpecEqual(a.spec, b.spec));
    jobyamlDefClear(&a);
    jobyamlDefClear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_shell_defaults),
        cmocka_unit_test(test_trigger_fields),
        cmocka_unit_test(test_http_fields),
        cmocka_unit_test(test_sql_shell_fields),
        cmocka_unit_test(test_policy_retry_misc_fields),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_key_table),
        cmocka_unit_test(test_enum_names),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_list_errors),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_refused_value_leaves_key_unset),
        cmocka_unit_test(test_yaml_full),
        cmocka_unit_test(test_yaml_lists_and_defaults),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_yaml_state_documents),
        cmocka_unit_test(test_spec_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
