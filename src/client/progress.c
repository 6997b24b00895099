#include "progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REDRAW_MS 100

static int64_t nowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void progressStart(struct progress *p, const char *what, const char *unit, uint64_t total)
{
    const char *term = getenv("TERM");
    memset(p, 0, sizeof *p);
    p->what = what;
    p->unit = unit;
    p->total = total;
    p->on = isatty(STDERR_FILENO) && !(term != NULL && strcmp(term, "dumb") == 0);
}

static void amount(const struct progress *p, uint64_t v, char *buf, size_t len)
{
    if (strcmp(p->unit, "bytes") != 0) {
        snprintf(buf, len, "%" PRIu64, v);
    } else if (v >= (1u << 20)) {
        snprintf(buf, len, "%.1f MiB", (double)v / (1u << 20));
    } else {
        snprintf(buf, len, "%.1f KiB", (double)v / 1024);
    }
}

static void draw(struct progress *p)
{
    char done[32], total[32];
    amount(p, p->done, done, sizeof done);
    if (p->total > 0) {
        amount(p, p->total, total, sizeof total);
        fprintf(stderr, "\r\033[K%s: %s/%s (%d%%)", p->what, done, total,
                (int)(p->done * 100 / p->total));
    } else {
        fprintf(stderr, "\r\033[K%s: %s", p->what, done);
    }
    fflush(stderr);
    p->drawn = true;
    p->last_ms = nowMs();
}

void progressUpdate(struct progress *p, uint64_t done)
{
    p->done = done;
    if (p->on && nowMs() - p->last_ms >= REDRAW_MS) {
        draw(p);
    }
}

void progressClear(struct progress *p)
{
    if (p->on && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = false;
    }
}

void progressEnd(struct progress *p)
{
    progressClear(p);
    p->on = false;
}
