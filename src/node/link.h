/*
 * A worker's link to the leader (worker.h, DESIGN.md §5): one session at a time, opened again
 * whenever it breaks or the leader changes.
 *
 * Two ways to reach the leader, chosen at every (re)open by the owner's target callback:
 *  - TCP: one persistent connection to the leader's RPC address. The session is a held
 *    Worker.Session call (stream 1): the leader answers with PUSH frames on it, and ends it
 *    with a Response (UNAVAILABLE and the leader hint when it no longer leads: the link goes
 *    there next). Reports are Worker.Report calls on the same connection, pipelined, each
 *    answered when committed. TCP_NODELAY, as every socket of ours; TLS when the node has it.
 *  - local: the leader's own worker calls this node's dispatcher directly: no socket, no
 *    encoding ("the leader runs its own share with no RPC"). Answers are delivered from the
 *    loop, never inside the call that caused them.
 *
 * Reconnects back off from LINK_BACKOFF_MIN_MS to LINK_BACKOFF_MAX_MS; a sync push resets it. A
 * TCP session silent for LINK_SILENCE_MS is broken off.
 * Lifecycle (STYLE.md §9): IDLE → CONNECTING → OPENING (session call sent) → UP (sync push
 * received) → (broken) → BACKOFF → CONNECTING …; LOCAL when the target is this node;
 * any → CLOSING → CLOSED.
 */
#ifndef RC_NODE_LINK_H
#define RC_NODE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/frame.h"
#include "dispatch.h"
#include "net/sstream.h"
#include "worker.h"

#define LINK_BACKOFF_MIN_MS 20
#define LINK_BACKOFF_MAX_MS 1000
#define LINK_ENDPOINTS_MAX  2048
/* A session that hears nothing from its leader for this long is broken off and opened again
 * (the worker heartbeats every WORKER_HEARTBEAT_US and every heartbeat is answered, so only a
 * partition, a paused leader or a dead connection TCP has not noticed keeps it this quiet). */
#define LINK_SILENCE_MS 2000

enum link_state {
    LINK_IDLE = 0,
    LINK_CONNECTING,
    LINK_OPENING,
    LINK_UP,
    LINK_BACKOFF,
    LINK_LOCAL,
    LINK_CLOSING,
    LINK_CLOSED
};

/* Where the leader is: *self when this node is the active leader (use its dispatcher), else
 * candidate RPC addresses "h:p,h:p" in buf, best first. False: nothing known yet (try later). */
typedef bool (*link_target_fn)(void *ctx, bool *self, char *buf, size_t len);

struct link_options {
    uv_loop_t *loop;           /* borrowed */
    struct worker *worker;     /* borrowed */
    struct dispatch *dispatch; /* this node's dispatcher (member), or NULL (agent) */
    link_target_fn target;
    void *target_ctx;
    const char *auth_token; /* or NULL; borrowed */
    size_t max_frame;       /* 0: RC_FRAME_MAX_DEFAULT */
    struct tls_ctx *tls;    /* borrowed, NULL: plain TCP. The leader's certificate must be valid
                             * for the host of the address dialled */
};

struct link_call;
struct link_done;
struct link_tcp;

struct link {
    struct worker_link base;            /* the worker's view (first member) */
    struct dispatch_peer peer;          /* the dispatcher's view, in LOCAL state */
    struct link_options o;              /* read-only */
    enum link_state state;              /* read-only */
    struct link_tcp *tcp;               /* private: the connection (owned, freed in its close cb) */
    unsigned tcp_closing;               /* private: connections whose close cb is pending */
    uint64_t attempt;                   /* private: connection attempts made */
    struct rc_frame_decoder dec;        /* private */
    uint32_t next_stream;               /* private */
    struct link_call *calls;            /* private: report calls unanswered (stream → tag) */
    uv_timer_t retry;                   /* private: backoff and re-evaluation */
    uv_timer_t deliver;                 /* private: deferred local answers */
    uv_timer_t silence;                 /* private: checks the leader is still heard */
    uint64_t heard_ms;                  /* private: loop time of the last frame from the leader */
    struct link_done *done;             /* private: local answers to deliver */
    unsigned backoff_ms;                /* private */
    char endpoints[LINK_ENDPOINTS_MAX]; /* private: the candidates being tried */
    unsigned candidate;                 /* private: the next one to try */
    char hint[256];                     /* private: the leader hint of the last refusal */
    char peer_addr[256];                /* read-only: where the TCP session goes */
    uint64_t sessions;                  /* read-only: sessions opened */
    void (*close_cb)(struct link *l);
    unsigned timers_open; /* private: while closing */
};

/* Start linking o->worker to the leader (workerSetLink is called here). Returns 0. */
int linkStart(struct link *l, const struct link_options *o);
/* The leader may have changed (Raft state, leader activation): check the target again. */
void linkPoke(struct link *l);
/* Close: the session ends, the connection closes; cb once nothing is left. */
void linkClose(struct link *l, void (*cb)(struct link *l));

#endif /* RC_NODE_LINK_H */
