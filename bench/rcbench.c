/*
 * The client side of bench/run (docs/performance.md "bench/run"): creates jobs and reads runs
 * through libraftcron as a user's program would, with T threads at once (one rc_client each: a
 * client is not thread-safe). Prints one JSON object on stdout; bulk data goes to --out.
 *
 *   rcbench create   --endpoints E --ns NS --count N [--prefix P] [--first K] [--threads T]
 *                    [--spread PERIOD] [--seconds S] --job KEY=VALUE [--job KEY=VALUE ...]
 *       Job.Put (create-only) jobs P0000000 … of the definition given by the --job keys (the keys
 *       of `raftcronctl job apply` files). --spread PERIOD: job k's anchor is the template's
 *       anchor + k * PERIOD / N (an `every` job). Reports the rate and the latency of each put;
 *       ALREADY_EXISTS counts as created (the library sent a put again after its connection
 *       broke, and the first had been applied: rcbench is the only writer of its names).
 *       --seconds S: start no put after S seconds (budget_hit: true); the jobs put are still
 *       the first ones (the threads take the next index from one counter).
 *   rcbench runs     --endpoints E --ns NS --count N [--prefix P] [--threads T] [--limit L]
 *                    --out FILE
 *       Run.List (stale: ask the node named first, the leader) of every job; one line per run
 *       to FILE: job index, run id, scheduled, start_at, started, finished, fired (µs, 0 when
 *       not yet), state, worker, attempt.
 *   rcbench watch    --endpoints NODE --base ID --count N --seconds S --out FILE
 *       Polls the one node named (stale Run.Get) for the highest run id it has applied, until
 *       base + count or S seconds; one line per change: wall µs, highest id, wall µs the search
 *       began (the id was visible in between).
 *   rcbench putprobe --endpoints E --ns NS [--threads T] [--timeout-ms MS] [--seconds S]
 *                    --job KEY=VALUE ...
 *       Job.Put of new jobs in a loop from T threads, each call with its own deadline, until one
 *       succeeds: the wall µs it returned (after a leader was killed: when writes work again).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.pb-c.h"
#include "core/jobyaml.h"
#include "core/runs.h"
#include "raftcron/client.h"

#define MAX_THREADS 256
#define MAX_KEYS    32

struct opts {
    const char *cmd;
    const char *endpoints;
    const char *ns;
    const char *prefix;
    const char *out;
    size_t count;
    size_t first;
    unsigned threads;
    unsigned limit;
    int64_t spread_us;
    uint64_t base;
    double seconds;
    int64_t timeout_ms;
    const char *keys[MAX_KEYS];
    size_t n_keys;
};

static int64_t wallUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t monoUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmpI64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void die(const char *fmt, const char *what)
{
    fprintf(stderr, "rcbench: ");
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    exit(2);
}

/* A JSON string body: the few characters error messages can hold that JSON does not allow. */
static void printJsonString(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            printf("\\%c", ch);
        } else if (ch < 0x20) {
            printf("\\u%04x", ch);
        } else {
            putchar(ch);
        }
    }
    putchar('"');
}

static struct rc_client *openClient(const struct opts *o, int64_t timeout_us)
{
    struct rc_client_options co = {.endpoints = o->endpoints, .timeout_us = timeout_us};
    struct rc_client *c = NULL;
    if (rc_client_open(&co, &c) != 0) {
        die("bad --endpoints %s", o->endpoints);
    }
    return c;
}

/* ---- The job template ------------------------------------------------------------------------ */

/* The spec the --job keys define (named "template"; each put renames a shallow copy). */
static Raftcron__JobSpec *buildTemplate(const struct opts *o, struct rc_jobdef *def)
{
    struct rc_jobdraft *d = NULL;
    char err[512];
    if (jobyamlDraftCreate(NULL, &d) != 0) {
        die("%s", "out of memory");
    }
    if (jobyamlSet(d, "name", "template", 0, err, sizeof err) != 0) {
        die("%s", err);
    }
    for (size_t i = 0; i < o->n_keys; i++) {
        char key[64];
        const char *eq = strchr(o->keys[i], '=');
        size_t klen = eq != NULL ? (size_t)(eq - o->keys[i]) : strlen(o->keys[i]);
        if (klen == 0 || klen >= sizeof key) {
            die("--job %s: expected KEY=VALUE", o->keys[i]);
        }
        memcpy(key, o->keys[i], klen);
        key[klen] = '\0';
        if (jobyamlSet(d, key, eq != NULL ? eq + 1 : NULL, 0, err, sizeof err) != 0) {
            die("--job: %s", err);
        }
    }
    if (jobyamlBuild(d, o->ns, def, err, sizeof err) != 0) {
        die("--job: %s", err);
    }
    jobyamlDraftDestroy(d);
    return def->spec;
}

/* ---- create ---------------------------------------------------------------------------------- */

struct creator {
    const struct opts *o;
    const Raftcron__JobSpec *tmpl;
    _Atomic size_t *next; /* shared: the next job to put, so that the jobs put form a prefix */
    int64_t stop_mono;    /* shared: no new put after this (INT64_MAX: none) */
    int64_t *lat;         /* latency of each put, by job; -1 when not put */
    size_t ok, existed, failed;
    char err[256];
};

static void *createLoop(void *arg)
{
    struct creator *cr = arg;
    const struct opts *o = cr->o;
    struct rc_client *c = openClient(o, 60 * INT64_C(1000000));
    for (;;) {
        if (monoUs() >= cr->stop_mono) {
            break;
        }
        size_t k = atomic_fetch_add(cr->next, 1);
        if (k >= o->count) {
            break;
        }
        Raftcron__JobSpec s = *cr->tmpl;
        Raftcron__Trigger t = *cr->tmpl->trigger;
        char name[160];
        snprintf(name, sizeof name, "%s%07zu", o->prefix, o->first + k);
        s.name = name;
        s.trigger = &t;
        if (o->spread_us > 0) {
            t.anchor_us += (int64_t)((double)o->spread_us * (double)k / (double)o->count);
        }
        int64_t t0 = monoUs();
        int rv = rc_job_put(c, &s, 0, 1, NULL);
        cr->lat[k] = monoUs() - t0;
        if (rv == 0) {
            cr->ok++;
        } else if (rv == RC_EEXISTS) {
            /* A put whose connection broke was sent again and found its own job: created. */
            cr->ok++;
            cr->existed++;
        } else {
            cr->failed++;
            cr->lat[k] = -1;
            if (cr->err[0] == '\0') {
                snprintf(cr->err, sizeof cr->err, "%s: %s", name, rc_client_errmsg(c));
            }
        }
    }
    rc_client_close(c);
    return NULL;
}

static int cmdCreate(const struct opts *o)
{
    struct rc_jobdef def;
    memset(&def, 0, sizeof def);
    const Raftcron__JobSpec *tmpl = buildTemplate(o, &def);
    int64_t *lat = calloc(o->count > 0 ? o->count : 1, sizeof *lat);
    struct creator *cr = calloc(o->threads, sizeof *cr);
    pthread_t *th = calloc(o->threads, sizeof *th);
    if (lat == NULL || cr == NULL || th == NULL) {
        die("%s", "out of memory");
    }
    for (size_t k = 0; k < o->count; k++) {
        lat[k] = -1;
    }
    _Atomic size_t next = 0;
    int64_t t0 = monoUs();
    int64_t stop = o->seconds > 0 ? t0 + (int64_t)(o->seconds * 1e6) : INT64_MAX;
    for (unsigned i = 0; i < o->threads; i++) {
        cr[i] =
            (struct creator){.o = o, .tmpl = tmpl, .next = &next, .stop_mono = stop, .lat = lat};
        pthread_create(&th[i], NULL, createLoop, &cr[i]);
    }
    size_t ok = 0, existed = 0, failed = 0;
    const char *err = "";
    for (unsigned i = 0; i < o->threads; i++) {
        pthread_join(th[i], NULL);
        ok += cr[i].ok;
        existed += cr[i].existed;
        failed += cr[i].failed;
        if (err[0] == '\0') {
            err = cr[i].err;
        }
    }
    double secs = (double)(monoUs() - t0) / 1e6;
    size_t n = 0;
    for (size_t k = 0; k < o->count; k++) {
        if (lat[k] >= 0) {
            lat[n++] = lat[k];
        }
    }
    qsort(lat, n, sizeof *lat, cmpI64);
    double p50 = n > 0 ? (double)lat[n / 2] / 1e3 : 0;
    double p99 = n > 0 ? (double)lat[n * 99 / 100] / 1e3 : 0;
    double mx = n > 0 ? (double)lat[n - 1] / 1e3 : 0;
    size_t tried = atomic_load(&next) < o->count ? atomic_load(&next) : o->count;
    printf("{\"created\": %zu, \"existed_on_retry\": %zu, \"failed\": %zu, \"threads\": %u, "
           "\"budget_hit\": %s, \"seconds\": %.3f, \"per_s\": %.1f, "
           "\"put_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}, \"error\": ",
           ok, existed, failed, o->threads, tried < o->count ? "true" : "false", secs,
           secs > 0 ? (double)ok / secs : 0, p50, p99, mx);
    printJsonString(err);
    printf("}\n");
    free(lat);
    free(cr);
    free(th);
    jobyamlDefClear(&def);
    return failed == 0 ? 0 : 1;
}

/* ---- runs ------------------------------------------------------------------------------------ */

struct reader {
    const struct opts *o;
    unsigned index;
    char *buf; /* owned: the lines read */
    size_t len;
    size_t runs, jobs_missing, failed;
    char err[256];
};

static void *readLoop(void *arg)
{
    struct reader *rd = arg;
    const struct opts *o = rd->o;
    FILE *f = open_memstream(&rd->buf, &rd->len);
    struct rc_client *c = openClient(o, 30 * INT64_C(1000000));
    for (size_t k = rd->index; k < o->count && f != NULL; k += o->threads) {
        char name[160];
        snprintf(name, sizeof name, "%s%07zu", o->prefix, o->first + k);
        Raftcron__RunListResponse *resp = NULL;
        int rv = rc_run_list(c, o->ns, name, NULL, o->limit, 1, &resp);
        if (rv == RC_ENOTFOUND) {
            rd->jobs_missing++;
        } else if (rv != 0) {
            rd->failed++;
            if (rd->err[0] == '\0') {
                snprintf(rd->err, sizeof rd->err, "%s: %s", name, rc_client_errmsg(c));
            }
        } else {
            for (size_t i = 0; i < resp->n_runs; i++) {
                const Raftcron__Run *r = resp->runs[i];
                fprintf(f,
                        "%zu\t%" PRIu64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64
                        "\t%" PRId64 "\t%s\t%" PRIu64 "\t%u\n",
                        o->first + k, r->id, r->scheduled_us, r->start_at_us, r->started_us,
                        r->finished_us, r->fired_us, runsStateName(r->state), r->worker_id,
                        r->attempt);
                rd->runs++;
            }
        }
        rc_message_free(resp);
    }
    rc_client_close(c);
    if (f != NULL) {
        fclose(f);
    }
    return NULL;
}

static int cmdRuns(const struct opts *o)
{
    if (o->out == NULL) {
        die("%s", "runs: --out FILE is required");
    }
    FILE *out = fopen(o->out, "w");
    if (out == NULL) {
        die("cannot write %s", o->out);
    }
    struct reader *rd = calloc(o->threads, sizeof *rd);
    pthread_t *th = calloc(o->threads, sizeof *th);
    if (rd == NULL || th == NULL) {
        die("%s", "out of memory");
    }
    int64_t t0 = monoUs();
    for (unsigned i = 0; i < o->threads; i++) {
        rd[i] = (struct reader){.o = o, .index = i};
        pthread_create(&th[i], NULL, readLoop, &rd[i]);
    }
    size_t runs = 0, missing = 0, failed = 0;
    const char *err = "";
    for (unsigned i = 0; i < o->threads; i++) {
        pthread_join(th[i], NULL);
        if (rd[i].buf != NULL) {
            fwrite(rd[i].buf, 1, rd[i].len, out);
        }
        runs += rd[i].runs;
        missing += rd[i].jobs_missing;
        failed += rd[i].failed;
        if (err[0] == '\0') {
            err = rd[i].err;
        }
    }
    bool written = fclose(out) == 0;
    printf("{\"jobs\": %zu, \"runs\": %zu, \"jobs_missing\": %zu, \"failed\": %zu, "
           "\"seconds\": %.3f, \"error\": ",
           o->count, runs, missing, failed, (double)(monoUs() - t0) / 1e6);
    printJsonString(written ? err : "writing the output failed");
    printf("}\n");
    for (unsigned i = 0; i < o->threads; i++) {
        free(rd[i].buf);
    }
    free(rd);
    free(th);
    return failed == 0 && written ? 0 : 1;
}

/* ---- watch ----------------------------------------------------------------------------------- */

static bool visible(struct rc_client *c, uint64_t id, int *failures)
{
    Raftcron__Run *r = NULL;
    int rv = rc_run_get(c, id, 1, &r);
    rc_message_free(r);
    if (rv != 0 && rv != RC_ENOTFOUND) {
        (*failures)++;
    }
    return rv == 0;
}

static int cmdWatch(const struct opts *o)
{
    if (o->out == NULL) {
        die("%s", "watch: --out FILE is required");
    }
    FILE *out = fopen(o->out, "w");
    if (out == NULL) {
        die("cannot write %s", o->out);
    }
    struct rc_client *c = openClient(o, 2 * INT64_C(1000000));
    uint64_t hi = o->base;
    uint64_t last = o->base + o->count;
    int64_t end = monoUs() + (int64_t)(o->seconds * 1e6);
    int failures = 0;
    size_t polls = 0;
    while (hi < last && monoUs() < end && failures < 100) {
        int64_t began = wallUs();
        /* Gallop from the highest id seen, then bisect: the highest id applied. */
        uint64_t lo = hi, step = 1, up = 0;
        while (lo + step <= last && visible(c, lo + step, &failures)) {
            lo += step;
            step *= 2;
            polls++;
        }
        up = lo + step <= last ? lo + step : last + 1;
        while (up - lo > 1) {
            uint64_t mid = lo + (up - lo) / 2;
            polls++;
            if (visible(c, mid, &failures)) {
                lo = mid;
            } else {
                up = mid;
            }
        }
        if (lo > hi) {
            hi = lo;
            fprintf(out, "%" PRId64 "\t%" PRIu64 "\t%" PRId64 "\n", wallUs(), hi, began);
        } else {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
    bool written = fclose(out) == 0;
    printf("{\"highest\": %" PRIu64 ", \"expected\": %" PRIu64 ", \"polls\": %zu, "
           "\"failures\": %d}\n",
           hi, last, polls, failures);
    rc_client_close(c);
    return written && failures < 100 ? 0 : 1;
}

/* ---- putprobe -------------------------------------------------------------------------------- */

struct prober {
    const struct opts *o;
    const Raftcron__JobSpec *tmpl;
    unsigned index;
    int64_t stop_mono;
    _Atomic int64_t *first_ok; /* wall µs of the first success, shared */
    size_t attempts, failed;
};

static void *probeLoop(void *arg)
{
    struct prober *p = arg;
    const struct opts *o = p->o;
    struct timespec stagger = {0, (long)p->index * 20000000L / (long)o->threads};
    nanosleep(&stagger, NULL);
    struct rc_client *c = openClient(o, o->timeout_ms * 1000);
    for (unsigned k = 0; atomic_load(p->first_ok) == 0 && monoUs() < p->stop_mono; k++) {
        Raftcron__JobSpec s = *p->tmpl;
        char name[160];
        snprintf(name, sizeof name, "%s%u-%u-%" PRId64, o->prefix, p->index, k, wallUs());
        s.name = name;
        p->attempts++;
        if (rc_job_put(c, &s, 0, 1, NULL) == 0) {
            int64_t zero = 0, now = wallUs();
            atomic_compare_exchange_strong(p->first_ok, &zero, now);
            break;
        }
        p->failed++;
    }
    rc_client_close(c);
    return NULL;
}

static int cmdPutprobe(const struct opts *o)
{
    struct rc_jobdef def;
    memset(&def, 0, sizeof def);
    const Raftcron__JobSpec *tmpl = buildTemplate(o, &def);
    _Atomic int64_t first_ok = 0;
    struct prober *p = calloc(o->threads, sizeof *p);
    pthread_t *th = calloc(o->threads, sizeof *th);
    if (p == NULL || th == NULL) {
        die("%s", "out of memory");
    }
    int64_t started = wallUs();
    int64_t stop = monoUs() + (int64_t)(o->seconds * 1e6);
    for (unsigned i = 0; i < o->threads; i++) {
        p[i] = (struct prober){
            .o = o, .tmpl = tmpl, .index = i, .stop_mono = stop, .first_ok = &first_ok};
        pthread_create(&th[i], NULL, probeLoop, &p[i]);
    }
    size_t attempts = 0, failed = 0;
    for (unsigned i = 0; i < o->threads; i++) {
        pthread_join(th[i], NULL);
        attempts += p[i].attempts;
        failed += p[i].failed;
    }
    printf("{\"started_us\": %" PRId64 ", \"first_ok_us\": %" PRId64 ", \"attempts\": %zu, "
           "\"failed\": %zu}\n",
           started, atomic_load(&first_ok), attempts, failed);
    free(p);
    free(th);
    jobyamlDefClear(&def);
    return atomic_load(&first_ok) != 0 ? 0 : 1;
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr, "usage: rcbench create|runs|watch|putprobe --endpoints E [OPTIONS]\n"
                    "  (bench/rcbench.c says what each does; bench/run drives it)\n");
    exit(2);
}

static uint64_t number(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        die("%s: expected a number", what);
    }
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage();
    }
    struct opts o = {.cmd = argv[1],
                     .ns = "bench",
                     .prefix = "j",
                     .threads = 1,
                     .limit = 100,
                     .seconds = 10,
                     .timeout_ms = 250};
    static const struct option longs[] = {
        {"endpoints", required_argument, NULL, 'e'}, {"ns", required_argument, NULL, 'n'},
        {"count", required_argument, NULL, 'c'},     {"first", required_argument, NULL, 'F'},
        {"prefix", required_argument, NULL, 'p'},    {"threads", required_argument, NULL, 't'},
        {"limit", required_argument, NULL, 'l'},     {"spread", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},       {"base", required_argument, NULL, 'b'},
        {"seconds", required_argument, NULL, 'S'},   {"timeout-ms", required_argument, NULL, 'T'},
        {"job", required_argument, NULL, 'j'},       {NULL, 0, NULL, 0}};
    optind = 2;
    bool seconds_given = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'e':
            o.endpoints = optarg;
            break;
        case 'n':
            o.ns = optarg;
            break;
        case 'c':
            o.count = (size_t)number(optarg, "--count");
            break;
        case 'F':
            o.first = (size_t)number(optarg, "--first");
            break;
        case 'p':
            o.prefix = optarg;
            break;
        case 't':
            o.threads = (unsigned)number(optarg, "--threads");
            break;
        case 'l':
            o.limit = (unsigned)number(optarg, "--limit");
            break;
        case 's':
            o.spread_us = (int64_t)number(optarg, "--spread");
            break;
        case 'o':
            o.out = optarg;
            break;
        case 'b':
            o.base = number(optarg, "--base");
            break;
        case 'S':
            o.seconds = atof(optarg);
            seconds_given = true;
            break;
        case 'T':
            o.timeout_ms = (int64_t)number(optarg, "--timeout-ms");
            break;
        case 'j':
            if (o.n_keys == MAX_KEYS) {
                die("%s", "too many --job keys");
            }
            o.keys[o.n_keys++] = optarg;
            break;
        default:
            usage();
        }
    }
    if (o.endpoints == NULL || o.threads == 0 || o.threads > MAX_THREADS) {
        usage();
    }
    if (strcmp(o.cmd, "create") == 0) {
        if (!seconds_given) {
            o.seconds = 0; /* no budget */
        }
        return cmdCreate(&o);
    }
    if (strcmp(o.cmd, "runs") == 0) {
        return cmdRuns(&o);
    }
    if (strcmp(o.cmd, "watch") == 0) {
        return cmdWatch(&o);
    }
    if (strcmp(o.cmd, "putprobe") == 0) {
        return cmdPutprobe(&o);
    }
    usage();
    return 2;
}
