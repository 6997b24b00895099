/*
 * libFuzzer target for the REST API's job object (core/jobjson.h): the body of POST/PUT
 * …/jobs, and the same bytes as a merge patch over a stored job's definition (PATCH). Arbitrary
 * input must never crash or leak, and:
 *   - a refused body gives RC_EINVAL or RC_EPARSE (never another code) with a message, and no
 *     spec;
 *   - an accepted body gives a spec that passes fsmValidateSpec and carries the URL's name and
 *     namespace; shown again (jobjsonEncodeJob) it decodes to the same spec (what the API
 *     shows can be sent back);
 *   - a merge patch over a valid definition either decodes or is refused the same way.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/fsm.h"
#include "core/jobjson.h"
#include "core/jobyaml.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void checkRefused(int rv, const char *err, const struct rc_jobdef *def)
{
    CHECK(rv == RC_EINVAL || rv == RC_EPARSE);
    CHECK(err[0] != '\0');
    CHECK(def->spec == NULL);
}

static void checkAccepted(struct rc_jobdef *def)
{
    char err[RC_ERRMSG_SIZE];
    CHECK(fsmValidateSpec(def->spec, err, sizeof err) == 0);
    CHECK(strcmp(def->spec->name, "fz") == 0);
    CHECK(strcmp(def->spec->namespace_, "ops") == 0);
    Raftcron__Job job = RAFTCRON__JOB__INIT;
    job.spec = def->spec;
    json_t *shown = jobjsonEncodeJob(&job);
    CHECK(shown != NULL);
    struct rc_jobdef again;
    int rv = jobjsonDecodeObject(shown, "ops", "fz", &again, err, sizeof err);
    CHECK(rv == 0);
    CHECK(jobyamlSpecEqual(def->spec, again.spec));
    jobyamlDefClear(&again);
    json_decref(shown);
}

static void patch(const uint8_t *data, size_t size)
{
    static const char base[] = "{\"name\":\"fz\",\"namespace\":\"ops\",\"cron\":\"*/5 * * * *\","
                               "\"shell\":\"true\",\"env\":{\"A\":\"1\"}}";
    json_error_t jerr;
    json_t *target = json_loads(base, 0, &jerr);
    json_t *p = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    CHECK(target != NULL);
    if (json_is_object(p) && jobjsonMergePatch(target, p) == 0) {
        struct rc_jobdef def;
        char err[RC_ERRMSG_SIZE] = "";
        int rv = jobjsonDecodeObject(target, "ops", "fz", &def, err, sizeof err);
        if (rv == 0) {
            checkAccepted(&def);
            jobyamlDefClear(&def);
        } else {
            checkRefused(rv, err, &def);
        }
    }
    json_decref(p);
    json_decref(target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024) {
        return 0; /* the HTTP layer refuses larger bodies before this runs */
    }
    struct rc_jobdef def;
    char err[RC_ERRMSG_SIZE] = "";
    int rv = jobjsonDecode((const char *)data, size, "ops", "fz", &def, err, sizeof err);
    if (rv == 0) {
        checkAccepted(&def);
        jobyamlDefClear(&def);
    } else {
        checkRefused(rv, err, &def);
    }
    patch(data, size);
    return 0;
}
