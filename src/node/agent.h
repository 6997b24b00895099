/*
 * `raftcrond --worker`: a worker agent (DESIGN.md §5). It is not a Raft member and keeps no
 * replica: it says hello to the leader (found through any --join endpoint) with its id, tags and
 * capacity, and holds one Worker.Watch call open at a time, by which the leader pushes the runs
 * assigned to it (and, by their absence, the ones cancelled or taken away). Execution, reports
 * and heartbeats are the node worker's (worker.c); the agent only supplies the source.
 *
 * Lifecycle: RUNNING → (SIGTERM/SIGINT) → STOPPING: stop watching, close the worker (running
 * processes are signalled; their runs are marked LOST by the leader after the worker timeout
 * and retried per policy) → the loop exits with status 0. A second signal exits at once (130).
 */
#ifndef RC_NODE_AGENT_H
#define RC_NODE_AGENT_H

#include "core/confparse.h"

/* Run the agent until stopped; returns the process exit status. */
int agentRun(const struct rc_config *cfg);

#endif /* RC_NODE_AGENT_H */
