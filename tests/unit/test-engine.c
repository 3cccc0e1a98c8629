/* SPDX-License-Identifier: MIT */
/* The DFOTA engine's tables (issue 10 item 8): every preflight check a profile lists is one the
 * engine can send and judge, so that no gate is lost to a typo. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine.h"
#include "profile.h"

static void test_every_check_judged(void **state) {
        for (PreflightCheck c = 0; c < _PREFLIGHT_CHECK_MAX; c++) {
                assert_non_null(preflight_check_to_string(c));
                assert_true(engine_preflight_check_known(c));
        }
        assert_false(engine_preflight_check_known(_PREFLIGHT_CHECK_MAX));
        assert_false(engine_preflight_check_known(_PREFLIGHT_CHECK_INVALID));
}

static void test_every_profile_resolves(void **state) {
        for (ModemFamily f = 0; f < _MODEM_FAMILY_MAX; f++) {
                const ModemProfile *p = modem_profile_get(f);

                assert_non_null(p->preflight_checks);
                for (size_t i = 0; i < p->n_preflight_checks; i++)
                        assert_true(engine_preflight_check_known(p->preflight_checks[i]));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_check_judged),
                cmocka_unit_test(test_every_profile_resolves),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
