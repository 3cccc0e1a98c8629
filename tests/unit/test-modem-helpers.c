/* SPDX-License-Identifier: MIT */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "modem.h"

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
                r = modem_parse_ati((char *const *) c->lines, &model, &revision);
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

        assert_int_equal(modem_parse_gsn((char *const *) plain, &imei), 0);
        assert_string_equal(imei, "861234567890123");
        free(imei);

        assert_int_equal(modem_parse_gsn((char *const *) prefixed, &imei), 0);
        assert_string_equal(imei, "861234567890123");
        free(imei);

        assert_int_equal(modem_parse_gsn((char *const *) noise, &imei), 0);
        assert_string_equal(imei, "861234567890123");
        free(imei);

        imei = NULL;
        assert_int_equal(modem_parse_gsn((char *const *) bad, &imei), -EBADMSG);
        assert_null(imei);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_ati),
                cmocka_unit_test(test_parse_gsn),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
