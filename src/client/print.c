#include "print.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "core/duration.h"
#include "core/timefmt.h"
#include "core/utf8.h"

static bool yaml_syntax; /* printSetYaml */
static bool color;       /* printSetColor */

void printSetYaml(bool yaml)
{
    yaml_syntax = yaml;
}

void printSetColor(bool on)
{
    color = on;
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

/* ---- YAML ------------------------------------------------------------------------------------ */

static int yamlWrite(void *data, unsigned char *buf, size_t size)
{
    return fwrite(buf, 1, size, data) == size;
}

/* A plain scalar that a YAML 1.1 or 1.2 reader would take for a bool, null or number, or that
 * is empty, must be quoted to stay a string; the emitter's own analysis adds the quotes that
 * the syntax needs (": ", "#", leading blanks, control characters). */
static bool yamlNeedsQuotes(const char *s, size_t len)
{
    static const char *const words[] = {"y",     "n",  "yes", "no",   "true",
                                        "false", "on", "off", "null", "~"};
    if (len == 0) {
        return true;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strlen(words[i]) == len && strncasecmp(s, words[i], len) == 0) {
            return true;
        }
    }
    /* Numbers (decimal, 0x, 0o, 1_000, 1e3, sexagesimal 1:30) start with a digit, a sign or a
     * dot: quoting every such string is simpler than recognising each form, and costs only two
     * quotes around durations and instants. */
    return strchr("0123456789+-.", s[0]) != NULL;
}

/* s as valid UTF-8 (invalid bytes as U+FFFD), malloc'd, NUL-terminated; *out_len its length. */
static char *utf8Clean(const unsigned char *p, size_t n, size_t *out_len)
{
    char *out = malloc(n * 3 + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t k = utf8Repair(out, p, n, true); /* NUL too, which YAML cannot hold */
    out[k] = '\0';
    *out_len = k;
    return out;
}

static void yamlEmit(struct print_json *j, yaml_event_t *ev, bool ok)
{
    if (!ok || j->yaml_failed || !yaml_emitter_emit(j->yaml, ev)) {
        j->yaml_failed = true;
    }
}

/* A scalar: plain when it reads back as written, else double-quoted. is_string: text that
 * must not be taken for a number, bool or null. */
static void yamlScalar(struct print_json *j, const char *text, size_t len, bool is_string)
{
    yaml_event_t ev;
    size_t clean_len = len;
    char *clean = utf8Clean((const unsigned char *)text, len, &clean_len);
    if (clean == NULL) {
        j->yaml_failed = true;
        return;
    }
    bool quote = is_string && yamlNeedsQuotes(clean, clean_len);
    int ok = yaml_scalar_event_initialize(
        &ev, NULL, NULL, (yaml_char_t *)clean, (int)clean_len, !quote, 1,
        quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
    yamlEmit(j, &ev, ok);
    free(clean);
}

static void yamlBegin(struct print_json *j)
{
    yaml_emitter_t *em = calloc(1, sizeof *em);
    yaml_event_t ev;
    if (em == NULL || !yaml_emitter_initialize(em)) {
        free(em);
        j->yaml_failed = true;
        return;
    }
    yaml_emitter_set_output(em, yamlWrite, j->f);
    yaml_emitter_set_unicode(em, 1);
    yaml_emitter_set_width(em, -1);
    yaml_emitter_set_indent(em, 2);
    j->yaml = em;
    yamlEmit(j, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    yamlEmit(j, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
}

static void yamlEnd(struct print_json *j)
{
    yaml_event_t ev;
    yamlEmit(j, &ev, yaml_document_end_event_initialize(&ev, 1));
    yamlEmit(j, &ev, yaml_stream_end_event_initialize(&ev));
    yaml_emitter_flush(j->yaml);
    yaml_emitter_delete(j->yaml);
    free(j->yaml);
    j->yaml = NULL;
    if (j->yaml_failed) {
        fputs("# raftcronctl: the YAML writer failed; the document above is incomplete\n", j->f);
    }
}

/* ---- JSON and YAML values -------------------------------------------------------------------- */

/* Comma and key before a value. */
static void lead(struct print_json *j, const char *key)
{
    if (yaml_syntax) {
        if (j->depth == 0 && j->yaml == NULL) {
            yamlBegin(j);
        }
        if (key != NULL) {
            yamlScalar(j, key, strlen(key), true);
        }
        return;
    }
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

/* A number, true, false or null: the same text in both syntaxes. */
static void literal(struct print_json *j, const char *key, const char *text)
{
    lead(j, key);
    if (yaml_syntax) {
        yamlScalar(j, text, strlen(text), false);
    } else {
        fputs(text, j->f);
    }
}

void printJsonOpen(struct print_json *j, const char *key, char bracket)
{
    lead(j, key);
    if (yaml_syntax) {
        yaml_event_t ev;
        int ok = bracket == '{' ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                                      YAML_BLOCK_MAPPING_STYLE)
                                : yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                                       YAML_BLOCK_SEQUENCE_STYLE);
        yamlEmit(j, &ev, ok);
    } else {
        fputc(bracket, j->f);
    }
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
    char close = j->close[--j->depth];
    if (yaml_syntax) {
        yaml_event_t ev;
        yamlEmit(j, &ev,
                 close == '}' ? yaml_mapping_end_event_initialize(&ev)
                              : yaml_sequence_end_event_initialize(&ev));
        if (j->depth == 0 && j->yaml != NULL) {
            yamlEnd(j);
        }
        return;
    }
    fputc(close, j->f);
    if (j->depth == 0) {
        fputc('\n', j->f);
    }
}

void printJsonStr(struct print_json *j, const char *key, const char *s)
{
    printJsonBytes(j, key, (const uint8_t *)(s != NULL ? s : ""), s != NULL ? strlen(s) : 0);
}

void printJsonBytes(struct print_json *j, const char *key, const uint8_t *data, size_t len)
{
    lead(j, key);
    if (yaml_syntax) {
        yamlScalar(j, data != NULL ? (const char *)data : "", data != NULL ? len : 0, true);
        return;
    }
    writeJsonString(j->f, data != NULL ? data : (const uint8_t *)"", data != NULL ? len : 0);
}

void printJsonInt(struct print_json *j, const char *key, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    literal(j, key, buf);
}

void printJsonUint(struct print_json *j, const char *key, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    literal(j, key, buf);
}

void printJsonReal(struct print_json *j, const char *key, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    literal(j, key, buf);
}

void printJsonBool(struct print_json *j, const char *key, bool v)
{
    literal(j, key, v ? "true" : "false");
}

void printJsonNull(struct print_json *j, const char *key)
{
    literal(j, key, "null");
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
    char buf[RC_DURATION_MAX];
    durationFormat(us, buf);
    printJsonStr(j, key, buf);
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
    /* The header row in bold on a terminal: padding is computed on the text alone. */
    for (size_t r = 0; r < t->rows && !t->failed; r++) {
        bool bold = color && r == 0;
        fputs(bold ? "\033[1m" : "", f);
        for (size_t i = 0; i < cols; i++) {
            const char *c = t->cells[r * t->cols + i];
            if (i + 1 < cols) {
                fprintf(f, "%-*s  ", (int)width[i], c);
            } else {
                fprintf(f, "%s%s\n", c, bold ? "\033[0m" : "");
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
