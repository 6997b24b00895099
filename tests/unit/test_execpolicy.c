/* Which executors a namespace may use, and shell runs' resource limits (core/execpolicy.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/execpolicy.h"

static void test_policy(void **state)
{
    (void)state;
    struct execpolicy p;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(execpolicyParse("", &p, err, sizeof err), 0);
    assert_true(execpolicyAllows(&p, "anything", "shell")); /* no rules: everything */
    assert_int_equal(execpolicyParse("ops=shell+http, *=http+sql+noop", &p, err, sizeof err), 0);
    assert_true(execpolicyAllows(&p, "ops", "shell"));
    assert_true(execpolicyAllows(&p, "ops", "http"));
    assert_false(execpolicyAllows(&p, "ops", "sql"));
    assert_false(execpolicyAllows(&p, "default", "shell"));
    assert_false(execpolicyAllows(&p, "", "shell")); /* "" is the default namespace */
    assert_true(execpolicyAllows(&p, "billing", "sql"));
    assert_int_equal(execpolicyParse("ops=shell", &p, err, sizeof err), 0);
    assert_false(execpolicyAllows(&p, "billing", "noop")); /* no "*": only ops may run */
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"ops", "executors: \"ops\" is not NAMESPACE=KIND[+KIND...]"},
        {"ops=ftp", "executors: ops: \"ftp\" is not an executor (shell, http, sql, noop)"},
        {"ops=shell,ops=http", "executors: namespace ops appears twice"},
        {"o/s=shell", "executors: \"o/s\" is not a namespace (letters, digits, _ . -) or *"},
        {"ops=", "executors: ops: no executor named"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(execpolicyParse(bad[i].spec, &p, err, sizeof err), RC_EINVAL);
        assert_string_equal(err, bad[i].msg);
    }
}

static void test_rlimits(void **state)
{
    (void)state;
    struct execpolicy_rlimits l;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(execpolicyRlimitsParse("", &l, err, sizeof err), 0);
    for (int i = 0; i < RLIM__N; i++) {
        assert_false(l.set[i]);
    }
    assert_int_equal(execpolicyRlimitsParse("cpu=5m,as=1G,fsize=512K,core=0,nofile=256,"
                                            "nproc=64,stack=unlimited",
                                            &l, err, sizeof err),
                     0);
    assert_int_equal(l.value[RLIM_CPU], 300);
    assert_int_equal(l.value[RLIM_AS], 1ull << 30);
    assert_int_equal(l.value[RLIM_FSIZE], 512 * 1024);
    assert_true(l.set[RLIM_CORE] && l.value[RLIM_CORE] == 0);
    assert_int_equal(l.value[RLIM_NOFILE], 256);
    assert_int_equal(l.value[RLIM_NPROC], 64);
    assert_true(l.value[RLIM_STACK] == EXECPOLICY_UNLIMITED);
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"cpu", "rlimits: \"cpu\" is not NAME=VALUE"},
        {"mem=1G", "rlimits: \"mem\" is not a limit (cpu, as, fsize, core, nofile, nproc, stack)"},
        {"cpu=1,cpu=2", "rlimits: cpu appears twice"},
        {"as=1Q", "rlimits: as: \"1Q\" is not a size in bytes (4096, 512K, 64M, 2G)"},
        {"nofile=1K", "rlimits: nofile: \"1K\" is not a count"},
        {"as=99999999999999999999", "rlimits: as: \"99999999999999999999\" is not a size in "
                                    "bytes (4096, 512K, 64M, 2G)"},
        {"fsize=20000000T", "rlimits: fsize: \"20000000T\" is not a size in bytes (4096, 512K, "
                            "64M, 2G)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(execpolicyRlimitsParse(bad[i].spec, &l, err, sizeof err), RC_EINVAL);
        assert_string_equal(err, bad[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_rlimits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
