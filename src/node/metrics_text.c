#include "metrics_text.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double METRICS_BOUNDS[METRICS_N_BOUNDS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                 0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                 1,      2.5,     5,      10};

void metricsHistObserve(struct metrics_hist *h, double seconds)
{
    if (!(seconds > 0)) {
        seconds = 0;
    }
    size_t i = 0;
    while (i < METRICS_N_BOUNDS && seconds > METRICS_BOUNDS[i]) {
        i++;
    }
    h->buckets[i]++;
    h->count++;
    h->sum += seconds;
}

void metricsTextInit(struct metrics_text *t)
{
    memset(t, 0, sizeof *t);
}

void metricsTextFree(struct metrics_text *t)
{
    free(t->data);
    memset(t, 0, sizeof *t);
}

static void append(struct metrics_text *t, const char *s, size_t n)
{
    if (t->failed) {
        return;
    }
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap > 0 ? t->cap : 4096;
        while (cap < t->len + n + 1) {
            cap *= 2;
        }
        char *data = realloc(t->data, cap);
        if (data == NULL) {
            t->failed = true;
            return;
        }
        t->data = data;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void appendf(struct metrics_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void appendf(struct metrics_text *t, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) {
        append(t, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    }
}

/* Label values escape backslash, double quote and line feed; HELP text backslash and line
 * feed. */
static void escaped(struct metrics_text *t, const char *s, bool quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\') {
            append(t, "\\\\", 2);
        } else if (*s == '\n') {
            append(t, "\\n", 2);
        } else if (*s == '"' && quote) {
            append(t, "\\\"", 2);
        } else {
            append(t, s, 1);
        }
    }
}

void metricsFamily(struct metrics_text *t, const char *name, const char *type, const char *help)
{
    appendf(t, "# HELP %s ", name);
    escaped(t, help, false);
    appendf(t, "\n# TYPE %s %s\n", name, type);
}

static void value(struct metrics_text *t, double v)
{
    if (isinf(v)) {
        append(t, v > 0 ? "+Inf" : "-Inf", 4);
    } else if (isnan(v)) {
        append(t, "NaN", 3);
    } else if (v == floor(v) && fabs(v) < 9e15) {
        appendf(t, "%.0f", v);
    } else {
        /* The shortest text that reads back as the same double. */
        char buf[32];
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(buf, sizeof buf, "%.*g", digits, v);
            if (strtod(buf, NULL) == v) {
                break;
            }
        }
        append(t, buf, strlen(buf));
    }
}

static void labels(struct metrics_text *t, size_t n, const char *const *names,
                   const char *const *values, const char *le)
{
    if (n == 0 && le == NULL) {
        return;
    }
    append(t, "{", 1);
    for (size_t i = 0; i < n; i++) {
        appendf(t, "%s%s=\"", i > 0 ? "," : "", names[i]);
        escaped(t, values[i], true);
        append(t, "\"", 1);
    }
    if (le != NULL) {
        appendf(t, "%sle=\"%s\"", n > 0 ? "," : "", le);
    }
    append(t, "}", 1);
}

void metricsSample(struct metrics_text *t, const char *name, size_t n, const char *const *names,
                   const char *const *values, double v)
{
    append(t, name, strlen(name));
    labels(t, n, names, values, NULL);
    append(t, " ", 1);
    value(t, v);
    append(t, "\n", 1);
}

void metricsHistSamples(struct metrics_text *t, const char *name, size_t n,
                        const char *const *names, const char *const *values,
                        const struct metrics_hist *h)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= METRICS_N_BOUNDS; i++) {
        char le[32];
        if (i < METRICS_N_BOUNDS) {
            snprintf(le, sizeof le, "%g", METRICS_BOUNDS[i]);
        } else {
            snprintf(le, sizeof le, "+Inf");
        }
        cumulative += h->buckets[i];
        appendf(t, "%s_bucket", name);
        labels(t, n, names, values, le);
        appendf(t, " %llu\n", (unsigned long long)cumulative);
    }
    appendf(t, "%s_sum", name);
    labels(t, n, names, values, NULL);
    append(t, " ", 1);
    value(t, h->sum);
    appendf(t, "\n%s_count", name);
    labels(t, n, names, values, NULL);
    appendf(t, " %llu\n", (unsigned long long)h->count);
}
