/*
 * libraftcron in a few calls: show the leader, create a job (create-only, so that running the
 * example twice is harmless), pause and resume it, list the jobs, delete it.
 *
 * Build against an installed libraftcron. The install has <raftcron/client.h> and the generated
 * <raftcron/raftcron.pb-c.h> and <raftcron/api.pb-c.h>, and the library exports the message
 * descriptors the RAFTCRON__*__INIT macros name, so there is nothing to generate; raftcron.pc
 * requires libprotobuf-c (the INIT macros refer to protobuf_c_empty_string):
 *   cc client_example.c -o client_example $(pkg-config --cflags --libs raftcron)
 * (With an install outside the default paths, set PKG_CONFIG_PATH to its lib/pkgconfig and
 * LD_LIBRARY_PATH to its lib.)
 * Run (endpoints default to $RAFTCRON_ENDPOINTS, then 127.0.0.1:7101; $RAFTCRON_AUTH_TOKEN is sent
 * when set; with $RAFTCRON_CACERT the connections are TLS, with $RAFTCRON_CERT/$RAFTCRON_KEY as
 * the client's certificate):
 *   ./client_example 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <raftcron/api.pb-c.h>
#include <raftcron/client.h>
#include <raftcron/raftcron.pb-c.h>

/* Report a failed call: the RC_E* code, the RPC status, and the server's (or transport's) text. */
static int failed(const struct rc_client *c, int rv, const char *what)
{
    fprintf(stderr, "%s: %s [%s, %s]\n", what, rc_client_errmsg(c), rc_errname(rv),
            rc_status_name(rc_client_status(c)));
    return 1;
}

static int showLeader(struct rc_client *c)
{
    Raftcron__ClusterStatus *st;
    int rv = rc_cluster_status(c, 0, &st);
    if (rv != 0) {
        return failed(c, rv, "cluster status");
    }
    printf("leader %" PRIu64 " at %s, term %" PRIu64 ", %zu members\n", st->leader_id,
           st->leader_rpc_addr, st->term, st->n_members);
    rc_message_free(st);
    return 0;
}

/* A job that runs `echo hello` every five minutes, Berlin time, retried twice. Every message
 * here lives on the stack: requests are borrowed by the library. */
static int createJob(struct rc_client *c)
{
    Raftcron__Trigger trigger = RAFTCRON__TRIGGER__INIT;
    trigger.kind_case = RAFTCRON__TRIGGER__KIND_CRON;
    trigger.cron = "*/5 * * * *";
    trigger.tz = "Europe/Berlin";
    Raftcron__ShellExec shell = RAFTCRON__SHELL_EXEC__INIT;
    shell.command = "echo hello";
    Raftcron__Executor executor = RAFTCRON__EXECUTOR__INIT;
    executor.kind_case = RAFTCRON__EXECUTOR__KIND_SHELL;
    executor.shell = &shell;
    Raftcron__RetryPolicy retry = RAFTCRON__RETRY_POLICY__INIT;
    retry.max_attempts = 3;
    Raftcron__JobSpec spec = RAFTCRON__JOB_SPEC__INIT;
    spec.namespace_ = "examples";
    spec.name = "hello";
    spec.description = "created by examples/client_example.c";
    spec.trigger = &trigger;
    spec.executor = &executor;
    spec.retry = &retry;

    Raftcron__Job *job;
    int rv = rc_job_put(c, &spec, 0, 1, &job);
    if (rv == RC_EEXISTS) {
        printf("examples/hello exists already\n");
        return 0;
    }
    if (rv != 0) {
        return failed(c, rv, "job put");
    }
    printf("created examples/hello, version %" PRIu64 "\n", job->version);
    rc_message_free(job);
    return 0;
}

static int pauseResume(struct rc_client *c)
{
    Raftcron__Job *job;
    int rv = rc_job_pause(c, "examples", "hello", &job);
    if (rv != 0) {
        return failed(c, rv, "job pause");
    }
    printf("paused: %s, version %" PRIu64 "\n", job->paused ? "yes" : "no", job->version);
    rc_message_free(job);
    rv = rc_job_resume(c, "examples", "hello", &job);
    if (rv != 0) {
        return failed(c, rv, "job resume");
    }
    printf("paused: %s, version %" PRIu64 "\n", job->paused ? "yes" : "no", job->version);
    rc_message_free(job);
    return 0;
}

static int listJobs(struct rc_client *c)
{
    Raftcron__JobListResponse *list;
    int rv = rc_job_list(c, "examples", 0, &list);
    if (rv != 0) {
        return failed(c, rv, "job list");
    }
    for (size_t i = 0; i < list->n_jobs; i++) {
        const Raftcron__Job *job = list->jobs[i];
        printf("  %s/%s version %" PRIu64 " runs %" PRIu64 "\n", job->spec->namespace_,
               job->spec->name, job->version, job->runs_total);
    }
    rc_message_free(list);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(argc > 2 ? stderr : stdout, "usage: %s [host:port,host:port,...]\n", argv[0]);
        return argc > 2 ? 2 : 0;
    }
    const char *endpoints = argc > 1 ? argv[1] : getenv("RAFTCRON_ENDPOINTS");
    struct rc_client_options opts = {
        .endpoints = endpoints != NULL ? endpoints : "127.0.0.1:7101",
        .timeout_us = 5 * 1000000,
        .auth_token = getenv("RAFTCRON_AUTH_TOKEN"),
        /* TLS, as raftcronctl reads it (docs/security.md): the CA, and our certificate */
        .ca_file = getenv("RAFTCRON_CACERT"),
        .cert_file = getenv("RAFTCRON_CERT"),
        .key_file = getenv("RAFTCRON_KEY"),
    };
    struct rc_client *c;
    int rv = rc_client_open(&opts, &c);
    if (rv != 0) {
        fprintf(stderr, "bad endpoints \"%s\" or TLS files: %s\n", opts.endpoints, rc_strerror(rv));
        return 2;
    }
    int failures = showLeader(c) || createJob(c) || pauseResume(c) || listJobs(c);
    if (!failures) {
        rv = rc_job_delete(c, "examples", "hello", 0);
        failures = rv != 0 ? failed(c, rv, "job delete") : 0;
        if (!failures) {
            printf("deleted examples/hello\n");
        }
    }
    rc_client_close(c);
    return failures;
}
