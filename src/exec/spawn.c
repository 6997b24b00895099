#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_STACK (64 * 1024)

/* What the child needs, prepared by the parent (the child allocates nothing). */
struct child {
    const struct spawn_options *o;
    const char *path; /* resolved file */
    int err;          /* written by the child when a step fails */
    const char *step;
};

/* The kernel's struct sigaction for rt_sigaction (not libc's): handler, flags, restorer, mask. */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

/* Runs in the child, on the parent's memory: raw system calls only (see spawn.h), so that no
 * libc or sanitizer wrapper takes a lock or allocates in the parent's place. */
static int childMain(void *arg)
{
    struct child *c = arg;
    const struct spawn_options *o = c->o;
    struct kernel_sigaction dfl = {.handler = SIG_DFL};
    for (long sig = 1; sig < 65; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            (void)syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
        }
    }
    unsigned long none = 0;
    if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none) != 0) {
        c->step = "sigprocmask";
        goto fail;
    }
    if (o->new_session && syscall(SYS_setsid) < 0) {
        c->step = "setsid";
        goto fail;
    }
    for (long i = 0; i < 3; i++) {
        /* dup3 onto itself is refused: clear close-on-exec instead. */
        long rv = o->fds[i] == i ? syscall(SYS_fcntl, i, F_SETFD, 0L)
                                 : syscall(SYS_dup3, (long)o->fds[i], i, 0L);
        if (rv < 0) {
            c->step = "dup2";
            goto fail;
        }
    }
    /* No descriptor of the daemon reaches the job (Raft and RPC sockets, the data dir, and
     * whatever the daemon inherited without close-on-exec). */
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
        for (long fd = 3; fd < 65536; fd++) {
            (void)syscall(SYS_close, fd);
        }
    }
    for (size_t i = 0; i < o->n_rlimits; i++) {
        struct rlimit lim;
        lim.rlim_cur = lim.rlim_max =
            o->rlimits[i].value == UINT64_MAX ? RLIM_INFINITY : (rlim_t)o->rlimits[i].value;
        if (syscall(SYS_prlimit64, 0L, (long)o->rlimits[i].resource, &lim, NULL) != 0) {
            c->step = "setrlimit";
            goto fail;
        }
    }
    if (o->set_umask) {
        (void)syscall(SYS_umask, (long)o->umask);
    }
    if (o->set_user) {
        if (syscall(SYS_setgroups, (long)o->n_groups, o->groups) != 0) {
            c->step = "setgroups";
            goto fail;
        }
        if (syscall(SYS_setresgid, (long)o->gid, (long)o->gid, (long)o->gid) != 0) {
            c->step = "setgid";
            goto fail;
        }
        if (syscall(SYS_setresuid, (long)o->uid, (long)o->uid, (long)o->uid) != 0) {
            c->step = "setuid";
            goto fail;
        }
    }
    if (o->cwd != NULL && syscall(SYS_chdir, o->cwd) != 0) {
        c->step = "chdir";
        goto fail;
    }
    (void)syscall(SYS_execve, c->path, o->argv, o->envp);
    c->step = "execve";
fail:
    c->err = errno;
    syscall(SYS_exit, 127L);
    return 127;
}

/* The PATH of the child's environment, as execvp would use it. */
static const char *pathOf(char *const *envp)
{
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        if (strncmp(envp[i], "PATH=", 5) == 0) {
            return envp[i] + 5;
        }
    }
    return "/usr/local/bin:/usr/bin:/bin";
}

/* Resolve a bare name in the PATH into buf (the parent's side of execvp). */
static int resolve(const struct spawn_options *o, char *buf, size_t len, const char **out)
{
    if (strchr(o->file, '/') != NULL) {
        *out = o->file;
        return 0;
    }
    const char *p = pathOf(o->envp);
    while (*p != '\0') {
        size_t n = strcspn(p, ":");
        int w = snprintf(buf, len, "%.*s%s%s", (int)n, n > 0 ? p : ".", "/", o->file);
        if (w > 0 && (size_t)w < len && access(buf, X_OK) == 0) {
            *out = buf;
            return 0;
        }
        p += n + (p[n] == ':');
    }
    return ENOENT;
}

int spawnProcess(const struct spawn_options *o, struct spawn_result *res)
{
    res->pid = -1;
    res->pidfd = -1;
    res->err = 0;
    res->step = NULL;
    char path[PATH_MAX];
    struct child c = {.o = o};
    int err = resolve(o, path, sizeof path, &c.path);
    if (err != 0) {
        res->err = err;
        res->step = "path";
        return -1;
    }
    char *stack = malloc(CHILD_STACK);
    if (stack == NULL) {
        res->err = ENOMEM;
        res->step = "clone";
        return -1;
    }
    /* No handler of the daemon may run in the child, which shares our memory: block every
     * signal across clone (the child unblocks after resetting the dispositions). */
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    pid_t pid = clone(childMain, stack + CHILD_STACK,
                      CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &c, &pidfd);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(stack);
    if (pid < 0) {
        res->err = clone_errno;
        res->step = "clone";
        return -1;
    }
    if (c.step != NULL) {
        /* The child failed before execve and has exited: reap it. */
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        close(pidfd);
        res->err = c.err;
        res->step = c.step;
        return -1;
    }
    res->pid = pid;
    res->pidfd = pidfd;
    return 0;
}

int spawnReap(pid_t pid, int pidfd, int *status)
{
    (void)pidfd;
    pid_t got;
    do {
        got = waitpid(pid, status, WNOHANG);
    } while (got < 0 && errno == EINTR);
    if (got == 0) {
        errno = EAGAIN;
        return -1;
    }
    if (got < 0 && errno == ECHILD) {
        /* Reaped by someone else (SIGCHLD ignored by whoever started us, inherited): the
         * child is gone, its status with it. Say so rather than wait forever. */
        *status = 0xff00; /* exited, code 255 */
        return 0;
    }
    return got < 0 ? -1 : 0;
}
