#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/retry.h"

#define SEC INT64_C(1000000)

static int64_t delayOf(const Raftcron__RetryPolicy *p, uint32_t attempt, uint64_t run)
{
    int64_t d = -1;
    assert_int_equal(retryDelay(p, attempt, run, &d), 0);
    return d;
}

static void test_fixed(void **state)
{
    (void)state;
    Raftcron__RetryPolicy p = RAFTCRON__RETRY_POLICY__INIT;
    p.backoff = RC_BACKOFF_FIXED;
    p.delay_us = 5 * SEC;
    for (uint32_t n = 1; n <= 10; n++) {
        assert_int_equal(delayOf(&p, n, 7), 5 * SEC);
    }
    assert_int_equal(delayOf(NULL, 3, 7), 0);
}

static void test_linear(void **state)
{
    (void)state;
    Raftcron__RetryPolicy p = RAFTCRON__RETRY_POLICY__INIT;
    p.backoff = RC_BACKOFF_LINEAR;
    p.delay_us = 3 * SEC;
    assert_int_equal(delayOf(&p, 1, 1), 3 * SEC);
    assert_int_equal(delayOf(&p, 2, 1), 6 * SEC);
    assert_int_equal(delayOf(&p, 7, 1), 21 * SEC);
    p.max_delay_us = 10 * SEC;
    assert_int_equal(delayOf(&p, 3, 1), 9 * SEC);
    assert_int_equal(delayOf(&p, 4, 1), 10 * SEC);
    assert_int_equal(delayOf(&p, UINT32_MAX, 1), 10 * SEC);
}

static void test_exponential(void **state)
{
    (void)state;
    Raftcron__RetryPolicy p = RAFTCRON__RETRY_POLICY__INIT;
    p.backoff = RC_BACKOFF_EXPONENTIAL;
    p.delay_us = SEC;
    /* multiplier 0 is the default 2: 1, 2, 4, 8 s */
    assert_int_equal(delayOf(&p, 1, 1), SEC);
    assert_int_equal(delayOf(&p, 2, 1), 2 * SEC);
    assert_int_equal(delayOf(&p, 4, 1), 8 * SEC);
    p.multiplier = 3;
    assert_int_equal(delayOf(&p, 3, 1), 9 * SEC);
    p.multiplier = 1.5;
    assert_int_equal(delayOf(&p, 3, 1), 2250000);
    p.multiplier = 2;
    p.max_delay_us = 60 * SEC;
    assert_int_equal(delayOf(&p, 6, 1), 32 * SEC);
    assert_int_equal(delayOf(&p, 7, 1), 60 * SEC);
    assert_int_equal(delayOf(&p, 1000, 1), 60 * SEC);
    /* No cap given: the hard limit, never an overflow. */
    p.max_delay_us = 0;
    assert_int_equal(delayOf(&p, 4000000000u, 1), RC_RETRY_DELAY_LIMIT);
}

static void test_jitter(void **state)
{
    (void)state;
    Raftcron__RetryPolicy p = RAFTCRON__RETRY_POLICY__INIT;
    p.backoff = RC_BACKOFF_FIXED;
    p.delay_us = 10 * SEC;
    p.jitter_us = 2 * SEC;
    int64_t lo = INT64_MAX;
    int64_t hi = INT64_MIN;
    int distinct_from_first = 0;
    int64_t first = delayOf(&p, 1, 1);
    for (uint64_t run = 1; run <= 2000; run++) {
        for (uint32_t n = 1; n <= 3; n++) {
            int64_t d = delayOf(&p, n, run);
            assert_int_equal(d, delayOf(&p, n, run)); /* deterministic */
            assert_true(d >= 10 * SEC && d <= 12 * SEC);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            distinct_from_first += d != first;
        }
    }
    /* Spread over the range, not stuck at one value. */
    assert_true(lo < 10 * SEC + SEC / 10);
    assert_true(hi > 12 * SEC - SEC / 10);
    assert_true(distinct_from_first > 5000);
    /* The jitter adds to the capped delay. */
    p.max_delay_us = 4 * SEC;
    int64_t d = delayOf(&p, 1, 99);
    assert_true(d >= 4 * SEC && d <= 6 * SEC);
    p.jitter_us = INT64_MAX;
    d = delayOf(&p, 1, 99);
    assert_true(d >= 4 * SEC && d <= 4 * SEC + RC_RETRY_DELAY_LIMIT);
}

static void test_invalid(void **state)
{
    (void)state;
    Raftcron__RetryPolicy p = RAFTCRON__RETRY_POLICY__INIT;
    int64_t d = 42;
    assert_int_equal(retryDelay(&p, 0, 1, &d), RC_EINVAL);
    p.delay_us = -1;
    assert_int_equal(retryDelay(&p, 1, 1, &d), RC_EINVAL);
    p.delay_us = 1;
    p.backoff = 3;
    assert_int_equal(retryDelay(&p, 1, 1, &d), RC_EINVAL);
    p.backoff = RC_BACKOFF_EXPONENTIAL;
    p.multiplier = 0.5;
    assert_int_equal(retryDelay(&p, 1, 1, &d), RC_EINVAL);
    p.multiplier = 2;
    p.jitter_us = -3;
    assert_int_equal(retryDelay(&p, 1, 1, &d), RC_EINVAL);
    assert_int_equal(d, 42);
}

static void test_should_retry(void **state)
{
    (void)state;
    Raftcron__RetryPolicy p = RAFTCRON__RETRY_POLICY__INIT;
    assert_false(retryShouldRetry(NULL, 1, false, false));
    assert_false(retryShouldRetry(&p, 1, false, false)); /* 0: one attempt */
    p.max_attempts = 1;
    assert_false(retryShouldRetry(&p, 1, false, false));
    p.max_attempts = 3;
    assert_true(retryShouldRetry(&p, 1, false, false));
    assert_true(retryShouldRetry(&p, 2, false, false));
    assert_false(retryShouldRetry(&p, 3, false, false));
    assert_true(retryShouldRetry(&p, 1, true, false));
    assert_false(retryShouldRetry(&p, 1, true, true)); /* at-most-once: LOST is final */
    assert_true(retryShouldRetry(&p, 1, false, true)); /* but a failure may be retried */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed),       cmocka_unit_test(test_linear),
        cmocka_unit_test(test_exponential), cmocka_unit_test(test_jitter),
        cmocka_unit_test(test_invalid),     cmocka_unit_test(test_should_retry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
