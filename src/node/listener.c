#include "listener.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

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
}

static void onConnection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    if (status != 0 || !l->listening) {
        return;
    }
    struct conn *c;
    if (connAccept(server, l->max_frame, l->frame_cb, l->data, &c) != 0) {
        return;
    }
    c->owner = l;
    c->closed_cb = connGone;
    c->next = l->conns;
    if (l->conns != NULL) {
        l->conns->prev = c;
    }
    l->conns = c;
}

int listenerStart(struct listener *l, uv_loop_t *loop, const char *addr, size_t max_frame,
                  conn_frame_cb cb, void *data, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    int rv = listenerParseAddr(addr, &sa, err, errlen);
    if (rv != 0) {
        return rv;
    }
    memset(l, 0, sizeof *l);
    l->max_frame = max_frame;
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
    l->listening = true;
    return 0;
}

static void listenerClosed(uv_handle_t *h)
{
    struct listener *l = h->data;
    if (l->close_cb != NULL) {
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
    uv_close((uv_handle_t *)&l->tcp, listenerClosed);
}
