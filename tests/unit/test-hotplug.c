/* SPDX-License-Identifier: MIT */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "config.h"
#include "hotplug.h"
#include "profile.h"

/* ---- which tty is an AT port ------------------------------------------------------------------ */

typedef struct ClassifyCase {
        const char *name;
        const char *port_type, *family, *vendor, *product, *interface;
        HotplugVerdict verdict;
        ModemFamily expected_family;
} ClassifyCase;

static const ClassifyCase classify_cases[] = {
        { "rules: at, family",          "at", "ec2x", "2c7c", "0125", "02",  HOTPLUG_AT_FROM_UDEV,  MODEM_FAMILY_EC2X },
        { "rules win over the table",   "at", "rg50x", "2c7c", "0125", "03", HOTPLUG_AT_FROM_UDEV,  MODEM_FAMILY_RG50X },
        { "rules: at, no family",       "at", NULL,   NULL,   NULL,   NULL,  HOTPLUG_AT_FROM_UDEV,  _MODEM_FAMILY_INVALID },
        { "rules: at, unknown family",  "at", "ec99", NULL,   NULL,   NULL,  HOTPLUG_AT_FROM_UDEV,  _MODEM_FAMILY_INVALID },
        { "rules: at, UART module",     "at", "bc26", NULL,   NULL,   NULL,  HOTPLUG_AT_FROM_UDEV,  MODEM_FAMILY_BC26 },
        { "rules: ignore beats table",  "ignore", NULL, "2c7c", "0125", "02", HOTPLUG_NOT_AT,       _MODEM_FAMILY_INVALID },
        { "table: EC25 if 2",           NULL, NULL,   "2c7c", "0125", "02",  HOTPLUG_AT_FROM_TABLE, MODEM_FAMILY_EC2X },
        { "table: upper-case hex",      NULL, NULL,   "2C7C", "0125", "02",  HOTPLUG_AT_FROM_TABLE, MODEM_FAMILY_EC2X },
        { "table: EP06",                NULL, NULL,   "2c7c", "0306", "02",  HOTPLUG_AT_FROM_TABLE, MODEM_FAMILY_EP06 },
        { "table: RM520N",              NULL, NULL,   "2c7c", "0801", "02",  HOTPLUG_AT_FROM_TABLE, MODEM_FAMILY_RG50X },
        { "table: UC15, Qualcomm VID",  NULL, NULL,   "05c6", "9090", "02",  HOTPLUG_AT_FROM_TABLE, MODEM_FAMILY_UCXX },
        { "table: EC25 DIAG if 0",      NULL, NULL,   "2c7c", "0125", "00",  HOTPLUG_NOT_AT,        _MODEM_FAMILY_INVALID },
        { "table: EC25 modem if 3",     NULL, NULL,   "2c7c", "0125", "03",  HOTPLUG_NOT_AT,        _MODEM_FAMILY_INVALID },
        { "table: FTDI adapter",        NULL, NULL,   "0403", "6001", "00",  HOTPLUG_NOT_AT,        _MODEM_FAMILY_INVALID },
        { "table: other Qualcomm",      NULL, NULL,   "05c6", "9215", "02",  HOTPLUG_NOT_AT,        _MODEM_FAMILY_INVALID },
        { "table: no interface",        NULL, NULL,   "2c7c", "0125", NULL,  HOTPLUG_NOT_AT,        _MODEM_FAMILY_INVALID },
        { "table: junk id",             NULL, NULL,   "2c7cx", "0125", "02", HOTPLUG_NOT_AT,        _MODEM_FAMILY_INVALID },
        { "table: too long interface",  NULL, NULL,   "2c7c", "0125", "002", HOTPLUG_NOT_AT,        _MODEM_FAMILY_INVALID },
        { "nothing at all",             NULL, NULL,   NULL,   NULL,   NULL,  HOTPLUG_NOT_AT,        _MODEM_FAMILY_INVALID },
};

static void test_classify(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(classify_cases); i++) {
                const ClassifyCase *c = &classify_cases[i];
                ModemFamily f = _MODEM_FAMILY_INVALID;
                HotplugVerdict v;

                print_message("classify: %s\n", c->name);
                v = hotplug_classify(c->port_type, c->family, c->vendor, c->product, c->interface, &f);
                assert_int_equal(v, c->verdict);
                if (v != HOTPLUG_NOT_AT)
                        assert_int_equal(f, c->expected_family);
        }

        /* ret_family may be NULL. */
        assert_int_equal(hotplug_classify(NULL, NULL, "2c7c", "0125", "02", NULL), HOTPLUG_AT_FROM_TABLE);
}

/* ---- the rules file and the profile table agree ----------------------------------------------- */

typedef struct RuleRow {
        unsigned vendor, product, interface;
        char family[32];
        bool matched;
} RuleRow;

/* The value of key="..." or key=="..." in line, copied to buf; false if absent. */
static bool rule_value(const char *line, const char *key, char *buf, size_t size) {
        const char *p = strstr(line, key), *end;

        if (!p)
                return false;
        p += strlen(key);
        p += strspn(p, "=");
        if (*p != '"')
                return false;
        p++;
        end = strchr(p, '"');
        if (!end || (size_t) (end - p) >= size)
                return false;
        memcpy(buf, p, (size_t) (end - p));
        buf[end - p] = '\0';
        return true;
}

static char *rules_path(void) {
        const char *root = getenv("DFOTAD_SOURCE_ROOT");
        char *p;

        assert_non_null(root);
        assert_true(asprintf(&p, "%s/systemd/77-dfotad-quectel.rules", root) > 0);
        return p;
}

static void test_rules_match_profile_table(void **state) {
        _cleanup_free_ char *path = rules_path(), *vendor_line = NULL;
        RuleRow rows[64];
        size_t n_rows = 0, n_table = 0;
        char line[1024];
        FILE *f;

        f = fopen(path, "re");
        assert_non_null(f);

        while (fgets(line, sizeof line, f)) {
                char vendor[16], product[16], ifnum[16];
                RuleRow *r;

                if (line[0] == '#')
                        continue;

                /* The vendor pre-filter every module's rule sits behind. */
                if (strstr(line, "GOTO=\"dfotad_quectel_vendorcheck\"")) {
                        assert_null(vendor_line);
                        vendor_line = strdup(line);
                        assert_non_null(vendor_line);
                        continue;
                }

                if (!strstr(line, "ENV{DFOTAD_PORT_TYPE}=\"at\""))
                        continue;

                assert_true(n_rows < ELEMENTSOF(rows));
                r = &rows[n_rows++];
                *r = (RuleRow) {};
                print_message("rule: %s", line);
                assert_true(rule_value(line, "ATTRS{idVendor}", vendor, sizeof vendor));
                assert_true(rule_value(line, "ATTRS{idProduct}", product, sizeof product));
                assert_true(rule_value(line, "ENV{.DFOTAD_USBIFNUM}", ifnum, sizeof ifnum));
                assert_true(rule_value(line, "ENV{DFOTAD_FAMILY}", r->family, sizeof r->family));
                /* sysfs's spelling: 4 and 2 lower-case hex digits. */
                assert_int_equal(strlen(vendor), 4);
                assert_int_equal(strlen(product), 4);
                assert_int_equal(strlen(ifnum), 2);
                assert_int_equal(strspn(vendor, "0123456789abcdef"), 4);
                assert_int_equal(strspn(product, "0123456789abcdef"), 4);
                assert_int_equal(strspn(ifnum, "0123456789abcdef"), 2);
                r->vendor = (unsigned) strtoul(vendor, NULL, 16);
                r->product = (unsigned) strtoul(product, NULL, 16);
                r->interface = (unsigned) strtoul(ifnum, NULL, 16);

                /* Every rule is a row of the table, with its interface and family. */
                const ModemProfile *p = NULL;
                const UsbId *u = modem_usb_id_find((uint16_t) r->vendor, (uint16_t) r->product, &p);
                assert_non_null(u);
                assert_non_null(p);
                assert_int_equal(u->at_interface, r->interface);
                assert_string_equal(p->name, r->family);

                /* And what the classifier says of a tty these properties mark. */
                ModemFamily fam;
                assert_int_equal(hotplug_classify("at", r->family, NULL, NULL, NULL, &fam), HOTPLUG_AT_FROM_UDEV);
                assert_int_equal(fam, p->family);
        }
        fclose(f);
        assert_non_null(vendor_line);

        /* Every row of the table has its rule, once. */
        for (ModemFamily fam = 0; fam < _MODEM_FAMILY_MAX; fam++) {
                const ModemProfile *p = modem_profile_get(fam);

                for (const UsbId *u = p->usb_ids; u && u->vendor != 0; u++) {
                        size_t found = 0;
                        char vid[16];

                        n_table++;
                        for (size_t i = 0; i < n_rows; i++)
                                if (rows[i].vendor == u->vendor && rows[i].product == u->product) {
                                        assert_int_equal(rows[i].interface, u->at_interface);
                                        assert_string_equal(rows[i].family, p->name);
                                        rows[i].matched = true;
                                        found++;
                                }
                        print_message("table row %04x:%04x if %u (%s): %zu rule(s)\n",
                                      u->vendor, u->product, u->at_interface, p->name, found);
                        assert_int_equal(found, 1);

                        snprintf(vid, sizeof vid, "%04x", u->vendor);
                        assert_non_null(strstr(vendor_line, vid));
                }
        }
        assert_int_equal(n_rows, n_table);
}

/* ---- config "hotplug" ------------------------------------------------------------------------- */

static int load_config_text(const char *text, Config **ret, char **reterr) {
        char path[] = "/tmp/test-hotplug-XXXXXX";
        int fd, r;

        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);

        r = config_load(path, true, ret, reterr);
        unlink(path);
        return r;
}

static void test_config_hotplug(void **state) {
        Config *c = NULL;
        char *err = NULL;

        assert_int_equal(unsetenv("STATE_DIRECTORY"), 0);

        assert_int_equal(load_config_text("{}", &c, &err), 0);
        assert_true(c->hotplug);
        c = config_free(c);

        assert_int_equal(load_config_text("{\"hotplug\": false}", &c, &err), 0);
        assert_false(c->hotplug);
        c = config_free(c);

        assert_int_equal(load_config_text("{\"hotplug\": true}", &c, &err), 0);
        assert_true(c->hotplug);
        c = config_free(c);

        assert_int_equal(load_config_text("{\"hotplug\": \"no\"}", &c, &err), -EINVAL);
        assert_null(c);
        assert_non_null(err);
        print_message("error: %s\n", err);
        assert_non_null(strstr(err, "hotplug"));
        free(err);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_classify),
                cmocka_unit_test(test_rules_match_profile_table),
                cmocka_unit_test(test_config_hotplug),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
