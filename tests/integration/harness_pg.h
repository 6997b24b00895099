/*
 * A real PostgreSQL for integration tests: initdb into a temporary directory, listening only on
 * a unix socket in that directory, started and stopped with pg_ctl from the Debian
 * postgresql-15 package. Tests run as root, and PostgreSQL refuses to: the server runs as the
 * unprivileged user "nobody". Failing to start is a test failure, not a skip: the reference
 * setup (scripts/install-deps) installs postgresql.
 *
 * Besides the superuser "postgres" (trust), the cluster has a role "app" that must log in with
 * the password in HARNESS_PG_APP_PASSWORD (scram-sha-256), for tests of password files.
 */
#ifndef RC_TESTS_HARNESS_PG_H
#define RC_TESTS_HARNESS_PG_H

#include <stdbool.h>

#include <libpq-fe.h>

#define HARNESS_PG_APP_PASSWORD "app-secret"

struct harness_pg {
    char dir[128];          /* temporary root: data/, the socket, log */
    char conninfo[256];     /* "host=DIR port=5432 user=postgres dbname=postgres" */
    char app_conninfo[256]; /* the same for the role "app" (no password) */
};

/* initdb and start; fails the test (cmocka fail_msg) if the server cannot start. */
void harnessPgStart(struct harness_pg *pg);
/* Stop (fast: sessions are terminated), start again; restart does both. */
void harnessPgStop(struct harness_pg *pg);
void harnessPgResume(struct harness_pg *pg);
void harnessPgRestart(struct harness_pg *pg);
/* Stop and remove the directory. */
void harnessPgClose(struct harness_pg *pg);

/* A blocking connection for the test's own checks (PQfinish it). */
PGconn *harnessPgConnect(const struct harness_pg *pg);
/* Run sql and fail the test unless it succeeds. */
void harnessPgExec(const struct harness_pg *pg, const char *sql);
/* The first column of the first row of a query, as a number (fails the test on error). */
long long harnessPgScalar(const struct harness_pg *pg, const char *sql);

#endif /* RC_TESTS_HARNESS_PG_H */
