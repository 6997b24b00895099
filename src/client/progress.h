/*
 * Progress of a long operation (job apply of many jobs, snapshot save) on a terminal: one line
 * on stderr, redrawn at most every 100 ms ("job apply: 1200/5000 (24%)"), erased at the end.
 * Nothing is written when stderr is not a terminal (or TERM is "dumb"), so scripts and logs
 * see only the command's own output.
 */
#ifndef RC_CLIENT_PROGRESS_H
#define RC_CLIENT_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
    const char *what; /* borrowed: "job apply" */
    const char *unit; /* borrowed: "" or "bytes" (then shown in KiB/MiB) */
    uint64_t total;   /* 0: unknown */
    uint64_t done;
    bool on;         /* stderr is a terminal */
    bool drawn;      /* a line is on the screen */
    int64_t last_ms; /* when it was drawn */
};

void progressStart(struct progress *p, const char *what, const char *unit, uint64_t total);
/* done units out of total so far: redrawn when 100 ms passed since the last drawing. */
void progressUpdate(struct progress *p, uint64_t done);
/* Erase the line, e.g. before printing on stdout (the next update draws it again). */
void progressClear(struct progress *p);
/* Erase the line for good. */
void progressEnd(struct progress *p);

#endif /* RC_CLIENT_PROGRESS_H */
