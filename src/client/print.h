/*
 * Output helpers for raftcronctl: JSON (RFC 8259; strings escaped per §7, compact, one document
 * per command) and plain tables whose cells never hold blanks, so that `awk '{print $2}'` works.
 */
#ifndef RC_CLIENT_PRINT_H
#define RC_CLIENT_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Write s as a JSON string literal, quotes included. Bytes that are not UTF-8 are written as
 * U+FFFD, so that the output stays valid JSON whatever a job's fields hold. */
void printJsonString(FILE *f, const char *s);

/* ---- A JSON writer: commas and nesting are its business, values are the caller's. -------------
 * Every value call takes the key it has inside an object, or NULL inside an array.
 *
 * The same calls write YAML (block style, through libyaml's emitter) after printSetYaml(true):
 * one document per outermost object, the same keys and values as JSON, strings quoted
 * wherever a plain scalar would read back as something else (a number, true, null, …), so
 * that a YAML reader gets exactly the JSON document's data. Bytes that are not UTF-8 become
 * U+FFFD in both syntaxes. */
#define PRINT_JSON_DEPTH 16

struct print_json {
    FILE *f;
    int depth;
    char close[PRINT_JSON_DEPTH]; /* '}' or ']' per open level */
    bool more[PRINT_JSON_DEPTH];  /* the level already holds a value: next needs a comma */
    void *yaml;                   /* owned yaml_emitter_t while a YAML document is open */
    bool yaml_failed;             /* the emitter refused an event: the rest is dropped */
};

/* The syntax of every writer initialised afterwards: raftcronctl's -o yaml sets it once, for
 * the whole process, so that each command's JSON code writes YAML unchanged. */
void printSetYaml(bool yaml);
/* Whether tables may colour their header (a terminal without NO_COLOR): set once by main. */
void printSetColor(bool color);

void printJsonInit(struct print_json *j, FILE *f);
/* Open an object ('{') or array ('[') as the value of key. */
void printJsonOpen(struct print_json *j, const char *key, char bracket);
/* Close the innermost level; closing the outermost ends the document with a newline. */
void printJsonClose(struct print_json *j);
void printJsonStr(struct print_json *j, const char *key, const char *s);
/* A byte string as a JSON string (NUL bytes escaped, invalid UTF-8 replaced as above). */
void printJsonBytes(struct print_json *j, const char *key, const uint8_t *data, size_t len);
void printJsonInt(struct print_json *j, const char *key, int64_t v);
void printJsonUint(struct print_json *j, const char *key, uint64_t v);
void printJsonReal(struct print_json *j, const char *key, double v);
void printJsonBool(struct print_json *j, const char *key, bool v);
void printJsonNull(struct print_json *j, const char *key);
/* An instant as an RFC 3339 string in UTC, or null for 0 ("never"). */
void printJsonTime(struct print_json *j, const char *key, int64_t us);
/* A duration as a string durationParse reads back ("1h30m"). */
void printJsonDuration(struct print_json *j, const char *key, int64_t us);

/* ---- Tables: rows of cells, columns padded to their widest cell, two blanks apart. ----------- */
struct print_table {
    size_t cols;
    size_t rows;
    char **cells; /* owned: rows * cols strings */
    bool failed;  /* out of memory: printTableFlush reports it */
};

void printTableInit(struct print_table *t, size_t cols);
/* Append a row of t->cols cells (each argument is one cell's text; NULL or "" prints "-"; blanks
 * inside a cell are printed as '_' except in the last column, which is the rest of the line). */
void printTableRow(struct print_table *t, ...);
/* Print every row and free the table. Returns 0, or -1 when a row could not be stored. */
int printTableFlush(struct print_table *t, FILE *f);

/* "key   value" on one line: key padded to width, the value's line breaks and other control
 * bytes escaped C-style ("\n", "\x1b"), "-" for an empty value. */
void printKeyLine(FILE *f, const char *key, int width, const char *v, size_t len);

#endif /* RC_CLIENT_PRINT_H */
