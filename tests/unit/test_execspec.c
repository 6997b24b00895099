/* Executor spec rules (src/core/execspec.c): the conninfo scanner that keeps passwords out of
 * the replicated job table, URL, method, header and body rules of http, dsn/conn of sql. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/execspec.h"

static void hasPassword(const char *dsn, bool want)
{
    bool has = !want;
    char err[RC_ERRMSG_SIZE] = "";
    if (execspecDsnHasPassword(dsn, &has, err, sizeof err) != 0) {
        fail_msg("%s: %s", dsn, err);
    }
    if (has != want) {
        fail_msg("%s: password %s", dsn, has ? "found" : "not found");
    }
}

static void test_dsn_passwords(void **state)
{
    (void)state;
    hasPassword("host=db dbname=app user=app", false);
    hasPassword("host=db password=x", true);
    hasPassword("  password = 'a b\\' c'  host=db", true);
    hasPassword("host=db passfile=/etc/raftcron/pgpass", false);
    hasPassword("host=db options='-c password=1'", false); /* inside a value */
    hasPassword("application_name=password", false);
    hasPassword("", false);
    hasPassword("postgresql://app@db/app", false);
    hasPassword("postgresql://app:secret@db/app", true);
    hasPassword("postgres://db/app?sslmode=require&password=x", true);
    hasPassword("postgresql://db:5432/app?user=app", false);
    hasPassword("postgresql://%2Fvar%2Frun%2Fpostgresql/app", false);
}

static void test_dsn_malformed(void **state)
{
    (void)state;
    bool has;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(execspecDsnHasPassword("host", &has, err, sizeof err), RC_EINVAL);
    assert_string_equal(err, "expected key=value at byte 1");
    assert_int_equal(execspecDsnHasPassword("host=db 'x", &has, err, sizeof err), RC_EINVAL);
    assert_int_equal(execspecDsnHasPassword("host='db", &has, err, sizeof err), RC_EINVAL);
    assert_string_equal(err, "unterminated quoted value of host");
}

static int checkHttp(const char *url, const char *method, const char *hk, const char *hv, char *err)
{
    Raftcron__HttpExec h = RAFTCRON__HTTP_EXEC__INIT;
    Raftcron__HttpExec__HeadersEntry e = RAFTCRON__HTTP_EXEC__HEADERS_ENTRY__INIT;
    Raftcron__HttpExec__HeadersEntry *eps[1] = {&e};
    Raftcron__Executor x = RAFTCRON__EXECUTOR__INIT;
    h.url = (char *)url;
    h.method = (char *)method;
    if (hk != NULL) {
        e.key = (char *)hk;
        e.value = (char *)hv;
        h.headers = eps;
        h.n_headers = 1;
    }
    x.kind_case = RAFTCRON__EXECUTOR__KIND_HTTP;
    x.http = &h;
    return execspecCheck(&x, err, RC_ERRMSG_SIZE);
}

static void test_http_rules(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(checkHttp("https://h/x", "GET", NULL, NULL, err), 0);
    assert_int_equal(checkHttp("HTTP://h/x", "", "X-A", "b", err), 0);
    assert_int_equal(checkHttp("file:///etc/passwd", "GET", NULL, NULL, err), RC_EINVAL);
    assert_string_equal(err, "executor.http.url: must start with http:// or https://");
    assert_int_equal(checkHttp("http://", "GET", NULL, NULL, err), RC_EINVAL);
    assert_string_equal(err, "executor.http.url: no host");
    assert_int_equal(checkHttp("http://h/a b", "GET", NULL, NULL, err), RC_EINVAL);
    assert_string_equal(err, "executor.http.url: blank or control character at byte 11");
    assert_int_equal(checkHttp("http://h/", "GE T", NULL, NULL, err), RC_EINVAL);
    assert_string_equal(err, "executor.http.method: \"GE T\" is not a method");
    assert_int_equal(checkHttp("http://h/", "GET", "X-Raftcron-Fence", "1", err), RC_EINVAL);
    assert_int_equal(checkHttp("http://h/", "GET", "X-A", "a\r\nB: c", err), RC_EINVAL);
    assert_string_equal(err, "executor.http.headers: X-A: line break in value");
    assert_int_equal(checkHttp("http://h/", "GET", "X A", "b", err), RC_EINVAL);
}

static int checkSql(const char *dsn, const char *conn, char *err)
{
    Raftcron__SqlExec q = RAFTCRON__SQL_EXEC__INIT;
    Raftcron__Executor x = RAFTCRON__EXECUTOR__INIT;
    q.query = "SELECT 1";
    q.dsn = (char *)dsn;
    q.conn = (char *)conn;
    x.kind_case = RAFTCRON__EXECUTOR__KIND_SQL;
    x.sql = &q;
    return execspecCheck(&x, err, RC_ERRMSG_SIZE);
}

static void test_sql_rules(void **state)
{
    (void)state;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(checkSql("host=db", "", err), 0);
    assert_int_equal(checkSql("", "warehouse", err), 0);
    assert_int_equal(checkSql("", "", err), RC_EINVAL);
    assert_int_equal(checkSql("host=db", "warehouse", err), RC_EINVAL);
    assert_string_equal(err, "executor.sql: dsn and conn exclude each other");
    assert_int_equal(checkSql("", "ware house", err), RC_EINVAL);
    assert_int_equal(checkSql("postgresql://u:p@db/x", "", err), RC_EINVAL);
    assert_non_null(strstr(err, "executor.sql.dsn: holds a password"));
    assert_int_equal(checkSql("host='db", "", err), RC_EINVAL);
    assert_string_equal(err, "executor.sql.dsn: unterminated quoted value of host");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dsn_passwords),
        cmocka_unit_test(test_dsn_malformed),
        cmocka_unit_test(test_http_rules),
        cmocka_unit_test(test_sql_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
