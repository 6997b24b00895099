#include "seed.h"

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <string.h>
#include <uv.h>

#include "core/err.h"
#include "fsm_bridge.h"

#define SEED_TERM 1

struct seed {
    uv_loop_t loop;
    struct raft_uv_transport tcp;
    struct raft_io io;
    struct raft_io_snapshot_put put;
    bool put_done;
    int put_status;
    bool closed;
};

static void putDone(struct raft_io_snapshot_put *req, int status)
{
    struct seed *s = req->data;
    s->put_done = true;
    s->put_status = status;
}

static void ioClosed(struct raft_io *io)
{
    struct seed *s = io->data;
    s->closed = true;
}

/* Run the private loop until *flag is set (the loop has nothing else to do). */
static void runUntil(struct seed *s, const bool *flag)
{
    while (!*flag) {
        uv_run(&s->loop, UV_RUN_ONCE);
    }
}

/* Everything raft_uv needs to store the snapshot: the term, then the snapshot itself. */
static int store(struct seed *s, uint64_t id, const char *raft_addr, const void *body, size_t len,
                 uint64_t index, char *err, size_t errlen)
{
    raft_term term;
    raft_id vote;
    struct raft_snapshot *loaded = NULL;
    raft_index start;
    struct raft_entry *entries = NULL;
    size_t n_entries = 0;
    int rv = s->io.load(&s->io, &term, &vote, &loaded, &start, &entries, &n_entries);
    if (rv != 0) {
        return errSet(err, errlen, RC_EIO, "load: %s", s->io.errmsg);
    }
    if (loaded != NULL || n_entries > 0 || term != 0) {
        return errSet(err, errlen, RC_EINVAL, "the data dir already holds Raft state");
    }
    rv = s->io.set_term(&s->io, SEED_TERM);
    if (rv != 0) {
        return errSet(err, errlen, RC_EIO, "set term: %s", s->io.errmsg);
    }
    struct raft_snapshot snap = {.index = index, .term = SEED_TERM, .configuration_index = index};
    struct raft_buffer buf;
    raft_configuration_init(&snap.configuration);
    rv = raft_configuration_add(&snap.configuration, id, raft_addr, RAFT_VOTER);
    if (rv == 0) {
        rv = fsmBridgeEncodeSnapshot(index, body, len, &buf) == 0 ? 0 : RAFT_NOMEM;
    }
    if (rv != 0) {
        raft_configuration_close(&snap.configuration);
        return errSet(err, errlen, RC_ENOMEM, "out of memory");
    }
    snap.bufs = &buf;
    snap.n_bufs = 1;
    s->put.data = s;
    rv = s->io.snapshot_put(&s->io, 0, &s->put, &snap, putDone);
    if (rv == 0) {
        runUntil(s, &s->put_done);
        rv = s->put_status;
    }
    raft_free(buf.base);
    raft_configuration_close(&snap.configuration);
    if (rv != 0) {
        return errSet(err, errlen, RC_EIO, "writing the snapshot: %s (%s)", raft_strerror(rv),
                      s->io.errmsg);
    }
    return 0;
}

int seedDataDir(const char *dir, uint64_t id, const char *raft_addr, const void *body, size_t len,
                uint64_t index, char *err, size_t errlen)
{
    struct seed s;
    memset(&s, 0, sizeof s);
    if (uv_loop_init(&s.loop) != 0) {
        return errSet(err, errlen, RC_ENOMEM, "out of memory");
    }
    s.tcp.version = 1;
    s.io.version = 2;
    int rv = raft_uv_tcp_init(&s.tcp, &s.loop);
    if (rv != 0) {
        errSet(err, errlen, RC_ENOMEM, "out of memory");
        goto err_after_loop;
    }
    rv = raft_uv_init(&s.io, &s.loop, dir, &s.tcp);
    if (rv != 0) {
        errSet(err, errlen, RC_EIO, "data dir %s: %s", dir, s.io.errmsg);
        goto err_after_tcp;
    }
    s.io.data = &s;
    raft_uv_set_auto_recovery(&s.io, false);
    rv = s.io.init(&s.io, id, raft_addr);
    if (rv != 0) {
        errSet(err, errlen, RC_EIO, "data dir %s: %s", dir, s.io.errmsg);
        raft_uv_close(&s.io);
        goto err_after_tcp;
    }
    rv = store(&s, id, raft_addr, body, len, index, err, errlen);
    s.io.close(&s.io, ioClosed);
    runUntil(&s, &s.closed);
    raft_uv_close(&s.io);
err_after_tcp:
    raft_uv_tcp_close(&s.tcp);
err_after_loop:
    uv_run(&s.loop, UV_RUN_DEFAULT); /* handles closed above finish closing */
    uv_loop_close(&s.loop);
    return rv;
}
