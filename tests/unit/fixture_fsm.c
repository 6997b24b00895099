#include "fixture_fsm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"

int fxSetup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    assert_int_equal(fsmCreate(&x->f), 0);
    *state = x;
    return 0;
}

int fxTeardown(void **state)
{
    struct fx *x = *state;
    fsmDestroy(x->f);
    free(x);
    return 0;
}

struct rc_fsm_result fxApply(struct fx *x, void *buf, size_t len)
{
    struct rc_fsm_result res;
    assert_int_equal(fsmApply(x->f, ++x->index, buf, len, &res), 0);
    free(buf);
    return res;
}

void fxExpectOk(const struct rc_fsm_result *res)
{
    if (res->code != 0) {
        fail_msg("expected success, got %s: %s", rc_errname(res->code), res->message);
    }
}

void fxExpectCode(const struct rc_fsm_result *res, int code, const char *needle)
{
    if (res->code != code) {
        fail_msg("expected %s, got %s: %s", rc_errname(code), rc_errname(res->code), res->message);
    }
    if (needle != NULL && strstr(res->message, needle) == NULL) {
        fail_msg("message '%s' lacks '%s'", res->message, needle);
    }
}
