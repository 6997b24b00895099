/*
 * The daemon's backend of the io seam (io.h): libuv for the loop and monotonic timers, a
 * timerfd (rtimer.h) for wall-clock timers, the cluster (raft/cluster.h) for Raft. A worker
 * agent, which is no Raft member, gets a table without the Raft functions (cluster NULL).
 */
#ifndef RC_NODE_IO_UV_H
#define RC_NODE_IO_UV_H

#include <uv.h>

#include "io.h"

struct cluster;

struct io_uv {
    struct node_io io;       /* public: the table */
    uv_loop_t *loop;         /* borrowed */
    struct cluster *cluster; /* borrowed, or NULL (agent) */
};

/* Fill u->io for loop and cluster (may be NULL). Cannot fail. */
void ioUvInit(struct io_uv *u, uv_loop_t *loop, struct cluster *cluster);

#endif /* RC_NODE_IO_UV_H */
