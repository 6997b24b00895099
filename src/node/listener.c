#include "listener.h"

#include <stdio.h>
#include <stdlib.h>
#include <netdb.h>
#include <string.h>

#include "core/err.h"
#include "log.h"

#define SWEEP_MS 1000

int listenerParseAddr(const char *addr, struct sockaddr_storage *out, char *err, size_t errlen)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0') {
        return errSet(err, errlen, RC_EINVAL, "address \"%s\": expected HOST:PORT", addr);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        return errSet(err, errlen, RC_EINVAL, "address \"%s\": bad port", addr);
    }
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host) {
        return errSet(err, errlen, RC_EINVAL, "address \"%s\": host too long", addr);
    }
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        if (uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)out) == 0) {
            return 0;
        }
    } else {
        if (strcmp(host, "localhost") == 0 || host[0] == '\0') {
            snprintf(host, sizeof host, "%s", hl == 0 ? "0.0.0.0" : "127.0.0.1");
        }
        if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0) {
            return 0;
        }
    }
    return errSet(err, errlen, RC_EINVAL, "address \"%s\": host must be a numeric IP or localhost",
                  addr);
}

/* The address to listen on: numeric as listenerParseAddr reads it, or a host name resolved now
 * (once, at start; the Raft transport does the same): a pod's name in a StatefulSet, which its
 * certificate names and its peers dial. */
static int listenAddr(uv_loop_t *loop, const char *addr, struct sockaddr_storage *out, char *err,
                      size_t errlen)
{
    if (listenerParseAddr(addr, out, err, errlen) == 0) {
        return 0;
    }
    const char *colon = strrchr(addr, ':');
    size_t hl = colon != NULL ? (size_t)(colon - addr) : 0;
    char host[256];
    if (colon == NULL || hl == 0 || hl >= sizeof host || addr[0] == '[') {
        return RC_EINVAL; /* err says why */
    }
    memcpy(host, addr, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    uv_getaddrinfo_t req;
    int rv = uv_getaddrinfo(loop, &req, NULL, host, colon + 1, &hints);
    if (rv != 0) {
        return errSet(err, errlen, RC_EINVAL, "address \"%s\": cannot resolve %s: %s", addr, host,
                      uv_strerror(rv));
    }
    memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

static void connGone(struct conn *c)
{
    struct listener *l = c->owner;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else if (l->conns == c) {
        l->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->next = c->prev = NULL;
    l->n_conns--;
}

static void freeHandle(uv_handle_t *h)
{
    free(h);
}

/* Over the cap: the connection is accepted only to be closed, so that the backlog drains and
 * the peer learns at once. */
static void refuse(struct listener *l, uv_stream_t *server)
{
    uv_tcp_t *tcp = malloc(sizeof *tcp);
    if (tcp == NULL) {
        return;
    }
    uv_tcp_init(server->loop, tcp);
    (void)uv_accept(server, (uv_stream_t *)tcp);
    uv_close((uv_handle_t *)tcp, freeHandle);
    if (l->refused++ % 1000 == 0) {
        LOG_WARN("rpc: connection limit reached; refusing connections", "limit", "%u",
                 l->o.max_connections, "refused", "%llu", (unsigned long long)l->refused);
    }
}

static void onConnection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    if (status != 0 || !l->listening) {
        return;
    }
    if (l->o.max_connections != 0 && l->n_conns >= l->o.max_connections) {
        refuse(l, server);
        return;
    }
    struct conn_limits limits = {.max_frame = l->o.max_frame};
    struct conn *c;
    if (connAccept(server, l->o.tls, &limits, l->o.open, l->frame_cb, l->data, &c) != 0) {
        return;
    }
    c->owner = l;
    c->closed_cb = connGone;
    c->next = l->conns;
    if (l->conns != NULL) {
        l->conns->prev = c;
    }
    l->conns = c;
    l->n_conns++;
}

/* Idle connections (no frame for idle_ms and no call in flight: a worker session heartbeats)
 * and connections that did not authenticate in time. */
static void sweepTick(uv_timer_t *t)
{
    struct listener *l = t->data;
    uint64_t now = uv_now(t->loop);
    for (struct conn *c = l->conns; c != NULL;) {
        struct conn *next = c->next;
        bool idle = l->o.idle_ms != 0 && c->calls == 0 && now - c->active_ms > l->o.idle_ms;
        bool late = !c->authenticated && now - c->opened_ms > CONN_AUTH_TIMEOUT_MS;
        if ((idle || late) && c->state == CONN_OPEN) {
            l->idled++;
            LOG_DEBUG("rpc: closing a connection", "conn", "%llu", (unsigned long long)c->id,
                      "peer", "%s", c->peer, "reason", "%s",
                      late ? "not authenticated in time" : "idle");
            connClose(c);
        }
        c = next;
    }
}

int listenerStart(struct listener *l, uv_loop_t *loop, const char *addr,
                  const struct listener_options *o, conn_frame_cb cb, void *data, char *err,
                  size_t errlen)
{
    struct sockaddr_storage sa;
    int rv = listenAddr(loop, addr, &sa, err, errlen);
    if (rv != 0) {
        return rv;
    }
    memset(l, 0, sizeof *l);
    l->o = *o;
    l->frame_cb = cb;
    l->data = data;
    uv_tcp_init(loop, &l->tcp);
    l->tcp.data = l;
    rv = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&sa, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&l->tcp, 128, onConnection);
    }
    if (rv != 0) {
        uv_close((uv_handle_t *)&l->tcp, NULL);
        return errSet(err, errlen, RC_EIO, "rpc listen on %s: %s", addr, uv_strerror(rv));
    }
    uv_timer_init(loop, &l->sweep);
    l->sweep.data = l;
    uv_timer_start(&l->sweep, sweepTick, SWEEP_MS, SWEEP_MS);
    l->listening = true;
    return 0;
}

static void listenerClosed(uv_handle_t *h)
{
    struct listener *l = h->data;
    if (--l->closing == 0 && l->close_cb != NULL) {
        l->close_cb(l);
    }
}

void listenerClose(struct listener *l, listener_close_cb cb)
{
    l->close_cb = cb;
    l->listening = false;
    for (struct conn *c = l->conns; c != NULL;) {
        struct conn *next = c->next;
        connClose(c);
        c = next;
    }
    l->closing = 2;
    uv_close((uv_handle_t *)&l->sweep, listenerClosed);
    uv_close((uv_handle_t *)&l->tcp, listenerClosed);
}
