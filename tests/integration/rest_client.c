#include "rest_client.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

static const char *ca; /* restUseCa */

void restUseCa(const char *ca_file)
{
    ca = ca_file;
}

/* addr's URL in the scheme of restUseCa, with its CA. */
static void target(CURL *c, char *url, size_t len, const char *addr, const char *path)
{
    snprintf(url, len, "%s://%s%s", ca != NULL ? "https" : "http", addr, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (ca != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    }
}

static size_t discard(char *ptr, size_t size, size_t n, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * n;
}

int restTry(const char *url, const char *ca_file, long *status, char *what, size_t len)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char buf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (ca_file != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    }
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, buf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    snprintf(what, len, "%s", buf[0] != '\0' ? buf : curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    return (int)rc;
}

struct sink {
    char *data;
    size_t len;
    struct rest_reply *reply;
};

static size_t onBody(char *ptr, size_t size, size_t n, void *userdata)
{
    struct sink *s = userdata;
    size_t k = size * n;
    char *d = realloc(s->data, s->len + k + 1);
    assert_non_null(d);
    memcpy(d + s->len, ptr, k);
    s->data = d;
    s->len += k;
    s->data[s->len] = '\0';
    return k;
}

static void copyHeader(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':') {
        return;
    }
    const char *v = line + n + 1;
    while (*v == ' ') {
        v++;
    }
    size_t vl = len - (size_t)(v - line);
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n')) {
        vl--;
    }
    snprintf(out, outlen, "%.*s", (int)vl, v);
}

static size_t onHeader(char *line, size_t size, size_t n, void *userdata)
{
    struct sink *s = userdata;
    size_t len = size * n;
    copyHeader(line, len, "ETag", s->reply->etag, sizeof s->reply->etag);
    copyHeader(line, len, "Location", s->reply->location, sizeof s->reply->location);
    copyHeader(line, len, "WWW-Authenticate", s->reply->www_auth, sizeof s->reply->www_auth);
    return len;
}

struct rest_reply restDo(const char *method, const char *addr, const char *path, const char *body,
                         const char *token, const char *const *headers)
{
    struct rest_reply r;
    memset(&r, 0, sizeof r);
    struct sink s = {.reply = &r};
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[1024], auth[16384];
    target(c, url, sizeof url, addr, path);
    struct curl_slist *h = NULL;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        h = curl_slist_append(h, headers[i]);
    }
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        h = curl_slist_append(h, "Content-Type: application/json");
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r.body = s.data != NULL ? s.data : strdup("");
    r.len = s.len;
    json_error_t e;
    r.json = r.len > 0 ? json_loads(r.body, 0, &e) : NULL;
    return r;
}

void restFree(struct rest_reply *r)
{
    json_decref(r->json);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static const char *errString(const struct rest_reply *r, const char *key)
{
    json_t *err = json_object_get(r->json, "error");
    const char *v = json_string_value(json_object_get(err, key));
    return v != NULL ? v : "";
}

const char *restErrCode(const struct rest_reply *r)
{
    return errString(r, "code");
}

const char *restErrMessage(const struct rest_reply *r)
{
    return errString(r, "message");
}

const char *restErrField(const struct rest_reply *r)
{
    json_t *d = json_object_get(json_object_get(r->json, "error"), "details");
    const char *v = json_string_value(json_object_get(d, "field"));
    return v != NULL ? v : "";
}

/* ---- Server-sent events (WHATWG HTML §9.2.6, the parts the node writes) ---------------------- */

struct stream {
    char *buf;
    size_t len;
    json_t *events;
    size_t want;
    char id[64];
    char event[64];
    bool has_id;
};

static void dispatchLine(struct stream *s, const char *line)
{
    if (strncmp(line, "id: ", 4) == 0) {
        snprintf(s->id, sizeof s->id, "%s", line + 4);
        s->has_id = true;
    } else if (strncmp(line, "event: ", 7) == 0) {
        snprintf(s->event, sizeof s->event, "%s", line + 7);
    } else if (strncmp(line, "data: ", 6) == 0) {
        json_error_t e;
        json_t *data = json_loads(line + 6, 0, &e);
        assert_non_null(data);
        json_array_append_new(s->events, json_pack("{s:o, s:s, s:o}", "id",
                                                   s->has_id ? json_string(s->id) : json_null(),
                                                   "event", s->event, "data", data));
        s->has_id = false;
        s->event[0] = '\0';
    }
}

static size_t onStream(char *ptr, size_t size, size_t n, void *userdata)
{
    struct stream *s = userdata;
    size_t k = size * n;
    char *b = realloc(s->buf, s->len + k + 1);
    assert_non_null(b);
    memcpy(b + s->len, ptr, k);
    s->buf = b;
    s->len += k;
    s->buf[s->len] = '\0';
    char *nl;
    /* Events past want are left unread: a chunk may carry several. */
    while (json_array_size(s->events) < s->want && (nl = memchr(s->buf, '\n', s->len)) != NULL) {
        *nl = '\0';
        dispatchLine(s, s->buf);
        size_t used = (size_t)(nl - s->buf) + 1;
        memmove(s->buf, nl + 1, s->len - used + 1);
        s->len -= used;
    }
    return json_array_size(s->events) >= s->want ? 0 : k; /* 0 ends the transfer */
}

json_t *restEvents(const char *addr, const char *path, const char *token, const char *last_event_id,
                   size_t want, int timeout_ms)
{
    struct stream s = {.events = json_array(), .want = want};
    CURL *c = curl_easy_init();
    char url[1024], auth[16384], last[128];
    target(c, url, sizeof url, addr, path);
    struct curl_slist *h = NULL;
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (last_event_id != NULL) {
        snprintf(last, sizeof last, "Last-Event-ID: %s", last_event_id);
        h = curl_slist_append(h, last);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onStream);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_perform(c); /* ends by our callback, the timeout, or the server */
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(s.buf);
    return s.events;
}
