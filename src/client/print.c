#include "print.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"

/* Length of the well-formed UTF-8 sequence at p (Unicode 15, table 3-7), or 0. */
static size_t utf8Len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len = c < 0x80                 ? 1
                 : c >= 0xc2 && c <= 0xdf ? 2
                 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4
                                          : 0;
    if (len == 0 || len > n) {
        return 0;
    }
    unsigned char lo = 0x80, hi = 0xbf;
    if (c == 0xe0) {
        lo = 0xa0;
    } else if (c == 0xed) {
        hi = 0x9f;
    } else if (c == 0xf0) {
        lo = 0x90;
    } else if (c == 0xf4) {
        hi = 0x8f;
    }
    for (size_t i = 1; i < len; i++) {
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf)) {
            return 0;
        }
    }
    return len;
}

static void writeJsonString(FILE *f, const unsigned char *p, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                                      : NULL;
        size_t len = utf8Len(p + i, n - i);
        if (esc != NULL) {
            fputs(esc, f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else if (len == 0) {
            fputs("\\ufffd", f);
        } else {
            fwrite(p + i, 1, len, f);
        }
        i += len > 0 ? len : 1;
    }
    fputc('"', f);
}

void printJsonString(FILE *f, const char *s)
{
    writeJsonString(f, (const unsigned char *)s, strlen(s));
}

/* ---- JSON writer ----------------------------------------------------------------------------- */

void printJsonInit(struct print_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

/* Comma and key before a value. */
static void lead(struct print_json *j, const char *key)
{
    if (j->depth > 0) {
        if (j->more[j->depth - 1]) {
            fputc(',', j->f);
        }
        j->more[j->depth - 1] = true;
    }
    if (key != NULL) {
        printJsonString(j->f, key);
        fputc(':', j->f);
    }
}

void printJsonOpen(struct print_json *j, const char *key, char bracket)
{
    lead(j, key);
    fputc(bracket, j->f);
    if (j->depth < PRINT_JSON_DEPTH) {
        j->close[j->depth] = bracket == '{' ? '}' : ']';
        j->more[j->depth] = false;
        j->depth++;
    }
}

void printJsonClose(struct print_json *j)
{
    if (j->depth == 0) {
        return;
    }
    fputc(j->close[--j->depth], j->f);
    if (j->depth == 0) {
        fputc('\n', j->f);
    }
}

void printJsonStr(struct print_json *j, const char *key, const char *s)
{
    lead(j, key);
    printJsonString(j->f, s != NULL ? s : "");
}

void printJsonBytes(struct print_json *j, const char *key, const uint8_t *data, size_t len)
{
    lead(j, key);
    writeJsonString(j->f, data != NULL ? data : (const uint8_t *)"", data != NULL ? len : 0);
}

void printJsonInt(struct print_json *j, const char *key, int64_t v)
{
    lead(j, key);
    fprintf(j->f, "%" PRId64, v);
}

void printJsonUint(struct print_json *j, const char *key, uint64_t v)
{
    lead(j, key);
    fprintf(j->f, "%" PRIu64, v);
}

void printJsonReal(struct print_json *j, const char *key, double v)
{
    lead(j, key);
    fprintf(j->f, "%.17g", v);
}

void printJsonBool(struct print_json *j, const char *key, bool v)
{
    lead(j, key);
    fputs(v ? "true" : "false", j->f);
}

void printJsonNull(struct print_json *j, const char *key)
{
    lead(j, key);
    fputs("null", j->f);
}

void printJsonTime(struct print_json *j, const char *key, int64_t us)
{
    if (us == 0) {
        printJsonNull(j, key);
        return;
    }
    char buf[RC_TIMEFMT_MAX];
    timefmtFormat(us, 0, buf);
    printJsonStr(j, key, buf);
}

void printJsonDuration(struct print_json *j, const char *key, int64_t us)
{
    char buf[PRINT_DURATION_MAX];
    printDuration(us, buf);
    printJsonStr(j, key, buf);
}

/* ---- Text ------------------------------------------------------------------------------------ */

void printDuration(int64_t us, char *buf)
{
    timefmtDuration(us, buf);
}

/* ---- Tables ---------------------------------------------------------------------------------- */

void printTableInit(struct print_table *t, size_t cols)
{
    memset(t, 0, sizeof *t);
    t->cols = cols;
}

/* A cell as printed: "-" when empty; line breaks never, and blanks only in the last column, so
 * that rows split on whitespace. */
static char *cellOf(const char *s, bool last)
{
    char *c = strdup(s != NULL && s[0] != '\0' ? s : "-");
    for (char *p = c; p != NULL && *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r' || (!last && (*p == ' ' || *p == '\t'))) {
            *p = '_';
        }
    }
    return c;
}

void printTableRow(struct print_table *t, ...)
{
    char **cells = realloc(t->cells, (t->rows + 1) * t->cols * sizeof *cells);
    if (cells == NULL) {
        t->failed = true;
        return;
    }
    t->cells = cells;
    va_list ap;
    va_start(ap, t);
    char **row = cells + t->rows * t->cols;
    for (size_t i = 0; i < t->cols; i++) {
        row[i] = cellOf(va_arg(ap, const char *), i + 1 == t->cols);
        t->failed |= row[i] == NULL;
    }
    va_end(ap);
    t->rows++;
}

int printTableFlush(struct print_table *t, FILE *f)
{
    size_t width[32] = {0};
    size_t cols = t->cols < 32 ? t->cols : 32;
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t i = 0; i < cols; i++) {
            const char *c = t->cells[r * t->cols + i];
            size_t w = c != NULL ? strlen(c) : 0;
            width[i] = w > width[i] ? w : width[i];
        }
    }
    for (size_t r = 0; r < t->rows && !t->failed; r++) {
        for (size_t i = 0; i < cols; i++) {
            const char *c = t->cells[r * t->cols + i];
            if (i + 1 < cols) {
                fprintf(f, "%-*s  ", (int)width[i], c);
            } else {
                fprintf(f, "%s\n", c);
            }
        }
    }
    int rv = t->failed ? -1 : 0;
    for (size_t k = 0; k < t->rows * t->cols; k++) {
        free(t->cells[k]);
    }
    free(t->cells);
    memset(t, 0, sizeof *t);
    return rv;
}

void printKeyLine(FILE *f, const char *key, int width, const char *v, size_t len)
{
    fprintf(f, "%-*s ", width, key);
    if (len == 0) {
        fputc('-', f);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch == '\n') {
            fputs("\\n", f);
        } else if (ch < 0x20 || ch == 0x7f) {
            fprintf(f, "\\x%02x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('\n', f);
}
