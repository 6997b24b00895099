#include "credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

extern char **environ;

static const char *const secretEnv[] = {"RAFTCRON_AUTH_TOKEN", "RAFTCRON_HISTORY_POSTGRES"};
static const char *const secretFlags[] = {"--auth-token", "--history-postgres"};

int credentialsReadFile(const char *path, const char *what, uint8_t *buf, size_t cap, size_t *len,
                        char *err, size_t errlen)
{
    int rv = tlsCheckPrivateFile(path, what, err, errlen);
    if (rv != 0) {
        return rv;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errSet(err, errlen, RC_EIO, "%s %s: %s", what, path, strerror(errno));
    }
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            int e = errno;
            close(fd);
            return errSet(err, errlen, RC_EIO, "%s %s: %s", what, path, strerror(e));
        }
        if (got == 0) {
            break;
        }
        n += (size_t)got;
        if (n == cap) {
            uint8_t extra;
            if (read(fd, &extra, 1) == 1) {
                close(fd);
                return errSet(err, errlen, RC_EINVAL, "%s %s: longer than %zu bytes", what, path,
                              cap);
            }
            break;
        }
    }
    close(fd);
    if (n > 0 && buf[n - 1] == '\n') {
        n--;
    }
    if (n > 0 && buf[n - 1] == '\r') {
        n--;
    }
    if (n == 0) {
        return errSet(err, errlen, RC_EINVAL, "%s %s: empty", what, path);
    }
    *len = n;
    return 0;
}

static int loadToken(struct credentials *c, char *err, size_t errlen)
{
    uint8_t buf[RC_CONF_TOKEN_MAX];
    size_t n;
    int rv = credentialsReadFile(c->token_file, "token file", buf, sizeof buf - 1, &n, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (memchr(buf, '\n', n) != NULL || memchr(buf, '\0', n) != NULL) {
        memset(buf, 0, sizeof buf);
        return errSet(err, errlen, RC_EINVAL, "token file %s: the token is one line",
                      c->token_file);
    }
    memcpy(c->token, buf, n);
    c->token[n] = '\0';
    memset(buf, 0, sizeof buf);
    return 0;
}

static int openTls(struct credentials *c, const struct rc_config *cfg, char *err, size_t errlen)
{
    struct tls_files f = {
        .ca_file = cfg->tls_ca, .cert_file = cfg->tls_cert, .key_file = cfg->tls_key};
    int rv;
    if (cfg->tls_cert[0] == '\0') {
        /* A worker agent with only a CA: it verifies the servers, and has no certificate. */
        return cfg->tls_ca[0] == '\0'
                   ? 0
                   : tlsCtxOpen(&f, TLS_CLIENT, TLS_PEER_REQUIRED, &c->client, err, errlen);
    }
    enum tls_peer clients = strcmp(cfg->rpc_client_auth, "require") == 0 ? TLS_PEER_REQUIRED
                            : strcmp(cfg->rpc_client_auth, "none") == 0  ? TLS_PEER_NONE
                                                                         : TLS_PEER_OPTIONAL;
    if ((rv = tlsCtxOpen(&f, TLS_CLIENT, TLS_PEER_REQUIRED, &c->client, err, errlen)) != 0 ||
        cfg->worker) {
        return rv;
    }
    if ((rv = tlsCtxOpen(&f, TLS_SERVER, TLS_PEER_REQUIRED, &c->raft_server, err, errlen)) != 0 ||
        (rv = tlsCtxOpen(&f, TLS_CLIENT, TLS_PEER_REQUIRED, &c->raft_client, err, errlen)) != 0) {
        return rv;
    }
    return tlsCtxOpen(&f, TLS_SERVER, clients, &c->rpc_server, err, errlen);
}

int credentialsLoad(struct credentials *c, const struct rc_config *cfg, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    snprintf(c->token_file, sizeof c->token_file, "%s", cfg->auth_token_file);
    snprintf(c->secret_file, sizeof c->secret_file, "%s", cfg->cluster_secret_file);
    snprintf(c->token, sizeof c->token, "%s", cfg->auth_token);
    int rv = 0;
    if (c->token_file[0] != '\0' && (rv = loadToken(c, err, errlen)) != 0) {
        goto err;
    }
    if (c->secret_file[0] != '\0') {
        rv = credentialsReadFile(c->secret_file, "cluster secret file", c->secret, sizeof c->secret,
                                 &c->secret_len, err, errlen);
        if (rv == 0 && c->secret_len < CREDENTIALS_SECRET_MIN) {
            rv = errSet(err, errlen, RC_EINVAL,
                        "cluster secret file %s: %zu bytes; use at least %d (e.g. openssl rand "
                        "-hex 32)",
                        c->secret_file, c->secret_len, CREDENTIALS_SECRET_MIN);
        }
        if (rv != 0) {
            goto err;
        }
    }
    if ((rv = openTls(c, cfg, err, errlen)) != 0) {
        goto err;
    }
    return 0;

err:
    credentialsClose(c);
    return rv;
}

int credentialsReload(struct credentials *c, char *err, size_t errlen)
{
    struct tls_ctx *all[] = {c->raft_server, c->raft_client, c->rpc_server, c->client};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (all[i] != NULL) {
            int rv = tlsCtxReload(all[i], err, errlen);
            if (rv != 0) {
                return rv;
            }
        }
    }
    if (c->token_file[0] != '\0') {
        char keep[RC_CONF_TOKEN_MAX];
        memcpy(keep, c->token, sizeof keep);
        int rv = loadToken(c, err, errlen);
        if (rv != 0) {
            memcpy(c->token, keep, sizeof keep);
        }
        memset(keep, 0, sizeof keep);
        return rv;
    }
    return 0;
}

void credentialsClose(struct credentials *c)
{
    tlsCtxClose(c->raft_server);
    tlsCtxClose(c->raft_client);
    tlsCtxClose(c->rpc_server);
    tlsCtxClose(c->client);
    c->raft_server = c->raft_client = c->rpc_server = c->client = NULL;
    memset(c->token, 0, sizeof c->token);
    memset(c->secret, 0, sizeof c->secret);
    c->secret_len = 0;
}

/* Overwrite the bytes in place (they live in the memory /proc shows), keeping the length. */
static void blank(char *s)
{
    for (; *s != '\0'; s++) {
        *s = 'x';
    }
}

int credentialsScrub(int argc, char **argv)
{
    int n = 0;
    for (size_t k = 0; k < sizeof secretEnv / sizeof secretEnv[0]; k++) {
        size_t len = strlen(secretEnv[k]);
        for (char **e = environ; e != NULL && *e != NULL; e++) {
            if (strncmp(*e, secretEnv[k], len) == 0 && (*e)[len] == '=') {
                blank(*e + len + 1);
                n++;
            }
        }
        unsetenv(secretEnv[k]);
    }
    for (int i = 1; i < argc; i++) {
        for (size_t k = 0; k < sizeof secretFlags / sizeof secretFlags[0]; k++) {
            size_t len = strlen(secretFlags[k]);
            if (strncmp(argv[i], secretFlags[k], len) != 0) {
                continue;
            }
            if (argv[i][len] == '=') {
                blank(argv[i] + len + 1);
                n++;
            } else if (argv[i][len] == '\0' && i + 1 < argc) {
                blank(argv[++i]);
                n++;
            }
        }
    }
    return n;
}
