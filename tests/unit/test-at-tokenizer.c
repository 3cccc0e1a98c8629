/* SPDX-License-Identifier: MIT */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "at-tokenizer.h"

#define LINES_MAX 32

typedef struct Expected {
        AtLineKind kind;
        const char *text;           /* NULL ends the list */
        int error_code;
        size_t length;              /* for AT_LINE_OVERLONG: bytes dropped */
} Expected;

typedef struct Case {
        const char *name;           /* what produced the bytes */
        const char *bytes;
        size_t size;                /* sizeof(literal) - 1: bytes may hold NULs */
        Expected lines[LINES_MAX];
} Case;

#define BYTES(s) .bytes = (s), .size = sizeof(s) - 1

#define TEXT(s)     { AT_LINE_TEXT, (s), -1, 0 }
#define ECHO(s)     { AT_LINE_ECHO, (s), -1, 0 }
#define OK          { AT_LINE_OK, "OK", -1, 0 }
#define ERROR       { AT_LINE_ERROR, "ERROR", -1, 0 }
#define CME(s, n)   { AT_LINE_CME_ERROR, (s), (n), 0 }
#define CMS(s, n)   { AT_LINE_CMS_ERROR, (s), (n), 0 }

static const Case cases[] = {
        {
                .name = "echo on (ATE1), +CSQ",
                BYTES("AT+CSQ\r\r\n+CSQ: 23,99\r\n\r\nOK\r\n"),
                .lines = { ECHO("AT+CSQ"), TEXT("+CSQ: 23,99"), OK },
        },
        {
                .name = "echo on, bare AT: CR CR LF",
                BYTES("AT\r\r\nOK\r\n"),
                .lines = { ECHO("AT"), OK },
        },
        {
                .name = "echo typed in lower case",
                BYTES("at+cgmr\r\r\nOK\r\n"),
                .lines = { ECHO("at+cgmr"), OK },
        },
        {
                .name = "UART module answering with lone LF",
                BYTES("\n+CPIN: READY\n\nOK\n"),
                .lines = { TEXT("+CPIN: READY"), OK },
        },
        {
                .name = "lone CR line ends",
                BYTES("\r+CREG: 0,1\r\rOK\r"),
                .lines = { TEXT("+CREG: 0,1"), OK },
        },
        {
                .name = "runs of empty lines",
                BYTES("\r\n\r\n\r\n\n\n\r\r\r\nOK\r\n\r\n\r\n"),
                .lines = { OK },
        },
        {
                .name = "URC between a command's information line and its final result",
                BYTES("\r\n+CSQ: 23,99\r\n\r\n+QIND: \"FOTA\",\"HTTPSTART\"\r\n\r\nOK\r\n"),
                .lines = { TEXT("+CSQ: 23,99"), TEXT("+QIND: \"FOTA\",\"HTTPSTART\""), OK },
        },
        {
                .name = "binary garbage and NUL before a URC after a module reboot",
                BYTES("\xff\xfe\x00+QIND: \"FOTA\",\"START\"\r\n"),
                .lines = { TEXT("+QIND: \"FOTA\",\"START\"") },
        },
        {
                .name = "boot noise then RDY",
                BYTES("\x00\x00\xe0\x80\x1b\x7f\r\nRDY\r\n"),
                .lines = { TEXT("RDY") },
        },
        {
                .name = "NUL and C0 controls inside a line",
                BYTES("+CS\x00Q: 2\x01" "3,\x1b" "99\x7f\r\n"),
                .lines = { TEXT("+CSQ: 23,99") },
        },
        {
                .name = "TAB inside a line is kept",
                BYTES("+QENG: \"servingcell\"\t\"NOCONN\"\r\n"),
                .lines = { TEXT("+QENG: \"servingcell\"\t\"NOCONN\"") },
        },
        {
                .name = "EC200U forum post with typographic quotes (modem.md T2)",
                BYTES("+QIND: \xe2\x80\x9c" "FOTA\xe2\x80\x9d,\xe2\x80\x9c" "HTTPEND\xe2\x80\x9d,608\r\n"),
                .lines = { TEXT("+QIND: \xe2\x80\x9c" "FOTA\xe2\x80\x9d,\xe2\x80\x9c" "HTTPEND\xe2\x80\x9d,608") },
        },
        {
                .name = "trailing blanks and leading blanks",
                BYTES("  \t+CSQ: 23,99 \t \r\nOK   \r\n"),
                .lines = { TEXT("+CSQ: 23,99"), OK },
        },
        {
                .name = "+CME ERROR numeric (AT+CMEE=1)",
                BYTES("\r\n+CME ERROR: 3\r\n"),
                .lines = { CME("+CME ERROR: 3", 3) },
        },
        {
                .name = "+CME ERROR verbose (AT+CMEE=2)",
                BYTES("\r\n+CME ERROR: SIM not inserted\r\n"),
                .lines = { CME("+CME ERROR: SIM not inserted", -1) },
        },
        {
                .name = "+CMS ERROR numeric",
                BYTES("\r\n+CMS ERROR: 500\r\n"),
                .lines = { CMS("+CMS ERROR: 500", 500) },
        },
        {
                .name = "plain ERROR",
                BYTES("\r\nERROR\r\n"),
                .lines = { ERROR },
        },
        {
                .name = "AT+QFUPL: CONNECT before the data phase",
                BYTES("\r\nCONNECT\r\n\r\nCONNECT 115200\r\n"),
                .lines = { { AT_LINE_CONNECT, "CONNECT", -1, 0 }, { AT_LINE_CONNECT, "CONNECT 115200", -1, 0 } },
        },
        {
                .name = "AT+CMGS prompt with echo on",
                BYTES("AT+CMGS=\"+4912345\"\r\r\n> "),
                .lines = { ECHO("AT+CMGS=\"+4912345\""), { AT_LINE_PROMPT, "> ", -1, 0 } },
        },
        {
                .name = "not quite final results",
                BYTES("OKAY\r\nok\r\nERROR: 5\r\nCONNECTED\r\n+CME ERROR\r\n"),
                .lines = { TEXT("OKAY"), TEXT("ok"), TEXT("ERROR: 5"), TEXT("CONNECTED"), TEXT("+CME ERROR") },
        },
        {
                .name = "BG96 DFOTA session with echo on (modem.md T1)",
                BYTES("AT+QGMR\r\r\n"
                      "BG96MAR02A07M1G_01.007.01.007\r\n"
                      "\r\n"
                      "OK\r\n"
                      "AT+CGDCONT?\r\r\n"
                      "+CGDCONT: 1,\"IP\",\"iotinternet\",\"0.0.0.0\",0,0,0,0\r\n"
                      "\r\n"
                      "OK\r\n"
                      "AT+CSQ?\r\r\n"
                      "+CME ERROR: 3\r\n"
                      "AT+CSQ\r\r\n"
                      "+CSQ: 16,99\r\n"
                      "\r\n"
                      "OK\r\n"
                      "AT+COPS?\r\r\n"
                      "+COPS: 0,0,\"F SFR\",0\r\n"
                      "\r\n"
                      "OK\r\n"),
                .lines = {
                        ECHO("AT+QGMR"), TEXT("BG96MAR02A07M1G_01.007.01.007"), OK,
                        ECHO("AT+CGDCONT?"), TEXT("+CGDCONT: 1,\"IP\",\"iotinternet\",\"0.0.0.0\",0,0,0,0"), OK,
                        ECHO("AT+CSQ?"), CME("+CME ERROR: 3", 3),
                        ECHO("AT+CSQ"), TEXT("+CSQ: 16,99"), OK,
                        ECHO("AT+COPS?"), TEXT("+COPS: 0,0,\"F SFR\",0"), OK,
                },
        },
};

typedef struct Collected {
        size_t n;
        AtLineKind kind[LINES_MAX];
        char text[LINES_MAX][AT_LINE_MAX + 1];
        int error_code[LINES_MAX];
        size_t length[LINES_MAX];
        bool overflow;
} Collected;

static void collect(const AtLine *line, void *userdata) {
        Collected *c = userdata;

        if (c->n >= LINES_MAX) {
                c->overflow = true;
                return;
        }

        /* The contract: NUL-terminated, length == strlen(text) (except for overlong). */
        if (line->kind != AT_LINE_OVERLONG)
                assert_int_equal(strlen(line->text), line->length);

        c->kind[c->n] = line->kind;
        snprintf(c->text[c->n], sizeof(c->text[c->n]), "%s", line->text);
        c->error_code[c->n] = line->error_code;
        c->length[c->n] = line->length;
        c->n++;
}

static void check_collected(const char *name, const char *how, const Collected *c, const Expected *expected) {
        size_t n = 0;

        while (n < LINES_MAX && expected[n].text)
                n++;

        assert_false(c->overflow);
        if (c->n != n)
                fail_msg("%s (%s): got %zu lines, expected %zu", name, how, c->n, n);

        for (size_t i = 0; i < n; i++) {
                if (c->kind[i] != expected[i].kind)
                        fail_msg("%s (%s): line %zu is %s, expected %s", name, how, i,
                                 at_line_kind_to_string(c->kind[i]), at_line_kind_to_string(expected[i].kind));
                if (expected[i].kind == AT_LINE_OVERLONG) {
                        if (c->length[i] != expected[i].length)
                                fail_msg("%s (%s): overlong line reported %zu bytes, expected %zu", name, how,
                                         c->length[i], expected[i].length);
                        continue;
                }
                if (!streq(c->text[i], expected[i].text))
                        fail_msg("%s (%s): line %zu is \"%s\", expected \"%s\"", name, how, i, c->text[i], expected[i].text);
                if (c->error_code[i] != expected[i].error_code)
                        fail_msg("%s (%s): line %zu has error code %d, expected %d", name, how, i,
                                 c->error_code[i], expected[i].error_code);
        }
}

/* Small, deterministic, and the same on every libc: the splits must be reproducible. */
static uint32_t next_random(uint32_t *state) {
        *state = *state * 1103515245u + 12345u;
        return *state >> 16;
}

/* Whatever way read() cuts the bytes, the same lines come out. */
static void check_all_splits(const char *name, const char *bytes, size_t size, const Expected *expected) {
        AtTokenizer t;
        Collected *c;
        char how[64];

        c = calloc(1, sizeof(Collected));
        assert_non_null(c);

        /* One read. */
        at_tokenizer_init(&t);
        at_tokenizer_feed(&t, bytes, size, collect, c);
        check_collected(name, "whole", c, expected);

        /* A read per byte. */
        memset(c, 0, sizeof(*c));
        at_tokenizer_init(&t);
        for (size_t i = 0; i < size; i++)
                at_tokenizer_feed(&t, bytes + i, 1, collect, c);
        check_collected(name, "byte by byte", c, expected);

        /* Random cuts, including empty reads. */
        for (uint32_t seed = 1; seed <= 64; seed++) {
                uint32_t state = seed;

                memset(c, 0, sizeof(*c));
                at_tokenizer_init(&t);
                for (size_t i = 0; i < size;) {
                        size_t k = next_random(&state) % 9;

                        if (k > size - i)
                                k = size - i;
                        at_tokenizer_feed(&t, bytes + i, k, collect, c);
                        i += k;
                }
                snprintf(how, sizeof(how), "random split, seed %u", seed);
                check_collected(name, how, c, expected);
        }

        free(c);
}

static void test_cases(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                check_all_splits(cases[i].name, cases[i].bytes, cases[i].size, cases[i].lines);
}

static void test_overlong_line_dropped_then_next_line_fine(void **state) {
        /* A module dumping a binary blob without line ends (e.g. after a failed AT+QFDWL). */
        size_t blob = 3 * AT_LINE_MAX + 17, size = blob + strlen("\r\nOK\r\n");
        char *bytes = malloc(size);
        Expected expected[] = {
                { AT_LINE_OVERLONG, "", -1, blob },
                OK,
                { .text = NULL },
        };

        assert_non_null(bytes);
        for (size_t i = 0; i < blob; i++)
                bytes[i] = (char) ('A' + i % 26);
        memcpy(bytes + blob, "\r\nOK\r\n", strlen("\r\nOK\r\n"));

        check_all_splits("overlong line", bytes, size, expected);
        free(bytes);
}

static void test_line_of_exactly_max_length_kept(void **state) {
        size_t size = AT_LINE_MAX + 2;
        char *bytes = malloc(size), *line = malloc(AT_LINE_MAX + 1);
        Expected expected[2] = { { .text = NULL }, { .text = NULL } };

        assert_non_null(bytes);
        assert_non_null(line);
        memset(line, 'x', AT_LINE_MAX);
        line[AT_LINE_MAX] = '\0';
        memcpy(bytes, line, AT_LINE_MAX);
        memcpy(bytes + AT_LINE_MAX, "\r\n", 2);
        expected[0] = (Expected) TEXT(line);

        check_all_splits("line of AT_LINE_MAX bytes", bytes, size, expected);

        /* One byte more is too much. */
        bytes = realloc(bytes, size + 1);
        assert_non_null(bytes);
        memcpy(bytes + AT_LINE_MAX, "x\r\n", 3);
        expected[0] = (Expected) { AT_LINE_OVERLONG, "", -1, AT_LINE_MAX + 1 };
        check_all_splits("line of AT_LINE_MAX + 1 bytes", bytes, size + 1, expected);

        free(bytes);
        free(line);
}

static void test_reset_drops_partial_line(void **state) {
        /* The port was closed and reopened in the middle of "+QIND: ..." */
        static const char before[] = "+QIND: \"FOTA\",\"UPDA";
        static const char after[] = "\r\n+QIND: \"FOTA\",\"END\",0\r\n";
        Expected expected[] = { TEXT("+QIND: \"FOTA\",\"END\",0"), { .text = NULL } };
        Collected *c = calloc(1, sizeof(Collected));
        AtTokenizer t;

        assert_non_null(c);
        at_tokenizer_init(&t);
        at_tokenizer_feed(&t, before, strlen(before), collect, c);
        at_tokenizer_reset(&t);
        at_tokenizer_feed(&t, after, strlen(after), collect, c);
        check_collected("reset", "whole", c, expected);

        /* Also in the middle of an overlong line. */
        memset(c, 0, sizeof(*c));
        at_tokenizer_init(&t);
        for (size_t i = 0; i < 2 * AT_LINE_MAX; i++)
                at_tokenizer_feed(&t, "y", 1, collect, c);
        at_tokenizer_reset(&t);
        at_tokenizer_feed(&t, after, strlen(after), collect, c);
        check_collected("reset overlong", "whole", c, expected);

        free(c);
}

static void test_classify(void **state) {
        static const struct {
                const char *line;
                AtLineKind kind;
                int error_code;
        } table[] = {
                { "OK",                             AT_LINE_OK,        -1 },
                { "ERROR",                          AT_LINE_ERROR,     -1 },
                { "+CME ERROR: 3",                  AT_LINE_CME_ERROR,  3 },
                { "+CME ERROR:3",                   AT_LINE_CME_ERROR,  3 },
                { "+CME ERROR: 701",                AT_LINE_CME_ERROR, 701 },
                { "+CME ERROR: SIM not inserted",   AT_LINE_CME_ERROR, -1 },
                { "+CME ERROR: 12abc",              AT_LINE_CME_ERROR, -1 },
                { "+CME ERROR: 99999999999",        AT_LINE_CME_ERROR, -1 },
                { "+CME ERROR: -5",                 AT_LINE_CME_ERROR, -1 },
                { "+CME ERROR:",                    AT_LINE_CME_ERROR, -1 },
                { "+CMS ERROR: 500",                AT_LINE_CMS_ERROR, 500 },
                { "+CMS ERROR: bananas",            AT_LINE_CMS_ERROR, -1 },
                { "CONNECT",                        AT_LINE_CONNECT,   -1 },
                { "CONNECT 9600",                   AT_LINE_CONNECT,   -1 },
                { "AT+QFOTADL=\"http://h/p.zip\"",  AT_LINE_ECHO,      -1 },
                { "At",                             AT_LINE_ECHO,      -1 },
                { "aT+cgmr",                        AT_LINE_ECHO,      -1 },
                { "RDY",                            AT_LINE_TEXT,      -1 },
                { "+QIND: \"FOTA\",\"END\",0",      AT_LINE_TEXT,      -1 },
                { "A",                              AT_LINE_TEXT,      -1 },
                { "OK OK",                          AT_LINE_TEXT,      -1 },
                { "",                               AT_LINE_TEXT,      -1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                int code = 42;
                AtLineKind kind = at_line_classify(table[i].line, &code);

                if (kind != table[i].kind || code != table[i].error_code)
                        fail_msg("\"%s\": got %s/%d, expected %s/%d", table[i].line, at_line_kind_to_string(kind), code,
                                 at_line_kind_to_string(table[i].kind), table[i].error_code);
                assert_int_equal(at_line_classify(table[i].line, NULL), table[i].kind);
        }
}

static void test_line_kind_strings(void **state) {
        for (AtLineKind k = 0; k < _AT_LINE_KIND_MAX; k++) {
                const char *s = at_line_kind_to_string(k);

                assert_non_null(s);
                assert_int_equal(at_line_kind_from_string(s), k);
        }
        assert_null(at_line_kind_to_string(_AT_LINE_KIND_MAX));
        assert_null(at_line_kind_to_string(_AT_LINE_KIND_INVALID));
        assert_int_equal(at_line_kind_from_string("banana"), -EINVAL);
        assert_int_equal(at_line_kind_from_string(NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cases),
                cmocka_unit_test(test_overlong_line_dropped_then_next_line_fine),
                cmocka_unit_test(test_line_of_exactly_max_length_kept),
                cmocka_unit_test(test_reset_drops_partial_line),
                cmocka_unit_test(test_classify),
                cmocka_unit_test(test_line_kind_strings),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
