/*
 * `raftcrond --worker`: a worker agent (DESIGN.md §5). It is not a Raft member and keeps no
 * replica: its worker (worker.c) holds one session with the leader (found through any --join
 * endpoint, following leader hints) over its link (link.c), exactly as a member's worker does
 * when its node follows.
 *
 * Lifecycle: RUNNING → (SIGTERM/SIGINT) → STOPPING: close the link, then the worker (running
 * processes are signalled; their runs are marked LOST by the leader after the worker timeout
 * and retried per policy) → the loop exits with status 0. A second signal exits at once (130).
 */
#ifndef RC_NODE_AGENT_H
#define RC_NODE_AGENT_H

#include "core/confparse.h"
#include "credentials.h"
#include "exec/exec.h"

/* Run the agent until stopped; returns the process exit status. creds (token, TLS; reloaded on
 * SIGHUP) and exec (its executors' limits) are borrowed. */
int agentRun(const struct rc_config *cfg, struct credentials *creds,
             const struct exec_security *exec);

#endif /* RC_NODE_AGENT_H */
