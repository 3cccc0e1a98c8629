/* SPDX-License-Identifier: MIT */

/* Family profiles, one section per guide in ../shared/seeds/: model and USB recognition, URL rules
 * at their exact limits, every error table verbatim (ranges at both ends and one past), the
 * per-family values the engine reads, and the invariants every profile must keep.
 *
 *   ec2x   EC25&EC21 DFOTA User Guide V1.0           000_36b9d468918b002c.txt
 *   bc26   BC26 DFOTA User Guide V1.0                001_72f22b2fdc239de5.txt
 *   ep06   EP06&EG06&EM06 DFOTA User Guide V1.0      002_b2ff2a6d34509638.txt
 *   rg50x  RG50xQ&RM5xxQ FOTA Application Note V1.2  003_9255c85b394ae77f.txt
 *   ucxx   UMTS/HSPA DFOTA User Guide V1.0           004_e9fa4e59ebf297dc.txt */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <cmocka.h>

#include "profile.h"

#define EC25_504 "Firmware upgrade failed, module will reboot and retry to upgrade for consecutively five times."
#define EC25_505 "Upgrade package file check failed, module will reboot and retry to upgrade for consecutively five times."

/* ---- recognition -------------------------------------------------------------------------- */

static void test_from_model(void **state) {
        static const struct {
                const char *model;
                ModemFamily family;
        } cases[] = {
                /* ec2x */
                { "EC25",      MODEM_FAMILY_EC2X },
                { "EC21",      MODEM_FAMILY_EC2X },
                { "EG25",      MODEM_FAMILY_EC2X },    /* ATI of an EG25-G */
                { "EG91",      MODEM_FAMILY_EC2X },
                { "EG95",      MODEM_FAMILY_EC2X },
                { "ec25",      MODEM_FAMILY_EC2X },    /* case-insensitive */
                { "EC25-E",    MODEM_FAMILY_EC2X },    /* prefix match */
                { "EC25EFA",   MODEM_FAMILY_EC2X },
                { "  EC21",    MODEM_FAMILY_EC2X },
                /* ep06 (guide ch. 1) */
                { "EP06",      MODEM_FAMILY_EP06 },
                { "EG06",      MODEM_FAMILY_EP06 },
                { "EM06",      MODEM_FAMILY_EP06 },
                { "EP06-E",    MODEM_FAMILY_EP06 },
                { "EG06-A",    MODEM_FAMILY_EP06 },
                { "EM06-E",    MODEM_FAMILY_EP06 },
                /* rg50x (note ch. 1 Table 1, as ATI prints them, with the variant) */
                { "RG500Q",    MODEM_FAMILY_RG50X },
                { "RG500Q-EA", MODEM_FAMILY_RG50X },
                { "RG500Q-GL", MODEM_FAMILY_RG50X },
                { "RG501Q-EU", MODEM_FAMILY_RG50X },
                { "RG502Q-EA", MODEM_FAMILY_RG50X },
                { "RM500Q-GL", MODEM_FAMILY_RG50X },
                { "RM500Q-AE", MODEM_FAMILY_RG50X },
                { "RM502Q-AE", MODEM_FAMILY_RG50X },
                { "RM505Q-AE", MODEM_FAMILY_RG50X },
                { "RM510Q-GL", MODEM_FAMILY_RG50X },
                { "RM520N-GL", MODEM_FAMILY_RG50X },
                { "rm500q-gl", MODEM_FAMILY_RG50X },
                /* ucxx (guide §1.1) */
                { "UC20",      MODEM_FAMILY_UCXX },
                { "UC15",      MODEM_FAMILY_UCXX },
                { "UC20-G",    MODEM_FAMILY_UCXX },
                { "UC20E",     MODEM_FAMILY_UCXX },
                /* bc26 */
                { "BC26",      MODEM_FAMILY_BC26 },
                { "BC26-NA",   MODEM_FAMILY_BC26 },
                /* other platforms whose names start like ours ("next char not a digit") */
                { "EG915N",    MODEM_FAMILY_GENERIC }, /* ASR platform, not an EG91 */
                { "EG912Y",    MODEM_FAMILY_GENERIC }, /* Unisoc platform, not an EG91 */
                { "EM060K-GL", MODEM_FAMILY_GENERIC }, /* not an EM06 */
                { "EG065K",    MODEM_FAMILY_GENERIC }, /* not an EG06 */
                { "UC200T",    MODEM_FAMILY_GENERIC }, /* not a UC20 */
                { "BC260Y-CN", MODEM_FAMILY_GENERIC }, /* not a BC26 */
                { "RM500U-CN", MODEM_FAMILY_GENERIC }, /* Unisoc, not an RM500Q */
                { "RM520F-GL", MODEM_FAMILY_GENERIC },
                { "RM5",       MODEM_FAMILY_GENERIC },
                { "RM500",     MODEM_FAMILY_GENERIC },
                { "EP0",       MODEM_FAMILY_GENERIC },
                { "BG77",      MODEM_FAMILY_GENERIC },
                { "BG96",      MODEM_FAMILY_GENERIC },
                { "EC200U",    MODEM_FAMILY_GENERIC },
                { "EC2",       MODEM_FAMILY_GENERIC },
                { "Quectel",   MODEM_FAMILY_GENERIC },
                { "",          MODEM_FAMILY_GENERIC },
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

/* ../shared/reference/modem.md §2.2, §2.3. */
static void test_from_usb(void **state) {
        static const struct {
                uint16_t vendor, product;
                int family;                 /* -1: not ours */
                uint8_t at_interface;
        } cases[] = {
                { 0x2c7c, 0x0125, MODEM_FAMILY_EC2X,  2 },      /* EC25, EG25-G */
                { 0x2c7c, 0x0121, MODEM_FAMILY_EC2X,  2 },      /* EC21 */
                { 0x2c7c, 0x0191, MODEM_FAMILY_EC2X,  2 },      /* EG91 */
                { 0x2c7c, 0x0195, MODEM_FAMILY_EC2X,  2 },      /* EG95 */
                { 0x2c7c, 0x0306, MODEM_FAMILY_EP06,  2 },      /* EP06, EG06, EM06 */
                { 0x2c7c, 0x0800, MODEM_FAMILY_RG50X, 2 },      /* RG50xQ, RM50xQ */
                { 0x2c7c, 0x0801, MODEM_FAMILY_RG50X, 2 },      /* RM520N */
                { 0x05c6, 0x9003, MODEM_FAMILY_UCXX,  2 },      /* UC20 (interface: Quectel convention) */
                { 0x05c6, 0x9090, MODEM_FAMILY_UCXX,  2 },      /* UC15 */
                { 0x2c7c, 0x0296, -1, 0 },                      /* BG96 */
                { 0x2c7c, 0x0128, -1, 0 },                      /* EM060K-GL */
                { 0x2c7c, 0x030b, -1, 0 },                      /* EM060K */
                { 0x2c7c, 0x0900, -1, 0 },                      /* RM500U-CN */
                { 0x05c6, 0x9215, -1, 0 },                      /* old EC20 */
                { 0x06c6, 0x9090, -1, 0 },                      /* the misprinted UC15 vendor (§2.3) */
                { 0x0125, 0x2c7c, -1, 0 },                      /* swapped */
                { 0x2c7c, 0x0000, -1, 0 },
                { 0x0000, 0x0000, -1, 0 },                      /* the table terminator is no device */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const ModemProfile *p = modem_profile_from_usb(cases[i].vendor, cases[i].product), *q = NULL;
                const UsbId *u = modem_usb_id_find(cases[i].vendor, cases[i].product, &q);

                if (cases[i].family < 0) {
                        if (p || u || q)
                                fail_msg("%04x:%04x: recognised as %s", cases[i].vendor, cases[i].product,
                                         p ? p->name : "?");
                        continue;
                }

                if (!p || p->family != cases[i].family)
                        fail_msg("%04x:%04x: %s, expected %s", cases[i].vendor, cases[i].product,
                                 p ? p->name : "none", modem_family_to_string(cases[i].family));
                assert_non_null(u);
                assert_ptr_equal(q, p);
                assert_int_equal(u->vendor, cases[i].vendor);
                assert_int_equal(u->product, cases[i].product);
                assert_int_equal(u->at_interface, cases[i].at_interface);
        }

        /* ret_profile is optional. */
        assert_non_null(modem_usb_id_find(0x2c7c, 0x0306, NULL));

        /* A UART module has no USB ids (modem.md §2.3 "BC26 is UART-only"). */
        assert_null(modem_profile_get(MODEM_FAMILY_BC26)->usb_ids);
        assert_null(modem_profile_get(MODEM_FAMILY_GENERIC)->usb_ids);
}

static void test_get(void **state) {
        for (ModemFamily f = 0; f < _MODEM_FAMILY_MAX; f++)
                assert_int_equal(modem_profile_get(f)->family, f);
        assert_null(modem_profile_get(_MODEM_FAMILY_MAX));
        assert_null(modem_profile_get(_MODEM_FAMILY_INVALID));
}

static void test_strings(void **state) {
        static const char *const names[_MODEM_FAMILY_MAX] = {
                [MODEM_FAMILY_EC2X]    = "ec2x",
                [MODEM_FAMILY_EP06]    = "ep06",
                [MODEM_FAMILY_RG50X]   = "rg50x",
                [MODEM_FAMILY_UCXX]    = "ucxx",
                [MODEM_FAMILY_BC26]    = "bc26",
                [MODEM_FAMILY_GENERIC] = "generic",
        };

        for (ModemFamily f = 0; f < _MODEM_FAMILY_MAX; f++) {
                assert_string_equal(modem_family_to_string(f), names[f]);
                assert_int_equal(modem_family_from_string(names[f]), f);
        }
        assert_int_equal(modem_family_from_string("EC2X"), -EINVAL);
        assert_int_equal(modem_family_from_string("rg500q"), -EINVAL);
        assert_int_equal(modem_family_from_string(NULL), -EINVAL);
        assert_null(modem_family_to_string(_MODEM_FAMILY_MAX));

        assert_string_equal(package_source_to_string(PACKAGE_SOURCE_FTP), "ftp");
        assert_string_equal(package_source_to_string(PACKAGE_SOURCE_HTTP), "http");
        assert_string_equal(package_source_to_string(PACKAGE_SOURCE_HTTPS), "https");
        assert_string_equal(package_source_to_string(PACKAGE_SOURCE_LOCAL_FILE), "local-file");
        for (PackageSource s = 0; s < _PACKAGE_SOURCE_MAX; s++)
                assert_int_equal(package_source_from_string(package_source_to_string(s)), s);
        assert_int_equal(package_source_from_string("local"), -EINVAL);

        /* The names the job record stores. */
        assert_string_equal(module_error_kind_to_string(MODULE_ERROR_FTP), "ftp");
        assert_string_equal(module_error_kind_to_string(MODULE_ERROR_HTTP), "http");
        assert_string_equal(module_error_kind_to_string(MODULE_ERROR_UPDATE), "update");
        for (ModuleErrorKind k = 0; k < _MODULE_ERROR_KIND_MAX; k++)
                assert_int_equal(module_error_kind_from_string(module_error_kind_to_string(k)), k);
        assert_null(module_error_kind_to_string(_MODULE_ERROR_KIND_MAX));
        assert_null(module_error_kind_to_string(_MODULE_ERROR_KIND_INVALID));
        assert_int_equal(module_error_kind_from_string("https"), -EINVAL);
        assert_int_equal(module_error_kind_from_string("FTP"), -EINVAL);
        assert_int_equal(module_error_kind_from_string(NULL), -EINVAL);
}

/* ---- URLs --------------------------------------------------------------------------------- */

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
                { "/cache/ufs/update-v13-to-v12.zip",                           PACKAGE_SOURCE_LOCAL_FILE },
                { "/",                                                          PACKAGE_SOURCE_LOCAL_FILE },
                /* UMTS/HSPA guide §3.3: AT+QFOTADL="UFS:delta.bin" */
                { "UFS:delta.bin",                                              PACKAGE_SOURCE_LOCAL_FILE },
                { "UFS:",                                                       PACKAGE_SOURCE_LOCAL_FILE },
                { "ufs:delta.bin",                                              -EINVAL },
                { "UFS",                                                        -EINVAL },
                { "",                                                           -EINVAL },
                { "file:///data/ufs/x.zip",                                     -EINVAL },
                { "ftp:/x",                                                     -EINVAL },
                { "httpx://x",                                                  -EINVAL },
                { "http:",                                                      -EINVAL },
                { "data/ufs/x.zip",                                             -EINVAL },
                { "cache/ufs/x.zip",                                            -EINVAL },
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

#define SCHEME_REASON "URL must start with ftp://, http://, https://, / or UFS: (a local file)"

static const UrlCase url_cases[] = {
        /* ---- ec2x. EC25&EC21 §3.1/§3.2: "max length is 255 bytes". */
        { MODEM_FAMILY_EC2X, "http://h/",   255, 0,       NULL },
        { MODEM_FAMILY_EC2X, "http://h/",   256, -EINVAL, "URL is 256 bytes; ec2x allows at most 255" },
        { MODEM_FAMILY_EC2X, "ftp://u:p@h/", 255, 0,      NULL },
        { MODEM_FAMILY_EC2X, "FTP://u:p@h/", 256, -EINVAL, "URL is 256 bytes; ec2x allows at most 255" },
        { MODEM_FAMILY_EC2X, "http://h/",   300, -EINVAL, "URL is 300 bytes; ec2x allows at most 255" },
        /* HTTPS: later EC2x firmware (EC2x DFOTA Upgrade Guide V1.3), same 255-byte limit. */
        { MODEM_FAMILY_EC2X, "https://h/",  255, 0,       NULL },
        { MODEM_FAMILY_EC2X, "https://h/",  256, -EINVAL, "URL is 256 bytes; ec2x allows at most 255" },
        /* §3.3: "max length is 128 bytes", "/data/ufs/" or "/media/card/". */
        { MODEM_FAMILY_EC2X, "/data/ufs/",  128, 0,       NULL },
        { MODEM_FAMILY_EC2X, "/data/ufs/",  129, -EINVAL, "local file name is 129 bytes; ec2x allows at most 128" },
        { MODEM_FAMILY_EC2X, "/media/card/", 128, 0,      NULL },
        { MODEM_FAMILY_EC2X, "/media/card/", 129, -EINVAL, "local file name is 129 bytes; ec2x allows at most 128" },
        { MODEM_FAMILY_EC2X, "/data/ufs/update-v13-to-v12.zip", 0, 0, NULL },
        { MODEM_FAMILY_EC2X, "/cache/ufs/update.zip", 0, -EINVAL, "local file must start with /data/ufs/ or /media/card/" },
        { MODEM_FAMILY_EC2X, "/data/ufsx.zip", 0, -EINVAL, "local file must start with /data/ufs/ or /media/card/" },
        { MODEM_FAMILY_EC2X, "/DATA/UFS/x.zip", 0, -EINVAL, "local file must start with /data/ufs/ or /media/card/" },
        { MODEM_FAMILY_EC2X, "UFS:delta.bin", 0, -EINVAL, "local file must start with /data/ufs/ or /media/card/" },
        { MODEM_FAMILY_EC2X, "/data/ufs/",  0,   -EINVAL, "local file name is missing after /data/ufs/" },
        { MODEM_FAMILY_EC2X, "gopher://h/x", 0,  -EINVAL, SCHEME_REASON },
        { MODEM_FAMILY_EC2X, "",            0,   -EINVAL, "URL is empty" },

        /* ---- ep06. EP06&EG06&EM06 §3.1 <ftpURL>, §3.2 <httpURL> "started with "http://" or
         * "https://"": 255 bytes. */
        { MODEM_FAMILY_EP06, "ftp://u:p@h/", 255, 0,      NULL },
        { MODEM_FAMILY_EP06, "ftp://u:p@h/", 256, -EINVAL, "URL is 256 bytes; ep06 allows at most 255" },
        { MODEM_FAMILY_EP06, "http://h/",   255, 0,       NULL },
        { MODEM_FAMILY_EP06, "http://h/",   256, -EINVAL, "URL is 256 bytes; ep06 allows at most 255" },
        { MODEM_FAMILY_EP06, "https://h/",  255, 0,       NULL },
        { MODEM_FAMILY_EP06, "https://h/",  256, -EINVAL, "URL is 256 bytes; ep06 allows at most 255" },
        /* §3.3: "The maximum length is 90 bytes. It should be started with "/data/ufs/"". */
        { MODEM_FAMILY_EP06, "/data/ufs/",  90,  0,       NULL },
        { MODEM_FAMILY_EP06, "/data/ufs/",  91,  -EINVAL, "local file name is 91 bytes; ep06 allows at most 90" },
        { MODEM_FAMILY_EP06, "/data/ufs/update-v13-to-v12.zip", 0, 0, NULL },
        { MODEM_FAMILY_EP06, "/media/card/x.zip", 0, -EINVAL, "local file must start with /data/ufs/" },
        { MODEM_FAMILY_EP06, "/cache/ufs/x.zip", 0, -EINVAL, "local file must start with /data/ufs/" },
        { MODEM_FAMILY_EP06, "UFS:x.zip",   0,   -EINVAL, "local file must start with /data/ufs/" },
        { MODEM_FAMILY_EP06, "/data/ufs/",  0,   -EINVAL, "local file name is missing after /data/ufs/" },

        /* ---- rg50x. RG50xQ note §3.3.1 <FTP_URL>, §3.3.2 <HTTP_URL> "http(s)://": "Maximum
         * length is 512 bytes". */
        { MODEM_FAMILY_RG50X, "ftp://u:p@h/", 512, 0,      NULL },
        { MODEM_FAMILY_RG50X, "ftp://u:p@h/", 513, -EINVAL, "URL is 513 bytes; rg50x allows at most 512" },
        { MODEM_FAMILY_RG50X, "http://h/",   512, 0,       NULL },
        { MODEM_FAMILY_RG50X, "http://h/",   513, -EINVAL, "URL is 513 bytes; rg50x allows at most 512" },
        { MODEM_FAMILY_RG50X, "https://h/",  512, 0,       NULL },
        { MODEM_FAMILY_RG50X, "https://h/",  513, -EINVAL, "URL is 513 bytes; rg50x allows at most 512" },
        /* §3.3.3: "/cache/ufs/" as in the example (the table's "cache/ufs/" is no absolute path),
         * "Maximum length is 512 bytes". */
        { MODEM_FAMILY_RG50X, "/cache/ufs/", 512, 0,       NULL },
        { MODEM_FAMILY_RG50X, "/cache/ufs/", 513, -EINVAL, "local file name is 513 bytes; rg50x allows at most 512" },
        { MODEM_FAMILY_RG50X, "/cache/ufs/update-v13-to-v12.zip", 0, 0, NULL },
        { MODEM_FAMILY_RG50X, "cache/ufs/update-v13-to-v12.zip", 0, -EINVAL, SCHEME_REASON },
        { MODEM_FAMILY_RG50X, "/data/ufs/x.zip", 0, -EINVAL, "local file must start with /cache/ufs/" },
        { MODEM_FAMILY_RG50X, "/usrdata/cache/ufs/x.zip", 0, -EINVAL, "local file must start with /cache/ufs/" },
        { MODEM_FAMILY_RG50X, "UFS:x.zip",   0,   -EINVAL, "local file must start with /cache/ufs/" },
        { MODEM_FAMILY_RG50X, "/cache/ufs/", 0,   -EINVAL, "local file name is missing after /cache/ufs/" },

        /* ---- ucxx. UMTS/HSPA ch. 3 <ftpurl> "FTP://", <httpurl> "HTTP://": 255 bytes; no HTTPS. */
        { MODEM_FAMILY_UCXX, "FTP://u:p@h/", 255, 0,      NULL },
        { MODEM_FAMILY_UCXX, "FTP://u:p@h/", 256, -EINVAL, "URL is 256 bytes; ucxx allows at most 255" },
        { MODEM_FAMILY_UCXX, "HTTP://h/",   255, 0,       NULL },
        { MODEM_FAMILY_UCXX, "HTTP://h/",   256, -EINVAL, "URL is 256 bytes; ucxx allows at most 255" },
        { MODEM_FAMILY_UCXX, "https://h/x.bin", 0, -EINVAL,
          "HTTPS is not supported by ucxx (UMTS/HSPA DFOTA User Guide ch. 3: FTP, HTTP and UFS: files only)" },
        /* §3.3 "UFS:delta.bin"; ch. 3 <file_name> "max length is 128 bytes". */
        { MODEM_FAMILY_UCXX, "UFS:delta.bin", 0, 0,       NULL },
        { MODEM_FAMILY_UCXX, "UFS:",        128, 0,       NULL },
        { MODEM_FAMILY_UCXX, "UFS:",        129, -EINVAL, "local file name is 129 bytes; ucxx allows at most 128" },
        { MODEM_FAMILY_UCXX, "UFS:",        0,   -EINVAL, "local file name is missing after UFS:" },
        { MODEM_FAMILY_UCXX, "/data/ufs/x.zip", 0, -EINVAL, "local file must start with UFS:" },

        /* ---- bc26. BC26 §3.1 <httpURL>: "The max length is 255 bytes. It should be started with
         * "HTTP://" or "HTTPS://"". No FTP, no local file. */
        { MODEM_FAMILY_BC26, "HTTP://h/",   255, 0,       NULL },
        { MODEM_FAMILY_BC26, "http://h/",   256, -EINVAL, "URL is 256 bytes; bc26 allows at most 255" },
        { MODEM_FAMILY_BC26, "HTTPS://h/",  255, 0,       NULL },
        { MODEM_FAMILY_BC26, "https://h/",  256, -EINVAL, "URL is 256 bytes; bc26 allows at most 255" },
        { MODEM_FAMILY_BC26, "http://www.quectel.com:100/update.zip", 0, 0, NULL },
        { MODEM_FAMILY_BC26, "ftp://u:p@h/x", 0, -EINVAL,
          "FTP is not supported by bc26 (BC26 DFOTA User Guide §3.1: HTTP(S) only)" },
        { MODEM_FAMILY_BC26, "/data/ufs/x.zip", 0, -EINVAL,
          "a local file is not supported by bc26 (BC26 DFOTA User Guide §3.1: HTTP(S) only)" },
        { MODEM_FAMILY_BC26, "UFS:x.zip",   0,   -EINVAL,
          "a local file is not supported by bc26 (BC26 DFOTA User Guide §3.1: HTTP(S) only)" },

        /* ---- generic: 255 for URLs, 90 and /data/ufs/ only for local files (EP06&EG06&EM06 §3.3). */
        { MODEM_FAMILY_GENERIC, "http://h/",  255, 0,       NULL },
        { MODEM_FAMILY_GENERIC, "ftp://h/",   256, -EINVAL, "URL is 256 bytes; generic allows at most 255" },
        { MODEM_FAMILY_GENERIC, "https://h/x", 0,  -EINVAL, "HTTPS is not supported by generic (not documented by every Quectel DFOTA guide)" },
        { MODEM_FAMILY_GENERIC, "/data/ufs/", 90,  0,       NULL },
        { MODEM_FAMILY_GENERIC, "/data/ufs/", 91,  -EINVAL, "local file name is 91 bytes; generic allows at most 90" },
        { MODEM_FAMILY_GENERIC, "/media/card/x.zip", 0, -EINVAL, "local file must start with /data/ufs/" },
        { MODEM_FAMILY_GENERIC, "UFS:x.zip",  0,   -EINVAL, "local file must start with /data/ufs/" },
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

        assert_int_equal(modem_profile_check_url(NULL, "http://h/", NULL), -EINVAL);
}

/* ---- error tables ------------------------------------------------------------------------- */

typedef struct MeaningCase {
        ModemFamily family;
        ModuleErrorKind kind;
        int code;
        const char *meaning;        /* NULL: not in the table */
} MeaningCase;

static void check_meanings(const MeaningCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const char *m = modem_profile_error_meaning(modem_profile_get(cases[i].family),
                                                            cases[i].kind, cases[i].code);

                if (!streq_ptr(m, cases[i].meaning))
                        fail_msg("%s %s table, code %d: '%s', expected '%s'",
                                 modem_family_to_string(cases[i].family), module_error_kind_to_string(cases[i].kind),
                                 cases[i].code, strna(m), strna(cases[i].meaning));
        }
}

#define FTP    MODULE_ERROR_FTP
#define HTTP   MODULE_ERROR_HTTP
#define UPDATE MODULE_ERROR_UPDATE

static void test_error_meaning_ec2x(void **state) {
        static const MeaningCase cases[] = {
                /* EC25&EC21 ch. 4 Table 1 */
                { MODEM_FAMILY_EC2X, FTP,    0,   "Operation successful" },
                { MODEM_FAMILY_EC2X, FTP,    601, "Unknown error" },
                { MODEM_FAMILY_EC2X, FTP,    504, EC25_504 },
                { MODEM_FAMILY_EC2X, FTP,    505, EC25_505 },
                { MODEM_FAMILY_EC2X, FTP,    701, NULL },
                { MODEM_FAMILY_EC2X, FTP,    602, NULL },
                /* ch. 5 Table 2 */
                { MODEM_FAMILY_EC2X, HTTP,   0,   "Operation successful" },
                { MODEM_FAMILY_EC2X, HTTP,   701, "HTTP unknown error" },
                { MODEM_FAMILY_EC2X, HTTP,   504, EC25_504 },
                { MODEM_FAMILY_EC2X, HTTP,   505, EC25_505 },
                { MODEM_FAMILY_EC2X, HTTP,   601, NULL },
                { MODEM_FAMILY_EC2X, HTTP,   702, NULL },
                /* §3 <err>: "0 means OK", plus 504/505 */
                { MODEM_FAMILY_EC2X, UPDATE, 0,   "OK" },
                { MODEM_FAMILY_EC2X, UPDATE, 504, EC25_504 },
                { MODEM_FAMILY_EC2X, UPDATE, 505, EC25_505 },
                { MODEM_FAMILY_EC2X, UPDATE, 601, NULL },
                { MODEM_FAMILY_EC2X, UPDATE, 510, NULL },
                { MODEM_FAMILY_EC2X, UPDATE, 520, NULL },
                { MODEM_FAMILY_EC2X, UPDATE, -1,  NULL },
        };

        check_meanings(cases, ELEMENTSOF(cases));
}

static void test_error_meaning_ep06(void **state) {
        static const MeaningCase cases[] = {
                /* EP06&EG06&EM06 ch. 5 Table 1 */
                { MODEM_FAMILY_EP06, FTP,    0,   "FTP download operation successful" },
                { MODEM_FAMILY_EP06, FTP,    601, "FTP unknown error" },
                { MODEM_FAMILY_EP06, FTP,    602, NULL },
                { MODEM_FAMILY_EP06, FTP,    504, NULL },
                { MODEM_FAMILY_EP06, HTTP,   0,   "HTTP(S) download operation successful" },
                { MODEM_FAMILY_EP06, HTTP,   701, "HTTP(S) unknown error" },
                { MODEM_FAMILY_EP06, HTTP,   702, NULL },
                { MODEM_FAMILY_EP06, HTTP,   601, NULL },
                { MODEM_FAMILY_EP06, UPDATE, 0,   "Firmware upgrade successful" },
                { MODEM_FAMILY_EP06, UPDATE, 502, "The upgrade process exits for some unpredictable errors." },
                { MODEM_FAMILY_EP06, UPDATE, 503, NULL },
                { MODEM_FAMILY_EP06, UPDATE, 504, "Something wrong with the upgrade package file" },
                { MODEM_FAMILY_EP06, UPDATE, 505, "Something wrong with the upgrade package file" },
                { MODEM_FAMILY_EP06, UPDATE, 506, NULL },
                { MODEM_FAMILY_EP06, UPDATE, 510, "The patch does not match the source file in the module, need to check whether the upgrade package is wrong." },
                { MODEM_FAMILY_EP06, UPDATE, 511, "The file system has no enough space for upgrading." },
                { MODEM_FAMILY_EP06, UPDATE, 512, NULL },
                /* 520-530 and 540-546: both ends and one past */
                { MODEM_FAMILY_EP06, UPDATE, 519, NULL },
                { MODEM_FAMILY_EP06, UPDATE, 520, "Firmware upgrade failed" },
                { MODEM_FAMILY_EP06, UPDATE, 525, "Firmware upgrade failed" },
                { MODEM_FAMILY_EP06, UPDATE, 530, "Firmware upgrade failed" },
                { MODEM_FAMILY_EP06, UPDATE, 531, NULL },
                { MODEM_FAMILY_EP06, UPDATE, 539, NULL },
                { MODEM_FAMILY_EP06, UPDATE, 540, "Firmware upgrade failed" },
                { MODEM_FAMILY_EP06, UPDATE, 546, "Firmware upgrade failed" },
                { MODEM_FAMILY_EP06, UPDATE, 547, NULL },
                { MODEM_FAMILY_EP06, UPDATE, 550, NULL },
                { MODEM_FAMILY_EP06, UPDATE, 601, NULL },
        };

        check_meanings(cases, ELEMENTSOF(cases));
}

#define RG50X_RETRY "Firmware upgrading failed. The module will reboot and retry to upgrade the firmware until the upgrade is successful."

static void test_error_meaning_rg50x(void **state) {
        static const MeaningCase cases[] = {
                /* RG50xQ note ch. 5 Table 3 */
                { MODEM_FAMILY_RG50X, FTP,    0,   "Downloaded the firmware package from the FTP server successfully" },
                { MODEM_FAMILY_RG50X, FTP,    601, "FTP Unknown error" },
                { MODEM_FAMILY_RG50X, FTP,    600, NULL },
                { MODEM_FAMILY_RG50X, FTP,    602, NULL },
                /* Table 4 */
                { MODEM_FAMILY_RG50X, HTTP,   0,   "Downloaded the firmware package from the HTTP(S) server successfully" },
                { MODEM_FAMILY_RG50X, HTTP,   701, "Failed to download the firmware package from the HTTP(S) server" },
                { MODEM_FAMILY_RG50X, HTTP,   700, NULL },
                { MODEM_FAMILY_RG50X, HTTP,   702, NULL },
                /* Table 5 */
                { MODEM_FAMILY_RG50X, UPDATE, 0,   "Upgraded the firmware successfully" },
                { MODEM_FAMILY_RG50X, UPDATE, 1,   NULL },
                { MODEM_FAMILY_RG50X, UPDATE, 501, NULL },
                { MODEM_FAMILY_RG50X, UPDATE, 502, "The upgrade process exits due to some unknown errors or exceptions. The system will retry five times." },
                { MODEM_FAMILY_RG50X, UPDATE, 503, NULL },
                { MODEM_FAMILY_RG50X, UPDATE, 504, "Incorrect zip format" },
                { MODEM_FAMILY_RG50X, UPDATE, 505, "The project or the version of the package does not match." },
                { MODEM_FAMILY_RG50X, UPDATE, 506, NULL },
                { MODEM_FAMILY_RG50X, UPDATE, 510, "The firmware package file does not match the source package file of the module, and needs to be checked if it is wrong." },
                { MODEM_FAMILY_RG50X, UPDATE, 511, "The file system has no enough space for upgrade." },
                { MODEM_FAMILY_RG50X, UPDATE, 512, NULL },
                { MODEM_FAMILY_RG50X, UPDATE, 519, NULL },
                { MODEM_FAMILY_RG50X, UPDATE, 520, RG50X_RETRY },
                { MODEM_FAMILY_RG50X, UPDATE, 530, RG50X_RETRY },
                { MODEM_FAMILY_RG50X, UPDATE, 531, NULL },
                { MODEM_FAMILY_RG50X, UPDATE, 539, NULL },
                { MODEM_FAMILY_RG50X, UPDATE, 540, RG50X_RETRY },
                { MODEM_FAMILY_RG50X, UPDATE, 546, RG50X_RETRY },
                { MODEM_FAMILY_RG50X, UPDATE, 547, NULL },
                { MODEM_FAMILY_RG50X, UPDATE, 549, NULL },
                { MODEM_FAMILY_RG50X, UPDATE, 550, "The firmware package is too large." },
                { MODEM_FAMILY_RG50X, UPDATE, 551, NULL },
        };

        check_meanings(cases, ELEMENTSOF(cases));
}

/* UMTS/HSPA ch. 4 Table 1 and ch. 5, verbatim, in code order. */
static const char *const ucxx_ftp[] = {
        "Unknown error",                                            /* 601 */
        "FTP service blocked",
        "FTP service busy",
        "DNS parse fail",
        "Network error",                                            /* 605 */
        "Control connection closed",
        "Data connection closed",
        "Socket closed by peer",
        "Timeout error",
        "Invalid parameter",                                        /* 610 */
        "Failed to open file",
        "File position invalid",
        "File error",
        "Service not available, closing control connection",
        "Open data connection fail",                                /* 615 */
        "Connection closed; transfer aborted",
        "Requested file action not taken",
        "Requested action aborted: local error in processing",
        "Requested action not taken: insufficient system storage",  /* 619: after the page break */
        "Syntax error, command unrecognized",                       /* 620 */
        "Syntax error in parameters or arguments",
        "Command not implemented",
        "Bad sequence of commands",
        "Command parameter not implemented",
        "Fail to login FTP",                                        /* 625 */
        "Need account for storing files",
        "Requested action not taken.",
        "Requested action aborted: page type unknown",
        "Requested file action aborted",
        "Requested file name invalid",                              /* 630 */
};

static const char *const ucxx_http[] = {
        "HTTP unknown error",                                       /* 701 */
        "HTTP timeout",
        "HTTP busy",
        "HTTP UART busy",
        "HTTP does not get/post request",                           /* 705 */
        "HTTP network busy",
        "HTTP network open failure",
        "HTTP network not configured",
        "HTTP network deactivated",
        "HTTP network error",                                       /* 710 */
        "HTTP URL error",
        "HTTP empty URL",
        "HTTP IP address error",
        "HTTP DNS error",
        "HTTP socket create error",                                 /* 715 */
        "HTTP socket connect error",
        "HTTP socket read error",
        "HTTP socket write error",
        "HTTP socket close",                                        /* 719: after the page break */
        "HTTP data encode error",                                   /* 720 */
        "HTTP data decode error",
        "HTTP read timeout",
        "HTTP response failure",
        "Incoming call busy",
        "Voice call busy",                                          /* 725 */
        "Input timeout",
        "Wait for data timeout",
        "HTTP response timeout",
        "Allocate memory failure",
        "Invalid parameter",                                        /* 730 */
};

static void test_error_meaning_ucxx(void **state) {
        const ModemProfile *p = modem_profile_get(MODEM_FAMILY_UCXX);
        static const MeaningCase cases[] = {
                /* ch. 3 "<ftp_err> ... 0 means OK" (the table has no 0 row) */
                { MODEM_FAMILY_UCXX, FTP,    0,   "OK" },
                { MODEM_FAMILY_UCXX, FTP,    600, NULL },
                { MODEM_FAMILY_UCXX, FTP,    631, NULL },
                { MODEM_FAMILY_UCXX, FTP,    701, NULL },
                { MODEM_FAMILY_UCXX, HTTP,   0,   "Operation successful" },
                { MODEM_FAMILY_UCXX, HTTP,   700, NULL },
                { MODEM_FAMILY_UCXX, HTTP,   731, NULL },
                { MODEM_FAMILY_UCXX, HTTP,   601, NULL },
                /* ch. 3 "<err> Integer type, 0 means OK, else ERROR": no table */
                { MODEM_FAMILY_UCXX, UPDATE, 0,   "OK" },
                { MODEM_FAMILY_UCXX, UPDATE, 1,   NULL },
                { MODEM_FAMILY_UCXX, UPDATE, 504, NULL },
                { MODEM_FAMILY_UCXX, UPDATE, 505, NULL },
        };

        assert_int_equal(ELEMENTSOF(ucxx_ftp), 30);
        assert_int_equal(ELEMENTSOF(ucxx_http), 30);

        for (size_t i = 0; i < ELEMENTSOF(ucxx_ftp); i++) {
                const char *m = modem_profile_error_meaning(p, FTP, 601 + (int) i);

                if (!streq_ptr(m, ucxx_ftp[i]))
                        fail_msg("ucxx <ftp_err> %zu: '%s', expected '%s'", 601 + i, strna(m), ucxx_ftp[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(ucxx_http); i++) {
                const char *m = modem_profile_error_meaning(p, HTTP, 701 + (int) i);

                if (!streq_ptr(m, ucxx_http[i]))
                        fail_msg("ucxx <http_err> %zu: '%s', expected '%s'", 701 + i, strna(m), ucxx_http[i]);
        }

        check_meanings(cases, ELEMENTSOF(cases));
}

static void test_error_meaning_bc26(void **state) {
        static const MeaningCase cases[] = {
                /* BC26 ch. 5 Table 1 */
                { MODEM_FAMILY_BC26, HTTP,   0,   "Downloaded successfully" },
                { MODEM_FAMILY_BC26, HTTP,   12,  "HTTP(S) download failed" },
                { MODEM_FAMILY_BC26, HTTP,   13,  "Network deactivated" },
                { MODEM_FAMILY_BC26, HTTP,   20,  "Network activating" },
                { MODEM_FAMILY_BC26, HTTP,   11,  NULL },
                { MODEM_FAMILY_BC26, HTTP,   14,  NULL },
                { MODEM_FAMILY_BC26, HTTP,   19,  NULL },
                { MODEM_FAMILY_BC26, HTTP,   21,  NULL },
                { MODEM_FAMILY_BC26, HTTP,   701, NULL },
                /* Table 2 */
                { MODEM_FAMILY_BC26, UPDATE, 0,   "Upgraded successfully" },
                { MODEM_FAMILY_BC26, UPDATE, 1,   "Unknown error" },
                { MODEM_FAMILY_BC26, UPDATE, 2,   "FOTA is busy" },
                { MODEM_FAMILY_BC26, UPDATE, 254, "Delta firmware package mismatch" },
                { MODEM_FAMILY_BC26, UPDATE, 255, "Delta firmware package invalid" },
                { MODEM_FAMILY_BC26, UPDATE, 3,   NULL },
                { MODEM_FAMILY_BC26, UPDATE, 253, NULL },
                { MODEM_FAMILY_BC26, UPDATE, 256, NULL },
                { MODEM_FAMILY_BC26, UPDATE, 504, NULL },
                /* No FTP, no <ftp_err> table. */
                { MODEM_FAMILY_BC26, FTP,    0,   NULL },
                { MODEM_FAMILY_BC26, FTP,    601, NULL },
        };

        check_meanings(cases, ELEMENTSOF(cases));
        assert_null(modem_profile_get(MODEM_FAMILY_BC26)->errors[FTP]);
}

static void test_error_meaning_generic(void **state) {
        static const MeaningCase cases[] = {
                { MODEM_FAMILY_GENERIC, FTP,    601, "FTP unknown error" },
                { MODEM_FAMILY_GENERIC, HTTP,   701, "HTTP unknown error" },
                { MODEM_FAMILY_GENERIC, UPDATE, 0,   "OK" },
                { MODEM_FAMILY_GENERIC, HTTP,   702, NULL },
                { MODEM_FAMILY_GENERIC, UPDATE, 502, NULL },
                { MODEM_FAMILY_GENERIC, UPDATE, 520, NULL },
        };

        check_meanings(cases, ELEMENTSOF(cases));

        /* generic's 504/505 exist in every table, whatever their wording. */
        for (ModuleErrorKind k = 0; k < _MODULE_ERROR_KIND_MAX; k++) {
                assert_non_null(modem_profile_error_meaning(modem_profile_get(MODEM_FAMILY_GENERIC), k, 504));
                assert_non_null(modem_profile_error_meaning(modem_profile_get(MODEM_FAMILY_GENERIC), k, 505));
        }

        assert_null(modem_profile_error_meaning(NULL, FTP, 601));
        assert_null(modem_profile_error_meaning(modem_profile_get(MODEM_FAMILY_EC2X), _MODULE_ERROR_KIND_MAX, 0));
        assert_null(modem_profile_error_meaning(modem_profile_get(MODEM_FAMILY_EC2X), _MODULE_ERROR_KIND_INVALID, 0));
}

/* ---- per-family values -------------------------------------------------------------------- */

static void assert_strv_equal(const char *const *got, const char *const *want) {
        size_t i;

        assert_non_null(got);
        for (i = 0; want[i]; i++) {
                if (!got[i])
                        fail_msg("list ends at %zu, expected '%s'", i, want[i]);
                assert_string_equal(got[i], want[i]);
        }
        if (got[i])
                fail_msg("list has '%s' at %zu, expected its end", got[i], i);
}

/* The commands of the profile's preflight checks, in order, equal want (NULL-terminated). */
static void assert_preflight_commands(const ModemProfile *p, const char *const *want) {
        size_t n = 0;

        for (; want[n]; n++) {
                assert_true(n < p->n_preflight_checks);
                assert_string_equal(preflight_check_to_string(p->preflight_checks[n]), want[n]);
        }
        assert_int_equal(n, p->n_preflight_checks);
}

static bool strv_contains(const char *const *l, const char *s) {
        for (; l && *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
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
        assert_strv_equal(p->local_prefixes, (const char *const[]) { "/data/ufs/", "/media/card/", NULL });
        assert_true(p->reboots_after_download);
        assert_false(p->port_survives_reboot);
        assert_int_equal(p->max_attempts, 5);
        assert_int_equal(p->qfotadl_response_usec, 5 * USEC_PER_SEC);
        assert_false(p->qfotadl_cme_is_module_error);
        assert_false(p->needs_pdp_context);
        assert_preflight_commands(p, (const char *const[]) { "AT+CPIN?", "AT+CREG?", "AT+CSQ", NULL });
        assert_strv_equal(p->urc_words, (const char *const[]) {
                "FTPSTART", "FTPEND", "HTTPSTART", "HTTPEND", "HTTPSSTART", "HTTPSEND", "START", "UPDATING", "END", NULL });
}

static void test_ep06_values(void **state) {
        const ModemProfile *p = modem_profile_get(MODEM_FAMILY_EP06);

        assert_string_equal(p->name, "ep06");
        assert_non_null(strstr(p->guide, "EP06&EG06&EM06"));
        assert_true(p->source_allowed[PACKAGE_SOURCE_FTP]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_HTTP]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_HTTPS]);    /* §3.2 "http://" or "https://" */
        assert_true(p->source_allowed[PACKAGE_SOURCE_LOCAL_FILE]);
        assert_int_equal(p->url_max, 255);
        assert_int_equal(p->local_max, 90);
        assert_strv_equal(p->local_prefixes, (const char *const[]) { "/data/ufs/", NULL });
        assert_true(p->reboots_after_download);                  /* ch. 3 */
        assert_false(p->port_survives_reboot);
        assert_int_equal(p->max_attempts, 5);                    /* §4.1 NOTE */
        assert_int_equal(p->qfotadl_response_usec, 5 * USEC_PER_SEC);
        assert_false(p->qfotadl_cme_is_module_error);
        assert_false(p->needs_pdp_context);
        assert_preflight_commands(p, (const char *const[]) { "AT+CPIN?", "AT+CEREG?", "AT+CSQ", NULL });
        assert_strv_equal(p->urc_words, (const char *const[]) {
                "FTPSTART", "FTPEND", "HTTPSTART", "HTTPEND", "START", "UPDATING", "END", NULL });
}

static void test_rg50x_values(void **state) {
        const ModemProfile *p = modem_profile_get(MODEM_FAMILY_RG50X);

        assert_string_equal(p->name, "rg50x");
        assert_non_null(strstr(p->guide, "RG50xQ&RM5xxQ"));
        assert_true(p->source_allowed[PACKAGE_SOURCE_FTP]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_HTTP]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_HTTPS]);    /* §3.3.2 "http(s)://" */
        assert_true(p->source_allowed[PACKAGE_SOURCE_LOCAL_FILE]);
        assert_int_equal(p->url_max, 512);
        assert_int_equal(p->local_max, 512);
        assert_strv_equal(p->local_prefixes, (const char *const[]) { "/cache/ufs/", NULL });
        assert_true(p->reboots_after_download);                  /* §3.3.1 example */
        assert_false(p->port_survives_reboot);
        /* ch. 4: five consecutive failures; Table 5's "until the upgrade is successful" is left to
         * the module (the revision decides). */
        assert_int_equal(p->max_attempts, 5);
        /* "Maximum Response Time 300 ms", with a safe margin. */
        assert_true(p->qfotadl_response_usec >= 10 * 300 * USEC_PER_MSEC);
        assert_int_equal(p->qfotadl_response_usec, 5 * USEC_PER_SEC);
        assert_false(p->qfotadl_cme_is_module_error);
        assert_false(p->needs_pdp_context);
        assert_preflight_commands(p, (const char *const[]) { "AT+CPIN?", "AT+CEREG?", "AT+CSQ", NULL });
        /* §3.3.2: HTTPPEND (table and example), HTTPEND (every other guide). */
        assert_true(strv_contains(p->urc_words, "HTTPPEND"));
        assert_true(strv_contains(p->urc_words, "HTTPEND"));
        assert_true(strv_contains(p->urc_words, "FTPSTART"));
        assert_false(strv_contains(p->urc_words, "DOWNLOADING"));
}

static void test_ucxx_values(void **state) {
        const ModemProfile *p = modem_profile_get(MODEM_FAMILY_UCXX);

        assert_string_equal(p->name, "ucxx");
        assert_non_null(strstr(p->guide, "UMTS/HSPA"));
        assert_true(p->source_allowed[PACKAGE_SOURCE_FTP]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_HTTP]);
        assert_false(p->source_allowed[PACKAGE_SOURCE_HTTPS]);   /* FTP/HTTP only */
        assert_true(p->source_allowed[PACKAGE_SOURCE_LOCAL_FILE]);
        assert_int_equal(p->url_max, 255);
        assert_int_equal(p->local_max, 128);
        assert_strv_equal(p->local_prefixes, (const char *const[]) { "UFS:", NULL });
        assert_true(p->reboots_after_download);                  /* §3.1 example */
        assert_false(p->port_survives_reboot);
        assert_int_equal(p->max_attempts, 5);                    /* not in the guide: our choice */
        assert_int_equal(p->qfotadl_response_usec, 90 * USEC_PER_SEC);  /* ch. 3 table */
        assert_false(p->qfotadl_cme_is_module_error);
        assert_true(p->needs_pdp_context);                       /* ch. 3, AT+QICSGP/fota/cid */
        assert_preflight_commands(p, (const char *const[]) { "AT+CPIN?", "AT+CREG?", "AT+CSQ", NULL });
        assert_strv_equal(p->urc_words, (const char *const[]) {
                "FTPSTART", "FTPEND", "HTTPSTART", "HTTPEND", "START", "UPDATING", "END", NULL });
}

static void test_bc26_values(void **state) {
        const ModemProfile *p = modem_profile_get(MODEM_FAMILY_BC26);

        assert_string_equal(p->name, "bc26");
        assert_non_null(strstr(p->guide, "BC26"));
        assert_false(p->source_allowed[PACKAGE_SOURCE_FTP]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_HTTP]);
        assert_true(p->source_allowed[PACKAGE_SOURCE_HTTPS]);    /* table yes, NOTE "not supported currently" */
        assert_false(p->source_allowed[PACKAGE_SOURCE_LOCAL_FILE]);
        assert_int_equal(p->url_max, 255);
        assert_null(p->local_prefixes);
        assert_null(p->usb_ids);
        /* ch. 3: "After finishing the package download, the module will automatically upgrade". */
        assert_false(p->reboots_after_download);
        assert_true(p->port_survives_reboot);                    /* UART */
        /* ch. 3: "otherwise it will return an error and exit from DFOTA". */
        assert_int_equal(p->max_attempts, 1);
        assert_int_equal(p->qfotadl_response_usec, 5 * USEC_PER_SEC);
        assert_true(p->qfotadl_cme_is_module_error);             /* §3.1 "+CME ERROR: <err>" */
        assert_false(p->needs_pdp_context);
        /* §2.3 and the §4.1 example. */
        assert_preflight_commands(p,
                          (const char *const[]) { "AT+CPIN?", "AT+CESQ", "AT+CEREG?", "AT+CGPADDR=1", NULL });
        assert_strv_equal(p->urc_words, (const char *const[]) {
                "HTTPSTART", "HTTPTART", "DOWNLOADING", "HTTPPEND", "HTTPEND", "START", "UPDATING", "END", NULL });
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
        assert_strv_equal(p->local_prefixes, (const char *const[]) { "/data/ufs/", NULL });
        assert_true(p->reboots_after_download);
        assert_false(p->port_survives_reboot);
        assert_int_equal(p->max_attempts, 5);
        assert_false(p->qfotadl_cme_is_module_error);
        assert_false(p->needs_pdp_context);
        assert_preflight_commands(p, (const char *const[]) { "AT+CPIN?", "AT+CREG?", "AT+CSQ", NULL });

        /* The most conservative value of every family: the smallest limits, the longest waits,
         * the most attempts, no HTTPS unless every family has it. */
        for (ModemFamily f = 0; f < _MODEM_FAMILY_MAX; f++) {
                const ModemProfile *q = modem_profile_get(f);

                assert_true(p->url_max <= q->url_max);
                if (q->source_allowed[PACKAGE_SOURCE_LOCAL_FILE])
                        assert_true(p->local_max <= q->local_max);
                assert_true(p->qfotadl_response_usec >= q->qfotadl_response_usec);
                assert_true(p->max_attempts >= q->max_attempts);
                if (!q->source_allowed[PACKAGE_SOURCE_HTTPS])
                        assert_false(p->source_allowed[PACKAGE_SOURCE_HTTPS]);
        }
}

/* ---- invariants --------------------------------------------------------------------------- */

/* What every profile, present and future, must satisfy for the engine to use it blindly. */
static void test_invariants(void **state) {
        for (ModemFamily f = 0; f < _MODEM_FAMILY_MAX; f++) {
                const ModemProfile *p = modem_profile_get(f);
                bool downloads = p->source_allowed[PACKAGE_SOURCE_FTP] ||
                                 p->source_allowed[PACKAGE_SOURCE_HTTP] ||
                                 p->source_allowed[PACKAGE_SOURCE_HTTPS];

                assert_non_null(p);
                assert_int_equal(p->family, f);
                assert_string_equal(p->name, modem_family_to_string(f));
                assert_non_null(p->description);
                assert_non_null(p->guide);
                assert_non_null(p->sources_citation);
                assert_non_null(p->preflight_checks);
                assert_true(p->n_preflight_checks >= 2);
                assert_non_null(p->urc_words);
                assert_true(downloads || p->source_allowed[PACKAGE_SOURCE_LOCAL_FILE]);
                assert_true(p->url_max >= strlen("https://h/x"));
                assert_true(p->max_attempts >= 1);
                assert_true(p->qfotadl_response_usec > 0);

                /* Local files: a prefix, and room for a name after each. */
                if (p->source_allowed[PACKAGE_SOURCE_LOCAL_FILE]) {
                        assert_non_null(p->local_prefixes);
                        assert_non_null(p->local_prefixes[0]);
                        for (const char *const *i = p->local_prefixes; *i; i++) {
                                assert_true(p->local_max > strlen(*i));
                                /* package_source_from_url() must see it as a local file. */
                                assert_int_equal(package_source_from_url(*i), PACKAGE_SOURCE_LOCAL_FILE);
                        }
                }

                /* A port that stays cannot be one that disappears with every reboot. */
                if (p->port_survives_reboot)
                        assert_null(p->usb_ids);

                /* A table for every error kind the family can report; each ends, has valid ranges,
                 * and says what 0 (success) means. */
                for (ModuleErrorKind k = 0; k < _MODULE_ERROR_KIND_MAX; k++) {
                        bool needed = k == MODULE_ERROR_UPDATE ||
                                      (k == MODULE_ERROR_FTP && p->source_allowed[PACKAGE_SOURCE_FTP]) ||
                                      (k == MODULE_ERROR_HTTP && (p->source_allowed[PACKAGE_SOURCE_HTTP] ||
                                                                  p->source_allowed[PACKAGE_SOURCE_HTTPS]));
                        size_t n = 0;

                        if (!needed) {
                                assert_null(p->errors[k]);
                                continue;
                        }

                        assert_non_null(p->errors[k]);
                        for (const ModuleErrorInfo *e = p->errors[k]; e->meaning; e++) {
                                assert_true(++n < 1000);
                                assert_true(e->code >= 0);
                                assert_true(e->code_last == 0 || e->code_last > e->code);
                                /* No code in two rows. */
                                for (const ModuleErrorInfo *o = p->errors[k]; o != e; o++) {
                                        int e_last = e->code_last ?: e->code, o_last = o->code_last ?: o->code;

                                        if (e->code <= o_last && o->code <= e_last)
                                                fail_msg("%s %s table: %d and %d overlap", p->name,
                                                         module_error_kind_to_string(k), e->code, o->code);
                                }
                        }
                        assert_non_null(modem_profile_error_meaning(p, k, 0));
                }

                /* Each model of a family is recognised as that family. */
                if (p->models)
                        for (const char *const *m = p->models; *m; m++)
                                assert_ptr_equal(modem_profile_from_model(*m), p);

                /* Each USB id leads back to its family, and to its own row (no id in two rows). */
                if (p->usb_ids)
                        for (const UsbId *u = p->usb_ids; u->vendor != 0; u++) {
                                const ModemProfile *q = NULL;

                                assert_ptr_equal(modem_usb_id_find(u->vendor, u->product, &q), u);
                                assert_ptr_equal(q, p);
                        }
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_from_model),
                cmocka_unit_test(test_from_usb),
                cmocka_unit_test(test_get),
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_source_from_url),
                cmocka_unit_test(test_check_url),
                cmocka_unit_test(test_error_meaning_ec2x),
                cmocka_unit_test(test_error_meaning_ep06),
                cmocka_unit_test(test_error_meaning_rg50x),
                cmocka_unit_test(test_error_meaning_ucxx),
                cmocka_unit_test(test_error_meaning_bc26),
                cmocka_unit_test(test_error_meaning_generic),
                cmocka_unit_test(test_ec2x_values),
                cmocka_unit_test(test_ep06_values),
                cmocka_unit_test(test_rg50x_values),
                cmocka_unit_test(test_ucxx_values),
                cmocka_unit_test(test_bc26_values),
                cmocka_unit_test(test_generic_values),
                cmocka_unit_test(test_invariants),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
