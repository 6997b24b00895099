#include "acks.h"

#include <stdlib.h>

#include "core/err.h"
#include "cluster.h"

struct acks {
    uv_timer_t timer;
    struct cluster *cluster;
    uint64_t target;
    unsigned waited_ms;
    acks_enough_fn enough_fn;
    acks_done_fn done;
    void *data;
};

static void closed(uv_handle_t *h)
{
    struct acks *a = h->data;
    a->done(a->cluster, a->target, a->data);
    free(a);
}

static void tick(uv_timer_t *t)
{
    struct acks *a = t->data;
    if (a->enough_fn(a->cluster, a->target, a->data) || a->waited_ms >= ACKS_WAIT_MS ||
        !clusterIsLeader(a->cluster)) {
        uv_timer_stop(t);
        uv_close((uv_handle_t *)t, closed);
        return;
    }
    a->waited_ms += ACKS_POLL_MS;
}

int acksAwait(struct cluster *c, acks_enough_fn enough, acks_done_fn done, void *data)
{
    struct acks *a = calloc(1, sizeof *a);
    if (a == NULL) {
        return RC_ENOMEM;
    }
    a->cluster = c;
    a->target = clusterLastIndex(c);
    a->enough_fn = enough;
    a->done = done;
    a->data = data;
    uv_timer_init(c->loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, tick, 0, ACKS_POLL_MS);
    return 0;
}
