/* The policy (core/authz.h): claims to principal, with every claim check failing alone, roles
 * by namespace with their order, the hiding of other tenants, the method table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/authz.h"
#include "core/err.h"

#define NOW INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z = 1767225600 s */

static const struct rc_authz_rules rules = {
    .issuer = "https://idp.example", .audience = "raftcron", .leeway_us = 30 * 1000000};

/* Claims with exp NOW + 1h, the issuer and audience, and roles (a JSON fragment). */
static int principal(const char *roles, struct rc_principal *p, char *err)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"iss\":\"https://idp.example\",\"aud\":[\"other\",\"raftcron\"],\"sub\":\"alice\","
             "\"exp\":%lld,\"raftcron\":%s}",
             (long long)(NOW / 1000000 + 3600), roles);
    return authzFromClaims(json, strlen(json), &rules, NOW, p, err, RC_ERRMSG_SIZE);
}

static void expectRefused(const char *claims, const char *needle)
{
    struct rc_principal p;
    char err[RC_ERRMSG_SIZE] = "";
    assert_int_equal(authzFromClaims(claims, strlen(claims), &rules, NOW, &p, err, sizeof err),
                     RC_EINVAL);
    if (strstr(err, needle) == NULL) {
        fail_msg("\"%s\" does not contain \"%s\"", err, needle);
    }
    assert_false(p.authenticated);
}

static void test_claims_checked(void **state)
{
    (void)state;
    const long long now = NOW / 1000000;
    char c[512];
    const char *roles = "\"raftcron\":{\"namespaces\":{\"a\":\"reader\"}}";
#define CLAIMS(fmt, ...) (snprintf(c, sizeof c, fmt, __VA_ARGS__), c)
    expectRefused(CLAIMS("{\"iss\":\"https://idp.example\",\"aud\":\"raftcron\",%s}", roles),
                  "exp: missing");
    expectRefused(CLAIMS("{\"exp\":%lld,\"iss\":\"https://idp.example\",\"aud\":\"raftcron\",%s}",
                         now - 31, roles),
                  "exp: expired at 2025-12-31T23:59:29Z");
    expectRefused(CLAIMS("{\"exp\":%lld,\"nbf\":%lld,\"iss\":\"https://idp.example\",\"aud\":"
                         "\"raftcron\",%s}",
                         now + 60, now + 31, roles),
                  "nbf: not valid before");
    expectRefused(
        CLAIMS("{\"exp\":%lld,\"iss\":\"https://evil\",\"aud\":\"raftcron\",%s}", now + 60, roles),
        "iss: \"https://evil\" is not the issuer");
    expectRefused(CLAIMS("{\"exp\":%lld,\"aud\":\"raftcron\",%s}", now + 60, roles),
                  "iss: missing");
    expectRefused(CLAIMS("{\"exp\":%lld,\"iss\":\"https://idp.example\",\"aud\":\"other\",%s}",
                         now + 60, roles),
                  "aud: \"other\" is not the audience");
    expectRefused(CLAIMS("{\"exp\":%lld,\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"y\"],%s}",
                         now + 60, roles),
                  "aud: the list does not hold the audience");
    expectRefused(
        CLAIMS("{\"exp\":%lld,\"iss\":\"https://idp.example\",\"aud\":\"raftcron\"}", now + 60),
        "raftcron: missing");
    expectRefused("not json", "claims: not a JSON object");
    /* Within the leeway: accepted. */
    struct rc_principal p;
    char err[RC_ERRMSG_SIZE];
    CLAIMS("{\"exp\":%lld,\"nbf\":%lld,\"iss\":\"https://idp.example\",\"aud\":\"raftcron\",%s}",
           now - 29, now + 29, roles);
    assert_int_equal(authzFromClaims(c, strlen(c), &rules, NOW, &p, err, sizeof err), 0);
    assert_true(p.authenticated);
    /* No issuer or audience configured: not checked. */
    struct rc_authz_rules open = {.leeway_us = 0};
    CLAIMS("{\"exp\":%lld,%s}", now + 1, roles);
    assert_int_equal(authzFromClaims(c, strlen(c), &open, NOW, &p, err, sizeof err), 0);
#undef CLAIMS
}

static void test_roles_malformed(void **state)
{
    (void)state;
    struct rc_principal p;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(principal("{\"namespaces\":{\"a\":\"boss\"}}", &p, err), RC_EINVAL);
    assert_non_null(strstr(err, "raftcron.namespaces.a: not \"reader\""));
    assert_int_equal(principal("{\"namespaces\":{\"bad ns\":\"reader\"}}", &p, err), RC_EINVAL);
    assert_non_null(strstr(err, "raftcron.namespaces"));
    assert_int_equal(principal("{\"admin\":\"yes\"}", &p, err), RC_EINVAL);
    assert_non_null(strstr(err, "raftcron.admin: not true or false"));
    assert_int_equal(principal("{\"role\":\"admin\"}", &p, err), RC_EINVAL);
    assert_non_null(strstr(err, "raftcron.role: unknown"));
    assert_int_equal(principal("[]", &p, err), RC_EINVAL);
    /* Too many namespaces. */
    char many[4096] = "{\"namespaces\":{";
    for (int i = 0; i <= RC_AUTHZ_NS_MAX; i++) {
        char one[32];
        snprintf(one, sizeof one, "%s\"n%d\":\"reader\"", i > 0 ? "," : "", i);
        strcat(many, one);
    }
    strcat(many, "}}");
    assert_int_equal(principal(many, &p, err), RC_EINVAL);
    assert_non_null(strstr(err, "more than"));
}

static void test_verdicts(void **state)
{
    (void)state;
    struct rc_principal p;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(
        principal("{\"namespaces\":{\"a\":\"reader\",\"b\":\"operator\",\"c\":\"editor\"}}", &p,
                  err),
        0);
    assert_string_equal(p.subject, "alice");
    /* reader: reads only */
    assert_int_equal(authzCheck(&p, AUTHZ_READ, "a"), AUTHZ_ALLOW);
    assert_int_equal(authzCheck(&p, AUTHZ_OPERATE, "a"), AUTHZ_DENY);
    assert_int_equal(authzCheck(&p, AUTHZ_EDIT, "a"), AUTHZ_DENY);
    /* operator: + operate */
    assert_int_equal(authzCheck(&p, AUTHZ_OPERATE, "b"), AUTHZ_ALLOW);
    assert_int_equal(authzCheck(&p, AUTHZ_EDIT, "b"), AUTHZ_DENY);
    /* editor: everything in its namespace */
    assert_int_equal(authzCheck(&p, AUTHZ_EDIT, "c"), AUTHZ_ALLOW);
    assert_int_equal(authzCheck(&p, AUTHZ_READ, "c"), AUTHZ_ALLOW);
    /* another tenant: hidden, whatever the action */
    assert_int_equal(authzCheck(&p, AUTHZ_READ, "d"), AUTHZ_HIDE);
    assert_int_equal(authzCheck(&p, AUTHZ_EDIT, "d"), AUTHZ_HIDE);
    assert_false(authzCanRead(&p, "d"));
    assert_false(authzCanRead(&p, "")); /* "" is "default" */
    /* cluster-wide actions */
    assert_int_equal(authzCheck(&p, AUTHZ_CLUSTER, NULL), AUTHZ_ALLOW);
    assert_int_equal(authzCheck(&p, AUTHZ_ADMIN, NULL), AUTHZ_DENY);
    assert_int_equal(authzCheck(&p, AUTHZ_WORKER, NULL), AUTHZ_DENY);
    assert_int_equal(authzCheck(&p, AUTHZ_OPEN, NULL), AUTHZ_ALLOW);

    /* "*" gives its role everywhere; a namespace's own role adds to it. */
    assert_int_equal(principal("{\"namespaces\":{\"*\":\"reader\",\"ops\":\"editor\"},"
                               "\"worker\":true}",
                               &p, err),
                     0);
    assert_true(authzCanRead(&p, "anything"));
    assert_true(authzCanRead(&p, ""));
    assert_int_equal(authzCheck(&p, AUTHZ_OPERATE, "anything"), AUTHZ_DENY);
    assert_int_equal(authzCheck(&p, AUTHZ_EDIT, "ops"), AUTHZ_ALLOW);
    assert_int_equal(authzCheck(&p, AUTHZ_WORKER, NULL), AUTHZ_ALLOW);
    assert_int_equal(authzRole(&p, "ops"), RC_ROLE_EDITOR);

    /* admin: everything */
    assert_int_equal(principal("{\"admin\":true}", &p, err), 0);
    assert_int_equal(authzCheck(&p, AUTHZ_ADMIN, NULL), AUTHZ_ALLOW);
    assert_int_equal(authzCheck(&p, AUTHZ_EDIT, "x"), AUTHZ_ALLOW);
    authzAdmin(&p, "token");
    assert_int_equal(authzCheck(&p, AUTHZ_WORKER, NULL), AUTHZ_ALLOW);

    /* nobody */
    struct rc_principal none;
    memset(&none, 0, sizeof none);
    assert_int_equal(authzCheck(&none, AUTHZ_CLUSTER, NULL), AUTHZ_DENY);
    assert_int_equal(authzCheck(&none, AUTHZ_READ, "a"), AUTHZ_DENY);
    assert_int_equal(authzCheck(&none, AUTHZ_OPEN, NULL), AUTHZ_ALLOW);
}

static void test_methods(void **state)
{
    (void)state;
    static const struct {
        const char *method;
        enum rc_authz_action action;
        bool namespaced;
    } want[] = {
        {"Job.Put", AUTHZ_EDIT, true},
        {"Job.Delete", AUTHZ_EDIT, true},
        {"Job.Get", AUTHZ_READ, true},
        {"Job.Stats", AUTHZ_READ, true},
        {"Job.Pause", AUTHZ_OPERATE, true},
        {"Job.RunNow", AUTHZ_OPERATE, true},
        {"Run.Cancel", AUTHZ_OPERATE, true},
        {"Dlq.Retry", AUTHZ_OPERATE, true},
        {"Run.List", AUTHZ_READ, true},
        {"Events.Watch", AUTHZ_READ, true},
        {"Cluster.Status", AUTHZ_CLUSTER, false},
        {"Member.Add", AUTHZ_ADMIN, false},
        {"Worker.Session", AUTHZ_WORKER, false},
        {"Worker.Report", AUTHZ_WORKER, false},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        enum rc_authz_action a;
        bool ns;
        assert_true(authzMethod(want[i].method, &a, &ns));
        assert_int_equal(a, want[i].action);
        assert_int_equal(ns, want[i].namespaced);
    }
    enum rc_authz_action a;
    bool ns;
    assert_false(authzMethod("Job.Bogus", &a, &ns));
}

static void test_secret_equal(void **state)
{
    (void)state;
    assert_true(authzSecretEqual("s3cret", "s3cret"));
    assert_false(authzSecretEqual("s3cret", "s3creT"));
    assert_false(authzSecretEqual("s3cret", "s3cre"));
    assert_false(authzSecretEqual("", "x"));
    assert_true(authzSecretEqual("", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims_checked), cmocka_unit_test(test_roles_malformed),
        cmocka_unit_test(test_verdicts),       cmocka_unit_test(test_methods),
        cmocka_unit_test(test_secret_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
