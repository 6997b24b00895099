#include "tls.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"

struct tls_ctx {
    SSL_CTX *ssl; /* owned; sessions hold their own reference */
    enum tls_side side;
    enum tls_peer peer;
    char *ca_file, *cert_file, *key_file; /* owned copies, NULL when not given */
};

struct tls_session {
    SSL *ssl;  /* owned; owns rbio and wbio */
    BIO *rbio; /* network → OpenSSL */
    BIO *wbio; /* OpenSSL → network */
    enum tls_state state;
    char error[160];
};

/* The state moves of tls.h: HANDSHAKING → ESTABLISHED → CLOSED, or → FAILED. */
static void setState(struct tls_session *s, enum tls_state to)
{
    static const bool allowed[4][4] = {
        [TLS_HANDSHAKING] = {[TLS_ESTABLISHED] = true, [TLS_CLOSED] = true, [TLS_FAILED] = true},
        [TLS_ESTABLISHED] = {[TLS_CLOSED] = true, [TLS_FAILED] = true},
    };
    if (s->state == to) {
        return;
    }
    if (!allowed[s->state][to]) {
        fprintf(stderr, "tls: illegal session move %d -> %d\n", (int)s->state, (int)to);
        abort();
    }
    s->state = to;
}

/* OpenSSL's queue of errors as one line (and the queue emptied). */
static void sslError(char *buf, size_t len, const char *what)
{
    unsigned long e = ERR_get_error();
    char detail[128] = "unknown error";
    if (e != 0) {
        ERR_error_string_n(e, detail, sizeof detail);
    }
    snprintf(buf, len, "%s: %s", what, detail);
    ERR_clear_error();
}

int tlsCheckPrivateFile(const char *path, const char *what, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return errSet(err, errlen, RC_EIO, "%s %s: %s", what, path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return errSet(err, errlen, RC_EIO, "%s %s: not a regular file", what, path);
    }
    if ((st.st_mode & 077) != 0) {
        return errSet(err, errlen, RC_EIO,
                      "%s %s: readable by others (mode %03o); make it 0600 (chmod 600)", what, path,
                      (unsigned)(st.st_mode & 0777));
    }
    return 0;
}

/* A new SSL_CTX from c's files. */
static int buildSsl(const struct tls_ctx *c, SSL_CTX **out, char *err, size_t errlen)
{
    char why[200];
    ERR_clear_error();
    SSL_CTX *ssl = SSL_CTX_new(c->side == TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (ssl == NULL) {
        sslError(why, sizeof why, "SSL_CTX_new");
        return errSet(err, errlen, RC_ENOMEM, "tls: %s", why);
    }
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    /* Raftcron peers speak to each other, never to a browser: no session resumption to keep
     * (each connection is long-lived), no renegotiation. */
    SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ssl, 0);
    int rv = 0;
    if (c->cert_file != NULL) {
        if ((rv = tlsCheckPrivateFile(c->key_file, "key file", err, errlen)) != 0) {
            goto err_after_ctx;
        }
        if (SSL_CTX_use_certificate_chain_file(ssl, c->cert_file) != 1) {
            sslError(why, sizeof why, "certificate");
            rv = errSet(err, errlen, RC_EINVAL, "tls: %s: %s", c->cert_file, why);
            goto err_after_ctx;
        }
        if (SSL_CTX_use_PrivateKey_file(ssl, c->key_file, SSL_FILETYPE_PEM) != 1) {
            sslError(why, sizeof why, "key");
            rv = errSet(err, errlen, RC_EINVAL, "tls: %s: %s", c->key_file, why);
            goto err_after_ctx;
        }
        if (SSL_CTX_check_private_key(ssl) != 1) {
            ERR_clear_error();
            rv = errSet(err, errlen, RC_EINVAL, "tls: %s does not belong to the certificate %s",
                        c->key_file, c->cert_file);
            goto err_after_ctx;
        }
    }
    if (c->ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ssl, c->ca_file, NULL) != 1) {
            sslError(why, sizeof why, "CA");
            rv = errSet(err, errlen, RC_EINVAL, "tls: %s: %s", c->ca_file, why);
            goto err_after_ctx;
        }
        if (c->side == TLS_SERVER) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->ca_file);
            if (names != NULL) {
                SSL_CTX_set_client_CA_list(ssl, names);
            }
            ERR_clear_error();
        }
    }
    int mode = SSL_VERIFY_NONE;
    if (c->side == TLS_CLIENT) {
        mode = SSL_VERIFY_PEER; /* a client always verifies the server */
    } else if (c->peer == TLS_PEER_REQUIRED) {
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    } else if (c->peer == TLS_PEER_OPTIONAL) {
        mode = SSL_VERIFY_PEER;
    }
    SSL_CTX_set_verify(ssl, mode, NULL);
    *out = ssl;
    return 0;

err_after_ctx:
    SSL_CTX_free(ssl);
    return rv;
}

static char *dupOrNull(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

int tlsCtxOpen(const struct tls_files *f, enum tls_side side, enum tls_peer peer,
               struct tls_ctx **out, char *err, size_t errlen)
{
    struct tls_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return errSet(err, errlen, RC_ENOMEM, "tls: out of memory");
    }
    c->side = side;
    c->peer = peer;
    c->ca_file = dupOrNull(f->ca_file);
    c->cert_file = dupOrNull(f->cert_file);
    c->key_file = dupOrNull(f->key_file);
    int rv = 0;
    if ((f->ca_file != NULL && f->ca_file[0] != '\0' && c->ca_file == NULL) ||
        (f->cert_file != NULL && f->cert_file[0] != '\0' && c->cert_file == NULL)) {
        rv = errSet(err, errlen, RC_ENOMEM, "tls: out of memory");
    } else if ((c->cert_file == NULL) != (c->key_file == NULL)) {
        rv = errSet(err, errlen, RC_EINVAL,
                    "tls: a certificate needs its key and a key its "
                    "certificate");
    } else if (side == TLS_SERVER && c->cert_file == NULL) {
        rv = errSet(err, errlen, RC_EINVAL, "tls: a server needs a certificate and a key");
    } else if (c->ca_file == NULL && (side == TLS_CLIENT || peer != TLS_PEER_NONE)) {
        rv = errSet(err, errlen, RC_EINVAL, "tls: verifying the peer needs a CA file");
    } else {
        rv = buildSsl(c, &c->ssl, err, errlen);
    }
    if (rv != 0) {
        tlsCtxClose(c);
        return rv;
    }
    *out = c;
    return 0;
}

int tlsCtxReload(struct tls_ctx *c, char *err, size_t errlen)
{
    SSL_CTX *fresh;
    int rv = buildSsl(c, &fresh, err, errlen);
    if (rv != 0) {
        return rv;
    }
    SSL_CTX_free(c->ssl);
    c->ssl = fresh;
    return 0;
}

void tlsCtxClose(struct tls_ctx *c)
{
    if (c == NULL) {
        return;
    }
    SSL_CTX_free(c->ssl);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c);
}

/* ---- Sessions ------------------------------------------------------------------------------- */

int tlsSessionNew(struct tls_ctx *c, struct tls_session **out)
{
    struct tls_session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return RC_ENOMEM;
    }
    s->ssl = SSL_new(c->ssl);
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (s->ssl == NULL || s->rbio == NULL || s->wbio == NULL) {
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        SSL_free(s->ssl);
        free(s);
        ERR_clear_error();
        return RC_ENOMEM;
    }
    /* An empty read BIO asks for more instead of reporting EOF. */
    BIO_set_mem_eof_return(s->rbio, -1);
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    if (c->side == TLS_SERVER) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
    }
    s->state = TLS_HANDSHAKING;
    *out = s;
    return 0;
}

void tlsSessionFree(struct tls_session *s)
{
    if (s != NULL) {
        SSL_free(s->ssl);
        free(s);
    }
}

enum tls_state tlsSessionState(const struct tls_session *s)
{
    return s->state;
}

int tlsSessionPush(struct tls_session *s, const void *data, size_t len)
{
    while (len > 0) {
        int n = BIO_write(s->rbio, data, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n <= 0) {
            return RC_ENOMEM;
        }
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return 0;
}

static void failed(struct tls_session *s, const char *what)
{
    long verify = SSL_get_verify_result(s->ssl);
    if (verify != X509_V_OK) {
        snprintf(s->error, sizeof s->error, "%s: certificate: %s", what,
                 X509_verify_cert_error_string(verify));
        ERR_clear_error();
    } else {
        sslError(s->error, sizeof s->error, what);
    }
    setState(s, TLS_FAILED);
}

/* What an SSL call's result means: 0 to wait for more bytes, -1 when the session is over. */
static int outcome(struct tls_session *s, int rv, const char *what)
{
    switch (SSL_get_error(s->ssl, rv)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        setState(s, TLS_CLOSED);
        return -1;
    default:
        failed(s, what);
        return -1;
    }
}

ssize_t tlsSessionRead(struct tls_session *s, void *buf, size_t len)
{
    if (s->state == TLS_CLOSED || s->state == TLS_FAILED) {
        return -1;
    }
    ERR_clear_error();
    if (s->state == TLS_HANDSHAKING) {
        int rv = SSL_do_handshake(s->ssl);
        if (rv != 1) {
            return outcome(s, rv, "handshake");
        }
        setState(s, TLS_ESTABLISHED);
    }
    int n = SSL_read(s->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0) {
        return n;
    }
    return outcome(s, n, "read");
}

int tlsSessionHandshake(struct tls_session *s)
{
    if (s->state == TLS_ESTABLISHED) {
        return 1;
    }
    if (s->state != TLS_HANDSHAKING) {
        return -1;
    }
    ERR_clear_error();
    int rv = SSL_do_handshake(s->ssl);
    if (rv == 1) {
        setState(s, TLS_ESTABLISHED);
        return 1;
    }
    return outcome(s, rv, "handshake");
}

int tlsSessionWrite(struct tls_session *s, const void *data, size_t len)
{
    if (s->state != TLS_ESTABLISHED) {
        return s->state == TLS_HANDSHAKING ? RC_EINVAL : RC_EIO;
    }
    ERR_clear_error();
    while (len > 0) {
        /* The write BIO is memory that grows as needed, so a write is whole or a failure. */
        int n = SSL_write(s->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n <= 0) {
            failed(s, "write");
            return RC_EIO;
        }
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return 0;
}

size_t tlsSessionPending(const struct tls_session *s)
{
    return BIO_ctrl_pending(s->wbio);
}

size_t tlsSessionPull(struct tls_session *s, void *buf, size_t len)
{
    int n = BIO_read(s->wbio, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    return n > 0 ? (size_t)n : 0;
}

void tlsSessionShutdown(struct tls_session *s)
{
    if (s->state == TLS_ESTABLISHED) {
        (void)SSL_shutdown(s->ssl);
        ERR_clear_error();
    }
}

const char *tlsSessionError(const struct tls_session *s)
{
    return s->error;
}

bool tlsSessionPeerVerified(const struct tls_session *s)
{
    if (s->state != TLS_ESTABLISHED) {
        return false;
    }
    X509 *cert = SSL_get1_peer_certificate(s->ssl);
    bool ok = cert != NULL && SSL_get_verify_result(s->ssl) == X509_V_OK;
    X509_free(cert);
    return ok;
}

bool tlsSessionPeerMatches(const struct tls_session *s, const char *name)
{
    if (!tlsSessionPeerVerified(s) || name == NULL || name[0] == '\0') {
        return false;
    }
    X509 *cert = SSL_get1_peer_certificate(s->ssl);
    int ok = X509_check_ip_asc(cert, name, 0);
    if (ok < 0 || ok == 0) {
        /* Not an IP address (-1 from a parse failure), or one the certificate lacks. */
        ok =
            ok < 0 ? X509_check_host(cert, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) : 0;
    }
    X509_free(cert);
    ERR_clear_error();
    return ok == 1;
}

bool tlsSessionPeerName(const struct tls_session *s, char *buf, size_t len)
{
    buf[0] = '\0';
    if (!tlsSessionPeerVerified(s)) {
        return false;
    }
    X509 *cert = SSL_get1_peer_certificate(s->ssl);
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans) && buf[0] == '\0'; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS) {
            const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
            int n = ASN1_STRING_length(g->d.dNSName);
            if (n > 0 && memchr(d, '\0', (size_t)n) == NULL) {
                snprintf(buf, len, "%.*s", n, (const char *)d);
            }
        }
    }
    GENERAL_NAMES_free(sans);
    if (buf[0] == '\0') {
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, (int)len);
    }
    X509_free(cert);
    ERR_clear_error();
    return buf[0] != '\0';
}
