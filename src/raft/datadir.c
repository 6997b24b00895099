/*
 * The files of a data dir that are ours, or that we check before raft_uv reads them. raft_uv's
 * own format (metadata1/2, segments, snapshots) is read here only to refuse a damaged dir.
 */
#include "datadir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "seed.h"

/* ---- the cluster id ------------------------------------------------------------------- */

uint64_t datadirReadClusterId(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, DATADIR_CLUSTER_ID);
    FILE *f = fopen(path, "r");
    unsigned long long id = 0;
    if (f != NULL) {
        if (fscanf(f, "%16llx", &id) != 1) {
            id = 0;
        }
        fclose(f);
    }
    return (uint64_t)id;
}

/* Written once (then never changed): a temporary file renamed into place after fsync. */
int datadirWriteClusterId(const char *dir, uint64_t id)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", dir, DATADIR_CLUSTER_ID);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        return RC_EIO;
    }
    bool ok = fprintf(f, "%016llx\n", (unsigned long long)id) > 0 && fflush(f) == 0 &&
              fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return RC_EIO;
    }
    return 0;
}

/* ---- --restore ------------------------------------------------------------------------ */

static int readWholeFile(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int saved = errno;
        if (fd >= 0) {
            close(fd);
        }
        return errSet(err, errlen, RC_EIO, "%s: %s", path, strerror(saved));
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n > 0 ? n : 1);
    size_t got = 0;
    while (buf != NULL && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (buf == NULL || got != n) {
        free(buf);
        return errSet(err, errlen, buf == NULL ? RC_ENOMEM : RC_EIO, "%s: cannot be read", path);
    }
    *out = buf;
    *len = n;
    return 0;
}

/* The cluster id is made anew afterwards, once the transport exists (cluster.c): the restored
 * cluster is a new cluster, which the old one's nodes refuse and which refuses them. */
int datadirRestore(const char *dir, uint64_t id, const char *raft_addr, const char *backup,
                   struct rc_backup_info *info, struct rc_backup_summary *seeded,
                   uint64_t *seeded_index, char *err, size_t errlen)
{
    char entry[256], why[RC_ERRMSG_SIZE];
    if (datadirFindLog(dir, entry, sizeof entry)) {
        return errSet(err, errlen, RC_EINVAL,
                      "--restore: data dir %s already holds a log (%s); restore into an empty "
                      "data dir",
                      dir, entry);
    }
    uint8_t *file = NULL;
    size_t len = 0;
    int rv = readWholeFile(backup, &file, &len, why, sizeof why);
    if (rv != 0) {
        return errSet(err, errlen, rv, "--restore: %s", why);
    }
    const uint8_t *snap;
    void *seed = NULL;
    size_t seed_len;
    rv = backupDecode(file, len, info, &snap, why, sizeof why);
    if (rv == 0) {
        rv = backupSeed(snap, info->snapshot_len, info->index, &seed, &seed_len, seeded_index,
                        seeded, why, sizeof why);
    }
    if (rv == 0) {
        rv = seedDataDir(dir, id, raft_addr, seed, seed_len, *seeded_index, why, sizeof why);
    }
    free(seed);
    free(file);
    if (rv != 0) {
        return errSet(err, errlen, rv, "--restore %s: %s", backup, why);
    }
    return 0;
}

/* ---- raft_uv's files ------------------------------------------------------------------ */

/* raft_uv keeps the current term and vote in two files written in turn: metadata1 holds the odd
 * versions, metadata2 the even ones, each 32 bytes (little-endian u64s: disk format 1, version,
 * term, voted_for). It rewrites a file in place, so a crash can leave a file short only while
 * creating it: metadata1 before metadata2 exists, or metadata2 while metadata1 is at version 1.
 * raft_uv deletes a short file and, with neither file left, starts at term 0 even when a log is
 * on disk: the node would forget its vote and could vote twice in a term (Raft §5.2: currentTerm
 * and votedFor survive restarts). So the files are checked before raft_uv opens the data dir. */
#define META_SIZE   32
#define META_FORMAT 1
enum { META_ABSENT, META_SHORT, META_VALID };

struct meta_file {
    int state;
    long long size;
    uint64_t version;
    uint64_t term;
};

static uint64_t get64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | (uint64_t)p[i];
    }
    return v;
}

/* Fill m from metadataN (n is 1 or 2). Returns -1 with the reason in why for a file raft_uv
 * would misread or refuse; a short file is left for the caller to judge. */
static int readMetadata(const char *dir, int n, struct meta_file *m, char *why, size_t len)
{
    char path[4096];
    unsigned char buf[META_SIZE];
    memset(m, 0, sizeof *m);
    snprintf(path, sizeof path, "%s/metadata%d", dir, n);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT) {
            m->state = META_ABSENT;
            return 0;
        }
        return errSet(why, len, -1, "cannot open metadata%d: %s", n, strerror(errno));
    }
    struct stat st;
    ssize_t got = 0;
    if (fstat(fd, &st) != 0) {
        got = -1;
    } else if (st.st_size == META_SIZE) {
        got = pread(fd, buf, sizeof buf, 0);
    }
    int saved = errno;
    close(fd);
    if (got < 0) {
        return errSet(why, len, -1, "cannot read metadata%d: %s", n, strerror(saved));
    }
    m->size = (long long)st.st_size;
    if (m->size < META_SIZE) {
        m->state = META_SHORT;
        return 0;
    }
    if (m->size > META_SIZE) {
        return errSet(why, len, -1, "metadata%d has %lld bytes instead of %d", n, m->size,
                      META_SIZE);
    }
    if (got != META_SIZE) {
        return errSet(why, len, -1, "cannot read metadata%d: short read", n);
    }
    uint64_t format = get64le(buf);
    m->version = get64le(buf + 8);
    m->term = get64le(buf + 16);
    if (format != META_FORMAT) {
        return errSet(why, len, -1, "metadata%d has unknown format version %llu (expected %d)", n,
                      (unsigned long long)format, META_FORMAT);
    }
    if (m->version == 0) {
        return errSet(why, len, -1, "metadata%d is malformed: its version is 0", n);
    }
    if ((int)(m->version % 2) != n % 2) {
        return errSet(why, len, -1,
                      "metadata%d holds version %llu, which raft writes to metadata%d", n,
                      (unsigned long long)m->version, 3 - n);
    }
    m->state = META_VALID;
    return 0;
}

static void describeMetadata(const struct meta_file *m, char *buf, size_t len)
{
    switch (m->state) {
    case META_ABSENT:
        snprintf(buf, len, "missing");
        break;
    case META_SHORT:
        snprintf(buf, len, "truncated to %lld of %d bytes", m->size, META_SIZE);
        break;
    default:
        snprintf(buf, len, "at version %llu", (unsigned long long)m->version);
        break;
    }
}

static bool allDigits(const char *s, size_t n)
{
    return n > 0 && strspn(s, "0123456789") == n;
}

/* Whether name is a raft_uv file that holds log entries: a closed segment (FIRST-LAST), an open
 * segment that was written to (raft_uv creates them ahead, zero-filled), or a snapshot. */
static bool holdsEntries(const char *dir, const char *name)
{
    size_t len = strlen(name);
    const char *dash = strchr(name, '-');
    if (dash != NULL && allDigits(name, (size_t)(dash - name)) &&
        allDigits(dash + 1, len - (size_t)(dash - name) - 1)) {
        return true;
    }
    if (strncmp(name, "snapshot-", 9) == 0) {
        return len > 5 && strcmp(name + len - 5, ".meta") == 0;
    }
    if (strncmp(name, "open-", 5) != 0 || !allDigits(name + 5, len - 5)) {
        return false;
    }
    char path[4096];
    unsigned char format[8] = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return true; /* unreadable: assume the worst (raft_uv will report it) */
    }
    ssize_t got = pread(fd, format, sizeof format, 0);
    close(fd);
    return got < 0 || (got > 0 && get64le(format) != 0);
}

/* Name of one file in dir that holds log entries (into name), or false if there is none. */
bool datadirFindLog(const char *dir, char *name, size_t len)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return false; /* a missing dir is a fresh one; raft_uv reports any other problem */
    }
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        if (holdsEntries(dir, e->d_name)) {
            snprintf(name, len, "%s", e->d_name);
            found = true;
        }
    }
    closedir(d);
    return found;
}

/* 0 when raft_uv would load the term and vote this node last persisted (or the data dir is
 * fresh); otherwise -1 with the reason in why. Reads only: raft_uv would delete a short file. */
int datadirCheckMetadata(const char *dir, char *why, size_t len)
{
    struct meta_file m[2];
    char d1[64], d2[64], log[256];
    for (int i = 0; i < 2; i++) {
        if (readMetadata(dir, i + 1, &m[i], why, len) != 0) {
            return -1;
        }
    }
    describeMetadata(&m[0], d1, sizeof d1);
    describeMetadata(&m[1], d2, sizeof d2);
    if (m[0].state == META_SHORT && m[1].state != META_ABSENT) {
        return errSet(why, len, -1,
                      "metadata1 is %s but was written in full before (metadata2 is %s)", d1, d2);
    }
    if (m[1].state == META_SHORT && !(m[0].state == META_VALID && m[0].version == 1)) {
        return errSet(why, len, -1,
                      "metadata2 is %s but was written in full before (metadata1 is %s)", d2, d1);
    }
    if (m[0].state == META_VALID && m[1].state == META_VALID && m[0].version == m[1].version) {
        return errSet(why, len, -1, "metadata1 and metadata2 both hold version %llu",
                      (unsigned long long)m[0].version);
    }
    if (!datadirFindLog(dir, log, sizeof log)) {
        return 0; /* fresh: no term to forget */
    }
    int latest = 0;
    if (m[1].state == META_VALID && (m[0].state != META_VALID || m[1].version > m[0].version)) {
        latest = 1;
    }
    if (m[latest].state != META_VALID) {
        return errSet(why, len, -1,
                      "metadata1 and metadata2 are missing or unreadable (metadata1 %s, "
                      "metadata2 %s) but the log holds entries (%s and maybe more)",
                      d1, d2, log);
    }
    if (m[latest].term == 0) {
        return errSet(why, len, -1,
                      "metadata%d records term 0 but the log holds entries (%s and maybe more)",
                      latest + 1, log);
    }
    return 0;
}
