#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#define ROLE_MAX 32

/*
 * One lock for the settings and the Raft state, so that a line never pairs one term with
 * another term's role. The loop thread logs far more than the thread pool, so contention is
 * negligible; formatting happens outside the lock on a private copy.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static enum rc_log_level min_level = RC_LOG_INFO;
static enum rc_log_format format = RC_LOG_LOGFMT;
static uint64_t node_id;
static uint64_t term;
static char role[ROLE_MAX] = "none";
static FILE *out;

void logInit(enum rc_log_format f, enum rc_log_level level, uint64_t id, FILE *stream)
{
    pthread_mutex_lock(&lock);
    format = f;
    __atomic_store_n(&min_level, level, __ATOMIC_RELAXED);
    node_id = id;
    out = stream;
    pthread_mutex_unlock(&lock);
}

void logSetRaftState(uint64_t t, const char *r)
{
    pthread_mutex_lock(&lock);
    term = t;
    snprintf(role, sizeof role, "%s", r != NULL ? r : "none");
    pthread_mutex_unlock(&lock);
}

bool logEnabled(enum rc_log_level level)
{
    return level >= __atomic_load_n(&min_level, __ATOMIC_RELAXED);
}

static int64_t nowUs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void logWrite(enum rc_log_level level, const char *msg, ...)
{
    if (!logEnabled(level)) {
        return;
    }
    char line[LOGFMT_LINE_MAX + 1];
    char role_copy[ROLE_MAX];
    struct logfmt_context ctx;
    pthread_mutex_lock(&lock);
    memcpy(role_copy, role, sizeof role);
    ctx = (struct logfmt_context){format, node_id, term, role_copy};
    FILE *stream = out != NULL ? out : stderr;
    pthread_mutex_unlock(&lock);

    va_list ap;
    va_start(ap, msg);
    size_t n = logfmtLineV(line, sizeof line, &ctx, nowUs(), level, msg, ap);
    va_end(ap);
    fwrite(line, 1, n, stream);
    fflush(stream);
}
