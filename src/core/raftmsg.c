#include "raftmsg.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AE_FIXED     48 /* term, prev index, prev term, commit, n, trailing 0 */
#define AE_ENTRY     16
#define IS_FIXED     56 /* term, last index, last term, conf index, conf len, data len, 0 */
#define CONF_MIN     24 /* format, n, one server with a 1-byte address: 20, padded */
#define ENTRY_TYPES  3  /* RAFT_COMMAND, RAFT_BARRIER, RAFT_CHANGE */
#define ENTRY_CHANGE 3
#define ROLE_MAX     2 /* RAFT_STANDBY, RAFT_VOTER, RAFT_SPARE */

static const char *const typeNames[] = {
    [RAFTMSG_APPEND_ENTRIES] = "AppendEntries",
    [RAFTMSG_APPEND_ENTRIES_RESULT] = "AppendEntriesResult",
    [RAFTMSG_REQUEST_VOTE] = "RequestVote",
    [RAFTMSG_REQUEST_VOTE_RESULT] = "RequestVoteResult",
    [RAFTMSG_INSTALL_SNAPSHOT] = "InstallSnapshot",
    [RAFTMSG_TIMEOUT_NOW] = "TimeoutNow",
};

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool allZero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

static uint32_t maxEntries(const struct raftmsg_options *o)
{
    return o->max_entries != 0 ? o->max_entries : RAFTMSG_ENTRIES_MAX_DEFAULT;
}

static uint64_t maxMessage(const struct raftmsg_options *o)
{
    return o->max_message != 0 ? o->max_message : RAFTMSG_MESSAGE_MAX_DEFAULT;
}

/* The largest encoded configuration: every server with the longest address. */
static uint64_t confMax(void)
{
    return (9 + (uint64_t)RAFTMSG_SERVERS_MAX * (8 + RAFTMSG_ADDRESS_MAX + 1 + 1) + 7) & ~7ull;
}

/* ---- Configuration ------------------------------------------------------------------------ */

int raftmsgCheckConfiguration(const uint8_t *p, size_t len, char *err, size_t errlen)
{
    if (len < CONF_MIN || len % 8 != 0 || len > confMax()) {
        return errSet(err, errlen, RC_EPARSE,
                      "configuration: %zu bytes (a multiple of 8 from %d to %" PRIu64 ")", len,
                      CONF_MIN, confMax());
    }
    if (p[0] != 1) {
        return errSet(err, errlen, RC_EPARSE, "configuration: format %u at byte 0, expected 1",
                      p[0]);
    }
    uint64_t n = get64(p + 1);
    if (n == 0 || n > RAFTMSG_SERVERS_MAX) {
        return errSet(err, errlen, RC_EPARSE,
                      "configuration: %" PRIu64 " servers at byte 1 (1 to %d)", n,
                      RAFTMSG_SERVERS_MAX);
    }
    size_t off = 9;
    uint64_t ids[RAFTMSG_SERVERS_MAX];
    size_t addrs[RAFTMSG_SERVERS_MAX], alens[RAFTMSG_SERVERS_MAX];
    for (uint64_t i = 0; i < n; i++) {
        if (len - off < 8 + 1 + 1 + 1) {
            return errSet(err, errlen, RC_EPARSE,
                          "configuration: server %" PRIu64 " at byte %zu is truncated", i, off);
        }
        uint64_t id = get64(p + off);
        if (id == 0) {
            return errSet(err, errlen, RC_EPARSE,
                          "configuration: server %" PRIu64 " at byte %zu has id 0", i, off);
        }
        off += 8;
        const uint8_t *nul = memchr(p + off, '\0', len - off);
        size_t alen = nul != NULL ? (size_t)(nul - (p + off)) : len - off;
        if (nul == NULL || alen == 0 || alen > RAFTMSG_ADDRESS_MAX || len - off - alen < 2) {
            return errSet(err, errlen, RC_EPARSE,
                          "configuration: server %" PRIu64
                          " address at byte %zu is empty, unterminated or over %d bytes",
                          i, off, RAFTMSG_ADDRESS_MAX);
        }
        for (uint64_t k = 0; k < i; k++) {
            if (ids[k] == id || (alens[k] == alen && memcmp(p + addrs[k], p + off, alen) == 0)) {
                return errSet(err, errlen, RC_EPARSE,
                              "configuration: server %" PRIu64 " at byte %zu repeats the id "
                              "or address of server %" PRIu64,
                              i, off - 8, k);
            }
        }
        ids[i] = id;
        addrs[i] = off;
        alens[i] = alen;
        off += alen + 1;
        if (p[off] > ROLE_MAX) {
            return errSet(err, errlen, RC_EPARSE,
                          "configuration: server %" PRIu64 " role %u at byte %zu (0 to %d)", i,
                          p[off], off, ROLE_MAX);
        }
        off++;
    }
    size_t padded = (off + 7) & ~(size_t)7;
    if (padded != len || !allZero(p + off, len - off)) {
        return errSet(err, errlen, RC_EPARSE,
                      "configuration: %zu bytes after the servers, expected %zu zero bytes",
                      len - off, padded - off);
    }
    return 0;
}

/* ---- Preamble, header, payload ------------------------------------------------------------- */

static int fail(char *err, size_t errlen, int code, unsigned type, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errlen, int code, unsigned type, const char *fmt, ...)
{
    const char *name = type < sizeof typeNames / sizeof typeNames[0] && typeNames[type] != NULL
                           ? typeNames[type]
                           : "message";
    char what[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return errSet(err, errlen, code, "%s: %s", name, what);
}

/* The preamble alone: type, reserved bytes, and a header length that the type allows (so that
 * no more than that is ever read or allocated). */
static int checkPreamble(const uint8_t pre[RAFTMSG_PREAMBLE_SIZE], const struct raftmsg_options *o,
                         struct raftmsg_info *info, char *err, size_t errlen)
{
    unsigned type = pre[0], version = pre[2];
    uint64_t hl = get64(pre + 8);
    memset(info, 0, sizeof *info);
    info->type = type;
    info->header_len = hl;
    if (type < RAFTMSG_APPEND_ENTRIES || type > RAFTMSG_TIMEOUT_NOW) {
        return errSet(err, errlen, RC_EPARSE, "message type %u at byte 0 (1 to 6)", type);
    }
    if (pre[1] != 0 || !allZero(pre + 3, 5) || version > 2) {
        return fail(err, errlen, RC_EPARSE, type,
                    "preamble bytes 1 and 3-7 must be 0 and the version (%u) at most 2", version);
    }
    if (!o->allow_elections && (type == RAFTMSG_REQUEST_VOTE || type == RAFTMSG_TIMEOUT_NOW)) {
        return fail(err, errlen, RC_EPARSE, type,
                    "peer %" PRIu64 " is not in the configuration and may not campaign",
                    o->peer_id);
    }
    bool ok;
    switch (type) {
    case RAFTMSG_APPEND_ENTRIES:
        if (hl > AE_FIXED + (uint64_t)AE_ENTRY * maxEntries(o)) {
            return fail(err, errlen, RC_ETOOBIG, type,
                        "header of %" PRIu64 " bytes holds more than %" PRIu32 " entries", hl,
                        maxEntries(o));
        }
        ok = hl >= AE_FIXED && (hl - AE_FIXED) % AE_ENTRY == 0;
        break;
    case RAFTMSG_APPEND_ENTRIES_RESULT:
        ok = hl == 32 || (hl == 24 && version == 0);
        break;
    case RAFTMSG_REQUEST_VOTE:
        ok = hl == 40;
        break;
    case RAFTMSG_REQUEST_VOTE_RESULT:
        ok = (hl == 16 && version <= 1) || (hl == 24 && version != 1);
        break;
    case RAFTMSG_INSTALL_SNAPSHOT:
        ok = hl >= IS_FIXED + CONF_MIN && hl <= IS_FIXED + confMax();
        break;
    default:
        ok = hl == 24;
        break;
    }
    if (!ok) {
        return fail(err, errlen, RC_EPARSE, type,
                    "header of %" PRIu64 " bytes (version %u) is not a shape raft_uv "
                    "reads within bounds",
                    hl, version);
    }
    if (RAFTMSG_PREAMBLE_SIZE + hl > maxMessage(o)) {
        return fail(err, errlen, RC_ETOOBIG, type,
                    "header of %" PRIu64 " bytes exceeds the message limit of %" PRIu64, hl,
                    maxMessage(o));
    }
    return 0;
}

static int checkTerms(unsigned type, uint64_t term, uint64_t other, const char *what, char *err,
                      size_t errlen)
{
    if (term == 0) {
        return fail(err, errlen, RC_EPARSE, type, "term 0");
    }
    if (other > term) {
        return fail(err, errlen, RC_EPARSE, type,
                    "%s %" PRIu64 " is above the message's term %" PRIu64, what, other, term);
    }
    return 0;
}

static int checkAppendEntries(const uint8_t *h, struct raftmsg_info *info,
                              const struct raftmsg_options *o, char *err, size_t errlen)
{
    unsigned type = info->type;
    uint64_t term = get64(h), prev_index = get64(h + 8), prev_term = get64(h + 16);
    uint64_t n = get64(h + 32);
    int rv = checkTerms(type, term, prev_term, "previous entry's term", err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (prev_index == 0 && prev_term != 0) {
        return fail(err, errlen, RC_EPARSE, type, "previous index 0 with term %" PRIu64, prev_term);
    }
    if (n != (info->header_len - AE_FIXED) / AE_ENTRY) {
        return fail(err, errlen, RC_EPARSE, type,
                    "%" PRIu64 " entries in a header made for %" PRIu64, n,
                    (info->header_len - AE_FIXED) / AE_ENTRY);
    }
    if (!allZero(h + info->header_len - 8, 8)) {
        return fail(err, errlen, RC_EPARSE, type,
                    "the reserved word at header byte %" PRIu64 " is not 0", info->header_len - 8);
    }
    uint64_t payload = 0, last_term = prev_term;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = h + 40 + i * AE_ENTRY;
        uint64_t eterm = get64(e);
        uint32_t elen = get32(e + 12);
        if (eterm < last_term || eterm > term) {
            return fail(err, errlen, RC_EPARSE, type,
                        "entry %" PRIu64 " has term %" PRIu64
                        " (terms must not decrease nor pass the message's)",
                        i, eterm);
        }
        last_term = eterm;
        if (e[8] < 1 || e[8] > ENTRY_TYPES || !allZero(e + 9, 3)) {
            return fail(err, errlen, RC_EPARSE, type,
                        "entry %" PRIu64 " has type %u (1 to 3) or reserved bytes set", i, e[8]);
        }
        if (elen == 0 || elen % 8 != 0) {
            return fail(err, errlen, RC_EPARSE, type,
                        "entry %" PRIu64 " is %" PRIu32 " bytes (a non-zero multiple of 8)", i,
                        elen);
        }
        payload += elen;
    }
    info->n_entries = (uint32_t)n;
    info->payload_len = payload;
    return 0;
}

static int checkInstallSnapshot(const uint8_t *h, struct raftmsg_info *info, char *err,
                                size_t errlen)
{
    unsigned type = info->type;
    uint64_t term = get64(h), last_index = get64(h + 8), last_term = get64(h + 16);
    uint64_t conf_index = get64(h + 24), conf_len = get64(h + 32);
    int rv = checkTerms(type, term, last_term, "last term", err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (last_index == 0 || conf_index > last_index) {
        return fail(err, errlen, RC_EPARSE, type,
                    "last index %" PRIu64 " (at least 1, at least the configuration's %" PRIu64 ")",
                    last_index, conf_index);
    }
    if (conf_len != info->header_len - IS_FIXED) {
        return fail(err, errlen, RC_EPARSE, type,
                    "configuration of %" PRIu64 " bytes in a header made for %" PRIu64, conf_len,
                    info->header_len - IS_FIXED);
    }
    char why[RC_ERRMSG_SIZE];
    if (raftmsgCheckConfiguration(h + 40, (size_t)conf_len, why, sizeof why) != 0) {
        return errSet(err, errlen, RC_EPARSE, "InstallSnapshot: %s", why);
    }
    const uint8_t *tail = h + 40 + conf_len;
    if (!allZero(tail + 8, 8)) {
        return fail(err, errlen, RC_EPARSE, type,
                    "the reserved word at header byte %" PRIu64 " is not 0", info->header_len - 8);
    }
    info->payload_len = get64(tail);
    return 0;
}

/* The header (info->header_len bytes at h, after checkPreamble): fields, and the payload length
 * it announces, which must fit the message limit. */
static int checkHeader(const uint8_t *h, struct raftmsg_info *info, const struct raftmsg_options *o,
                       char *err, size_t errlen)
{
    unsigned type = info->type;
    int rv = 0;
    info->term = get64(h);
    switch (type) {
    case RAFTMSG_APPEND_ENTRIES:
        rv = checkAppendEntries(h, info, o, err, errlen);
        break;
    case RAFTMSG_APPEND_ENTRIES_RESULT:
        rv = checkTerms(type, info->term, 0, "", err, errlen);
        break;
    case RAFTMSG_REQUEST_VOTE: {
        uint64_t candidate = get64(h + 8), last_term = get64(h + 24), flags = get64(h + 32);
        rv = checkTerms(type, info->term, last_term, "last log term", err, errlen);
        if (rv == 0 && candidate != o->peer_id) {
            rv = fail(err, errlen, RC_EPARSE, type,
                      "candidate %" PRIu64 " is not the sending peer %" PRIu64, candidate,
                      o->peer_id);
        }
        if (rv == 0 && (flags & ~(uint64_t)3) != 0) {
            rv = fail(err, errlen, RC_EPARSE, type, "unknown flags %#" PRIx64, flags);
        }
        break;
    }
    case RAFTMSG_REQUEST_VOTE_RESULT:
        rv = checkTerms(type, info->term, 0, "", err, errlen);
        if (rv == 0 && get64(h + 8) > 1) {
            rv = fail(err, errlen, RC_EPARSE, type, "vote granted is %" PRIu64 " (0 or 1)",
                      get64(h + 8));
        }
        break;
    case RAFTMSG_INSTALL_SNAPSHOT:
        rv = checkInstallSnapshot(h, info, err, errlen);
        break;
    case RAFTMSG_TIMEOUT_NOW:
        rv = checkTerms(type, info->term, get64(h + 16), "last log term", err, errlen);
        break;
    default:
        assert(0);
    }
    if (rv != 0) {
        return rv;
    }
    uint64_t max = maxMessage(o);
    if (info->payload_len > max - RAFTMSG_PREAMBLE_SIZE - info->header_len) {
        return fail(err, errlen, RC_ETOOBIG, type,
                    "payload of %" PRIu64 " bytes exceeds the message limit of %" PRIu64,
                    info->payload_len, max);
    }
    return 0;
}

/* The payload, once whole: AppendEntries' configuration entries (libraft decodes them when it
 * appends them, with the same unchecked decoder). */
static int checkPayload(const uint8_t *msg, const struct raftmsg_info *info, char *err,
                        size_t errlen)
{
    if (info->type != RAFTMSG_APPEND_ENTRIES) {
        return 0;
    }
    const uint8_t *h = msg + RAFTMSG_PREAMBLE_SIZE;
    const uint8_t *data = h + info->header_len;
    for (uint32_t i = 0; i < info->n_entries; i++) {
        const uint8_t *e = h + 40 + (size_t)i * AE_ENTRY;
        uint32_t elen = get32(e + 12);
        if (e[8] == ENTRY_CHANGE) {
            char why[RC_ERRMSG_SIZE];
            if (raftmsgCheckConfiguration(data, elen, why, sizeof why) != 0) {
                return errSet(err, errlen, RC_EPARSE, "AppendEntries: entry %" PRIu32 ": %s", i,
                              why);
            }
        }
        data += elen;
    }
    return 0;
}

int raftmsgCheck(const uint8_t *msg, size_t len, const struct raftmsg_options *o,
                 struct raftmsg_info *info, char *err, size_t errlen)
{
    struct raftmsg_info local;
    info = info != NULL ? info : &local;
    if (len < RAFTMSG_PREAMBLE_SIZE) {
        return errSet(err, errlen, RC_EPARSE, "message of %zu bytes is shorter than a preamble",
                      len);
    }
    int rv = checkPreamble(msg, o, info, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (len - RAFTMSG_PREAMBLE_SIZE < info->header_len) {
        return fail(err, errlen, RC_EPARSE, info->type,
                    "%" PRIu64 " bytes after the preamble, the header needs %" PRIu64,
                    len - RAFTMSG_PREAMBLE_SIZE, info->header_len);
    }
    rv = checkHeader(msg + RAFTMSG_PREAMBLE_SIZE, info, o, err, errlen);
    if (rv != 0) {
        return rv;
    }
    uint64_t total = RAFTMSG_PREAMBLE_SIZE + info->header_len + info->payload_len;
    if (total != len) {
        return fail(err, errlen, RC_EPARSE, info->type, "%zu bytes, the header announces %" PRIu64,
                    len, total);
    }
    return checkPayload(msg, info, err, errlen);
}

/* ---- Reader -------------------------------------------------------------------------------- */

static void setState(struct raftmsg_reader *r, enum raftmsg_reader_state to)
{
    enum { P = RAFTMSG_READER_PREAMBLE, H = RAFTMSG_READER_HEADER };
    enum { D = RAFTMSG_READER_PAYLOAD, F = RAFTMSG_READER_FAILED };
    static const bool allowed[4][4] = {
        [P] = {[H] = true, [F] = true},
        [H] = {[P] = true, [D] = true, [F] = true},
        [D] = {[P] = true, [F] = true},
    };
    assert(allowed[r->state][to]);
    (void)allowed;
    r->state = to;
}

void raftmsgReaderInit(struct raftmsg_reader *r, const struct raftmsg_options *o)
{
    memset(r, 0, sizeof *r);
    r->o = *o;
    r->need = RAFTMSG_PREAMBLE_SIZE;
    r->state = RAFTMSG_READER_PREAMBLE;
}

void raftmsgReaderClose(struct raftmsg_reader *r)
{
    free(r->buf);
    r->buf = NULL;
}

static int readerFail(struct raftmsg_reader *r, int code)
{
    assert(code != 0);
    free(r->buf);
    r->buf = NULL;
    r->error = code;
    setState(r, RAFTMSG_READER_FAILED);
    return code;
}

/* Room for n more bytes of the payload: at least double, at most the whole message. */
static int reserve(struct raftmsg_reader *r, size_t n)
{
    if (r->have + n <= r->cap) {
        return 0;
    }
    size_t want = r->cap * 2 > r->have + n ? r->cap * 2 : r->have + n;
    want = want < r->need ? want : r->need;
    uint8_t *grown = realloc(r->buf, want);
    if (grown == NULL) {
        return readerFail(r,
                          errSet(r->errmsg, sizeof r->errmsg, RC_ENOMEM,
                                 "no memory for %zu bytes of a %zu-byte message", want, r->need));
    }
    r->buf = grown;
    r->cap = want;
    return 0;
}

static void deliver(struct raftmsg_reader *r, const struct raftmsg_info *info, raftmsg_cb cb,
                    void *arg)
{
    uint8_t *msg = r->buf;
    size_t len = r->have;
    r->buf = NULL;
    r->have = r->cap = 0;
    r->need = RAFTMSG_PREAMBLE_SIZE;
    r->count++;
    setState(r, RAFTMSG_READER_PREAMBLE);
    cb(msg, len, info, arg);
}

/* A part is complete: check it and move on (allocating only what the check allowed). */
static int partDone(struct raftmsg_reader *r, raftmsg_cb cb, void *arg)
{
    struct raftmsg_info info;
    int rv;
    switch (r->state) {
    case RAFTMSG_READER_PREAMBLE:
        rv = checkPreamble(r->pre, &r->o, &info, r->errmsg, sizeof r->errmsg);
        if (rv != 0) {
            return readerFail(r, rv);
        }
        r->need = RAFTMSG_PREAMBLE_SIZE + (size_t)info.header_len;
        r->cap = r->need;
        r->buf = malloc(r->need);
        if (r->buf == NULL) {
            return readerFail(r, errSet(r->errmsg, sizeof r->errmsg, RC_ENOMEM,
                                        "no memory for a header of %zu bytes", r->need));
        }
        memcpy(r->buf, r->pre, RAFTMSG_PREAMBLE_SIZE);
        setState(r, RAFTMSG_READER_HEADER);
        return 0;
    case RAFTMSG_READER_HEADER: {
        rv = checkPreamble(r->buf, &r->o, &info, r->errmsg, sizeof r->errmsg);
        assert(rv == 0);
        rv = checkHeader(r->buf + RAFTMSG_PREAMBLE_SIZE, &info, &r->o, r->errmsg, sizeof r->errmsg);
        if (rv != 0) {
            return readerFail(r, rv);
        }
        if (info.payload_len == 0) {
            deliver(r, &info, cb, arg);
            return 0;
        }
        r->need += (size_t)info.payload_len;
        setState(r, RAFTMSG_READER_PAYLOAD);
        return 0;
    }
    case RAFTMSG_READER_PAYLOAD:
        rv = raftmsgCheck(r->buf, r->have, &r->o, &info, r->errmsg, sizeof r->errmsg);
        if (rv != 0) {
            return readerFail(r, rv);
        }
        deliver(r, &info, cb, arg);
        return 0;
    default:
        assert(0);
        return RC_EINTERNAL;
    }
}

int raftmsgReaderFeed(struct raftmsg_reader *r, const uint8_t *data, size_t len, raftmsg_cb cb,
                      void *arg)
{
    if (r->state == RAFTMSG_READER_FAILED) {
        return r->error;
    }
    while (len > 0) {
        size_t n = r->need - r->have;
        n = n < len ? n : len;
        if (r->state == RAFTMSG_READER_PAYLOAD && reserve(r, n) != 0) {
            return r->error;
        }
        uint8_t *dst = r->state == RAFTMSG_READER_PREAMBLE ? r->pre : r->buf;
        memcpy(dst + r->have, data, n);
        r->have += n;
        data += n;
        len -= n;
        if (r->have == r->need) {
            int rv = partDone(r, cb, arg);
            if (rv != 0) {
                return rv;
            }
        }
    }
    return 0;
}
