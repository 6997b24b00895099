/* The shell executor: one child process per run on the node's libuv loop. The rules are in
 * exec.h; this file says why the code is shaped the way it is. */
#include "exec.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/execpolicy.h"
#include "spawn.h"

extern char **environ;

/* One read buffer per run, reused: libuv reads one pipe at a time on one thread. */
#define READ_BUF 65536

/* ---- State machine (STYLE.md §9) -------------------------------------------------------- */

enum runState {
    RUN_SPAWNING,    /* start() returned; spawn failed and the report is pending */
    RUN_RUNNING,     /* the process runs */
    RUN_TERMINATING, /* SIGTERM sent to the group, SIGKILL after the grace */
    RUN_KILLING,     /* SIGKILL sent to the group */
    RUN_REAPED,      /* the process exited; its output may still be draining */
    RUN_DONE,        /* done called; handles closing */
    RUN__N
};
static const char *const runNames[RUN__N] = {"SPAWNING", "RUNNING", "TERMINATING",
                                             "KILLING",  "REAPED",  "DONE"};
static const bool runMoves[RUN__N][RUN__N] = {
    [RUN_SPAWNING] = {[RUN_RUNNING] = true, [RUN_DONE] = true},
    [RUN_RUNNING] = {[RUN_TERMINATING] = true, [RUN_REAPED] = true},
    [RUN_TERMINATING] = {[RUN_KILLING] = true, [RUN_REAPED] = true},
    [RUN_KILLING] = {[RUN_REAPED] = true},
    [RUN_REAPED] = {[RUN_DONE] = true},
};

struct shell {
    struct exec_backend *b; /* borrowed: the interface we implement */
    uv_loop_t *loop;        /* borrowed */
    bool trace;
    bool closing;
    exec_close_cb close_cb;
    uv_timer_t closer; /* never started: its close callback ends the backend's close */
    struct run *runs;  /* in flight: done not yet called */
    size_t in_flight;
    size_t live; /* run objects not yet freed */
};

struct run {
    struct exec_handle h; /* first: the handle given to the caller is the run */
    struct shell *sh;     /* borrowed */
    struct run *prev, *next;
    enum runState state;
    exec_done_cb done;
    int64_t timeout_us;
    int64_t kill_grace_us;
    bool stopping;    /* a timeout or cancel has begun to stop the run */
    bool out_open;    /* reading stdout, EOF not yet seen */
    bool err_open;    /* reading stderr, EOF not yet seen */
    unsigned handles; /* initialised handles whose close callback has not fired */
    int pid;
    int pidfd;        /* owned while the child is unreaped, -1 after */
    uv_poll_t exited; /* the pidfd: readable once the child exits */
    uv_pipe_t out;
    uv_pipe_t err;
    uv_timer_t timer; /* timeout, then the kill grace; or the deferred spawn-failure report */
    struct exec_tail tail;
    struct exec_result res;
    uint8_t readbuf[READ_BUF];
};

static void trace(const struct shell *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void trace(const struct shell *sh, const char *fmt, ...)
{
    if (!sh->trace) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "exec shell: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* An illegal move is a bug in this file: stop in every build, not only with assertions. */
static void runMove(struct run *r, enum runState to)
{
    if (!runMoves[r->state][to]) {
        fprintf(stderr, "exec shell: illegal run move %s -> %s\n", runNames[r->state],
                runNames[to]);
        abort();
    }
    trace(r->sh, "run %" PRIu64 " pid %d: %s -> %s", r->h.run_id, r->pid, runNames[r->state],
          runNames[to]);
    r->state = to;
}

static int64_t wallNowUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t toMs(int64_t us)
{
    return (uint64_t)(us + 999) / 1000;
}

/* ---- Freeing: only once every handle's close callback has fired ------------------------- */

static void shellClosed(uv_handle_t *handle)
{
    struct shell *sh = handle->data;
    struct exec_backend *b = sh->b;
    exec_close_cb cb = sh->close_cb;
    free(sh);
    b->impl = NULL;
    if (cb != NULL) {
        cb(b);
    }
}

static void runFree(struct run *r)
{
    struct shell *sh = r->sh;
    if (r->pidfd >= 0) {
        close(r->pidfd); /* after its poll handle closed */
    }
    execTailClose(&r->tail);
    free(r);
    assert(sh->live > 0);
    sh->live--;
    if (sh->closing && sh->live == 0) {
        uv_close((uv_handle_t *)&sh->closer, shellClosed);
    }
}

static void handleClosed(uv_handle_t *handle)
{
    struct run *r = handle->data;
    assert(r->handles > 0);
    if (--r->handles == 0) {
        runFree(r);
    }
}

static void closeHandle(void *handle)
{
    if (!uv_is_closing(handle)) {
        uv_close(handle, handleClosed);
    }
}

/* ---- Ending a run ----------------------------------------------------------------------- */

static void dropRun(struct run *r)
{
    struct shell *sh = r->sh;
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        sh->runs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    r->prev = r->next = NULL;
    sh->in_flight--;
}

static void finish(struct run *r)
{
    runMove(r, RUN_DONE);
    uv_timer_stop(&r->timer);
    dropRun(r);
    r->res.finished_us = wallNowUs();
    execResultFromTail(&r->res, &r->tail);
    r->done(&r->h, &r->res, r->h.data);
    if (r->pidfd >= 0) {
        closeHandle(&r->exited);
    }
    closeHandle(&r->timer);
    closeHandle(&r->out);
    closeHandle(&r->err);
}

/* Finished only when the process has exited AND its output has been drained: a run whose last
 * words are still in the pipe is not over, and the exit may arrive before or after EOF. */
static void maybeFinish(struct run *r)
{
    if (r->state == RUN_REAPED && !r->out_open && !r->err_open) {
        finish(r);
    }
}

static void closePipes(struct run *r)
{
    if (r->out_open) {
        r->out_open = false;
        uv_read_stop((uv_stream_t *)&r->out);
        closeHandle(&r->out);
    }
    if (r->err_open) {
        r->err_open = false;
        uv_read_stop((uv_stream_t *)&r->err);
        closeHandle(&r->err);
    }
}

/* The whole group, not the pid: "sh -c 'a & b & wait'" leaves children a kill(pid) misses.
 * The group id stays reserved while any member lives, so it cannot name a stranger. */
static void signalGroup(struct run *r, int sig)
{
    if (r->pid > 0 && kill(-r->pid, sig) != 0 && errno != ESRCH) {
        trace(r->sh, "run %" PRIu64 ": kill(-%d, %d): %s", r->h.run_id, r->pid, sig,
              strerror(errno));
    }
}

/* The loop's cached time can lag by however long the current callback has run; a timeout
 * counted from it would fire early. */
static void startTimer(struct run *r, uv_timer_cb cb, int64_t us)
{
    uv_update_time(r->sh->loop);
    uv_timer_start(&r->timer, cb, toMs(us), 0);
}

static void onTimer(uv_timer_t *t);

/* Begin stopping the run for a timeout or a cancel. Never finishes it synchronously, so that
 * close() can walk the list of runs while it cancels them. */
static void stopRun(struct run *r)
{
    if (r->stopping) {
        return;
    }
    switch (r->state) {
    case RUN_RUNNING:
        r->stopping = true;
        signalGroup(r, SIGTERM);
        runMove(r, RUN_TERMINATING);
        startTimer(r, onTimer, r->kill_grace_us);
        break;
    case RUN_REAPED:
        /* The leader is gone; what is left of its group holds the output open. No grace for
         * orphans: they are killed at once, and the run ends at the EOF their death brings, or
         * after the grace if something outside the group still holds the pipes. */
        r->stopping = true;
        signalGroup(r, SIGKILL);
        startTimer(r, onTimer, r->kill_grace_us);
        break;
    default:
        break;
    }
}

static void onTimer(uv_timer_t *t)
{
    struct run *r = t->data;
    switch (r->state) {
    case RUN_SPAWNING:
        finish(r);
        break;
    case RUN_RUNNING:
        r->res.timed_out = true;
        snprintf(r->res.error, sizeof r->res.error,
                 "timed out after %lld ms: the process group was terminated",
                 (long long)(r->timeout_us / 1000));
        stopRun(r);
        break;
    case RUN_TERMINATING:
        signalGroup(r, SIGKILL);
        runMove(r, RUN_KILLING);
        startTimer(r, onTimer, r->kill_grace_us);
        break;
    case RUN_KILLING:
        /* SIGKILL cannot be ignored; output held by a process that left the group can. */
        closePipes(r);
        break;
    case RUN_REAPED:
        if (!r->stopping) {
            r->res.timed_out = true;
            snprintf(r->res.error, sizeof r->res.error,
                     "timed out after %lld ms: the process group was terminated",
                     (long long)(r->timeout_us / 1000));
            stopRun(r);
            break;
        }
        signalGroup(r, SIGKILL);
        closePipes(r);
        maybeFinish(r);
        break;
    default:
        assert(false);
    }
}

/* ---- Process and output callbacks ------------------------------------------------------- */

static void onExit(uv_poll_t *p, int status, int events)
{
    struct run *r = p->data;
    (void)events;
    int wstatus = 0;
    if (status < 0 || spawnReap(r->pid, r->pidfd, &wstatus) != 0) {
        return; /* not yet (a spurious wake-up): the poll stays armed */
    }
    uv_poll_stop(p);
    int term_signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    r->res.term_signal = term_signal;
    r->res.exit_code = term_signal != 0 ? -1 : WEXITSTATUS(wstatus);
    runMove(r, RUN_REAPED);
    maybeFinish(r);
}

static void onAlloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct run *r = handle->data;
    (void)suggested;
    buf->base = (char *)r->readbuf;
    buf->len = sizeof r->readbuf;
}

static void onRead(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct run *r = s->data;
    if (n > 0) {
        execTailAppend(&r->tail, (const uint8_t *)buf->base, (size_t)n);
        return;
    }
    if (n == 0) {
        return;
    }
    if (n != UV_EOF) {
        trace(r->sh, "run %" PRIu64 ": read: %s", r->h.run_id, uv_strerror((int)n));
    }
    uv_read_stop(s);
    if (s == (uv_stream_t *)&r->out) {
        r->out_open = false;
    } else {
        r->err_open = false;
    }
    closeHandle(s);
    maybeFinish(r);
}

/* ---- start / cancel / close ------------------------------------------------------------- */

static int checkSpec(const struct exec_request *req, char *errmsg, size_t errlen)
{
    const Raftcron__Executor *spec = req->spec;
    if (spec == NULL || spec->kind_case != RAFTCRON__EXECUTOR__KIND_SHELL || spec->shell == NULL) {
        return errSet(errmsg, errlen, RC_EINVAL, "job %s: not a shell executor", req->job);
    }
    const Raftcron__ShellExec *s = spec->shell;
    bool has_cmd = s->command != NULL && s->command[0] != '\0';
    bool has_argv = s->n_argv > 0 && s->argv[0] != NULL && s->argv[0][0] != '\0';
    if (!has_cmd && !has_argv) {
        return errSet(errmsg, errlen, RC_EINVAL, "job %s: shell executor has no command or argv",
                      req->job);
    }
    return 0;
}

/* argv for the child, borrowed from the spec (valid until spawnProcess returns: the child has
 * called execve by then). */
static char **buildArgv(const Raftcron__ShellExec *s)
{
    bool has_cmd = s->command != NULL && s->command[0] != '\0';
    size_t n = has_cmd ? 3 : s->n_argv;
    char **argv = calloc(n + 1, sizeof *argv);
    if (argv == NULL) {
        return NULL;
    }
    if (has_cmd) {
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = s->command;
    } else {
        memcpy(argv, s->argv, n * sizeof *argv);
    }
    return argv;
}

static struct run *runNew(struct shell *sh, const struct exec_request *req, exec_done_cb done,
                          void *data)
{
    struct run *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    if (execTailInit(&r->tail, req->tail_max) != 0) {
        free(r);
        return NULL;
    }
    r->sh = sh;
    r->h.backend = sh->b;
    r->h.run_id = req->run_id;
    r->h.data = data;
    r->done = done;
    r->timeout_us = req->timeout_us;
    r->kill_grace_us = req->kill_grace_us;
    r->res.exit_code = -1;
    r->state = RUN_SPAWNING;
    r->pidfd = -1;
    return r;
}

static void linkRun(struct shell *sh, struct run *r)
{
    r->next = sh->runs;
    if (sh->runs != NULL) {
        sh->runs->prev = r;
    }
    sh->runs = r;
    sh->in_flight++;
    sh->live++;
}

/* Pipes for the child's stdout and stderr: the parent reads [0], the child writes [1]. */
static int openPipes(int out[2], int err[2])
{
    out[0] = out[1] = err[0] = err[1] = -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        return -1;
    }
    if (pipe2(err, O_CLOEXEC) != 0) {
        close(out[0]);
        close(out[1]);
        out[0] = out[1] = -1;
        return -1;
    }
    return 0;
}

static void closeFds(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
}

static void spawnFailed(struct run *r, const char *file, const char *cwd, const char *step, int err)
{
    r->res.start_failed = true;
    if (cwd != NULL) {
        snprintf(r->res.error, sizeof r->res.error, "spawn %s (in %s): %s: %s", file, cwd, step,
                 strerror(err));
    } else {
        snprintf(r->res.error, sizeof r->res.error, "spawn %s: %s: %s", file, step, strerror(err));
    }
    trace(r->sh, "run %" PRIu64 ": %s", r->h.run_id, r->res.error);
    startTimer(r, onTimer, 0);
}

/* What a run becomes beyond its command (exec.h "Least privilege"), prepared before the clone:
 * the child may not allocate. */
struct privileges {
    struct spawn_rlimit rlimits[SPAWN_RLIMITS_MAX];
    size_t n_rlimits;
    gid_t groups[SPAWN_GROUPS_MAX];
    const struct exec_user *user; /* NULL: the daemon's */
};

static const int rlimitResource[RLIM__N] = {
    [RLIM_CPU] = RLIMIT_CPU,     [RLIM_AS] = RLIMIT_AS,         [RLIM_FSIZE] = RLIMIT_FSIZE,
    [RLIM_CORE] = RLIMIT_CORE,   [RLIM_NOFILE] = RLIMIT_NOFILE, [RLIM_NPROC] = RLIMIT_NPROC,
    [RLIM_STACK] = RLIMIT_STACK,
};

/* The job's limits within the worker's: for each resource the lower of the two that are set
 * (a job may tighten the worker's limits, never loosen them). */
static int privilegesOf(const struct exec_backend *b, const struct exec_request *req,
                        struct privileges *p)
{
    memset(p, 0, sizeof *p);
    const struct exec_security *sec = b->security;
    struct execpolicy_rlimits job;
    char why[RC_ERRMSG_SIZE];
    const char *spec = req->spec->shell->rlimits;
    if (execpolicyRlimitsParse(spec != NULL ? spec : "", &job, why, sizeof why) != 0) {
        return errSet((char *)b->errmsg, sizeof b->errmsg, RC_EINVAL, "job %s: %s", req->job, why);
    }
    for (int i = 0; i < RLIM__N; i++) {
        bool worker = sec != NULL && sec->rlimits != NULL && sec->rlimits->set[i];
        if (!job.set[i] && !worker) {
            continue;
        }
        uint64_t v = job.set[i] ? job.value[i] : sec->rlimits->value[i];
        if (worker && sec->rlimits->value[i] < v) {
            v = sec->rlimits->value[i];
        }
        p->rlimits[p->n_rlimits++] = (struct spawn_rlimit){rlimitResource[i], v};
    }
    if (sec == NULL) {
        return 0; /* a backend used on its own (tests, benchmarks): the caller's privileges */
    }
    if (sec->run_as != NULL && sec->run_as->set && geteuid() == 0) {
        p->user = sec->run_as;
        for (size_t i = 0; i < p->user->n_groups && i < SPAWN_GROUPS_MAX; i++) {
            p->groups[i] = (gid_t)p->user->groups[i];
        }
        return 0;
    }
    if (geteuid() == 0 && !sec->allow_root) {
        return errSet((char *)b->errmsg, sizeof b->errmsg, RC_EINVAL,
                      "job %s: refusing to run a shell job as root: set --run-as USER on this "
                      "worker (or --allow-root-jobs)",
                      req->job);
    }
    return 0;
}

/* Spawn (spawn.h: no fork of the daemon), and on success start reading and timing. A spawn
 * failure (ENOENT, EACCES, a bad workdir) belongs to the run, not to start(): it is reported
 * through done on the next turn of the loop, so that done never runs inside start(). */
static void spawn(struct shell *sh, struct run *r, const Raftcron__ShellExec *s, char **argv,
                  char **env, const struct privileges *priv)
{
    uv_pipe_init(sh->loop, &r->out, 0);
    uv_pipe_init(sh->loop, &r->err, 0);
    uv_timer_init(sh->loop, &r->timer);
    r->out.data = r->err.data = r->timer.data = r->exited.data = r;
    r->handles = 3;
    r->pidfd = -1;
    const char *cwd = s->workdir != NULL && s->workdir[0] != '\0' ? s->workdir : NULL;
    int out[2];
    int err[2];
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || openPipes(out, err) != 0) {
        int e = errno;
        closeFds(&devnull, 1);
        spawnFailed(r, argv[0], cwd, "pipe", e);
        return;
    }
    struct spawn_options o = {
        .file = argv[0],
        .argv = argv,
        .envp = env,
        .cwd = cwd,
        .fds = {devnull, out[1], err[1]},
        .new_session = true, /* the run leads its own process group */
        .rlimits = priv->rlimits,
        .n_rlimits = priv->n_rlimits,
        .set_umask = true,
        .umask = 022, /* the daemon's own is 077: a job's files are the job's business */
    };
    if (priv->user != NULL) {
        o.set_user = true;
        o.uid = (uid_t)priv->user->uid;
        o.gid = (gid_t)priv->user->gid;
        o.groups = priv->groups;
        o.n_groups =
            priv->user->n_groups < SPAWN_GROUPS_MAX ? priv->user->n_groups : SPAWN_GROUPS_MAX;
    }
    struct spawn_result res;
    int rv = spawnProcess(&o, &res);
    int child_ends[3] = {devnull, out[1], err[1]};
    closeFds(child_ends, 3);
    if (rv != 0 || uv_pipe_open(&r->out, out[0]) != 0 || uv_pipe_open(&r->err, err[0]) != 0) {
        if (rv == 0) {
            /* Cannot watch its output: stop it rather than leave it unwatched. */
            kill(-res.pid, SIGKILL);
            int st;
            waitpid(res.pid, &st, 0);
            close(res.pidfd);
            res.err = EIO;
            res.step = "pipe";
        }
        closeFds(out, 1);
        closeFds(err, 1);
        spawnFailed(r, argv[0], cwd, res.step, res.err);
        return;
    }
    r->pid = res.pid;
    r->pidfd = res.pidfd;
    uv_poll_init(sh->loop, &r->exited, r->pidfd);
    r->exited.data = r;
    r->handles++;
    uv_poll_start(&r->exited, UV_READABLE, onExit);
    r->res.started_us = wallNowUs();
    runMove(r, RUN_RUNNING);
    r->out_open = r->err_open = true;
    uv_read_start((uv_stream_t *)&r->out, onAlloc, onRead);
    uv_read_start((uv_stream_t *)&r->err, onAlloc, onRead);
    if (r->timeout_us > 0) {
        startTimer(r, onTimer, r->timeout_us);
    }
}

static int shellStart(struct exec_backend *b, const struct exec_request *in, exec_done_cb done,
                      void *data, struct exec_handle **out)
{
    struct shell *sh = b->impl;
    struct exec_request req;
    char **env = NULL;
    char **argv = NULL;
    int rv;
    if (sh == NULL || sh->closing) {
        return errSet(b->errmsg, sizeof b->errmsg, RC_ESHUTDOWN, "shell executor is closing");
    }
    if ((rv = execRequestNormalize(in, &req, b->errmsg, sizeof b->errmsg)) != 0 ||
        (rv = checkSpec(&req, b->errmsg, sizeof b->errmsg)) != 0) {
        return rv;
    }
    struct privileges priv;
    if ((rv = privilegesOf(b, &req, &priv)) != 0) {
        return rv;
    }
    char home[300], user[80], logname[90];
    const char *identity[4] = {NULL};
    if (priv.user != NULL) {
        snprintf(home, sizeof home, "HOME=%s", priv.user->home);
        snprintf(user, sizeof user, "USER=%s", priv.user->name);
        snprintf(logname, sizeof logname, "LOGNAME=%s", priv.user->name);
        identity[0] = home;
        identity[1] = user;
        identity[2] = logname;
    }
    if ((rv = execEnvBuild((const char *const *)environ,
                           b->security != NULL ? b->security->env_keep : NULL, identity, &req, &env,
                           b->errmsg, sizeof b->errmsg)) != 0) {
        return rv;
    }
    argv = buildArgv(req.spec->shell);
    if (argv == NULL) {
        rv = errSet(b->errmsg, sizeof b->errmsg, RC_ENOMEM, "job %s: out of memory", req.job);
        goto err_after_env;
    }
    struct run *r = runNew(sh, &req, done, data);
    if (r == NULL) {
        rv = errSet(b->errmsg, sizeof b->errmsg, RC_ENOMEM, "job %s: out of memory", req.job);
        goto err_after_argv;
    }
    linkRun(sh, r);
    spawn(sh, r, req.spec->shell, argv, env, &priv);
    free(argv);
    execEnvFree(env);
    *out = &r->h;
    return 0;

err_after_argv:
    free(argv);
err_after_env:
    execEnvFree(env);
    assert(rv != 0);
    return rv;
}

static void shellCancel(struct exec_handle *h)
{
    struct run *r = (struct run *)h;
    if (r->state == RUN_DONE) {
        return;
    }
    r->res.cancelled = true;
    stopRun(r);
}

static void shellClose(struct exec_backend *b, exec_close_cb close_cb)
{
    struct shell *sh = b->impl;
    assert(sh != NULL && !sh->closing);
    sh->closing = true;
    sh->close_cb = close_cb;
    trace(sh, "closing with %zu runs in flight", sh->in_flight);
    for (struct run *r = sh->runs; r != NULL; r = r->next) {
        r->res.cancelled = true;
        stopRun(r);
    }
    if (sh->live == 0) {
        uv_close((uv_handle_t *)&sh->closer, shellClosed);
    }
}

int shellInit(struct exec_backend *b, uv_loop_t *loop)
{
    struct shell *sh = calloc(1, sizeof *sh);
    if (sh == NULL) {
        return RC_ENOMEM;
    }
    sh->b = b;
    sh->loop = loop;
    sh->trace = getenv("RAFTCRON_TRACE") != NULL;
    uv_timer_init(loop, &sh->closer);
    sh->closer.data = sh;
    memset(b, 0, sizeof *b);
    b->name = "shell";
    b->impl = sh;
    b->start = shellStart;
    b->cancel = shellCancel;
    b->close = shellClose;
    return 0;
}

size_t shellInFlight(const struct exec_backend *b)
{
    const struct shell *sh = b->impl;
    return sh == NULL ? 0 : sh->in_flight;
}
