/*
 * Starting a child process without copying the daemon (the shell executor's spawn).
 *
 * Why not fork(): libuv's uv_spawn forks, which copies the page tables of the whole daemon and
 * then takes a copy-on-write fault for every page either side writes; measured here
 * (docs/performance.md "Spawning"), a fork of a 30 MB process costs 2-7 ms, blocks the loop for
 * that long, and slows Raft and every other run while 100 jobs start at the top of a second.
 * spawnProcess uses clone(CLONE_VM | CLONE_VFORK): the child borrows the parent's memory until
 * it calls execve, the parent is suspended only for that short while, and no page is copied.
 * CLONE_PIDFD gives a pidfd, which the loop watches for the exit (no SIGCHLD handler, no
 * waitpid(-1) stealing another library's children).
 *
 * The child runs on its own small stack and only makes system calls that take no lock and
 * allocate nothing (it shares the parent's heap): reset every signal disposition and unblock
 * the mask (the parent blocks all signals around clone, so no handler of the daemon can run in
 * the child), setsid, the three standard descriptors, close every other descriptor
 * (close_range: a descriptor the daemon inherited without close-on-exec must not reach a job),
 * the resource limits, the umask, then the user (setgroups, setgid, setuid, in that order: the
 * last drops the right to do the others), the working directory (as that user, so that its
 * permissions are the user's), then execve. These are raw system calls, never libc's wrappers:
 * glibc's setuid would signal every thread of the daemon to change its credentials too. A
 * failing step is written to memory the parent reads after the child has gone: errno and which
 * step.
 */
#ifndef RC_EXEC_SPAWN_H
#define RC_EXEC_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPAWN_RLIMITS_MAX 8
#define SPAWN_GROUPS_MAX  64

struct spawn_rlimit {
    int resource;   /* RLIMIT_* */
    uint64_t value; /* soft and hard; UINT64_MAX: unlimited */
};

struct spawn_options {
    const char *file;  /* a path with a '/', or a name searched in the PATH of envp */
    char *const *argv; /* NULL-terminated */
    char *const *envp; /* NULL-terminated */
    const char *cwd;   /* NULL: the daemon's */
    int fds[3];        /* become the child's 0, 1 and 2 (the caller keeps its copies) */
    bool new_session;  /* setsid(): the child leads a new session and process group */
    bool set_user;     /* become uid/gid/groups (the parent must be allowed to) */
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* supplementary groups, n_groups of them (≤ SPAWN_GROUPS_MAX) */
    size_t n_groups;
    const struct spawn_rlimit *rlimits; /* n_rlimits of them (≤ SPAWN_RLIMITS_MAX) */
    size_t n_rlimits;
    bool set_umask; /* give the child umask (else it keeps the daemon's) */
    mode_t umask;
};

struct spawn_result {
    pid_t pid;        /* > 0 when started */
    int pidfd;        /* owned by the caller (close it), -1 when not started */
    int err;          /* errno of the step that failed, 0 when started */
    const char *step; /* "clone", "setsid", "dup2", "close_range", "setrlimit", "setgroups",
                       * "setgid", "setuid", "chdir", "execve", "path": what failed */
};

/*
 * Start o->file. Returns 0 with the child running (res->pid, res->pidfd), or -1 with res->err
 * and res->step saying why (a child that got as far as being created has been reaped). Thread:
 * the caller's; blocks only until the child has called execve (or failed).
 */
int spawnProcess(const struct spawn_options *o, struct spawn_result *res);

/* The exit of a child whose pidfd is readable: *status as from waitpid. Returns 0, or -1 with
 * errno (still running: EAGAIN). */
int spawnReap(pid_t pid, int pidfd, int *status);

#endif /* RC_EXEC_SPAWN_H */
