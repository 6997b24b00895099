#include "execpolicy.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

#define ITEM_MAX 128

static const struct {
    const char *name;
    unsigned bit;
} kinds[] = {
    {"shell", EXECPOLICY_SHELL},
    {"http", EXECPOLICY_HTTP},
    {"sql", EXECPOLICY_SQL},
    {"noop", EXECPOLICY_NOOP},
};

static const char *const rlimitNames[RLIM__N] = {
    [RLIM_CPU] = "cpu",       [RLIM_AS] = "as",       [RLIM_FSIZE] = "fsize", [RLIM_CORE] = "core",
    [RLIM_NOFILE] = "nofile", [RLIM_NPROC] = "nproc", [RLIM_STACK] = "stack",
};

unsigned execpolicyKind(const char *name)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kinds[i].name, name) == 0) {
            return kinds[i].bit;
        }
    }
    return 0;
}

const char *execpolicyRlimitName(enum execpolicy_rlimit r)
{
    return (unsigned)r < RLIM__N ? rlimitNames[r] : "?";
}

/* The next comma-separated item of *s into out (blanks around it dropped); false when none is
 * left. An item too long is returned cut, and *toolong set. */
static bool nextItem(const char **s, char *out, size_t len, bool *toolong)
{
    const char *p = *s;
    while (*p == ' ' || *p == ',') {
        p++;
    }
    if (*p == '\0') {
        return false;
    }
    const char *end = strchr(p, ',');
    end = end != NULL ? end : p + strlen(p);
    *s = end;
    while (end > p && end[-1] == ' ') {
        end--;
    }
    size_t n = (size_t)(end - p);
    *toolong = n >= len;
    n = n < len ? n : len - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static bool validNamespace(const char *ns)
{
    size_t n = strlen(ns);
    return strcmp(ns, "*") == 0 ||
           (n > 0 && n < EXECPOLICY_NS_MAX &&
            strspn(ns, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n);
}

int execpolicyParse(const char *spec, struct execpolicy *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    char item[ITEM_MAX];
    bool toolong;
    while (nextItem(&spec, item, sizeof item, &toolong)) {
        char *eq = strchr(item, '=');
        if (toolong || eq == NULL) {
            return errSet(err, errlen, RC_EINVAL,
                          "executors: \"%s\" is not NAMESPACE=KIND[+KIND...]", item);
        }
        *eq = '\0';
        if (!validNamespace(item)) {
            return errSet(err, errlen, RC_EINVAL,
                          "executors: \"%s\" is not a namespace (letters, digits, _ . -) or *",
                          item);
        }
        for (unsigned i = 0; i < p->n; i++) {
            if (strcmp(p->rules[i].ns, item) == 0) {
                return errSet(err, errlen, RC_EINVAL, "executors: namespace %s appears twice",
                              item);
            }
        }
        if (p->n == EXECPOLICY_RULES_MAX) {
            return errSet(err, errlen, RC_EINVAL, "executors: more than %d namespaces",
                          EXECPOLICY_RULES_MAX);
        }
        unsigned bits = 0;
        for (char *k = eq + 1; *k != '\0';) {
            char *plus = strchr(k, '+');
            if (plus != NULL) {
                *plus = '\0';
            }
            unsigned bit = execpolicyKind(k);
            if (bit == 0) {
                return errSet(err, errlen, RC_EINVAL,
                              "executors: %s: \"%s\" is not an executor (shell, http, sql, noop)",
                              item, k);
            }
            bits |= bit;
            k = plus != NULL ? plus + 1 : k + strlen(k);
        }
        if (bits == 0) {
            return errSet(err, errlen, RC_EINVAL, "executors: %s: no executor named", item);
        }
        memcpy(p->rules[p->n].ns, item, strlen(item) + 1); /* validNamespace bounded it */
        p->rules[p->n].kinds = bits;
        p->n++;
    }
    return 0;
}

bool execpolicyAllows(const struct execpolicy *p, const char *ns, const char *kind)
{
    if (p == NULL || p->n == 0) {
        return true;
    }
    unsigned bit = execpolicyKind(kind);
    const char *name = ns != NULL && ns[0] != '\0' ? ns : "default";
    int fallback = -1;
    for (unsigned i = 0; i < p->n; i++) {
        if (strcmp(p->rules[i].ns, name) == 0) {
            return (p->rules[i].kinds & bit) != 0;
        }
        if (strcmp(p->rules[i].ns, "*") == 0) {
            fallback = (int)i;
        }
    }
    return fallback >= 0 && (p->rules[fallback].kinds & bit) != 0;
}

/* ---- Resource limits ----------------------------------------------------------------------- */

/* Decimal digits into *v; false when empty, not a number or above max. */
static bool parseNumber(const char *s, size_t n, uint64_t max, uint64_t *v)
{
    if (n == 0) {
        return false;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (max - d) / 10) {
            return false;
        }
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

static bool scaled(const char *s, const char *const *units, const uint64_t *factors, size_t nunits,
                   uint64_t *v)
{
    size_t n = strspn(s, "0123456789");
    const char *unit = s + n;
    uint64_t factor = 0;
    for (size_t i = 0; i < nunits; i++) {
        if (strcmp(unit, units[i]) == 0) {
            factor = factors[i];
        }
    }
    uint64_t x;
    if (factor == 0 || !parseNumber(s, n, UINT64_MAX / factor, &x)) {
        return false;
    }
    *v = x * factor;
    return true;
}

static bool parseValue(enum execpolicy_rlimit r, const char *s, uint64_t *v)
{
    static const char *const sizeUnits[] = {"", "K", "M", "G", "T"};
    static const uint64_t sizeFactors[] = {1, 1ull << 10, 1ull << 20, 1ull << 30, 1ull << 40};
    static const char *const timeUnits[] = {"", "s", "m", "h"};
    static const uint64_t timeFactors[] = {1, 1, 60, 3600};
    if (strcmp(s, "unlimited") == 0) {
        *v = EXECPOLICY_UNLIMITED;
        return true;
    }
    switch (r) {
    case RLIM_CPU:
        return scaled(s, timeUnits, timeFactors, 4, v);
    case RLIM_NOFILE:
    case RLIM_NPROC:
        return parseNumber(s, strlen(s), UINT32_MAX, v);
    default:
        return scaled(s, sizeUnits, sizeFactors, 5, v);
    }
}

int execpolicyRlimitsParse(const char *spec, struct execpolicy_rlimits *out, char *err,
                           size_t errlen)
{
    memset(out, 0, sizeof *out);
    char item[ITEM_MAX];
    bool toolong;
    while (spec != NULL && nextItem(&spec, item, sizeof item, &toolong)) {
        char *eq = strchr(item, '=');
        if (toolong || eq == NULL) {
            return errSet(err, errlen, RC_EINVAL, "rlimits: \"%s\" is not NAME=VALUE", item);
        }
        *eq = '\0';
        int r = -1;
        for (int i = 0; i < RLIM__N; i++) {
            if (strcmp(rlimitNames[i], item) == 0) {
                r = i;
            }
        }
        if (r < 0) {
            return errSet(err, errlen, RC_EINVAL,
                          "rlimits: \"%s\" is not a limit (cpu, as, fsize, core, nofile, nproc, "
                          "stack)",
                          item);
        }
        if (out->set[r]) {
            return errSet(err, errlen, RC_EINVAL, "rlimits: %s appears twice", item);
        }
        if (!parseValue((enum execpolicy_rlimit)r, eq + 1, &out->value[r])) {
            return errSet(err, errlen, RC_EINVAL, "rlimits: %s: \"%s\" is not %s", item, eq + 1,
                          r == RLIM_CPU ? "a number of seconds (30, 30s, 5m, 2h)"
                          : r == RLIM_NOFILE || r == RLIM_NPROC
                              ? "a count"
                              : "a size in bytes (4096, 512K, 64M, 2G)");
        }
        out->set[r] = true;
    }
    return 0;
}
