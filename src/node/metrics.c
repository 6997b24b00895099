#include "metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/authz.h"
#include "core/confparse.h"
#include "core/policy.h"
#include "core/runs.h"
#include "node.h"
#include "rpc.h"

/* HTTP statuses counted one by one; any other counts under "other". */
static const int http_codes[METRICS_HTTP_CODES] = {200, 201, 204, 304, 400, 401,
                                                   403, 404, 409, 412, 413, 503};

static const char *const status_names[METRICS_CODES] = {
#define STATUS_NAME(name, value) [value] = #name,
    RC_STATUS_MAP(STATUS_NAME)
#undef STATUS_NAME
};

static const char *const decision_names[4] = {"fired", "coalesced", "missed", "skipped"};

/* ---- Counting -------------------------------------------------------------------------------- */

static void onDecision(void *data, uint64_t index, const Raftcron__Decision *d)
{
    struct metrics *m = data;
    (void)index;
    if (d->decision >= RC_DECISION_FIRED && d->decision <= RC_DECISION_SKIPPED) {
        m->decisions[d->manual ? 1 : 0][d->decision - RC_DECISION_FIRED] += d->count;
    }
    if (d->decision == RC_DECISION_FIRED && !d->manual) {
        metricsHistObserve(&m->fire_lateness, (double)(d->decided_us - d->first_us) / 1e6);
    }
}

static void onRun(void *data, uint64_t index, const Raftcron__Run *run, uint32_t from, bool dropped)
{
    struct metrics *m = data;
    (void)index;
    if (dropped || from == run->state) {
        return;
    }
    if (run->state == RC_RUN_RUNNING && run->start_at_us != 0) {
        metricsHistObserve(&m->start_lateness, (double)(run->started_us - run->start_at_us) / 1e6);
    }
    if (runsStateFinished(run->state) || run->state == RC_RUN_FAILED ||
        run->state == RC_RUN_TIMED_OUT || run->state == RC_RUN_LOST) {
        m->run_ends[run->state]++;
    }
}

void metricsInit(struct metrics *m, int64_t now_us)
{
    memset(m, 0, sizeof *m);
    m->started_us = now_us;
    m->hooks.decided = onDecision;
    m->hooks.run_changed = onRun;
}

void metricsRpc(struct metrics *m, const char *method, int status, int64_t latency_us)
{
    size_t i = method != NULL ? rpcMethodIndex(method) : METRICS_METHODS_MAX;
    if (i > METRICS_METHODS_MAX) {
        i = METRICS_METHODS_MAX;
    }
    m->rpc[i][status >= 0 && status < METRICS_CODES ? status : RC_STATUS_UNKNOWN]++;
    metricsHistObserve(&m->rpc_latency[i], (double)latency_us / 1e6);
}

void metricsHttp(struct metrics *m, int status)
{
    size_t i = 0;
    while (i < METRICS_HTTP_CODES && http_codes[i] != status) {
        i++;
    }
    m->http[i]++;
}

void metricsAppend(struct metrics *m, int64_t latency_us)
{
    metricsHistObserve(&m->append, (double)latency_us / 1e6);
}

void metricsLeader(struct metrics *m, uint64_t leader_id)
{
    if (leader_id != 0 && leader_id != m->last_leader) {
        if (m->last_leader != 0) {
            m->leader_changes++;
        }
        m->last_leader = leader_id;
    }
}

/* ---- Rendering ------------------------------------------------------------------------------- */

static void gauge(struct metrics_text *t, const char *name, const char *help, double v)
{
    metricsFamily(t, name, "gauge", help);
    metricsSample(t, name, 0, NULL, NULL, v);
}

static void counter(struct metrics_text *t, const char *name, const char *help, double v)
{
    metricsFamily(t, name, "counter", help);
    metricsSample(t, name, 0, NULL, NULL, v);
}

static void histogram(struct metrics_text *t, const char *name, const char *help,
                      const struct metrics_hist *h)
{
    metricsFamily(t, name, "histogram", help);
    metricsHistSamples(t, name, 0, NULL, NULL, h);
}

static void renderRaft(struct node *n, struct metrics_text *t)
{
    struct cluster *c = &n->cluster;
    static const char *const states[] = {"leader", "follower", "candidate", "unavailable"};
    const char *now = clusterStateName(c);
    metricsFamily(t, "raftcron_raft_state", "gauge", "1 for the Raft state this node is in.");
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        const char *name = "state";
        metricsSample(t, "raftcron_raft_state", 1, &name, &states[i], strcmp(now, states[i]) == 0);
    }
    gauge(t, "raftcron_raft_term", "Current Raft term.", (double)clusterTerm(c));
    gauge(t, "raftcron_raft_leader_id", "Node id of the known leader (0: none).",
          (double)clusterLeader(c, NULL));
    gauge(t, "raftcron_raft_commit_index", "Highest log index known committed.",
          (double)clusterCommitIndex(c));
    gauge(t, "raftcron_raft_applied_index", "Highest log index applied to the state machine.",
          (double)clusterAppliedIndex(c));
    counter(t, "raftcron_raft_leader_changes_total", "Leader changes this node has seen.",
            (double)n->metrics.leader_changes);
    histogram(t, "raftcron_raft_append_seconds",
              "From proposing an entry on this node to its being applied (leader only).",
              &n->metrics.append);
}

static void renderRpc(struct node *n, struct metrics_text *t)
{
    const struct metrics *m = &n->metrics;
    const char *names[2] = {"method", "code"};
    metricsFamily(t, "raftcron_rpc_requests_total", "counter",
                  "RPC requests answered (also those of the REST API), by method and status.");
    for (size_t i = 0; i <= METRICS_METHODS_MAX; i++) {
        for (size_t k = 0; k < METRICS_CODES; k++) {
            if (m->rpc[i][k] == 0) {
                continue;
            }
            const char *values[2] = {i < METRICS_METHODS_MAX ? rpcMethodName(i) : "other",
                                     status_names[k]};
            metricsSample(t, "raftcron_rpc_requests_total", 2, names, values, (double)m->rpc[i][k]);
        }
    }
    metricsFamily(t, "raftcron_rpc_request_duration_seconds", "histogram",
                  "Time from receiving an RPC to answering it, by method.");
    for (size_t i = 0; i <= METRICS_METHODS_MAX; i++) {
        if (m->rpc_latency[i].count == 0) {
            continue;
        }
        const char *value = i < METRICS_METHODS_MAX ? rpcMethodName(i) : "other";
        metricsHistSamples(t, "raftcron_rpc_request_duration_seconds", 1, names, &value,
                           &m->rpc_latency[i]);
    }
    metricsFamily(t, "raftcron_http_responses_total", "counter", "REST responses, by status.");
    for (size_t i = 0; i <= METRICS_HTTP_CODES; i++) {
        char code[16];
        snprintf(code, sizeof code, "%d", i < METRICS_HTTP_CODES ? http_codes[i] : 0);
        const char *name = "code";
        const char *value = i < METRICS_HTTP_CODES ? code : "other";
        metricsSample(t, "raftcron_http_responses_total", 1, &name, &value, (double)m->http[i]);
    }
}

static void renderScheduler(struct node *n, struct metrics_text *t)
{
    const struct metrics *m = &n->metrics;
    const char *names[2] = {"decision", "trigger"};
    metricsFamily(t, "raftcron_decisions_total", "counter",
                  "Scheduled instants decided, by decision and whether scheduled or manual.");
    for (int manual = 0; manual < 2; manual++) {
        for (int k = 0; k < 4; k++) {
            const char *values[2] = {decision_names[k], manual ? "manual" : "scheduled"};
            metricsSample(t, "raftcron_decisions_total", 2, names, values,
                          (double)m->decisions[manual][k]);
        }
    }
    histogram(t, "raftcron_fire_lateness_seconds",
              "How long after its instant a scheduled run was decided (0 when ahead).",
              &m->fire_lateness);
    histogram(t, "raftcron_start_lateness_seconds",
              "How long after its start_at a run started (0 when on time).", &m->start_lateness);
    metricsFamily(t, "raftcron_run_ends_total", "counter",
                  "Attempts and runs that ended, by the state they ended in.");
    for (uint32_t s = RC_RUN_SUCCEEDED; s <= RC_RUN_CANCELLED; s++) {
        if (s == RC_RUN_RETRY_WAIT) {
            continue;
        }
        const char *name = "state";
        const char *value = runsStateName(s);
        metricsSample(t, "raftcron_run_ends_total", 1, &name, &value, (double)m->run_ends[s]);
    }
    bool leading = n->sched_open && clusterIsLeader(&n->cluster);
    gauge(t, "raftcron_due_jobs", "Jobs in the leader's due-heap (0 on a follower).",
          leading ? (double)leaderDueJobs(&n->leader) : 0);
    gauge(t, "raftcron_lookahead_seconds",
          "How far ahead of an instant the leader commits its decision (leader only).",
          leading ? (double)n->leader.lookahead_us / 1e6 : 0);
}

static const char *executorName(const Raftcron__Job *job)
{
    const Raftcron__Executor *e = job->spec->executor;
    switch (e != NULL ? e->kind_case : RAFTCRON__EXECUTOR__KIND__NOT_SET) {
    case RAFTCRON__EXECUTOR__KIND_SHELL:
        return "shell";
    case RAFTCRON__EXECUTOR__KIND_HTTP:
        return "http";
    case RAFTCRON__EXECUTOR__KIND_SQL:
        return "sql";
    case RAFTCRON__EXECUTOR__KIND_NOOP:
        return "noop";
    default:
        return "none";
    }
}

enum { EXEC_KINDS = 5 };
static const char *const exec_names[EXEC_KINDS] = {"shell", "http", "sql", "noop", "none"};

static size_t execIndex(const char *name)
{
    for (size_t i = 0; i < EXEC_KINDS; i++) {
        if (strcmp(exec_names[i], name) == 0) {
            return i;
        }
    }
    return EXEC_KINDS - 1;
}

/* Runs held by state and executor, and jobs by state; with the namespace label when asked. */
static void renderState(struct node *n, struct metrics_text *t)
{
    struct rc_fsm *f = n->cluster.core;
    bool by_ns = n->opts.metrics_namespaces;
    metricsFamily(t, "raftcron_runs", "gauge",
                  "Runs the ledger holds, by state and executor (the namespace label when "
                  "metrics_namespaces is on).");
    size_t total = fsmJobCount(f);
    uint64_t counts[RC_RUN__COUNT][EXEC_KINDS] = {{0}};
    uint64_t jobs[2] = {0, 0};
    for (size_t i = 0; i < total; i++) {
        const Raftcron__Job *job = fsmJobAt(f, i);
        size_t nr;
        Raftcron__Run *const *runs = fsmJobRuns(f, job->id, &nr);
        size_t x = execIndex(executorName(job));
        for (size_t k = 0; k < nr; k++) {
            counts[runs[k]->state < RC_RUN__COUNT ? runs[k]->state : 0][x]++;
        }
        jobs[job->paused ? 1 : 0]++;
        const Raftcron__Job *next = i + 1 < total ? fsmJobAt(f, i + 1) : NULL;
        bool ns_done = next == NULL || strcmp(next->spec->namespace_, job->spec->namespace_) != 0;
        if (!by_ns || !ns_done) {
            continue;
        }
        /* One namespace is complete: write it and start the next from zero. */
        for (uint32_t s = RC_RUN_PENDING; s < RC_RUN__COUNT; s++) {
            for (size_t e = 0; e < EXEC_KINDS; e++) {
                if (counts[s][e] == 0) {
                    continue;
                }
                const char *names[3] = {"namespace", "state", "executor"};
                const char *values[3] = {job->spec->namespace_, runsStateName(s), exec_names[e]};
                metricsSample(t, "raftcron_runs", 3, names, values, (double)counts[s][e]);
                counts[s][e] = 0;
            }
        }
    }
    if (!by_ns) {
        for (uint32_t s = RC_RUN_PENDING; s < RC_RUN__COUNT; s++) {
            for (size_t e = 0; e < EXEC_KINDS; e++) {
                const char *names[2] = {"state", "executor"};
                const char *values[2] = {runsStateName(s), exec_names[e]};
                metricsSample(t, "raftcron_runs", 2, names, values, (double)counts[s][e]);
            }
        }
    }
    metricsFamily(t, "raftcron_jobs", "gauge", "Jobs, by state.");
    const char *name = "state";
    const char *active = "active", *paused = "paused";
    metricsSample(t, "raftcron_jobs", 1, &name, &active, (double)jobs[0]);
    metricsSample(t, "raftcron_jobs", 1, &name, &paused, (double)jobs[1]);
    size_t nw;
    Raftcron__Worker *const *ws = fsmWorkers(f, &nw);
    double alive = 0;
    for (size_t i = 0; i < nw; i++) {
        alive += ws[i]->alive;
    }
    metricsFamily(t, "raftcron_workers", "gauge", "Workers the ledger knows, by state.");
    const char *up = "alive", *down = "down";
    metricsSample(t, "raftcron_workers", 1, &name, &up, alive);
    metricsSample(t, "raftcron_workers", 1, &name, &down, (double)nw - alive);
    gauge(t, "raftcron_worker_processes", "Runs this node's worker is executing now.",
          n->worker_open ? (double)n->worker.procs : 0);
    gauge(t, "raftcron_events_subscribers", "Event streams open on this node (SSE and RPC).",
          (double)eventsSubscribers(&n->events));
    counter(t, "raftcron_events_delivered_total", "Events sent to subscribers.",
            (double)n->events.delivered);
}

static void renderProcess(struct node *n, struct metrics_text *t)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    counter(t, "process_cpu_seconds_total", "User and system CPU time spent.", cpu);
    long page = sysconf(_SC_PAGESIZE);
    unsigned long vm = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &vm, &rss) != 2) {
            vm = rss = 0;
        }
        fclose(f);
    }
    gauge(t, "process_virtual_memory_bytes", "Virtual memory size.", (double)vm * (double)page);
    gauge(t, "process_resident_memory_bytes", "Resident memory size.", (double)rss * (double)page);
    double fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        while (readdir(d) != NULL) {
            fds++;
        }
        closedir(d);
        fds -= 3; /* ".", ".." and the directory's own descriptor */
    }
    gauge(t, "process_open_fds", "Open file descriptors.", fds);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    gauge(t, "process_max_fds", "Limit of open file descriptors.", (double)rl.rlim_cur);
    gauge(t, "process_start_time_seconds", "Start time since the Unix epoch.",
          (double)(n->metrics.started_us / 1000000));
    metricsFamily(t, "raftcron_build_info", "gauge", "1, labelled with the version.");
    const char *name = "version", *value = RC_VERSION_STRING;
    metricsSample(t, "raftcron_build_info", 1, &name, &value, 1);
}

void metricsRender(struct node *n, struct metrics_text *t)
{
    renderRaft(n, t);
    renderRpc(n, t);
    renderScheduler(n, t);
    renderState(n, t);
    renderProcess(n, t);
}
