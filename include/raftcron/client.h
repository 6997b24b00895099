/*
 * libraftcron — the public C API of raftcron.
 *
 * Installed with the protobuf-c headers it relies on, <raftcron/raftcron.pb-c.h> and
 * <raftcron/api.pb-c.h>; everything under src/ is internal. pkg-config name: raftcron.
 * Naming: public symbols start with rc_ / RC_ (STYLE.md §5).
 */
#ifndef RAFTCRON_CLIENT_H
#define RAFTCRON_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RC_API __attribute__((visibility("default")))
#else
#define RC_API
#endif

/*
 * Error codes. Every fallible function returns 0 or one of these (STYLE.md §6).
 * One X-macro table gives the enum and rc_strerror().
 */
#define RC_ERRNO_MAP(X)                                                                            \
    X(NOMEM, "out of memory")                                                                      \
    X(INVAL, "invalid argument")                                                                   \
    X(PARSE, "malformed input")                                                                    \
    X(RANGE, "value out of range")                                                                 \
    X(NOTFOUND, "not found")                                                                       \
    X(NEVER, "the schedule has no further instant")                                                \
    X(TZ, "unknown or unusable time zone")                                                         \
    X(EXISTS, "already exists")                                                                    \
    X(STALE, "stale version")                                                                      \
    X(TOOBIG, "too large")                                                                         \
    X(IO, "input/output error")                                                                    \
    X(NOTLEADER, "not the leader")                                                                 \
    X(SHUTDOWN, "shutting down")                                                                   \
    X(TIMEOUT, "timed out")                                                                        \
    X(CANCELED, "canceled")                                                                        \
    X(CORRUPT, "corrupt data")                                                                     \
    X(INTERNAL, "internal error")                                                                  \
    X(DENIED, "not authenticated or not allowed")

enum rc_errno {
    RC_OK = 0,
#define RC__ERRNO_ENUM(name, msg) RC_E##name,
    RC__ERRNO_FIRST = 1000,
    RC_ERRNO_MAP(RC__ERRNO_ENUM)
#undef RC__ERRNO_ENUM
        RC__ERRNO_LAST
};

/* Static message for an RC_E* code (or "unknown error"). Never NULL, never to be freed. */
RC_API const char *rc_strerror(int code);

/* Symbolic name of an RC_E* code, e.g. "RC_EPARSE". Never NULL, never to be freed. */
RC_API const char *rc_errname(int code);

/*
 * RPC status codes: gRPC's numbering, so that proxies and people read them the same way.
 * Every RPC reply carries one plus a message (DESIGN.md §6).
 */
#define RC_STATUS_MAP(X)                                                                           \
    X(OK, 0)                                                                                       \
    X(CANCELLED, 1)                                                                                \
    X(UNKNOWN, 2)                                                                                  \
    X(INVALID_ARGUMENT, 3)                                                                         \
    X(DEADLINE_EXCEEDED, 4)                                                                        \
    X(NOT_FOUND, 5)                                                                                \
    X(ALREADY_EXISTS, 6)                                                                           \
    X(PERMISSION_DENIED, 7)                                                                        \
    X(RESOURCE_EXHAUSTED, 8)                                                                       \
    X(FAILED_PRECONDITION, 9)                                                                      \
    X(ABORTED, 10)                                                                                 \
    X(OUT_OF_RANGE, 11)                                                                            \
    X(UNIMPLEMENTED, 12)                                                                           \
    X(INTERNAL, 13)                                                                                \
    X(UNAVAILABLE, 14)                                                                             \
    X(DATA_LOSS, 15)                                                                               \
    X(UNAUTHENTICATED, 16)

enum rc_status {
#define RC__STATUS_ENUM(name, value) RC_STATUS_##name = value,
    RC_STATUS_MAP(RC__STATUS_ENUM)
#undef RC__STATUS_ENUM
};

/* "OK", "INVALID_ARGUMENT", …; "UNKNOWN_STATUS" for other values. Never NULL. */
RC_API const char *rc_status_name(int status);

/* ---- Client ------------------------------------------------------------------------------------
 *
 * A blocking client for raftcrond's RPC API (DESIGN.md §6, docs/rpc.md). It connects to any of
 * the given endpoints, finds the leader (following the leader hint a follower returns with
 * UNAVAILABLE), retries idempotent calls with exponential backoff within the call's deadline,
 * and reports failures as an RC_E* code plus the RPC status and message (rc_client_status,
 * rc_client_errmsg). A client is not thread-safe: use one per thread.
 *
 * Messages are raftcron's protobuf-c types (installed as <raftcron/raftcron.pb-c.h> and
 * <raftcron/api.pb-c.h>; libraftcron exports their descriptors, so the RAFTCRON__*__INIT macros
 * work without compiling the .proto files). Requests are borrowed; every response is allocated by
 * the library and owned by the caller, who frees it with rc_message_free(). On failure, a call
 * that returns a response through out sets *out to NULL, so it may be freed either way.
 */
struct rc_client;
struct ProtobufCMessage;
struct Raftcron__JobSpec;
struct Raftcron__Job;
struct Raftcron__JobListResponse;
struct Raftcron__ClusterStatus;
struct Raftcron__DigestResponse;
struct Raftcron__Run;
struct Raftcron__RunListResponse;
struct Raftcron__DecisionListResponse;
struct Raftcron__JobNextResponse;

struct rc_client_options {
    const char *endpoints;  /* "host:port,host:port" (borrowed; copied by rc_client_open) */
    int64_t timeout_us;     /* deadline of each call; 0 = 10 s */
    const char *auth_token; /* sent with every request (the node's shared secret or a bearer
                               JWT, docs/rest.md "Tenancy and auth"); may be NULL */
    /* TLS (docs/security.md): with ca_file every connection is TLS, and a server must present
     * a certificate from that CA valid for the host dialled. cert_file and key_file (mode 0600)
     * are the client's own certificate, for servers that ask for one. All NULL: plain TCP. */
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
};

/* Open a client (no connection is made until the first call). Returns 0, RC_EINVAL for an
 * empty or malformed endpoint list, RC_EIO / RC_EINVAL for TLS files that cannot be used
 * (rc_client_open writes no message: check the files with openssl), or RC_ENOMEM. Close with
 * rc_client_close.
 *
 * Leader hints: a follower's hint is followed at once when it is one of the endpoints, or when
 * the connection is TLS (the leader must then prove its identity), or when the client sends no
 * credential; otherwise (a token in clear text) the client does not carry its token to an
 * address it was not given, and moves on to its next endpoint instead. */
RC_API int rc_client_open(const struct rc_client_options *opts, struct rc_client **out);
RC_API void rc_client_close(struct rc_client *c);

/* The RPC status (enum rc_status) and message of the last call; RC_STATUS_UNAVAILABLE with a
 * transport message when no endpoint answered. The message is owned by the client and valid
 * until its next call. */
RC_API int rc_client_status(const struct rc_client *c);
RC_API const char *rc_client_errmsg(const struct rc_client *c);

/* Free a response returned by any call below (NULL is fine). */
RC_API void rc_message_free(void *message);

/*
 * Generic call: method ("Job.Put", …), request payload bytes, response payload bytes
 * (*resp malloc'd, owned by the caller, free()). Returns 0 when the status is OK; otherwise an
 * RC_E* code with rc_client_status/rc_client_errmsg set (NOTFOUND for NOT_FOUND, EXISTS for
 * ALREADY_EXISTS, STALE for ABORTED/FAILED_PRECONDITION, INVAL for INVALID_ARGUMENT, TIMEOUT for
 * DEADLINE_EXCEEDED, NOTLEADER/IO for UNAVAILABLE, INTERNAL otherwise).
 * idempotent: the call may be retried on another endpoint after a transport failure.
 */
RC_API int rc_client_call(struct rc_client *c, const char *method, const void *req, size_t req_len,
                          void **resp, size_t *resp_len, int idempotent);

/* Job.Put: create or update (expected_version != 0: compare-and-set; create_only: fail with
 * RC_EEXISTS if present). *out (may be NULL) receives the stored job. */
RC_API int rc_job_put(struct rc_client *c, const struct Raftcron__JobSpec *spec,
                      uint64_t expected_version, int create_only, struct Raftcron__Job **out);
/* Job.Get (stale: read the answering node's state without a barrier). */
RC_API int rc_job_get(struct rc_client *c, const char *ns, const char *name, int stale,
                      struct Raftcron__Job **out);
/* Job.List ("" or NULL ns: all namespaces), in key order (namespace, name). The server answers
 * in pages of at most 1000 jobs, which this call fetches one after another and returns as one
 * response; each page is a read of its own, so a list longer than a page is not one snapshot
 * (a job created or deleted meanwhile may or may not appear). */
RC_API int rc_job_list(struct rc_client *c, const char *ns, int stale,
                       struct Raftcron__JobListResponse **out);
RC_API int rc_job_delete(struct rc_client *c, const char *ns, const char *name,
                         uint64_t expected_version);
RC_API int rc_job_pause(struct rc_client *c, const char *ns, const char *name,
                        struct Raftcron__Job **out);
RC_API int rc_job_resume(struct rc_client *c, const char *ns, const char *name,
                         struct Raftcron__Job **out);

/*
 * Run history (docs/ledger.md), newest first; every call is a read (stale as for rc_job_get) and
 * idempotent. limit 0 means 100, at most 1000 (RC_EINVAL above).
 * rc_run_list: the runs of job (NULL or "": of every job of ns; ns NULL or "" then means every
 * namespace, while with a job it means "default"), state a state name ("dead", "retry_wait", …)
 * or NULL/"" for all. RC_ENOTFOUND for an unknown job, RC_EINVAL for an unknown state.
 */
RC_API int rc_run_list(struct rc_client *c, const char *ns, const char *job, const char *state,
                       uint32_t limit, int stale, struct Raftcron__RunListResponse **out);
/* Run.Get: one run by id (RC_ENOTFOUND when absent or dropped by retention). */
RC_API int rc_run_get(struct rc_client *c, uint64_t id, int stale, struct Raftcron__Run **out);
/* Job.RunNow: a manual run of the job now; the overlap policy applies unless force
 * (RC_ESTALE / FAILED_PRECONDITION when it refuses). *run_id (may be NULL) gets the new run.
 * Not retried after a lost attempt: the outcome is then unknown. */
RC_API int rc_job_run_now(struct rc_client *c, const char *ns, const char *name, int force,
                          uint64_t *run_id);
/* Dlq.Retry: a new manual run for the scheduled instant of dead run id. */
RC_API int rc_dlq_retry(struct rc_client *c, uint64_t id, uint64_t *run_id);
/* Run.Cancel: cancel run id (pending, assigned, running or waiting to retry); a running one
 * is killed by its worker. */
RC_API int rc_run_cancel(struct rc_client *c, uint64_t id);
/* Decision.List: the decision records (fired, coalesced, missed, skipped) of one job. */
RC_API int rc_decision_list(struct rc_client *c, const char *ns, const char *job, uint32_t limit,
                            int stale, struct Raftcron__DecisionListResponse **out);
/* Dlq.List: runs in state DEAD (ns NULL or "": every namespace). */
RC_API int rc_dlq_list(struct rc_client *c, const char *ns, uint32_t limit, int stale,
                       struct Raftcron__RunListResponse **out);
/* Job.Next: the job's next n (0: 5, at most 1000) scheduled instants after the later of its
 * cursor and the answering node's clock, with the zone's UTC offset at each. */
RC_API int rc_job_next(struct rc_client *c, const char *ns, const char *name, uint32_t n, int stale,
                       struct Raftcron__JobNextResponse **out);

/*
 * Pages (docs/rpc.md "Pages"): the *_page calls return one page of at most limit records (0:
 * 100, at most 1000) after page_token ("" or NULL: the first page); the reply's
 * next_page_token, when not "", asks for the next one. Every record held from the first page
 * to the last is returned exactly once, newest first (jobs: in key order).
 */
RC_API int rc_run_list_page(struct rc_client *c, const char *ns, const char *job, const char *state,
                            uint32_t limit, const char *page_token, int stale,
                            struct Raftcron__RunListResponse **out);
RC_API int rc_dlq_list_page(struct rc_client *c, const char *ns, uint32_t limit,
                            const char *page_token, int stale,
                            struct Raftcron__RunListResponse **out);
RC_API int rc_decision_list_page(struct rc_client *c, const char *ns, const char *job,
                                 uint32_t limit, const char *page_token, int stale,
                                 struct Raftcron__DecisionListResponse **out);
RC_API int rc_job_list_page(struct rc_client *c, const char *ns, uint32_t limit,
                            const char *page_token, int stale,
                            struct Raftcron__JobListResponse **out);

/* Job.Stats: the job's counters (kept by the cluster as runs happen), the durations of the runs
 * it still holds (mean, p95, max) and its next instants. */
struct Raftcron__JobStatsResponse;
RC_API int rc_job_stats(struct rc_client *c, const char *ns, const char *name, int stale,
                        struct Raftcron__JobStatsResponse **out);

/*
 * Events.Watch (docs/rpc.md "Events.Watch"): changes of jobs and runs as the cluster applies
 * them, each with the Raft index of its entry. Blocks, calling cb for every event (e borrowed
 * for the call) until cb returns non-zero (then returns 0) or the watch fails for good (an
 * RC_E* code: RC_EDENIED for a refused credential, RC_EINVAL for bad arguments). ns NULL or ""
 * watches every namespace the credential may read; job narrows to one job. after_index: only
 * events of later entries (0: from now on). When a node goes away the watch moves to another
 * endpoint and resumes after the last entry it saw whole, so no event is missed or repeated;
 * when the events after that index are no longer kept, cb is called once with e NULL and
 * oldest the oldest index still held (events were lost), then the stream goes on.
 */
struct Raftcron__Event;
typedef int (*rc_event_cb)(void *data, const struct Raftcron__Event *e, uint64_t oldest);
RC_API int rc_events_watch(struct rc_client *c, const char *ns, const char *job,
                           uint64_t after_index, rc_event_cb cb, void *data);

/* Cluster.Status and Cluster.Digest. */
RC_API int rc_cluster_status(struct rc_client *c, int stale, struct Raftcron__ClusterStatus **out);
RC_API int rc_cluster_digest(struct rc_client *c, int stale, struct Raftcron__DigestResponse **out);

/* Member.Add (standby: non-voting), Member.Remove, Member.Promote, Member.Demote,
 * Member.Transfer (id 0: let the leader choose; a standby is refused with RC_ESTALE /
 * FAILED_PRECONDITION).
 * Remove and demote refuse (RC_ESTALE / FAILED_PRECONDITION) to take away the last voter, and,
 * unless force, a voter whose departure leaves fewer than a majority of the remaining voters
 * answering the leader (the cluster could elect no leader afterwards). Add answers RC_EIO /
 * UNAVAILABLE when the new node cannot be caught up: it is then left in the configuration as
 * a spare (remove it, or start it with --join). */
RC_API int rc_member_add(struct rc_client *c, uint64_t id, const char *raft_addr,
                         const char *rpc_addr, int standby);
RC_API int rc_member_remove(struct rc_client *c, uint64_t id, int force);
RC_API int rc_member_promote(struct rc_client *c, uint64_t id);
RC_API int rc_member_demote(struct rc_client *c, uint64_t id, int force);
RC_API int rc_member_transfer(struct rc_client *c, uint64_t id);

/*
 * Job.Backfill (docs/cli.md "job backfill", docs/misfire.md "Backfill"): runs for the job's
 * past instants in [from_us, to_us] (both included; to_us not after the leader's now), at most
 * limit instants (0: 1000, at most 1000; a range holding more creates nothing and fails with
 * RC_EINVAL naming the count), judged by the job's overlap policy, written as one all-or-nothing
 * entry. An instant that already has a decision is not fired again: the reply lists it as
 * "decided" (so a repeated backfill creates nothing). dry_run: the plan only, nothing written.
 * *out (required) receives one BackfillInstant per instant of the range with its outcome
 * (enum rc_backfill_outcome values: 1 fired, 2 skipped, 3 decided, 4 dropped, 5 scheduled) and,
 * for a fired one, its run id; it is allocated by the library and owned by the caller
 * (rc_message_free). Idempotent: retried after a lost connection, since a repeat cannot fire an
 * instant twice. RC_ENOTFOUND for an unknown job, RC_ESTALE when the job's history changed
 * between plan and commit (nothing was created: call again).
 */
struct Raftcron__BackfillResponse;
RC_API int rc_job_backfill(struct rc_client *c, const char *ns, const char *name, int64_t from_us,
                           int64_t to_us, uint32_t limit, int dry_run,
                           struct Raftcron__BackfillResponse **out);

#ifdef __cplusplus
}
#endif

#endif /* RAFTCRON_CLIENT_H */
