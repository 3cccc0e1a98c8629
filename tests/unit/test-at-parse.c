/* SPDX-License-Identifier: MIT */
/* at-parse.h: identification and the preflight checks' answers, as the guides and TS 27.007 show
 * them and as real modules bend them. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "at-parse.h"

typedef struct AtiCase {
        const char *name;
        const char *lines[8];
        int ret;
        const char *model;
        const char *revision;
} AtiCase;

/* ATI as EC25, EG18-EA (reference modem.md §5 T4) and modules with boot noise print it. */
static const AtiCase ati_cases[] = {
        { "EC25",          { "Quectel", "EC25", "Revision: EC25EFAR06A01M4G", NULL },    0, "EC25", "EC25EFAR06A01M4G" },
        { "EG18-EA",       { "Quectel", "EG18", "Revision: EG18EAPAR01A12M4G", NULL },   0, "EG18", "EG18EAPAR01A12M4G" },
        { "no space",      { "Quectel", "EC21", "Revision:EC21EFAR06A01M4G", NULL },     0, "EC21", "EC21EFAR06A01M4G" },
        { "boot noise",    { "+CPIN: READY", "Quectel", "RDY", "EC25", "Revision: X1", NULL }, 0, "EC25", "X1" },
        { "BC26",          { "Quectel_Ltd", "Quectel_BC26", "Revision: BC26NBR01A09", NULL }, 0, "BC26", "BC26NBR01A09" },
        { "RM500Q",        { "Quectel", "RM500Q-GL", "Revision: RM500QGLABR11A06M4G", NULL }, 0, "RM500Q-GL", "RM500QGLABR11A06M4G" },
        { "no revision",   { "Quectel", "EC25", NULL },                                   -EBADMSG, NULL, NULL },
        { "empty revision",{ "Quectel", "EC25", "Revision: ", NULL },                     -EBADMSG, NULL, NULL },
        { "nothing",       { NULL },                                                      -EBADMSG, NULL, NULL },
};

static void test_parse_ati(void **state) {
        for (size_t i = 0; i < sizeof(ati_cases) / sizeof(ati_cases[0]); i++) {
                const AtiCase *c = &ati_cases[i];
                char *model = (char *) "untouched", *revision = (char *) "untouched";
                int r;

                print_message("ATI case: %s\n", c->name);
                r = at_parse_ati((char *const *) c->lines, &model, &revision);
                assert_int_equal(r, c->ret);
                if (r < 0) {
                        assert_string_equal(model, "untouched");
                        assert_string_equal(revision, "untouched");
                        continue;
                }
                assert_string_equal(model, c->model);
                assert_string_equal(revision, c->revision);
                free(model);
                free(revision);
        }
}

static void test_parse_gsn(void **state) {
        const char *plain[] = { "861234567890123", NULL };
        const char *prefixed[] = { "+GSN: \"861234567890123\"", NULL };
        const char *noise[] = { "+QIND: SMS DONE", "861234567890123", NULL };
        const char *bad[] = { "ERRORISH", "1234", NULL };
        char *imei = NULL;

        assert_int_equal(at_parse_gsn((char *const *) plain, &imei), 0);
        assert_string_equal(imei, "861234567890123");
        free(imei);

        assert_int_equal(at_parse_gsn((char *const *) prefixed, &imei), 0);
        assert_string_equal(imei, "861234567890123");
        free(imei);

        assert_int_equal(at_parse_gsn((char *const *) noise, &imei), 0);
        assert_string_equal(imei, "861234567890123");
        free(imei);

        imei = NULL;
        assert_int_equal(at_parse_gsn((char *const *) bad, &imei), -EBADMSG);
        assert_null(imei);
}

/* +CREG/+CEREG/+CGREG (TS 27.007 §7.2, §10.1.22): <stat> after <n>; 1 and 5 are registered. */
static void test_parse_registration(void **state) {
        static const struct {
                const char *line;
                int ret, stat;
        } cases[] = {
                { "+CREG: 0,1",                         0, 1 },
                { "+CEREG: 2,5,\"1A2B\",\"01C3D4E5\",7", 0, 5 },   /* with location and AcT */
                { "+CGREG: 0, 2",                       0, 2 },       /* searching; a space after the comma */
                { "+CREG: 0",                           -EBADMSG, 0 },
                { "+CREG:",                             -EBADMSG, 0 },
                { "CREG 0,1",                           -EBADMSG, 0 },
                { NULL,                                 -EBADMSG, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int stat = -42;

                assert_int_equal(at_parse_registration(cases[i].line, &stat), cases[i].ret);
                assert_int_equal(stat, cases[i].ret < 0 ? -42 : cases[i].stat);
        }
        assert_true(at_registration_is_registered(1));
        assert_true(at_registration_is_registered(5));
        assert_false(at_registration_is_registered(0));
        assert_false(at_registration_is_registered(2));
        assert_false(at_registration_is_registered(3));
}

static void test_parse_signal(void **state) {
        int v = -42;

        assert_int_equal(at_parse_csq("+CSQ: 24,99", &v), 0);
        assert_int_equal(v, 24);
        assert_int_equal(at_parse_csq("+CSQ: 99,99", &v), 0);
        assert_int_equal(v, 99);
        v = -42;
        assert_int_equal(at_parse_csq("+CSQ: ", &v), -EBADMSG);
        assert_int_equal(at_parse_csq("+CESQ: 99,99,255,255,20,45", &v), -EBADMSG);
        assert_int_equal(at_parse_csq(NULL, &v), -EBADMSG);
        assert_int_equal(v, -42);

        /* BC26 DFOTA User Guide §2.3's example answer. */
        assert_int_equal(at_parse_cesq("+CESQ: 99,99,255,255,20,45", &v), 0);
        assert_int_equal(v, 45);
        v = -42;
        assert_int_equal(at_parse_cesq("+CESQ: 99,99,255", &v), -EBADMSG);
        assert_int_equal(v, -42);
}

static void test_cgpaddr(void **state) {
        assert_true(at_cgpaddr_has_address("+CGPADDR: 1,\"100.64.12.7\""));
        assert_true(at_cgpaddr_has_address("+CGPADDR: 1,10.0.0.2"));
        assert_false(at_cgpaddr_has_address("+CGPADDR: 1,\"0.0.0.0\""));
        assert_false(at_cgpaddr_has_address("+CGPADDR: 1,"));
        assert_false(at_cgpaddr_has_address("+CGPADDR: 1"));
        assert_false(at_cgpaddr_has_address(NULL));
}

static void test_find_line(void **state) {
        const char *lines[] = { "+QIND: SMS DONE", "+CSQ: 20,99", "+CSQ: 1,99", NULL };

        assert_string_equal(at_find_line((char *const *) lines, "+CSQ:"), "+CSQ: 20,99");
        assert_null(at_find_line((char *const *) lines, "+CESQ:"));
        assert_null(at_find_line(NULL, "+CSQ:"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_ati),
                cmocka_unit_test(test_parse_gsn),
                cmocka_unit_test(test_parse_registration),
                cmocka_unit_test(test_parse_signal),
                cmocka_unit_test(test_cgpaddr),
                cmocka_unit_test(test_find_line),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
