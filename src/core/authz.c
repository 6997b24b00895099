#include "authz.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "timefmt.h"

#define DEFAULT_CLAIM "raftcron"

static const struct {
    const char *method;
    enum rc_authz_action action;
    bool namespaced;
} methods[] = {
    {"Job.Put", AUTHZ_EDIT, true},
    {"Job.Delete", AUTHZ_EDIT, true},
    {"Job.Get", AUTHZ_READ, true},
    {"Job.List", AUTHZ_READ, true},
    {"Job.Next", AUTHZ_READ, true},
    {"Job.Stats", AUTHZ_READ, true},
    {"Job.Pause", AUTHZ_OPERATE, true},
    {"Job.Resume", AUTHZ_OPERATE, true},
    {"Job.RunNow", AUTHZ_OPERATE, true},
    {"Job.Backfill", AUTHZ_OPERATE, true},
    {"Run.List", AUTHZ_READ, true},
    {"Run.Get", AUTHZ_READ, true},
    {"Run.Cancel", AUTHZ_OPERATE, true},
    {"Decision.List", AUTHZ_READ, true},
    {"Dlq.List", AUTHZ_READ, true},
    {"Dlq.Retry", AUTHZ_OPERATE, true},
    {"Events.Watch", AUTHZ_READ, true},
    {"Cluster.Status", AUTHZ_CLUSTER, false},
    {"Cluster.Digest", AUTHZ_CLUSTER, false},
    {"Cluster.Snapshot", AUTHZ_ADMIN, false}, /* every namespace, secrets of none */
    {"Member.List", AUTHZ_CLUSTER, false},
    {"Member.Add", AUTHZ_ADMIN, false},
    {"Member.Join", AUTHZ_ADMIN, false},
    {"Member.Remove", AUTHZ_ADMIN, false},
    {"Member.Promote", AUTHZ_ADMIN, false},
    {"Member.Demote", AUTHZ_ADMIN, false},
    {"Member.Transfer", AUTHZ_ADMIN, false},
    {"Worker.Session", AUTHZ_WORKER, false},
    {"Worker.Report", AUTHZ_WORKER, false},
};

static const char *const role_names[] = {"none", "reader", "operator", "editor"};

const char *authzRoleName(enum rc_role r)
{
    return (unsigned)r < sizeof role_names / sizeof role_names[0] ? role_names[r] : "none";
}

bool authzMethod(const char *method, enum rc_authz_action *action, bool *namespaced)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (strcmp(methods[i].method, method) == 0) {
            *action = methods[i].action;
            *namespaced = methods[i].namespaced;
            return true;
        }
    }
    return false;
}

void authzAdmin(struct rc_principal *p, const char *subject)
{
    memset(p, 0, sizeof *p);
    p->authenticated = true;
    p->admin = true;
    p->worker = true;
    p->every = RC_ROLE_EDITOR;
    snprintf(p->subject, sizeof p->subject, "%s", subject);
}

bool authzSecretEqual(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    /* Every byte of the longer one is read, whatever the content: the time tells the lengths
     * only. */
    size_t n = na > nb ? na : nb;
    unsigned char diff = (unsigned char)(na != nb);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < na ? (unsigned char)a[i] : 0;
        unsigned char y = i < nb ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

/* ---- Claims --------------------------------------------------------------------------------- */

static int parseRole(const char *text, enum rc_role *out)
{
    for (int r = RC_ROLE_READER; r <= RC_ROLE_EDITOR; r++) {
        if (strcmp(text, role_names[r]) == 0) {
            *out = (enum rc_role)r;
            return 0;
        }
    }
    return RC_EINVAL;
}

static int checkTimes(json_t *claims, const struct rc_authz_rules *rules, int64_t now_us, char *err,
                      size_t errlen)
{
    char when[RC_TIMEFMT_MAX];
    json_t *exp = json_object_get(claims, "exp");
    if (exp == NULL) {
        return errSet(err, errlen, RC_EINVAL, "exp: missing (tokens must expire)");
    }
    if (!json_is_number(exp)) {
        return errSet(err, errlen, RC_EINVAL, "exp: not a number of seconds");
    }
    double leeway_s = (double)rules->leeway_us / 1e6;
    double now_s = (double)now_us / 1e6;
    double e = json_number_value(exp);
    if (e + leeway_s <= now_s) {
        timefmtFormat((int64_t)e * 1000000, 0, when);
        return errSet(err, errlen, RC_EINVAL, "exp: expired at %s", when);
    }
    json_t *nbf = json_object_get(claims, "nbf");
    if (nbf != NULL) {
        if (!json_is_number(nbf)) {
            return errSet(err, errlen, RC_EINVAL, "nbf: not a number of seconds");
        }
        double b = json_number_value(nbf);
        if (b - leeway_s > now_s) {
            timefmtFormat((int64_t)b * 1000000, 0, when);
            return errSet(err, errlen, RC_EINVAL, "nbf: not valid before %s", when);
        }
    }
    return 0;
}

static int checkIssuer(json_t *claims, const struct rc_authz_rules *rules, char *err, size_t errlen)
{
    if (rules->issuer == NULL || rules->issuer[0] == '\0') {
        return 0;
    }
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (iss == NULL) {
        return errSet(err, errlen, RC_EINVAL, "iss: missing (expected \"%.100s\")", rules->issuer);
    }
    if (strcmp(iss, rules->issuer) != 0) {
        return errSet(err, errlen, RC_EINVAL, "iss: \"%.100s\" is not the issuer", iss);
    }
    return 0;
}

static int checkAudience(json_t *claims, const struct rc_authz_rules *rules, char *err,
                         size_t errlen)
{
    if (rules->audience == NULL || rules->audience[0] == '\0') {
        return 0;
    }
    json_t *aud = json_object_get(claims, "aud");
    if (json_is_string(aud)) {
        if (strcmp(json_string_value(aud), rules->audience) == 0) {
            return 0;
        }
        return errSet(err, errlen, RC_EINVAL, "aud: \"%.100s\" is not the audience",
                      json_string_value(aud));
    }
    if (json_is_array(aud)) {
        size_t i;
        json_t *v;
        json_array_foreach(aud, i, v)
        {
            if (json_is_string(v) && strcmp(json_string_value(v), rules->audience) == 0) {
                return 0;
            }
        }
        return errSet(err, errlen, RC_EINVAL, "aud: the list does not hold the audience");
    }
    return errSet(err, errlen, RC_EINVAL, "aud: missing (expected \"%.100s\")", rules->audience);
}

static int addNamespace(struct rc_principal *p, const char *claim, const char *ns, json_t *v,
                        char *err, size_t errlen)
{
    enum rc_role role;
    if (!json_is_string(v) || parseRole(json_string_value(v), &role) != 0) {
        return errSet(err, errlen, RC_EINVAL,
                      "%s.namespaces.%.64s: not \"reader\", \"operator\" or \"editor\"", claim, ns);
    }
    if (strcmp(ns, "*") == 0) {
        p->every = role;
        return 0;
    }
    char why[RC_ERRMSG_SIZE];
    if (jobsCheckKey(ns, "x", why, sizeof why) != 0) {
        return errSet(err, errlen, RC_EINVAL, "%s.namespaces: %s", claim, why);
    }
    if (p->n_ns == RC_AUTHZ_NS_MAX) {
        return errSet(err, errlen, RC_EINVAL, "%s.namespaces: more than %d namespaces", claim,
                      RC_AUTHZ_NS_MAX);
    }
    struct rc_principal_ns *e = &p->ns[p->n_ns++];
    snprintf(e->ns, sizeof e->ns, "%s", ns);
    e->role = role;
    return 0;
}

static int readFlag(json_t *v, const char *claim, const char *key, bool *out, char *err,
                    size_t errlen)
{
    if (!json_is_boolean(v)) {
        return errSet(err, errlen, RC_EINVAL, "%s.%s: not true or false", claim, key);
    }
    *out = json_is_true(v);
    return 0;
}

static int readRoles(json_t *claims, const char *claim, struct rc_principal *p, char *err,
                     size_t errlen)
{
    json_t *obj = json_object_get(claims, claim);
    if (obj == NULL) {
        return errSet(err, errlen, RC_EINVAL, "%s: missing (the token grants no role)", claim);
    }
    if (!json_is_object(obj)) {
        return errSet(err, errlen, RC_EINVAL, "%s: not an object", claim);
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        int rv = 0;
        if (strcmp(key, "admin") == 0) {
            rv = readFlag(v, claim, key, &p->admin, err, errlen);
        } else if (strcmp(key, "worker") == 0) {
            rv = readFlag(v, claim, key, &p->worker, err, errlen);
        } else if (strcmp(key, "namespaces") == 0) {
            if (!json_is_object(v)) {
                return errSet(err, errlen, RC_EINVAL, "%s.namespaces: not an object", claim);
            }
            const char *ns;
            json_t *role;
            json_object_foreach(v, ns, role)
            {
                rv = addNamespace(p, claim, ns, role, err, errlen);
                if (rv != 0) {
                    return rv;
                }
            }
        } else {
            return errSet(err, errlen, RC_EINVAL,
                          "%s.%.64s: unknown (expected namespaces, admin, worker)", claim, key);
        }
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int authzFromClaims(const char *json, size_t len, const struct rc_authz_rules *rules,
                    int64_t now_us, struct rc_principal *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len > RC_AUTHZ_CLAIMS_MAX) {
        return errSet(err, errlen, RC_EINVAL, "claims: %zu bytes, more than %d", len,
                      RC_AUTHZ_CLAIMS_MAX);
    }
    json_error_t jerr;
    json_t *claims = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (claims == NULL || !json_is_object(claims)) {
        json_decref(claims);
        return errSet(err, errlen, RC_EINVAL, "claims: not a JSON object");
    }
    const char *claim =
        rules->claim != NULL && rules->claim[0] != '\0' ? rules->claim : DEFAULT_CLAIM;
    int rv = checkTimes(claims, rules, now_us, err, errlen);
    if (rv == 0) {
        rv = checkIssuer(claims, rules, err, errlen);
    }
    if (rv == 0) {
        rv = checkAudience(claims, rules, err, errlen);
    }
    if (rv == 0) {
        rv = readRoles(claims, claim, out, err, errlen);
    }
    if (rv == 0) {
        const char *sub = json_string_value(json_object_get(claims, "sub"));
        snprintf(out->subject, sizeof out->subject, "%s", sub != NULL ? sub : "");
        out->authenticated = true;
    } else {
        memset(out, 0, sizeof *out);
    }
    json_decref(claims);
    return rv;
}

/* ---- Verdicts ------------------------------------------------------------------------------- */

enum rc_role authzRole(const struct rc_principal *p, const char *ns)
{
    if (!p->authenticated) {
        return RC_ROLE_NONE;
    }
    if (p->admin) {
        return RC_ROLE_EDITOR;
    }
    const char *want = jobsNamespace(ns);
    enum rc_role role = p->every;
    for (unsigned i = 0; i < p->n_ns; i++) {
        if (strcmp(p->ns[i].ns, want) == 0 && p->ns[i].role > role) {
            role = p->ns[i].role;
        }
    }
    return role;
}

bool authzCanRead(const struct rc_principal *p, const char *ns)
{
    return authzRole(p, ns) >= RC_ROLE_READER;
}

enum rc_authz_verdict authzCheck(const struct rc_principal *p, enum rc_authz_action action,
                                 const char *ns)
{
    if (action == AUTHZ_OPEN) {
        return AUTHZ_ALLOW;
    }
    if (!p->authenticated) {
        return AUTHZ_DENY;
    }
    if (p->admin) {
        return AUTHZ_ALLOW;
    }
    switch (action) {
    case AUTHZ_CLUSTER:
        return AUTHZ_ALLOW;
    case AUTHZ_WORKER:
        return p->worker ? AUTHZ_ALLOW : AUTHZ_DENY;
    case AUTHZ_ADMIN:
        return AUTHZ_DENY;
    default:
        break;
    }
    enum rc_role need = action == AUTHZ_READ      ? RC_ROLE_READER
                        : action == AUTHZ_OPERATE ? RC_ROLE_OPERATOR
                                                  : RC_ROLE_EDITOR;
    enum rc_role have = authzRole(p, ns != NULL ? ns : "");
    if (have == RC_ROLE_NONE) {
        return AUTHZ_HIDE;
    }
    return have >= need ? AUTHZ_ALLOW : AUTHZ_DENY;
}
