/* Real HTTP requests for the REST tests (libcurl), answers parsed with jansson. */
#ifndef RC_TESTS_REST_CLIENT_H
#define RC_TESTS_REST_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct rest_reply {
    long status;
    json_t *json; /* the body parsed, or NULL */
    char *body;   /* owned */
    size_t len;
    char etag[64]; /* the ETag header, "" when none */
    char location[256];
    char www_auth[128];
};

/* The scheme of the calls that follow: ca_file NULL (the default), plain http; else https, the
 * server's certificate checked against ca_file (a PEM CA bundle; borrowed, kept until the next
 * call) and the address's host. */
void restUseCa(const char *ca_file);
/* GET url ("http://…" or "https://…") with ca_file (NULL: libcurl's default store), as is:
 * returns the transport's CURLcode (0 when an answer came, its status in *status), and never
 * fails the test; what says why when it is not 0. */
int restTry(const char *url, const char *ca_file, long *status, char *what, size_t len);

/* METHOD http://addr/path (https with restUseCa) with body (NULL: none) and "Name: value" headers
 * (NULL-ended, may be NULL); token NULL: no Authorization header. Fails the test on a transport
 * error. */
struct rest_reply restDo(const char *method, const char *addr, const char *path, const char *body,
                         const char *token, const char *const *headers);
void restFree(struct rest_reply *r);
/* The error object's code, message and details.field ("" when absent). */
const char *restErrCode(const struct rest_reply *r);
const char *restErrMessage(const struct rest_reply *r);
const char *restErrField(const struct rest_reply *r);

/* Read a server-sent event stream until `want` events with data arrived or timeout_ms passed.
 * Returns the events as a JSON array of {"id": "…" or null, "event": "…", "data": {...}}.
 * last_event_id (NULL: none) is sent as Last-Event-ID. */
json_t *restEvents(const char *addr, const char *path, const char *token, const char *last_event_id,
                   size_t want, int timeout_ms);

#endif
