/*
 * A node's credentials (docs/security.md): its TLS contexts, the RPC token and the cluster
 * secret, loaded from files at start and again on SIGHUP. DESIGN.md §9: secrets live in files on
 * the node (mode 0600 or stricter, checked), never in the replicated state, never in logs; they
 * are removed from the daemon's environment and its command line once read, so that neither
 * /proc/PID/environ, ps, nor a job (whose environment is built from an allow-list anyway,
 * exec.h) sees them.
 *
 * TLS contexts, when --tls-cert is set (a member) or --tls-ca (a worker agent):
 *   raft_server  Raft connections we accept: mutual TLS, peers' certificates from --tls-ca
 *   raft_client  Raft connections we open, with our certificate
 *   rpc_server   RPC connections we accept; client certificates per --rpc-client-auth
 *   client       RPC connections we open (join, the worker's link): the server must present a
 *                certificate from --tls-ca valid for the host dialled; ours when we have one
 */
#ifndef RC_NODE_CREDENTIALS_H
#define RC_NODE_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/confparse.h"
#include "net/tls.h"

#define CREDENTIALS_SECRET_MIN 16
#define CREDENTIALS_SECRET_MAX 1024

struct credentials {
    struct tls_ctx *raft_server; /* owned; NULL without TLS */
    struct tls_ctx *raft_client;
    struct tls_ctx *rpc_server;
    struct tls_ctx *client;
    char token[RC_CONF_TOKEN_MAX]; /* "" = none */
    uint8_t secret[CREDENTIALS_SECRET_MAX];
    size_t secret_len; /* 0 = none */
    char token_file[RC_CONF_PATH_MAX];
    char secret_file[RC_CONF_PATH_MAX];
};

/* Load everything cfg names (cfg->auth_token as given, or --auth-token-file). Returns 0, or
 * RC_EIO / RC_EINVAL with a message naming the file (unreadable, readable by others, empty,
 * too short or long, not PEM). On error nothing is left to free. */
int credentialsLoad(struct credentials *c, const struct rc_config *cfg, char *err, size_t errlen);

/* SIGHUP: read the TLS files and the token file again. Connections open keep what they had;
 * new ones use the new. On error (a half-written certificate) the old ones stay in force.
 * Returns 0 or an RC_E* code with a message. The cluster secret is not reloaded (members must
 * change it together: restart them). */
int credentialsReload(struct credentials *c, char *err, size_t errlen);

void credentialsClose(struct credentials *c);

/* Read a secret file: mode 0600 or stricter, 1..cap bytes, one trailing newline dropped.
 * Returns 0 with *len, or RC_EIO / RC_EINVAL with a message. */
int credentialsReadFile(const char *path, const char *what, uint8_t *buf, size_t cap, size_t *len,
                        char *err, size_t errlen);

/* Overwrite the values of secret settings in the process's environment and command line
 * (what /proc/PID/environ and ps show) and drop them from environ: RAFTCRON_AUTH_TOKEN and
 * RAFTCRON_HISTORY_POSTGRES, --auth-token and --history-postgres. Call once, after the
 * configuration was parsed (it copied them). Returns how many values were scrubbed. */
int credentialsScrub(int argc, char **argv);

#endif /* RC_NODE_CREDENTIALS_H */
