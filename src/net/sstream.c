#include "sstream.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define TLS_CHUNK 16384

/* Plaintext written before the handshake completed. */
struct sstream_plain {
    struct sstream_plain *next;
    size_t len;
    uint8_t *buf; /* owned */
};

struct wreq {
    uv_write_t req;
    uint8_t *buf; /* owned */
};

static void setState(struct sstream *s, enum sstream_state to)
{
    static const bool allowed[5][5] = {
        [SSTREAM_NEW] = {[SSTREAM_STARTED] = true, [SSTREAM_CLOSING] = true},
        [SSTREAM_STARTED] = {[SSTREAM_READY] = true, [SSTREAM_CLOSING] = true},
        [SSTREAM_READY] = {[SSTREAM_CLOSING] = true},
        [SSTREAM_CLOSING] = {[SSTREAM_CLOSED] = true},
    };
    if (!allowed[s->state][to]) {
        fprintf(stderr, "sstream: illegal move %d -> %d\n", (int)s->state, (int)to);
        abort();
    }
    s->state = to;
}

void sstreamInit(struct sstream *s, uv_loop_t *loop)
{
    memset(s, 0, sizeof *s);
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    s->early_tail = &s->early;
}

static bool live(const struct sstream *s)
{
    return (s->state == SSTREAM_STARTED || s->state == SSTREAM_READY) && !s->failed;
}

static void fail(struct sstream *s, const char *why)
{
    if (!live(s)) {
        return;
    }
    s->failed = true;
    if (s->reading) {
        uv_read_stop((uv_stream_t *)&s->tcp);
        s->reading = false;
    }
    s->cb.error(s, why);
}

static void written(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct sstream *s = req->handle->data;
    free(w->buf);
    free(w);
    if (status != 0) {
        if (status != UV_ECANCELED) {
            fail(s, uv_strerror(status));
        }
        return;
    }
    if (live(s) && s->cb.written != NULL) {
        s->cb.written(s);
    }
}

/* buf (taken) onto the socket. */
static int rawWrite(struct sstream *s, uint8_t *buf, size_t len)
{
    struct wreq *w = malloc(sizeof *w);
    if (w == NULL) {
        free(buf);
        return RC_ENOMEM;
    }
    w->buf = buf;
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    int rv = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, written);
    if (rv != 0) {
        free(buf);
        free(w);
        return RC_EIO;
    }
    return 0;
}

/* Send what the TLS session has for the network (handshake records, encrypted data). */
static int flushTls(struct sstream *s)
{
    size_t n = tlsSessionPending(s->tls);
    if (n == 0) {
        return 0;
    }
    uint8_t *buf = malloc(n);
    if (buf == NULL) {
        return RC_ENOMEM;
    }
    size_t got = tlsSessionPull(s->tls, buf, n);
    return rawWrite(s, buf, got);
}

static int encrypt(struct sstream *s, uint8_t *buf, size_t len)
{
    int rv = tlsSessionWrite(s->tls, buf, len);
    free(buf);
    return rv != 0 ? rv : flushTls(s);
}

static void becomeReady(struct sstream *s)
{
    setState(s, SSTREAM_READY);
    struct sstream_plain *p = s->early;
    s->early = NULL;
    s->early_tail = &s->early;
    s->early_bytes = 0;
    int rv = 0;
    while (p != NULL) {
        struct sstream_plain *next = p->next;
        if (rv == 0) {
            rv = encrypt(s, p->buf, p->len);
        } else {
            free(p->buf);
        }
        free(p);
        p = next;
    }
    if (rv != 0) {
        fail(s, "cannot send the queued writes");
        return;
    }
    s->cb.ready(s);
}

/* Ciphertext arrived: advance the handshake, deliver the plaintext, send what TLS answers. */
static void onCipher(struct sstream *s, const uint8_t *data, size_t len)
{
    if (tlsSessionPush(s->tls, data, len) != 0) {
        fail(s, "out of memory");
        return;
    }
    uint8_t buf[TLS_CHUNK];
    for (;;) {
        ssize_t n = tlsSessionRead(s->tls, buf, sizeof buf);
        if (s->state == SSTREAM_STARTED && tlsSessionState(s->tls) == TLS_ESTABLISHED) {
            if (flushTls(s) != 0) {
                fail(s, "cannot write");
                return;
            }
            becomeReady(s);
            if (!live(s)) {
                return;
            }
        }
        if (n > 0) {
            s->cb.read(s, buf, (size_t)n);
            if (!live(s)) {
                return;
            }
            continue;
        }
        if (flushTls(s) != 0) {
            fail(s, "cannot write");
            return;
        }
        if (n < 0) {
            const char *why = tlsSessionError(s->tls);
            fail(s, why[0] != '\0' ? why : "closed by the peer");
        }
        return;
    }
}

static void allocBuf(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base != NULL ? suggested : 0;
}

static void onRead(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct sstream *s = st->data;
    if (n > 0 && live(s)) {
        if (s->tls != NULL) {
            onCipher(s, (const uint8_t *)buf->base, (size_t)n);
        } else {
            s->cb.read(s, (const uint8_t *)buf->base, (size_t)n);
        }
    } else if (n < 0) {
        fail(s, n == UV_EOF ? "closed by the peer" : uv_strerror((int)n));
    }
    free(buf->base);
}

static int startReading(struct sstream *s)
{
    if (s->reading || s->paused || !live(s)) {
        return 0;
    }
    int rv = uv_read_start((uv_stream_t *)&s->tcp, allocBuf, onRead);
    s->reading = rv == 0;
    return rv == 0 ? 0 : RC_EIO;
}

int sstreamStart(struct sstream *s, struct tls_ctx *ctx, const struct sstream_callbacks *cb)
{
    assert(s->state == SSTREAM_NEW);
    s->cb = *cb;
    if (ctx != NULL && tlsSessionNew(ctx, &s->tls) != 0) {
        return RC_ENOMEM;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    setState(s, SSTREAM_STARTED);
    if (startReading(s) != 0) {
        s->failed = true;
        return RC_EIO;
    }
    if (s->tls == NULL) {
        setState(s, SSTREAM_READY);
        s->cb.ready(s);
        return 0;
    }
    /* The client speaks first: its ClientHello goes into the write BIO now. */
    (void)tlsSessionHandshake(s->tls);
    if (flushTls(s) != 0) {
        s->failed = true;
        return RC_EIO;
    }
    return 0;
}

int sstreamWrite(struct sstream *s, uint8_t *buf, size_t len)
{
    if (!live(s)) {
        free(buf);
        return RC_EIO;
    }
    if (s->tls == NULL) {
        return rawWrite(s, buf, len);
    }
    if (s->state == SSTREAM_READY) {
        return encrypt(s, buf, len);
    }
    struct sstream_plain *p = malloc(sizeof *p);
    if (p == NULL) {
        free(buf);
        return RC_ENOMEM;
    }
    p->next = NULL;
    p->buf = buf;
    p->len = len;
    *s->early_tail = p;
    s->early_tail = &p->next;
    s->early_bytes += len;
    return 0;
}

size_t sstreamQueued(const struct sstream *s)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&s->tcp) + s->early_bytes;
}

void sstreamPause(struct sstream *s)
{
    s->paused = true;
    if (s->reading) {
        uv_read_stop((uv_stream_t *)&s->tcp);
        s->reading = false;
    }
}

void sstreamResume(struct sstream *s)
{
    s->paused = false;
    if (startReading(s) != 0) {
        fail(s, "cannot read");
    }
}

static void handleClosed(uv_handle_t *h)
{
    struct sstream *s = h->data;
    setState(s, SSTREAM_CLOSED);
    tlsSessionFree(s->tls);
    s->tls = NULL;
    if (s->close_cb != NULL) {
        s->close_cb(s);
    }
}

void sstreamClose(struct sstream *s, sstream_close_cb cb)
{
    if (s->state == SSTREAM_CLOSING || s->state == SSTREAM_CLOSED) {
        return;
    }
    setState(s, SSTREAM_CLOSING);
    s->close_cb = cb;
    struct sstream_plain *p = s->early;
    while (p != NULL) {
        struct sstream_plain *next = p->next;
        free(p->buf);
        free(p);
        p = next;
    }
    s->early = NULL;
    s->early_bytes = 0;
    uv_close((uv_handle_t *)&s->tcp, handleClosed);
}

bool sstreamIsTls(const struct sstream *s)
{
    return s->tls != NULL;
}

bool sstreamPeerMatches(const struct sstream *s, const char *name)
{
    return s->tls != NULL && s->state == SSTREAM_READY && tlsSessionPeerMatches(s->tls, name);
}

bool sstreamPeerName(const struct sstream *s, char *buf, size_t len)
{
    if (s->tls == NULL || s->state != SSTREAM_READY) {
        if (len > 0) {
            buf[0] = '\0';
        }
        return false;
    }
    return tlsSessionPeerName(s->tls, buf, len);
}
