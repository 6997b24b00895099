/*
 * The event stream (docs/rest.md "Events"): every change of jobs, runs and decisions this node
 * applies, kept in a ring of the last N and handed to subscribers — the REST API's server-sent
 * events and the RPC's Events.Watch. Every node applies every entry, so every node serves the
 * same events with the same indexes; a subscriber that reconnects anywhere resumes after the
 * last index it saw.
 *
 * Rules:
 *   - an event's index is the Raft index of the entry that made it; one entry can make many
 *     events (a FireBatch), which are delivered together, in apply order;
 *   - a subscriber resuming after index i gets every buffered event of an index > i; when the
 *     ring no longer holds the events right after i (it is too far behind, or this node
 *     installed a snapshot past i), the subscriber is told of the gap first (gap = true) with
 *     the oldest index still held, then gets what is held;
 *   - delivery happens on the loop after apply returns, never inside apply; a subscriber that
 *     cannot take more (its socket is full) returns false from deliver and is woken with
 *     eventsWake when it can: the ring keeps its place for it while the events are held.
 *
 * Records are fixed-size and the ring is allocated once: apply adds an event with a copy of a few
 * fields, no allocation. A ring of 0 events turns the stream off (subscribers get only a gap).
 */
#ifndef RC_NODE_EVENTS_H
#define RC_NODE_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api.pb-c.h"
#include "core/authz.h"
#include "core/fsm.h"
#include "core/jobs.h"

struct event_rec;
struct events_sub;

/* Called with one event (borrowed for the call). last: the last event of its index in this
 * delivery. Return false to stop until eventsWake (the event is delivered again then). */
typedef bool (*events_deliver_fn)(void *data, const Raftcron__Event *e, bool last);
/* Events after the subscriber's index were lost: oldest is the oldest index still held. */
typedef void (*events_gap_fn)(void *data, uint64_t oldest);

struct events_filter {
    char ns[RC_JOBS_NAMESPACE_MAX + 1]; /* "" = every namespace the principal may read */
    char job[RC_JOBS_NAME_MAX + 1];     /* "" = every job */
    struct rc_principal principal;
};

struct events_sub {
    struct events_filter filter; /* read-only after eventsSubscribe */
    events_deliver_fn deliver;
    events_gap_fn gap;
    void *data;
    uint64_t next_seq; /* private: the next record to look at */
    bool blocked;      /* private: deliver said stop */
    bool gap_pending;  /* private: tell the gap before the next event */
    uint64_t after;    /* private: never deliver an index at or below this (a node that has
                          not applied it yet learns its events later) */
    struct events_sub *next, *prev;
};

struct events {
    struct event_rec *ring; /* owned */
    size_t cap;
    uint64_t seq;            /* records ever added (the next one's sequence number) */
    uint64_t restored_index; /* a snapshot up to this index was installed: older events lost */
    struct events_sub *subs;
    uv_timer_t flush; /* delivers after apply, on the loop */
    bool flush_pending;
    uint64_t delivered; /* counters for /metrics */
    uint64_t gaps;
    struct rc_fsm_events hooks; /* installed with fsmSetEvents */
};

/* Start with room for cap events. Returns 0 or RC_ENOMEM. Install e->hooks on the FSM with
 * fsmSetEvents(f, &e->hooks, e). */
int eventsInit(struct events *e, uv_loop_t *loop, size_t cap);
/* Close (the timer's close callback frees nothing: e is the caller's); subscribers must be
 * gone. cb (may be NULL) once closed. */
void eventsClose(struct events *e, uv_close_cb cb);

/* Subscribe sub (filled: filter, deliver, gap, data) from after index after (0: only new
 * events). The first delivery comes from the loop, never inside this call. */
void eventsSubscribe(struct events *e, struct events_sub *sub, uint64_t after);
void eventsUnsubscribe(struct events *e, struct events_sub *sub);
/* A blocked subscriber can take events again. */
void eventsWake(struct events *e, struct events_sub *sub);

/* The oldest and newest index held (0, 0 when none). */
void eventsRange(const struct events *e, uint64_t *oldest, uint64_t *newest);
size_t eventsSubscribers(const struct events *e);

#endif /* RC_NODE_EVENTS_H */
