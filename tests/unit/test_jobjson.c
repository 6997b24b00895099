/* The job object as JSON (core/jobjson.h): the YAML file's keys and checks, round trips of what
 * is shown, refusals that name the key, merge patches; and the pages of core/runview.h. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/jobjson.h"
#include "core/jobyaml.h"
#include "core/runview.h"

static void decodeOk(const char *text, const char *ns, const char *name, struct rc_jobdef *def)
{
    char err[RC_ERRMSG_SIZE] = "";
    int rv = jobjsonDecode(text, strlen(text), ns, name, def, err, sizeof err);
    if (rv != 0) {
        fail_msg("%s: %s", text, err);
    }
}

static void decodeFails(const char *text, const char *needle)
{
    struct rc_jobdef def;
    char err[RC_ERRMSG_SIZE] = "";
    int rv = jobjsonDecode(text, strlen(text), "ops", NULL, &def, err, sizeof err);
    if (rv == 0) {
        jobyamlDefClear(&def);
        fail_msg("%s: accepted", text);
    }
    if (strstr(err, needle) == NULL) {
        fail_msg("%s: \"%s\" does not contain \"%s\"", text, err, needle);
    }
    assert_null(def.spec);
}

/* The same definition from JSON and from YAML gives the same spec. */
static void test_same_as_yaml(void **state)
{
    (void)state;
    struct rc_jobdef def;
    decodeOk("{\"name\":\"backup\",\"cron\":\"0 3 * * *\",\"tz\":\"Europe/Berlin\","
             "\"shell\":\"backup.sh\",\"retries\":2,\"backoff\":\"exponential\","
             "\"retry_delay\":\"10s\",\"env\":{\"MODE\":\"full\",\"A\":\"1\"},"
             "\"target\":{\"zone\":\"a\"},\"paused\":true,\"misfire_grace\":\"none\"}",
             "ops", NULL, &def);
    const char *yaml = "namespace: ops\n"
                       "jobs:\n"
                       "  - name: backup\n"
                       "    cron: \"0 3 * * *\"\n"
                       "    tz: Europe/Berlin\n"
                       "    shell: backup.sh\n"
                       "    retries: 2\n"
                       "    backoff: exponential\n"
                       "    retry_delay: 10s\n"
                       "    env: {MODE: full, A: \"1\"}\n"
                       "    target: [\"zone=a\"]\n"
                       "    paused: true\n"
                       "    misfire_grace: none\n";
    struct rc_jobfile f;
    char err[RC_ERRMSG_SIZE];
    assert_int_equal(jobyamlLoad("jobs.yaml", yaml, strlen(yaml), &f, err, sizeof err), 0);
    assert_int_equal(f.n_jobs, 1);
    assert_true(jobyamlSpecEqual(def.spec, f.jobs[0].spec));
    assert_true(def.paused && def.paused_set);
    jobyamlFileClear(&f);
    jobyamlDefClear(&def);
}

/* What is shown can be sent back: the encoding decodes to the same spec, state keys and all. */
static void test_round_trip(void **state)
{
    (void)state;
    static const char *const defs[] = {
        "{\"name\":\"h\",\"every\":\"90s\",\"http\":\"https://x.example/hook\",\"method\":\"POST\","
        "\"header\":{\"X-A\":\"1\"},\"body\":\"{}\",\"expect\":[200,204],\"timeout_run\":\"5s\","
        "\"jitter\":\"2s\",\"start\":\"2030-01-01T00:00:00Z\",\"overlap\":\"queue-one\"}",
        "{\"name\":\"s\",\"at\":\"2030-01-01T09:00:00.250000Z\",\"sql\":\"select "
        "1\",\"conn\":\"dw\","
        "\"once\":true,\"retries\":1,\"retry_multiplier\":1.5,\"at_most_once\":true}",
        "{\"name\":\"c\",\"cron\":\"*/5 * * * * *\",\"noop\":true,\"dst_gap\":\"skip\","
        "\"description\":\"d\\u00e9j\\u00e0\",\"max_instances\":3}",
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        struct rc_jobdef a, b;
        decodeOk(defs[i], "ops", NULL, &a);
        Raftcron__Job job = RAFTCRON__JOB__INIT;
        job.spec = a.spec;
        job.id = 4;
        job.version = 9;
        job.created_us = 1;
        json_t *shown = jobjsonEncodeJob(&job);
        assert_non_null(shown);
        assert_int_equal(json_integer_value(json_object_get(shown, "version")), 9);
        char *text = json_dumps(shown, JSON_COMPACT);
        decodeOk(text, "ops", NULL, &b);
        if (!jobyamlSpecEqual(a.spec, b.spec)) {
            fail_msg("round trip of %s changed it: %s", defs[i], text);
        }
        free(text);
        json_decref(shown);
        jobyamlDefClear(&a);
        jobyamlDefClear(&b);
    }
}

static void test_refusals_name_the_key(void **state)
{
    (void)state;
    decodeFails("{\"name\":\"x\",\"cron\":\"* * 99 * *\",\"shell\":\"true\"}",
                "cron: field 3 (day of month)");
    decodeFails("{\"name\":\"x\",\"every\":\"1s\",\"shell\":\"true\",\"cronn\":\"x\"}",
                "unknown key \"cronn\"");
    decodeFails("{\"name\":\"x\",\"every\":\"1s\"}", "an executor is required");
    decodeFails("{\"name\":\"x\",\"every\":\"1s\",\"cron\":\"* * * * *\",\"noop\":true}",
                "cron and every exclude each other");
    decodeFails("{\"name\":\"x\",\"every\":\"soon\",\"noop\":true}", "every:");
    decodeFails("{\"name\":\"x\",\"every\":\"1s\",\"noop\":true,\"retries\":-1}", "retries:");
    decodeFails("{\"name\":\"x\",\"every\":\"1s\",\"noop\":true,\"retries\":null}",
                "retries: null is not a value");
    decodeFails("{\"name\":\"x\",\"every\":\"1s\",\"noop\":true,\"env\":{\"A\":1}}",
                "env.A: expected a string");
    decodeFails("{\"name\":\"x\",\"every\":\"1s\",\"noop\":true,\"tz\":[\"UTC\"]}",
                "tz: expected a single value");
    decodeFails(
        "{\"name\":\"x\",\"every\":\"1s\",\"noop\":true,\"env\":{\"A\":{\"B\":{\"C\":{}}}}}",
        "nested deeper");
    decodeFails("{\"name\":\"x\",\"name\":\"y\"}", "body: duplicate object key");
    decodeFails("[1]", "body: expected a JSON object");
    decodeFails("{\"name\":", "body:");
    decodeFails("{\"namespace\":\"other\",\"name\":\"x\",\"every\":\"1s\",\"noop\":true}",
                "namespace: does not match the URL");
    decodeFails("{\"every\":\"1s\",\"noop\":true}", "name: required");
    decodeFails("{\"name\":\"a b\",\"every\":\"1s\",\"noop\":true}", "name");
    decodeFails("{\"name\":\"x\",\"every\":\"1s\",\"shell\":\"a\\u0000b\"}", "is not allowed");
}

static void test_merge_patch(void **state)
{
    (void)state;
    json_error_t e;
    json_t *t = json_loads("{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":[1]}", 0, &e);
    json_t *p =
        json_loads("{\"a\":null,\"b\":{\"c\":null,\"x\":4},\"e\":{\"n\":null},\"f\":5}", 0, &e);
    assert_int_equal(jobjsonMergePatch(t, p), 0);
    char *s = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"b\":{\"d\":3,\"x\":4},\"e\":{},\"f\":5}");
    free(s);
    json_decref(t);
    json_decref(p);
}

static void test_strings(void **state)
{
    (void)state;
    const char bad[] = {'a', (char)0xff, 'b', (char)0xc3, (char)0xa9, '\0', 'z'};
    json_t *s = jobjsonString(bad, sizeof bad);
    assert_non_null(s);
    assert_int_equal(json_string_length(s), 1 + 3 + 1 + 2 + 1 + 1);
    assert_memory_equal(json_string_value(s),
                        "a\xef\xbf\xbd"
                        "b\xc3\xa9",
                        7);
    json_decref(s);
}

static void test_tokens(void **state)
{
    (void)state;
    char buf[RC_RUNVIEW_TOKEN_MAX], err[RC_ERRMSG_SIZE];
    uint64_t id;
    runviewTokenId('r', 12345, buf);
    assert_int_equal(runviewParseTokenId('r', buf, &id, err, sizeof err), 0);
    assert_int_equal(id, 12345);
    assert_int_equal(runviewParseTokenId('r', "", &id, err, sizeof err), 0);
    assert_int_equal(id, 0);
    assert_int_equal(runviewParseTokenId('d', buf, &id, err, sizeof err), RC_EINVAL);
    assert_non_null(strstr(err, "page_token"));
    assert_int_equal(runviewParseTokenId('r', "r1:", &id, err, sizeof err), RC_EINVAL);
    assert_int_equal(runviewParseTokenId('r', "r1:0", &id, err, sizeof err), RC_EINVAL);
    assert_int_equal(runviewParseTokenId('r', "r1:12x", &id, err, sizeof err), RC_EINVAL);
    assert_int_equal(runviewParseTokenId('r', "r1:99999999999999999999", &id, err, sizeof err),
                     RC_EINVAL);
    char ns[RC_JOBS_NAMESPACE_MAX + 1], name[RC_JOBS_NAME_MAX + 1];
    runviewTokenJob("ops", "back.up-1", buf);
    assert_int_equal(runviewParseTokenJob(buf, ns, name, err, sizeof err), 0);
    assert_string_equal(ns, "ops");
    assert_string_equal(name, "back.up-1");
    assert_int_equal(runviewParseTokenJob("j1:ops", ns, name, err, sizeof err), RC_EINVAL);
    assert_int_equal(runviewParseTokenJob("j1:o/s:x", ns, name, err, sizeof err), RC_EINVAL);
    assert_int_equal(runviewParseTokenJob("r1:5", ns, name, err, sizeof err), RC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_yaml),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals_name_the_key),
        cmocka_unit_test(test_merge_patch),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
