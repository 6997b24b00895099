/* A bare FSM for unit tests of apply (test_runs.c, test_backfill.c): entries are applied at
 * increasing indexes, and results are checked with messages that name the code. */
#ifndef RC_TESTS_FIXTURE_FSM_H
#define RC_TESTS_FIXTURE_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "core/fsm.h"

struct fx {
    struct rc_fsm *f;
    uint64_t index; /* of the last entry applied */
};

/* cmocka setup/teardown: *state is a struct fx with a new FSM. */
int fxSetup(void **state);
int fxTeardown(void **state);
/* Apply an encoded command (freed) at the next index; apply itself must not fail. */
struct rc_fsm_result fxApply(struct fx *x, void *buf, size_t len);
/* The command succeeded / was refused with code and a message containing needle (or any). */
void fxExpectOk(const struct rc_fsm_result *res);
void fxExpectCode(const struct rc_fsm_result *res, int code, const char *needle);

#endif /* RC_TESTS_FIXTURE_FSM_H */
