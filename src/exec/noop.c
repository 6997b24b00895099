/* The noop executor (DESIGN.md §5): a run that records when it started and succeeds, with no
 * process and no request. What remains of an executor is the contract of exec.h: done is
 * called later from the loop (a zero timer), never from inside start(). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "exec.h"

struct nrun {
    struct exec_handle h; /* first: the handle given to the caller is the run */
    struct nrun *next;
    exec_done_cb done;
    int64_t started_us;
    bool cancelled;
};

struct noop {
    struct exec_backend *b;
    uv_timer_t timer;
    struct nrun *head, *tail; /* runs whose done is due */
    size_t in_flight;
    bool closing;
    exec_close_cb close_cb;
};

static int64_t wallUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Deliver every due done, in start order; runs started from a callback are delivered in the
 * same pass. */
static void deliver(uv_timer_t *t)
{
    struct noop *n = t->data;
    while (n->head != NULL) {
        struct nrun *r = n->head;
        n->head = r->next;
        if (n->head == NULL) {
            n->tail = NULL;
        }
        struct exec_result res;
        memset(&res, 0, sizeof res);
        res.cancelled = r->cancelled;
        res.started_us = r->started_us;
        res.finished_us = r->started_us;
        n->in_flight--;
        r->done(&r->h, &res, r->h.data);
        free(r);
    }
}

static int noopStart(struct exec_backend *b, const struct exec_request *req, exec_done_cb done,
                     void *data, struct exec_handle **out)
{
    struct noop *n = b->impl;
    if (n->closing) {
        return errSet(b->errmsg, sizeof b->errmsg, RC_ESHUTDOWN, "executor closing");
    }
    struct nrun *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return errSet(b->errmsg, sizeof b->errmsg, RC_ENOMEM, "out of memory");
    }
    r->h.backend = b;
    r->h.run_id = req->run_id;
    r->h.data = data;
    r->done = done;
    r->started_us = wallUs();
    if (n->tail != NULL) {
        n->tail->next = r;
    } else {
        n->head = r;
    }
    n->tail = r;
    n->in_flight++;
    if (!uv_is_active((uv_handle_t *)&n->timer)) {
        uv_timer_start(&n->timer, deliver, 0, 0);
    }
    *out = &r->h;
    return 0;
}

static void noopCancel(struct exec_handle *h)
{
    ((struct nrun *)h)->cancelled = true;
}

static void closed(uv_handle_t *h)
{
    struct noop *n = h->data;
    struct exec_backend *b = n->b;
    exec_close_cb cb = n->close_cb;
    free(n);
    b->impl = NULL;
    if (cb != NULL) {
        cb(b);
    }
}

static void noopClose(struct exec_backend *b, exec_close_cb close_cb)
{
    struct noop *n = b->impl;
    n->closing = true;
    n->close_cb = close_cb;
    for (struct nrun *r = n->head; r != NULL; r = r->next) {
        r->cancelled = true;
    }
    deliver(&n->timer);
    uv_close((uv_handle_t *)&n->timer, closed);
}

int noopInit(struct exec_backend *b, struct uv_loop_s *loop)
{
    memset(b, 0, sizeof *b);
    struct noop *n = calloc(1, sizeof *n);
    if (n == NULL) {
        return RC_ENOMEM;
    }
    n->b = b;
    uv_timer_init(loop, &n->timer);
    n->timer.data = n;
    b->name = "noop";
    b->impl = n;
    b->start = noopStart;
    b->cancel = noopCancel;
    b->close = noopClose;
    return 0;
}
