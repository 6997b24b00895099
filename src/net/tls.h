/*
 * TLS for raftcron's connections (DESIGN.md §9): OpenSSL with memory BIOs, so that the caller
 * owns the socket and its event loop. A session does no I/O: the network's bytes go in with
 * tlsSessionPush, the bytes to send come out with tlsSessionPull, and plaintext is read and
 * written in between. Nothing blocks; the handshake advances with every push (CPU work only).
 * Used by the Raft transport, the RPC server and the worker's link (through sstream.h, on
 * libuv), and by libraftcron's blocking client (on poll).
 *
 * A context holds the CA, the certificate and the key read from files. tlsCtxReload reads them
 * again (SIGHUP): sessions created after it use the new ones, sessions already open keep
 * theirs. A key file must not be readable by group or others (like ssh refuses such keys).
 *
 * Identity: the peer's certificate must chain to the context's CA (TLS 1.2 at least). Which name
 * it must carry is the caller's choice, checked after the handshake with tlsSessionPeerMatches
 * (a DNS name, or an IP address given as text, against the certificate's subjectAltName; the
 * common name only when it has none).
 *
 * Lifecycle of a session (STYLE.md §9): HANDSHAKING → ESTABLISHED → CLOSED, or → FAILED; FAILED
 * and CLOSED are final (tlsSessionError says why).
 */
#ifndef RC_NET_TLS_H
#define RC_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum tls_side { TLS_CLIENT = 0, TLS_SERVER };

/* Peer certificates: required (mutual TLS), optional (verified when one is sent) or none. */
enum tls_peer { TLS_PEER_REQUIRED = 0, TLS_PEER_OPTIONAL, TLS_PEER_NONE };

struct tls_files {
    const char *ca_file;   /* PEM: the CA(s) peer certificates must chain to; may be NULL for a
                            * server with TLS_PEER_NONE */
    const char *cert_file; /* PEM: this side's certificate chain; NULL: none (a client) */
    const char *key_file;  /* PEM: its private key (mode 0600 or stricter) */
};

struct tls_ctx;
struct tls_session;

/* Read the files into a new context. Returns 0, or RC_EIO (a file cannot be read, or a key is
 * readable by others) / RC_EINVAL (not PEM, key does not match the certificate) with a message
 * naming the file. Strings in f are copied. */
int tlsCtxOpen(const struct tls_files *f, enum tls_side side, enum tls_peer peer,
               struct tls_ctx **out, char *err, size_t errlen);
/* Read the same files again. On error the context keeps what it had. */
int tlsCtxReload(struct tls_ctx *c, char *err, size_t errlen);
/* Drop the caller's reference (sessions hold their own). NULL is a no-op. */
void tlsCtxClose(struct tls_ctx *c);

enum tls_state { TLS_HANDSHAKING = 0, TLS_ESTABLISHED, TLS_CLOSED, TLS_FAILED };

/* A new session of c. Returns 0 or RC_ENOMEM. */
int tlsSessionNew(struct tls_ctx *c, struct tls_session **out);
void tlsSessionFree(struct tls_session *s);
enum tls_state tlsSessionState(const struct tls_session *s);

/* Bytes received from the network. Returns 0 or RC_ENOMEM. Follow with tlsSessionRead. */
int tlsSessionPush(struct tls_session *s, const void *data, size_t len);

/*
 * Advance the handshake and read plaintext into buf: returns the bytes read (> 0), 0 when more
 * network bytes are needed, or -1 when the session is over: CLOSED (the peer's close_notify) or
 * FAILED (a handshake or protocol error: tlsSessionError). Call until it returns 0 or -1, then
 * send what tlsSessionPull gives (the handshake writes too).
 */
ssize_t tlsSessionRead(struct tls_session *s, void *buf, size_t len);

/* Advance the handshake with what was pushed: 1 once ESTABLISHED, 0 when more network bytes are
 * needed (send what tlsSessionPull gives first), -1 when it failed (tlsSessionError). */
int tlsSessionHandshake(struct tls_session *s);

/* Encrypt len bytes of plaintext, once ESTABLISHED. Returns 0, RC_EINVAL (still handshaking:
 * the caller keeps its plaintext until then) or RC_EIO (the session is over). */
int tlsSessionWrite(struct tls_session *s, const void *data, size_t len);

/* Bytes waiting to be sent, and taking them (up to len; returns how many). */
size_t tlsSessionPending(const struct tls_session *s);
size_t tlsSessionPull(struct tls_session *s, void *buf, size_t len);

/* Start a clean shutdown: a close_notify is queued for tlsSessionPull. */
void tlsSessionShutdown(struct tls_session *s);

/* Why the session failed ("" if it did not). */
const char *tlsSessionError(const struct tls_session *s);

/* After the handshake: whether the peer sent a certificate (verified, since the handshake
 * passed), and whether it is valid for name, a DNS name or an IP address in text form. */
bool tlsSessionPeerVerified(const struct tls_session *s);
bool tlsSessionPeerMatches(const struct tls_session *s, const char *name);

/* The peer certificate's identity for logs and authorization: its first DNS subjectAltName,
 * else its common name, into buf. Returns false (buf "") without a certificate. */
bool tlsSessionPeerName(const struct tls_session *s, char *buf, size_t len);

/* Check that a secret file (a key, a token) is readable by its owner only. Returns 0 or RC_EIO
 * with a message. */
int tlsCheckPrivateFile(const char *path, const char *what, char *err, size_t errlen);

#endif /* RC_NET_TLS_H */
