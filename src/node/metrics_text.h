/*
 * The Prometheus text exposition format, version 0.0.4 (docs/rest.md "Metrics"): a growing
 * buffer and the writers of one family at a time — # HELP and # TYPE once, then its samples,
 * label values escaped (\\, \", \n), floats written so that they read back exactly, +Inf as
 * "+Inf". Families are written whole, one after another, as the format requires.
 *
 * Histograms have fixed upper bounds (METRICS_BOUNDS, seconds) chosen for what we time here:
 * RPCs, commits, fire and start lateness (100 µs to 10 s).
 */
#ifndef RC_NODE_METRICS_TEXT_H
#define RC_NODE_METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_N_BOUNDS 16
extern const double METRICS_BOUNDS[METRICS_N_BOUNDS];

struct metrics_hist {
    uint64_t buckets[METRICS_N_BOUNDS + 1]; /* the last one: above every bound */
    uint64_t count;
    double sum;
};

/* Count one observation (seconds; negative counts as 0). */
void metricsHistObserve(struct metrics_hist *h, double seconds);

struct metrics_text {
    char *data; /* owned (malloc'd) */
    size_t len;
    size_t cap;
    bool failed; /* out of memory: the text is incomplete */
};

void metricsTextInit(struct metrics_text *t);
void metricsTextFree(struct metrics_text *t);

/* # HELP and # TYPE of a family: type "counter", "gauge" or "histogram". */
void metricsFamily(struct metrics_text *t, const char *name, const char *type, const char *help);
/* One sample: labels is a list of name/value pairs (n pairs: names[i], values[i]), may be 0. */
void metricsSample(struct metrics_text *t, const char *name, size_t n, const char *const *names,
                   const char *const *values, double value);
/* A histogram's _bucket, _sum and _count samples, with the same labels plus le. */
void metricsHistSamples(struct metrics_text *t, const char *name, size_t n,
                        const char *const *names, const char *const *values,
                        const struct metrics_hist *h);

#endif /* RC_NODE_METRICS_TEXT_H */
