/* SPDX-License-Identifier: MIT */

/* Family profiles: model matching, URL rules at their exact limits (EC25&EC21 DFOTA User Guide
 * §3.1-3.3; EP06&EG06&EM06 guide ch. 3 for generic's 90 bytes), error-table meanings (EC25&EC21
 * ch. 4 Table 1, ch. 5 Table 2) and the table invariants every later family must keep. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <cmocka.h>

#include "profile.h"

#define EC25_504 "Firmware upgrade failed, module will reboot and retry to upgrade for consecutively five times."
#define EC25_505 "Upgrade package file check failed, module will reboot and retry to upgrade for consecutively five times."

static void test_from_model(void **state) {
        static const struct {
                const char *model;
                ModemFamily family;
        } cases[] = {
                { "EC25",    MODEM_FAMILY_EC2X },
                { "EC21",    MODEM_FAMILY_EC2X },
                { "EG25",    MODEM_FAMILY_EC2X },    /* ATI of an EG25-G */
                { "EG91",    MODEM_FAMILY_EC2X },
                { "EG95",    MODEM_FAMILY_EC2X },
                { "ec25",    MODEM_FAMILY_EC2X },    /* case-insensitive */
                { "EC25-E",  MODEM_FAMILY_EC2X },    /* prefix match */
                { "EC25EFA", MODEM_FAMILY_EC2X },
                { "  EC21",  MODEM_FAMILY_EC2X },
                { "BG77",    MODEM_FAMILY_GENERIC },
                { "BG96",    MODEM_FAMILY_GENERIC },
                { "EC200U",  MODEM_FAMILY_GENERIC },
                { "EG915N",  MODEM_FAMILY_GENERIC }, /* ASR platform, not an EG91 */
                { "EG912Y",  MODEM_FAMILY_GENERIC }, /* Unisoc platform, not an EG91 */
                { "EC2",     MODEM_FAMILY_GENERIC },
                { "Quectel", MODEM_FAMILY_GENERIC },
                { "",        MODEM_FAMILY_GENERIC },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const ModemProfile *p = modem_profile_from_model(cases[i].model);

                assert_non_null(p);
                if (p->family != cases[i].family)
                        fail_msg("'%s': family %s, expected %s", cases[i].model,
                                 modem_family_to_string(p->family), modem_family_to_string(cases[i].family));
        }

        assert_ptr_equal(modem_profile_from_model(NULL), modem_profile_get(MODEM_FAMILY_GENERIC));
}

static void test_get(void **state) {
        assert_int_equal(modem_profile_get(MODEM_FAMILY_EC2X)->family, MODEM_FAMILY_EC2X);
        assert_int_equal(modem_profile_get(MODEM_FAMILY_GENERIC)->family, MODEM_FAMILY_GENERIC);
        assert_null(modem_profile_get(_MODEM_FAMILY_MAX));
        assert_null(modem_profile_get(_MODEM_FAMILY_INVALID));
}

static void test_strings(void **state) {
        assert_string_equal(modem_family_to_string(MODEM_FAMILY_EC2X), "ec2x");
        assert_string_equal(modem_family_to_string(MODEM_FAMILY_GENERIC), "generic");
        assert_int_equal(modem_family_from_string("ec2x"), MODEM_FAMILY_EC2X);
        assert_int_equal(modem_family_from_string("generic"), MODEM_FAMILY_GENERIC);
        assert_int_equal(modem_family_from_string("EC2X"), -EINVAL);
        assert_int_equal(modem_family_from_string(NULL), -EINVAL);
        assert_null(modem_family_to_string(_MODEM_FAMILY_MAX));

        assert_string_equal(package_source_to_string(PACKAGE_SOURCE_FTP), "ftp");
        assert_string_equal(package_source_to_string(PACKAGE_SOURCE_HTTP), "http");
        assert_string_equal(package_source_to_string(PACKAGE_SOURCE_HTTPS), "https");
        assert_string_equal(package_source_to_string(PACKAGE_SOURCE_LOCAL_FILE), "local-file");
        for (PackageSource s = 0; s < _PACKAGE_SOURCE_MAX; s++)
                assert_int_equal(package_source_from_string(package_source_to_string(s)), s);
        assert_int_equal(package_source_from_string("local"), -EINVAL);
}

static void test_source_from_url(void **state) {
        static const struct {
                const char *url;
                int source;
        } cases[] = {
                { "ftp://test:test@124.74.41.170:21/Jun/update-v12-to-v13.zip", PACKAGE_SOURCE_FTP },
                { "FTP://test:test@demo.com:21/update/delta.bin",               PACKAGE_SOURCE_FTP },
                { "http://www.quectel.com:100/update.zip",                      PACKAGE_SOURCE_HTTP },
                { "HTTP://www.example.com:80/delta.bin",                        PACKAGE_SOURCE_HTTP },
                { "https://fw.example.net/ec25/a01-a02.zip",                    PACKAGE_SOURCE_HTTPS },
                { "HtTpS://fw.example.net/x.zip",                               PACKAGE_SOURCE_HTTPS },
                { "/data/ufs/update-v13-to-v12.zip",                            PACKAGE_SOURCE_LOCAL_FILE },
                { "/",                                                          PACKAGE_SOURCE_LOCAL_FILE },
                { "",                                                           -EINVAL },
                { "UFS:delta.bin",                                              -EINVAL },
                { "file:///data/ufs/x.zip",                                     -EINVAL },
                { "ftp:/x",                                                     -EINVAL },
                { "httpx://x",                                                  -EINVAL },
                { "http:",                                                      -EINVAL },
                { "data/ufs/x.zip",                                             -EINVAL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r = package_source_from_url(cases[i].url);

                if (r != cases[i].source)
                        fail_msg("'%s': %d, expected %d", cases[i].url, r, cases[i].source);
        }
        assert_int_equal(package_source_from_url(NULL), -EINVAL);
}

/* prefix followed by 'a' up to total bytes. */
static char *make_url(const char *prefix, size_t total) {
        size_t l = strlen(prefix);
        char *s;

        assert_true(total >= l);
        s = malloc(total + 1);
        assert_non_null(s);
        memcpy(s, prefix, l);
        memset(s + l, 'a', total - l);
        s[total] = '\0';
        return s;
}

typedef struct UrlCase {
        ModemFamily family;
        const char *prefix;
        size_t length;              /* 0: the prefix alone */
        int ret;
        const char *reason;         /* exact reason expected when ret < 0 */
} UrlCase;

static const UrlCase url_cases[] = {
        /* EC25&EC21 §3.1/§3.2: "max length is 255 bytes". */
        { MODEM_FAMILY_EC2X, "http://h/",   255, 0,       NULL },
        { MODEM_FAMILY_EC2X, "http://h/",   256, -EINVAL, "URL is 256 bytes; ec2x allows at most 255" },
        { MODEM_FAMILY_EC2X, "ftp://u:p@h/", 255, 0,      NULL },
        { MODEM_FAMILY_EC2X, "FTP://u:p@h/", 256, -EINVAL, "URL is 256 bytes; ec2x allows at most 255" },
        { MODEM_FAMILY_EC2X, "http://h/",   300, -EINVAL, "URL is 300 bytes; ec2x allows at most 255" },
        /* HTTPS: later EC2x firmware (EC2x DFOTA Upgrade Guide V1.3), same 255-byte limit. */
        { MODEM_FAMILY_EC2X, "https://h/x.zip", 0, 0, NULL },
        /* §3.3: "max length is 128 bytes", "/data/ufs/" or "/media/card/". */
        { MODEM_FAMILY_EC2X, "/data/ufs/",  128, 0,       NULL },
        { MODEM_FAMILY_EC2X, "/data/ufs/",  129, -EINVAL, "local file name is 129 bytes; ec2x allows at most 128" },
        { MODEM_FAMILY_EC2X, "/media/card/", 128, 0,      NULL },
        { MODEM_FAMILY_EC2X, "/media/card/", 129, -EINVAL, "local file name is 129 bytes; ec2x allows at most 128" },
        { MODEM_FAMILY_EC2X, "/data/ufs/update-v13-to-v12.zip", 0, 0, NULL },
        { MODEM_FAMILY_EC2X, "/cache/ufs/update.zip", 0, -EINVAL, "local file must start with /data/ufs/ or /media/card/" },
        { MODEM_FAMILY_EC2X, "/data/ufsx.zip", 0, -EINVAL, "local file must start with /data/ufs/ or /media/card/" },
        { MODEM_FAMILY_EC2X, "/DATA/UFS/x.zip", 0, -EINVAL, "local file must start with /data/ufs/ or /media/card/" },
        { MODEM_FAMILY_EC2X, "/data/ufs/",  0,   -EINVAL, "local file name is missing after /data/ufs/" },
        { MODEM_FAMILY_EC2X, "UFS:delta.bin", 0, -EINVAL, "URL must start with ftp://, http://, https:// or / (a local file)" },
        { MODEM_FAMILY_EC2X, "",            0,   -EINVAL, "URL is empty" },

        /* generic: 255 for URLs, 90 and /data/ufs/ only for local files (EP06&EG06&EM06 ch. 3). */
        { MODEM_FAMILY_GENERIC, "http://h/",  255, 0,       NULL },
        { MODEM_FAMILY_GENERIC, "ftp://h/",   256, -EINVAL, "URL is 256 bytes; generic allows at most 255" },
        { MODEM_FAMILY_GENERIC, "https://h/x", 0,  -EINVAL, "HTTPS is not supported by generic (not documented by every Quectel DFOTA guide)" },
        { MODEM_FAMILY_GENERIC, "/data/ufs/", 90,  0,       NULL },
        { MODEM_FAMILY_GENERIC, "/data/ufs/", 91,  -EINVAL, "local file name is 91 bytes; generic allows at most 90" },
        { MODEM_FAMILY_GENERIC, "/media/card/x.zip", 0, -EINVAL, "local file must start with /data/ufs/" },
};

static void test_check_url(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(url_cases); i++) {
                const UrlCase *c = &url_cases[i];
                const ModemProfile *p = modem_profile_get(c->family);
                _cleanup_free_ char *url = NULL, *reason = NULL;
                char sentinel = 0;
                int r;

                url = make_url(c->prefix, c->length ?: strlen(c->prefix));
                assert_int_equal(strlen(url), c->length ?: strlen(c->prefix));

                reason = &sentinel;
                r = modem_profile_check_url(p, url, &reason);
                if (r != c->ret)
                        fail_msg("%s '%.40s…' (%zu bytes): returned %d, expected %d",
                                 p->name, url, strlen(url), r, c->ret);

                if (r == 0) {
                        if (reason != &sentinel)
                                fail_msg("%s '%.40s…': reason written on success", p->name, url);
                        reason = NULL;
                        continue;
                }

                if (reason == &sentinel || !reason)
                        fail_msg("%s '%.40s…': no reason", p->name, url);
                if (!streq(reason, c->reason))
                        fail_msg("%s '%.40s…': reason '%s', expected '%s'", p->name, url, reason, c->reason);

                /* Without a place for the reason the answer is the same. */
                assert_int_equal(modem_profile_check_url(p, url, NULL), c->ret);
        }
}

static void test_error_meaning(void **state) {
        static const struct {
                ModemFamily family;
                ModuleErrorKind kind;
                int code;
                const char *meaning;        /* NULL: not in the table */
        } cases[] = {
                /* EC25&EC21 ch. 4 Table 1 */
                { MODEM_FAMILY_EC2X, MODULE_ERROR_FTP,    0,   "Operation successful" },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_FTP,    601, "Unknown error" },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_FTP,    504, EC25_504 },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_FTP,    505, EC25_505 },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_FTP,    701, NULL },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_FTP,    602, NULL },
                /* ch. 5 Table 2 */
                { MODEM_FAMILY_EC2X, MODULE_ERROR_HTTP,   0,   "Operation successful" },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_HTTP,   701, "HTTP unknown error" },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_HTTP,   504, EC25_504 },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_HTTP,   505, EC25_505 },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_HTTP,   601, NULL },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_HTTP,   702, NULL },
                /* §3 <err>: "0 means OK", plus 504/505 */
                { MODEM_FAMILY_EC2X, MODULE_ERROR_UPDATE, 0,   "OK" },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_UPDATE, 504, EC25_504 },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_UPDATE, 505, EC25_505 },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_UPDATE, 601, NULL },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_UPDATE, 510, NULL },
                { MODEM_FAMILY_EC2X, MODULE_ERROR_UPDATE, -1,  NULL },
                /* generic: the codes the guides share */
                { MODEM_FAMILY_GENERIC, MODULE_ERROR_FTP,    601, "FTP unknown error" },
                { MODEM_FAMILY_GENERIC, MODULE_ERROR_HTTP,   701, "HTTP unknown error" },
                { MODEM_FAMILY_GENERIC, MODULE_ERROR_UPDATE, 0,   "OK" },
                { MODEM_FAMILY_GENERIC, MODULE_ERROR_HTTP,   702, NULL },
                { MODEM_FAMILY_GENERIC, MODULE_ERROR_UPDATE, 502, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *m = modem_profile_error_meaning(modem_profile_get(cases[i].family),
                                                            cases[i].kind, cases[i].code);

                if (!streq_ptr(m, cases[i].meaning))
                        fail_msg("%s table %d code %d: '%s', expected '%s'",
                                 modem_family_to_string(cases[i].family), (int) cases[i].kind, cases[i].code,
                                 strna(m), strna(cases[i].meaning));
        }

        /* generic's 504/505 exist in every table, whatever their wording. */
        for (ModuleErrorKind k = 0; k < _MODULE_ERROR_KIND_MAX; k++) {
                assert_non_null(modem_profile_error_meaning(modem_profile_get(MODEM_FAMILY_GENERIC), k, 504));
                assert_non_null(modem_profile_error_meaning(modem_profile_get(MODEM_FAMILY_GENERIC), k, 505));
        }

        assert_null(modem_profile_error_meaning(NULL, MODULE_ERROR_FTP, 601));
        assert_null(modem_profile_error_meaning(modem_profile_get(MODEM_FAMILY_EC2X), _MODULE_ERROR_KIND_MAX, 0));
        assert_null(modem_profile_error_meaning(modem_profile_get(MODEM_FAMILY_EC2X), _MODULE_ERROR_KIND_INVALID, 0));
}

static void test_ec2x_values(void **state) {
        const ModemProfile *p = modem_profile_get(MODEM_FAMILY_EC2X);

        assert_string_equal(p->name, "ec2x");
        assert_true(p->source_allowed[PACKAGE_SOURCE_FTP]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_HTTP]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_HTTPS]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_LOCAL_FILE]);
        assert_int_equal(p->url_max, 255);
        assert_int_equal(p->local_max, 128);
        assert_string_equal(p->local_prefixes[0], "/data/ufs/");
        assert_string_equal(p->local_prefixes[1], "/media/card/");
        assert_null(p->local_prefixes[2]);
        assert_true(p->reboots_after_download);
        assert_int_equal(p->max_attempts, 5);
        assert_int_equal(p->qfotadl_response_usec, 5 * USEC_PER_SEC);
        assert_string_equal(p->preflight_commands[0], "AT+CPIN?");
        assert_string_equal(p->preflight_commands[1], "AT+CREG?");
        assert_string_equal(p->preflight_commands[2], "AT+CSQ");
        assert_null(p->preflight_commands[3]);
}

static void test_generic_values(void **state) {
        const ModemProfile *p = modem_profile_get(MODEM_FAMILY_GENERIC);

        assert_string_equal(p->name, "generic");
        assert_true(p->source_allowed[PACKAGE_SOURCE_FTP]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_HTTP]);
        assert_false(p->source_allowed[PACKAGE_SOURCE_HTTPS]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_LOCAL_FILE]);
        assert_int_equal(p->url_max, 255);
        assert_int_equal(p->local_max, 90);
        assert_string_equal(p->local_prefixes[0], "/data/ufs/");
        assert_null(p->local_prefixes[1]);
        assert_true(p->reboots_after_download);
        assert_int_equal(p->max_attempts, 5);
        assert_int_equal(p->qfotadl_response_usec, 5 * USEC_PER_SEC);
        assert_string_equal(p->preflight_commands[0], "AT+CPIN?");
        assert_string_equal(p->preflight_commands[1], "AT+CREG?");
        assert_string_equal(p->preflight_commands[2], "AT+CSQ");
        assert_null(p->preflight_commands[3]);
}

/* What every profile, present and future, must satisfy for the engine to use it blindly. */
static void test_invariants(void **state) {
        for (ModemFamily f = 0; f < _MODEM_FAMILY_MAX; f++) {
                const ModemProfile *p = modem_profile_get(f);

                assert_non_null(p);
                assert_int_equal(p->family, f);
                assert_string_equal(p->name, modem_family_to_string(f));
                assert_non_null(p->description);
                assert_non_null(p->preflight_commands);
                assert_true(p->url_max > 0);
                assert_true(p->max_attempts >= 1);
                assert_true(p->qfotadl_response_usec > 0);
                if (p->source_allowed[PACKAGE_SOURCE_LOCAL_FILE]) {
                        assert_non_null(p->local_prefixes);
                        assert_non_null(p->local_prefixes[0]);
                        assert_true(p->local_max > strlen(p->local_prefixes[0]));
                }

                /* Every table ends, and says "0" means success. */
                for (ModuleErrorKind k = 0; k < _MODULE_ERROR_KIND_MAX; k++) {
                        size_t n = 0;

                        assert_non_null(p->errors[k]);
                        for (const ModuleErrorInfo *e = p->errors[k]; e->meaning; e++)
                                assert_true(++n < 1000);
                        assert_non_null(modem_profile_error_meaning(p, k, 0));
                }

                /* Each model of a family is recognised as that family. */
                if (p->models)
                        for (const char *const *m = p->models; *m; m++)
                                assert_ptr_equal(modem_profile_from_model(*m), p);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_from_model),
                cmocka_unit_test(test_get),
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_source_from_url),
                cmocka_unit_test(test_check_url),
                cmocka_unit_test(test_error_meaning),
                cmocka_unit_test(test_ec2x_values),
                cmocka_unit_test(test_generic_values),
                cmocka_unit_test(test_invariants),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
