#include "execspec.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "err.h"

/* RFC 9110 §5.6.2: token = 1*tchar. */
static bool isTchar(char c)
{
    return isalnum((unsigned char)c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool isToken(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (!isTchar(s[n]) || n >= max) {
            return false;
        }
    }
    return n > 0;
}

bool execspecReservedHeader(const char *name)
{
    return strcasecmp(name, "Idempotency-Key") == 0 || strncasecmp(name, "X-Raftcron-", 11) == 0;
}

static int checkUrl(const char *url, char *err, size_t errlen)
{
    if (url == NULL || url[0] == '\0') {
        return errSet(err, errlen, RC_EINVAL, "executor.http.url: empty");
    }
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        return errSet(err, errlen, RC_EINVAL,
                      "executor.http.url: must start with http:// or https://");
    }
    size_t n = 0;
    for (; url[n] != '\0'; n++) {
        if ((unsigned char)url[n] <= ' ' || url[n] == 0x7f) {
            return errSet(err, errlen, RC_EINVAL,
                          "executor.http.url: blank or control character at byte %zu", n + 1);
        }
    }
    if (n > RC_EXECSPEC_URL_MAX) {
        return errSet(err, errlen, RC_EINVAL, "executor.http.url: longer than %d bytes",
                      RC_EXECSPEC_URL_MAX);
    }
    if (url[strncasecmp(url, "http://", 7) == 0 ? 7 : 8] == '\0') {
        return errSet(err, errlen, RC_EINVAL, "executor.http.url: no host");
    }
    return 0;
}

static int checkHeaders(const Raftcron__HttpExec *h, char *err, size_t errlen)
{
    if (h->n_headers > RC_EXECSPEC_HEADERS_MAX) {
        return errSet(err, errlen, RC_EINVAL, "executor.http.headers: %zu, at most %d",
                      h->n_headers, RC_EXECSPEC_HEADERS_MAX);
    }
    for (size_t i = 0; i < h->n_headers; i++) {
        const char *k = h->headers[i]->key, *v = h->headers[i]->value;
        if (!isToken(k, RC_EXECSPEC_HEADER_MAX)) {
            return errSet(err, errlen, RC_EINVAL,
                          "executor.http.headers: \"%.64s\" is not a "
                          "header name",
                          k);
        }
        if (execspecReservedHeader(k)) {
            return errSet(err, errlen, RC_EINVAL,
                          "executor.http.headers: %s is set by raftcron on every request "
                          "(docs/executors.md)",
                          k);
        }
        if (strpbrk(v, "\r\n") != NULL) {
            return errSet(err, errlen, RC_EINVAL, "executor.http.headers: %s: line break in value",
                          k);
        }
        if (strlen(k) + strlen(v) > RC_EXECSPEC_HEADER_MAX) {
            return errSet(err, errlen, RC_EINVAL, "executor.http.headers: %s: longer than %d bytes",
                          k, RC_EXECSPEC_HEADER_MAX);
        }
    }
    return 0;
}

static int checkHttp(const Raftcron__HttpExec *h, char *err, size_t errlen)
{
    if (h == NULL) {
        return errSet(err, errlen, RC_EINVAL, "executor.http: missing");
    }
    int rv = checkUrl(h->url, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (h->method[0] != '\0' && !isToken(h->method, 32)) {
        return errSet(err, errlen, RC_EINVAL, "executor.http.method: \"%.40s\" is not a method",
                      h->method);
    }
    if ((rv = checkHeaders(h, err, errlen)) != 0) {
        return rv;
    }
    if (h->body.len > RC_EXECSPEC_BODY_MAX) {
        return errSet(err, errlen, RC_EINVAL, "executor.http.body: %zu bytes, at most %d",
                      h->body.len, RC_EXECSPEC_BODY_MAX);
    }
    if (h->body.len > 0 && memchr(h->body.data, '\0', h->body.len) != NULL) {
        return errSet(err, errlen, RC_EINVAL, "executor.http.body: contains a NUL byte");
    }
    if (h->n_expect_codes > 32) {
        return errSet(err, errlen, RC_EINVAL, "executor.http.expect_codes: %zu, at most 32",
                      h->n_expect_codes);
    }
    for (size_t i = 0; i < h->n_expect_codes; i++) {
        if (h->expect_codes[i] < 100 || h->expect_codes[i] > 599) {
            return errSet(err, errlen, RC_EINVAL,
                          "executor.http.expect_codes: %u is not an HTTP status (100-599)",
                          h->expect_codes[i]);
        }
    }
    if (h->ca_file[0] != '\0' && h->ca_file[0] != '/') {
        return errSet(err, errlen, RC_EINVAL, "executor.http.ca_file: \"%.64s\" is not absolute",
                      h->ca_file);
    }
    return 0;
}

/* ---- conninfo ------------------------------------------------------------------------------ */

static bool isUri(const char *s)
{
    return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

/* postgresql://[userspec@][hostspec][/dbname][?paramspec]: a password is "user:password@" or
 * a "password" parameter. */
static void uriPassword(const char *s, bool *has)
{
    const char *auth = strstr(s, "://") + 3;
    size_t alen = strcspn(auth, "/?");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++) {
        if (auth[i] == '@') {
            at = auth + i;
        }
    }
    if (at != NULL && memchr(auth, ':', (size_t)(at - auth)) != NULL) {
        *has = true;
        return;
    }
    const char *q = strchr(auth, '?');
    while (q != NULL) {
        q++;
        if (strncmp(q, "password=", 9) == 0) {
            *has = true;
            return;
        }
        q = strchr(q, '&');
    }
}

static const char *skipBlanks(const char *p)
{
    while (isspace((unsigned char)*p)) {
        p++;
    }
    return p;
}

int execspecDsnHasPassword(const char *dsn, bool *has, char *err, size_t errlen)
{
    *has = false;
    if (isUri(dsn)) {
        uriPassword(dsn, has);
        return 0;
    }
    const char *p = skipBlanks(dsn);
    while (*p != '\0') {
        const char *key = p;
        while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p)) {
            p++;
        }
        size_t klen = (size_t)(p - key);
        p = skipBlanks(p);
        if (klen == 0 || *p != '=') {
            return errSet(err, errlen, RC_EINVAL, "expected key=value at byte %zu",
                          (size_t)(key - dsn) + 1);
        }
        if (klen == 8 && strncmp(key, "password", 8) == 0) {
            *has = true;
        }
        p = skipBlanks(p + 1);
        if (*p == '\'') {
            for (p++; *p != '\'' && *p != '\0'; p++) {
                if (*p == '\\' && p[1] != '\0') {
                    p++;
                }
            }
            if (*p != '\'') {
                return errSet(err, errlen, RC_EINVAL, "unterminated quoted value of %.*s",
                              (int)klen, key);
            }
            p++;
        } else {
            for (; *p != '\0' && !isspace((unsigned char)*p); p++) {
                if (*p == '\\' && p[1] != '\0') {
                    p++;
                }
            }
        }
        p = skipBlanks(p);
    }
    return 0;
}

static bool validConnName(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (n >= 64 || !(isalnum((unsigned char)s[n]) || strchr("._-", s[n]) != NULL)) {
            return false;
        }
    }
    return n > 0;
}

static int checkSql(const Raftcron__SqlExec *q, char *err, size_t errlen)
{
    if (q == NULL || q->query[0] == '\0') {
        return errSet(err, errlen, RC_EINVAL, "executor.sql.query: empty");
    }
    if (strlen(q->query) > RC_EXECSPEC_QUERY_MAX) {
        return errSet(err, errlen, RC_EINVAL, "executor.sql.query: longer than %d bytes",
                      RC_EXECSPEC_QUERY_MAX);
    }
    bool dsn = q->dsn[0] != '\0', conn = q->conn[0] != '\0';
    if (dsn == conn) {
        return errSet(err, errlen, RC_EINVAL, "executor.sql: %s",
                      dsn ? "dsn and conn exclude each other"
                          : "a dsn or a conn (a connection of the workers' configuration) is "
                            "required");
    }
    if (conn && !validConnName(q->conn)) {
        return errSet(err, errlen, RC_EINVAL,
                      "executor.sql.conn: \"%.64s\" is not 1-64 of [A-Za-z0-9._-]", q->conn);
    }
    if (!dsn) {
        return 0;
    }
    if (strlen(q->dsn) > RC_EXECSPEC_DSN_MAX) {
        return errSet(err, errlen, RC_EINVAL, "executor.sql.dsn: longer than %d bytes",
                      RC_EXECSPEC_DSN_MAX);
    }
    char why[RC_ERRMSG_SIZE];
    bool has;
    if (execspecDsnHasPassword(q->dsn, &has, why, sizeof why) != 0) {
        return errSet(err, errlen, RC_EINVAL, "executor.sql.dsn: %s", why);
    }
    if (has) {
        return errSet(err, errlen, RC_EINVAL,
                      "executor.sql.dsn: holds a password, which would be stored in the "
                      "replicated job table; name a connection of the workers' configuration "
                      "(--conn, with its password file) or use PGPASSFILE on the workers");
    }
    return 0;
}

int execspecCheck(const Raftcron__Executor *e, char *err, size_t errlen)
{
    switch (e->kind_case) {
    case RAFTCRON__EXECUTOR__KIND_HTTP:
        return checkHttp(e->http, err, errlen);
    case RAFTCRON__EXECUTOR__KIND_SQL:
        return checkSql(e->sql, err, errlen);
    default:
        return 0;
    }
}
