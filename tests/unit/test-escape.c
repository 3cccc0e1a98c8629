/* SPDX-License-Identifier: MIT */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "escape.h"

static void check(const char *in, size_t n, size_t max, const char *want) {
        _cleanup_free_ char *out = escape_foreign(in, n, max);

        assert_non_null(out);
        if (!streq(out, want))
                fail_msg("escape_foreign(%zu bytes, %zu) = \"%s\", want \"%s\"", n, max, out, want);
        assert_true(strlen(out) <= max);
        /* What comes out needs no more escaping. */
        assert_true(text_is_safe(out, strlen(out), SIZE_MAX) || strchr(out, '\\'));
}

static void test_plain_text_unchanged(void **state) {
        check("job-7", 5, 64, "job-7");
        check("", 0, 64, "");
        /* Valid UTF-8 stays as it is: typographic quotes, umlauts, CJK, a 4-byte emoji. */
        check("\u201cFOTA\u201d", strlen("\u201cFOTA\u201d"), 64, "\u201cFOTA\u201d");
        check("\xc3\xbc \xe6\x97\xa5 \xf0\x9f\x98\x80", 11, 64, "\xc3\xbc \xe6\x97\xa5 \xf0\x9f\x98\x80");
        check("a\tb", 3, 64, "a\tb");
}

static void test_controls_and_bad_bytes(void **state) {
        /* The forged journal line of issue 9 item 9: it stays one line. */
        check("x\r\nJob j: VERIFYING -> SUCCEEDED", 32, 256, "x\\r\\nJob j: VERIFYING -> SUCCEEDED");
        check("\x1b[31mred", 8, 64, "\\x1b[31mred");
        check("a\0b", 3, 64, "a\\x00b");
        check("\x7f", 1, 64, "\\x7f");
        check("back\\slash", 10, 64, "back\\\\slash");
        /* C1 controls (U+0085 NEL, U+009B CSI) and invalid UTF-8: byte by byte. */
        check("\xc2\x85", 2, 64, "\\xc2\\x85");
        check("\xc2\x9b" "2J", 4, 64, "\\xc2\\x9b2J");
        check("\xff\xfe", 2, 64, "\\xff\\xfe");
        check("\xc3", 1, 64, "\\xc3");                  /* truncated sequence */
        check("\xc0\xaf", 2, 64, "\\xc0\\xaf");         /* overlong '/' */
        check("\xed\xa0\x80", 3, 64, "\\xed\\xa0\\x80"); /* a surrogate */
        check("\xf4\x90\x80\x80", 4, 64, "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
}

static void test_cut(void **state) {
        _cleanup_free_ char *big = NULL, *out = NULL;
        size_t n = 10 * 1024 * 1024;

        /* Exactly max: kept whole. One more: cut, with the size said. */
        check("0123456789012345678901234567890123456789", 40, 40, "0123456789012345678901234567890123456789");
        check("01234567890123456789012345678901234567890", 41, 40, "012345678901234567890123456...(41 bytes)");
        /* A character is never cut: the escape of a control or a UTF-8 sequence stays whole. */
        check("0123456789012345678901234\x01" "012345678901234", 41, 40, "0123456789012345678901234...(41 bytes)");
        check("01234567890123456789012345\xc3\xbc" "012345678901234", 43, 40, "01234567890123456789012345...(43 bytes)");

        /* A 10 MB key becomes a short one (issue 9 item 9). */
        big = malloc(n);
        assert_non_null(big);
        memset(big, 'k', n);
        out = escape_foreign(big, n, ESCAPE_KEY_MAX);
        assert_non_null(out);
        assert_true(strlen(out) <= ESCAPE_KEY_MAX);
        assert_non_null(strstr(out, "(10485760 bytes)"));
}

static void test_utf8_sequence_length(void **state) {
        uint32_t cp;

        assert_int_equal(utf8_sequence_length((const unsigned char *) "A", 1, &cp), 1);
        assert_int_equal(cp, 'A');
        assert_int_equal(utf8_sequence_length((const unsigned char *) "\xe2\x80\x9c", 3, &cp), 3);
        assert_int_equal(cp, 0x201c);
        assert_int_equal(utf8_sequence_length((const unsigned char *) "\xe2\x80", 2, &cp), 0);
        assert_int_equal(utf8_sequence_length((const unsigned char *) "\x80", 1, &cp), 0);
        assert_int_equal(utf8_sequence_length((const unsigned char *) "", 0, &cp), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_text_unchanged),
                cmocka_unit_test(test_controls_and_bad_bytes),
                cmocka_unit_test(test_cut),
                cmocka_unit_test(test_utf8_sequence_length),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
