#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/utf8.h"

/* An independent reading of RFC 3629: decode the code point, then judge it. Length of the
 * well-formed sequence at s, or 0. */
static size_t reference(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80) {
        return 1;
    }
    size_t len = (s[0] & 0xE0) == 0xC0   ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (len == 0 || len > n) {
        return 0;
    }
    uint32_t cp = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

static void test_len_edges(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {"a", 1},
        {"\x7F", 1},
        {"\xC2\x80", 2},         /* U+0080 */
        {"\xDF\xBF", 2},         /* U+07FF */
        {"\xE0\xA0\x80", 3},     /* U+0800 */
        {"\xED\x9F\xBF", 3},     /* U+D7FF */
        {"\xEE\x80\x80", 3},     /* U+E000 */
        {"\xEF\xBF\xBF", 3},     /* U+FFFF */
        {"\xF0\x90\x80\x80", 4}, /* U+10000 */
        {"\xF4\x8F\xBF\xBF", 4}, /* U+10FFFF */
        {"\x80", 0},             /* a continuation byte alone */
        {"\xC0\xAF", 0},         /* overlong "/" */
        {"\xC1\xBF", 0},         /* overlong */
        {"\xE0\x9F\xBF", 0},     /* overlong U+07FF */
        {"\xED\xA0\x80", 0},     /* surrogate U+D800 */
        {"\xED\xBF\xBF", 0},     /* surrogate U+DFFF */
        {"\xF0\x8F\xBF\xBF", 0}, /* overlong U+FFFF */
        {"\xF4\x90\x80\x80", 0}, /* U+110000 */
        {"\xF5\x80\x80\x80", 0},
        {"\xFF", 0},
        {"\xE2\x82", 0},     /* truncated */
        {"\xE2\x28\xA1", 0}, /* bad continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s);
        if (utf8Len(cases[i].s, n) != cases[i].len) {
            fail_msg("case %zu: utf8Len %zu, want %zu", i, utf8Len(cases[i].s, n), cases[i].len);
        }
    }
    /* A sequence cut by the end of the buffer is not well-formed. */
    assert_int_equal(utf8Len("\xE2\x82\xAC", 2), 0);
    assert_int_equal(utf8Len("\xE2\x82\xAC", 3), 3);
    assert_int_equal(utf8Len("", 1), 1); /* NUL is a character */
}

/* Every lead byte with every second byte, and every 3-byte sequence, against the reference. */
static void test_len_exhaustive(void **state)
{
    (void)state;
    unsigned char b[4];
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned c = 0; c < 256; c++) {
            for (unsigned d = 0; d < 256; d += (a >= 0xE0 && a <= 0xEF) ? 1 : 0x3F) {
                b[0] = (unsigned char)a;
                b[1] = (unsigned char)c;
                b[2] = (unsigned char)d;
                b[3] = 0x80;
                for (size_t n = 1; n <= 4; n++) {
                    if (utf8Len(b, n) != reference(b, n)) {
                        fail_msg("%02x %02x %02x 80 (n %zu): %zu, reference %zu", a, c, d, n,
                                 utf8Len(b, n), reference(b, n));
                    }
                }
            }
        }
    }
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(utf8Valid("", 0, true));
    assert_true(utf8Valid("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80", 15, true));
    assert_false(utf8Valid("h\xC3llo", 5, false));
    assert_false(utf8Valid("\xED\xA0\x80", 3, false));
    assert_true(utf8Valid("a\0b", 3, false));
    assert_false(utf8Valid("a\0b", 3, true));
    assert_false(utf8Valid("ab\xE2\x82", 4, false)); /* truncated at the end */
}

static void test_repair(void **state)
{
    (void)state;
    char out[64];
    size_t n = utf8Repair(out, "ok", 2, false);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "ok", 2);
    /* One U+FFFD per byte that does not start a sequence; good sequences are kept. */
    n = utf8Repair(out, "a\xFF\xC3\xA9\xE2\x82z", 7, false);
    const char want[] =
        "a" RC_UTF8_REPLACEMENT "\xC3\xA9" RC_UTF8_REPLACEMENT RC_UTF8_REPLACEMENT "z";
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(out, want, n);
    n = utf8Repair(out, "a\0b", 3, false);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "a\0b", 3);
    n = utf8Repair(out, "a\0b", 3, true);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "a" RC_UTF8_REPLACEMENT "b", 5);
    /* The worst case is three times the input, and its output is valid. */
    n = utf8Repair(out, "\x80\x80\x80\x80", 4, false);
    assert_int_equal(n, 12);
    assert_true(utf8Valid(out, n, true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_len_edges),
        cmocka_unit_test(test_len_exhaustive),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_repair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
