#include "harness_pg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define PG_BIN "/usr/lib/postgresql/15/bin"

/* Run a shell command as the server's user; returns its exit status. */
static int asServer(const struct harness_pg *pg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int asServer(const struct harness_pg *pg, const char *fmt, ...)
{
    char cmd[1024], full[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (geteuid() == 0) {
        snprintf(full, sizeof full,
                 "cd '%s' && runuser -u nobody -- sh -c '%s' >>'%s/ctl.log' 2>&1", pg->dir, cmd,
                 pg->dir);
    } else {
        snprintf(full, sizeof full, "cd '%s' && sh -c '%s' >>'%s/ctl.log' 2>&1", pg->dir, cmd,
                 pg->dir);
    }
    int rv = system(full);
    return WIFEXITED(rv) ? WEXITSTATUS(rv) : -1;
}

static void dumpLogs(const struct harness_pg *pg)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "tail -n 30 '%s/ctl.log' '%s/server.log' >&2", pg->dir, pg->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "harness_pg: no logs in %s\n", pg->dir);
    }
}

void harnessPgResume(struct harness_pg *pg)
{
    if (asServer(pg,
                 PG_BIN "/pg_ctl -D %s/data -l %s/server.log -w -t 60 "
                        "-o \"-k %s -c listen_addresses= -c fsync=off -c max_connections=200\" "
                        "start",
                 pg->dir, pg->dir, pg->dir) != 0) {
        dumpLogs(pg);
        fail_msg("PostgreSQL did not start in %s (postgresql-15 is required: "
                 "scripts/install-deps)",
                 pg->dir);
    }
}

void harnessPgStart(struct harness_pg *pg)
{
    memset(pg, 0, sizeof *pg);
    strcpy(pg->dir, "/tmp/rc-pg-XXXXXX");
    if (mkdtemp(pg->dir) == NULL) {
        fail_msg("mkdtemp: cannot create a directory for PostgreSQL");
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "chown nobody:nogroup '%s' 2>/dev/null; chmod 700 '%s'", pg->dir,
             pg->dir);
    if (geteuid() == 0 && system(cmd) != 0) {
        fail_msg("cannot give %s to the user nobody", pg->dir);
    }
    if (access(PG_BIN "/initdb", X_OK) != 0) {
        fail_msg(PG_BIN "/initdb is missing: install postgresql (scripts/install-deps)");
    }
    if (asServer(pg, PG_BIN "/initdb -D %s/data -U postgres -A trust -E UTF8 --locale=C --no-sync",
                 pg->dir) != 0) {
        dumpLogs(pg);
        fail_msg("initdb failed in %s", pg->dir);
    }
    /* The role "app" logs in with a password; everyone else is trusted. */
    if (asServer(pg,
                 "printf \"local all app scram-sha-256\\n\" > %s/hba && "
                 "cat %s/data/pg_hba.conf >> %s/hba && mv %s/hba %s/data/pg_hba.conf",
                 pg->dir, pg->dir, pg->dir, pg->dir, pg->dir) != 0) {
        fail_msg("cannot write pg_hba.conf in %s", pg->dir);
    }
    snprintf(pg->conninfo, sizeof pg->conninfo, "host=%s port=5432 user=postgres dbname=postgres",
             pg->dir);
    snprintf(pg->app_conninfo, sizeof pg->app_conninfo,
             "host=%s port=5432 user=app dbname=postgres", pg->dir);
    harnessPgResume(pg);
    harnessPgExec(pg, "CREATE ROLE app LOGIN PASSWORD '" HARNESS_PG_APP_PASSWORD "'");
    harnessPgExec(pg, "GRANT ALL ON SCHEMA public TO app");
}

void harnessPgStop(struct harness_pg *pg)
{
    if (asServer(pg, PG_BIN "/pg_ctl -D %s/data -m fast -w -t 60 stop", pg->dir) != 0) {
        dumpLogs(pg);
        fail_msg("PostgreSQL did not stop in %s", pg->dir);
    }
}

void harnessPgRestart(struct harness_pg *pg)
{
    harnessPgStop(pg);
    harnessPgResume(pg);
}

void harnessPgClose(struct harness_pg *pg)
{
    asServer(pg, PG_BIN "/pg_ctl -D %s/data -m immediate -w -t 60 stop", pg->dir);
    char cmd[256];
    if (getenv("RC_KEEP") == NULL) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", pg->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "harness_pg: cannot remove %s\n", pg->dir);
        }
    }
}

PGconn *harnessPgConnect(const struct harness_pg *pg)
{
    PGconn *c = PQconnectdb(pg->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fail_msg("connect %s: %s", pg->conninfo, PQerrorMessage(c));
    }
    return c;
}

void harnessPgExec(const struct harness_pg *pg, const char *sql)
{
    PGconn *c = harnessPgConnect(pg);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        fail_msg("%s: %s", sql, msg);
    }
    PQclear(r);
    PQfinish(c);
}

long long harnessPgScalar(const struct harness_pg *pg, const char *sql)
{
    PGconn *c = harnessPgConnect(pg);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        fail_msg("%s: %s", sql, msg);
    }
    long long v = PQgetisnull(r, 0, 0) ? -1 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}
