#include "jobjson.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "err.h"
#include "timefmt.h"
#include "utf8.h"

#define MAX_DEPTH 4

/* ---- Strings -------------------------------------------------------------------------------- */

json_t *jobjsonString(const void *data, size_t len)
{
    /* Every invalid byte grows to 3: the worst case is 3 times the input. */
    char *buf = malloc(3 * len + 1);
    if (buf == NULL) {
        return NULL;
    }
    size_t n = utf8Repair(buf, data, len, false);
    json_t *v = json_stringn(buf, n);
    free(buf);
    return v;
}

/* ---- Encoding ------------------------------------------------------------------------------- */

struct enc {
    json_t *obj;
    bool failed;
};

static void put(struct enc *e, const char *key, json_t *v)
{
    if (v == NULL || json_object_set_new(e->obj, key, v) != 0) {
        e->failed = true;
    }
}

static void encStr(void *data, const char *key, const char *v)
{
    put(data, key, jobjsonString(v, strlen(v)));
}

static void encBytes(void *data, const char *key, const uint8_t *v, size_t len)
{
    put(data, key, jobjsonString(v, len));
}

static void encUint(void *data, const char *key, uint64_t v)
{
    put(data, key, json_integer((json_int_t)v));
}

static void encBool(void *data, const char *key, bool v)
{
    put(data, key, json_boolean(v));
}

static void encReal(void *data, const char *key, double v)
{
    put(data, key, json_real(v));
}

static void encDuration(void *data, const char *key, int64_t us)
{
    char buf[RC_DURATION_MAX];
    durationFormat(us, buf);
    put(data, key, json_string(buf));
}

static void encInstant(void *data, const char *key, int64_t us)
{
    if (us == 0) {
        put(data, key, json_null());
        return;
    }
    char buf[RC_TIMEFMT_MAX];
    timefmtFormat(us, 0, buf);
    put(data, key, json_string(buf));
}

static void encMap(void *data, const char *key, Raftcron__JobSpec__EnvEntry *const *e, size_t n,
                   char sep)
{
    (void)sep;
    json_t *m = json_object();
    for (size_t i = 0; m != NULL && i < n; i++) {
        json_t *v = jobjsonString(e[i]->value, strlen(e[i]->value));
        if (v == NULL || json_object_set_new(m, e[i]->key, v) != 0) {
            json_decref(m);
            m = NULL;
        }
    }
    put(data, key, m);
}

static void encCodes(void *data, const char *key, const uint32_t *codes, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, json_integer(codes[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    put(data, key, a);
}

static const struct rc_jobemit encoder = {
    .str = encStr,
    .bytes = encBytes,
    .uint = encUint,
    .boolean = encBool,
    .real = encReal,
    .duration = encDuration,
    .instant = encInstant,
    .map = encMap,
    .codes = encCodes,
};

static json_t *finish(struct enc *e)
{
    if (e->failed) {
        json_decref(e->obj);
        return NULL;
    }
    return e->obj;
}

json_t *jobjsonEncodeJob(const Raftcron__Job *job)
{
    struct enc e = {.obj = json_object()};
    if (e.obj == NULL) {
        return NULL;
    }
    jobyamlEmitJob(job, &encoder, &e);
    return finish(&e);
}

json_t *jobjsonEncodeSpec(const Raftcron__JobSpec *spec)
{
    struct enc e = {.obj = json_object()};
    if (e.obj == NULL) {
        return NULL;
    }
    encStr(&e, "name", spec->name);
    encStr(&e, "namespace", spec->namespace_);
    jobyamlEmitSpec(spec, &encoder, &e);
    return finish(&e);
}

/* ---- Decoding ------------------------------------------------------------------------------- */

/* A scalar's text as the YAML form has it. buf holds 64 bytes. NULL: not a scalar. */
static const char *scalarText(json_t *v, char *buf)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(buf, 64, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        snprintf(buf, 64, "%.17g", json_real_value(v));
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return NULL;
    }
}

static int setValue(struct rc_jobdraft *d, const char *key, json_t *v, char *err, size_t errlen)
{
    char buf[64];
    const char *text = scalarText(v, buf);
    if (text != NULL) {
        if (json_is_string(v) && strlen(text) != json_string_length(v)) {
            return errSet(err, errlen, RC_EINVAL, "%s: holds a NUL character", key);
        }
        return jobyamlSet(d, key, text, 0, err, errlen);
    }
    if (json_is_null(v)) {
        return errSet(err, errlen, RC_EINVAL, "%s: null is not a value (leave the key out)", key);
    }
    const struct rc_jobkey *k = NULL;
    for (size_t i = 0; (k = jobyamlKey(i)) != NULL && strcmp(k->name, key) != 0; i++) {
    }
    if (k == NULL) {
        return jobyamlSet(d, key, "", 0, err, errlen); /* names the unknown key */
    }
    if (!k->repeatable) {
        return errSet(err, errlen, RC_EINVAL, "%s: expected a single value, not %s", key,
                      json_is_array(v) ? "a list" : "an object");
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            text = scalarText(item, buf);
            if (text == NULL) {
                return errSet(err, errlen, RC_EINVAL, "%s[%zu]: expected a value", key, i);
            }
            int rv = jobyamlSet(d, key, text, 0, err, errlen);
            if (rv != 0) {
                return rv;
            }
        }
        return 0;
    }
    const char *name;
    json_t *item;
    json_object_foreach(v, name, item)
    {
        if (!json_is_string(item)) {
            return errSet(err, errlen, RC_EINVAL, "%s.%.64s: expected a string", key, name);
        }
        int rv = jobyamlSetPair(d, key, name, json_string_value(item), 0, err, errlen);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* The URL's name or namespace and the object's must agree. */
static int checkPathKey(json_t *obj, const char *key, const char *want, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || want == NULL) {
        return 0;
    }
    const char *have = json_string_value(v);
    if (have == NULL || strcmp(have, want) != 0) {
        return errSet(err, errlen, RC_EINVAL, "%s: does not match the URL's \"%.128s\"", key, want);
    }
    return 0;
}

static int depthOf(json_t *v, int depth)
{
    if (depth > MAX_DEPTH) {
        return depth;
    }
    int max = depth;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            int d = depthOf(x, depth + 1);
            max = d > max ? d : max;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            int d = depthOf(x, depth + 1);
            max = d > max ? d : max;
        }
    }
    return max;
}

static int fillDraft(struct rc_jobdraft *d, json_t *obj, const char *ns, const char *name,
                     char *err, size_t errlen)
{
    int rv = checkPathKey(obj, "name", name, err, errlen);
    if (rv == 0) {
        rv = checkPathKey(obj, "namespace", ns, err, errlen);
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (rv != 0) {
            break;
        }
        if (jobyamlStateKey(key)) {
            continue;
        }
        rv = setValue(d, key, v, err, errlen);
    }
    if (rv == 0 && name != NULL && json_object_get(obj, "name") == NULL) {
        rv = jobyamlSet(d, "name", name, 0, err, errlen);
    }
    if (rv == 0 && ns != NULL && json_object_get(obj, "namespace") == NULL) {
        rv = jobyamlSet(d, "namespace", ns, 0, err, errlen);
    }
    return rv;
}

int jobjsonDecodeObject(json_t *obj, const char *ns, const char *name, struct rc_jobdef *out,
                        char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj)) {
        return errSet(err, errlen, RC_EPARSE, "body: expected a JSON object");
    }
    if (depthOf(obj, 1) > MAX_DEPTH) {
        return errSet(err, errlen, RC_EPARSE, "body: nested deeper than %d levels", MAX_DEPTH);
    }
    struct rc_jobdraft *d;
    if (jobyamlDraftCreate("", &d) != 0) {
        return errSet(err, errlen, RC_ENOMEM, "out of memory");
    }
    int rv = fillDraft(d, obj, ns, name, err, errlen);
    if (rv == 0) {
        rv = jobyamlBuild(d, NULL, out, err, errlen);
    }
    jobyamlDraftDestroy(d);
    return rv;
}

int jobjsonDecode(const char *text, size_t len, const char *ns, const char *name,
                  struct rc_jobdef *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        return errSet(err, errlen, RC_EPARSE, "body: %s at line %d, column %d", jerr.text,
                      jerr.line, jerr.column);
    }
    int rv = jobjsonDecodeObject(obj, ns, name, out, err, errlen);
    json_decref(obj);
    return rv;
}

int jobjsonMergePatch(json_t *target, json_t *patch)
{
    const char *key;
    json_t *v;
    json_object_foreach(patch, key, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, key);
            continue;
        }
        json_t *cur = json_object_get(target, key);
        if (json_is_object(v)) {
            if (!json_is_object(cur)) {
                cur = json_object();
                if (cur == NULL || json_object_set_new(target, key, cur) != 0) {
                    return RC_ENOMEM;
                }
            }
            if (jobjsonMergePatch(cur, v) != 0) {
                return RC_ENOMEM;
            }
            continue;
        }
        if (json_object_set(target, key, v) != 0) {
            return RC_ENOMEM;
        }
    }
    return 0;
}
