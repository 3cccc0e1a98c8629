/* SPDX-License-Identifier: MIT */

#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"

typedef struct Dir {
        char path[64];
        char conf[128];     /* <path>/dfotad.json */
        char dropins[128];  /* <path>/dfotad.json.d */
} Dir;

static int setup(void **state) {
        Dir *d = calloc(1, sizeof(Dir));

        assert_non_null(d);
        strcpy(d->path, "/tmp/test-config-XXXXXX");
        assert_non_null(mkdtemp(d->path));
        snprintf(d->conf, sizeof(d->conf), "%s/dfotad.json", d->path);
        snprintf(d->dropins, sizeof(d->dropins), "%s/dfotad.json.d", d->path);

        /* Whatever the environment running the tests has set must not leak into the defaults. */
        assert_int_equal(unsetenv("STATE_DIRECTORY"), 0);
        assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);

        *state = d;
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static int teardown(void **state) {
        Dir *d = *state;

        assert_int_equal(nftw(d->path, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(d);
        unsetenv("STATE_DIRECTORY");
        unsetenv("CREDENTIALS_DIRECTORY");
        return 0;
}

/* JSON is written with ' for " to keep the tables readable. */
static void write_file(const char *path, const char *content) {
        _cleanup_free_ char *text = strdup(content);
        FILE *f;

        assert_non_null(text);
        for (char *p = text; *p; p++)
                if (*p == '\'')
                        *p = '"';

        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, true);
        assert_int_equal(fclose(f), 0);
}

static void write_dropin(const Dir *d, const char *name, const char *content) {
        char path[256];

        (void) mkdir(d->dropins, 0755);
        snprintf(path, sizeof(path), "%s/%s", d->dropins, name);
        write_file(path, content);
}

static Config *load_ok(const char *path, bool path_explicit) {
        _cleanup_free_ char *err = NULL;
        Config *c = NULL;
        int r;

        r = config_load(path, path_explicit, &c, &err);
        if (r < 0)
                fail_msg("config_load(%s): %i %s", path, r, strna(err));
        assert_null(err);
        assert_non_null(c);
        return c;
}

static void assert_default_timeouts(const Timeouts *t) {
        assert_int_equal(t->at_command, 5 * USEC_PER_SEC);
        assert_int_equal(t->download_start, 90 * USEC_PER_SEC);
        assert_int_equal(t->download, 1800 * USEC_PER_SEC);
        assert_int_equal(t->port_return, 300 * USEC_PER_SEC);
        assert_int_equal(t->first_urc_after_reboot, 90 * USEC_PER_SEC);
        assert_int_equal(t->urc_watchdog, 240 * USEC_PER_SEC);
        assert_int_equal(t->verify, 300 * USEC_PER_SEC);
}

static void test_defaults_missing_default_file(void **state) {
        Dir *d = *state;
        _cleanup_(config_freep) Config *c = NULL;

        c = load_ok(d->conf, /* path_explicit= */ false);
        assert_string_equal(c->state_directory, CONFIG_DEFAULT_STATE_DIRECTORY);
        assert_int_equal(c->log_level, LOG_INFO);
        assert_int_equal(c->n_modems, 0);
        assert_default_timeouts(&c->timeouts);
        assert_int_equal(c->reset_method, RESET_METHOD_AT);
        assert_null(c->reset_command);
        assert_string_equal(c->inbox, CONFIG_DEFAULT_STATE_DIRECTORY "/inbox");
}

static void test_missing_explicit_file(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *err = NULL, *want = NULL;
        Config *c = NULL;

        assert_int_equal(config_load(d->conf, /* path_explicit= */ true, &c, &err), -ENOENT);
        assert_null(c);
        assert_non_null(err);
        assert_true(asprintf(&want, "%s: ", d->conf) > 0);
        assert_non_null(startswith(err, want));
        assert_non_null(strstr(err, "No such file"));
}

static void test_init_defaults(void **state) {
        _cleanup_(config_freep) Config *c = calloc(1, sizeof(Config));

        assert_non_null(c);
        assert_int_equal(setenv("STATE_DIRECTORY", "/var/lib/dfotad-a:/var/lib/dfotad-b", 1), 0);
        assert_int_equal(config_init_defaults(c), 0);
        assert_string_equal(c->state_directory, "/var/lib/dfotad-a");
        assert_string_equal(c->inbox, "/var/lib/dfotad-a/inbox");
        assert_int_equal(c->log_level, LOG_INFO);
        assert_default_timeouts(&c->timeouts);
}

static void test_state_directory_env(void **state) {
        static const struct {
                const char *env;
                const char *want;
        } cases[] = {
                { "/var/lib/dfotad-x",                "/var/lib/dfotad-x" },
                { "/var/lib/one:/var/lib/two",        "/var/lib/one" },
                { "",                                 CONFIG_DEFAULT_STATE_DIRECTORY },
        };
        Dir *d = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(config_freep) Config *c = NULL;
                _cleanup_free_ char *inbox = NULL;

                assert_int_equal(setenv("STATE_DIRECTORY", cases[i].env, 1), 0);
                c = load_ok(d->conf, false);
                assert_string_equal(c->state_directory, cases[i].want);
                assert_true(asprintf(&inbox, "%s/inbox", cases[i].want) > 0);
                assert_string_equal(c->inbox, inbox);
        }

        /* The file wins over the environment. */
        write_file(d->conf, "{'state_directory': '/srv/dfotad'}");
        _cleanup_(config_freep) Config *c = load_ok(d->conf, true);
        assert_string_equal(c->state_directory, "/srv/dfotad");
        assert_string_equal(c->inbox, "/srv/dfotad/inbox");
}

static void test_every_key(void **state) {
        Dir *d = *state;
        _cleanup_(config_freep) Config *c = NULL;

        write_file(d->conf,
                   "{\n"
                   "  'state_directory': '/srv/dfotad',\n"
                   "  'log_level': 'debug',\n"
                   "  'modems': [ { 'port': '/dev/ttyUSB2', 'family': 'ec2x' }, { 'port': '/dev/ttyS1' } ],\n"
                   "  'timeouts': { 'at_command': 1, 'download_start': 2, 'download': 3, 'port_return': 4,\n"
                   "                'first_urc_after_reboot': 5, 'urc_watchdog': 6, 'verify': 7.25 },\n"
                   "  'reset': { 'command': [ '/usr/local/bin/power-cycle', '--gpio', '17' ] },\n"
                   "  'local': { 'inbox': '/srv/inbox' }\n"
                   "}\n");

        c = load_ok(d->conf, true);
        assert_string_equal(c->state_directory, "/srv/dfotad");
        assert_int_equal(c->log_level, LOG_DEBUG);
        assert_int_equal(c->n_modems, 2);
        assert_string_equal(c->modems[0].port, "/dev/ttyUSB2");
        assert_int_equal(c->modems[0].family, MODEM_FAMILY_EC2X);
        assert_string_equal(c->modems[1].port, "/dev/ttyS1");
        assert_int_equal(c->modems[1].family, _MODEM_FAMILY_INVALID);
        assert_int_equal(c->timeouts.at_command, 1 * USEC_PER_SEC);
        assert_int_equal(c->timeouts.download_start, 2 * USEC_PER_SEC);
        assert_int_equal(c->timeouts.download, 3 * USEC_PER_SEC);
        assert_int_equal(c->timeouts.port_return, 4 * USEC_PER_SEC);
        assert_int_equal(c->timeouts.first_urc_after_reboot, 5 * USEC_PER_SEC);
        assert_int_equal(c->timeouts.urc_watchdog, 6 * USEC_PER_SEC);
        assert_int_equal(c->timeouts.verify, 7250 * USEC_PER_MSEC);
        assert_int_equal(c->reset_method, RESET_METHOD_COMMAND);
        assert_string_equal(c->reset_command[0], "/usr/local/bin/power-cycle");
        assert_string_equal(c->reset_command[1], "--gpio");
        assert_string_equal(c->reset_command[2], "17");
        assert_null(c->reset_command[3]);
        assert_string_equal(c->inbox, "/srv/inbox");
}

static void test_values(void **state) {
        static const struct {
                const char *json;
                size_t offset;          /* of a usec_t in Config, or of log_level */
                bool is_level;
                uint64_t want;
        } cases[] = {
                { "{'timeouts': {'at_command': 0.05}}",     offsetof(Config, timeouts.at_command), false, 50000 },
                { "{'timeouts': {'download': 1.5}}",        offsetof(Config, timeouts.download), false, 1500000 },
                /* 8.2 * 1e6 is 8199999.999999999 in binary: rounded, not cut. */
                { "{'timeouts': {'verify': 8.2}}",          offsetof(Config, timeouts.verify), false, 8200000 },
                { "{'timeouts': {'verify': 0.000001}}",     offsetof(Config, timeouts.verify), false, 1 },
                { "{'timeouts': {'urc_watchdog': 86400}}",  offsetof(Config, timeouts.urc_watchdog), false, 86400 * USEC_PER_SEC },
                { "{'timeouts': {'port_return': 86400.0}}", offsetof(Config, timeouts.port_return), false, 86400 * USEC_PER_SEC },
                { "{'timeouts': {'download_start': 2e-2}}", offsetof(Config, timeouts.download_start), false, 20000 },
                { "{'log_level': 'warning'}",               offsetof(Config, log_level), true, LOG_WARNING },
                { "{'log_level': 'err'}",                   offsetof(Config, log_level), true, LOG_ERR },
                { "{'log_level': 'error'}",                 offsetof(Config, log_level), true, LOG_ERR },
                { "{'log_level': 'notice'}",                offsetof(Config, log_level), true, LOG_NOTICE },
                { "{'log_level': '7'}",                     offsetof(Config, log_level), true, LOG_DEBUG },
        };
        Dir *d = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(config_freep) Config *c = NULL;
                uint64_t got;

                write_file(d->conf, cases[i].json);
                c = load_ok(d->conf, true);
                if (cases[i].is_level)
                        got = (uint64_t) *(int *) ((uint8_t *) c + cases[i].offset);
                else
                        got = *(usec_t *) ((uint8_t *) c + cases[i].offset);
                if (got != cases[i].want)
                        fail_msg("case %zu %s: got %" PRIu64 ", want %" PRIu64, i, cases[i].json, got, cases[i].want);
        }
}

static void test_reset_at(void **state) {
        Dir *d = *state;
        _cleanup_(config_freep) Config *c = NULL;

        write_file(d->conf, "{'reset': {'command': ['/bin/true']}}");
        write_dropin(d, "50-at.json", "{'reset': 'at'}");
        c = load_ok(d->conf, true);
        assert_int_equal(c->reset_method, RESET_METHOD_AT);
        assert_null(c->reset_command);

        assert_string_equal(reset_method_to_string(RESET_METHOD_AT), "at");
        assert_string_equal(reset_method_to_string(RESET_METHOD_COMMAND), "command");
        assert_int_equal(reset_method_from_string("command"), RESET_METHOD_COMMAND);
        assert_int_equal(reset_method_from_string("gpio"), -EINVAL);
}

static void test_errors(void **state) {
        static const struct {
                const char *json;
                const char *reason;     /* after "<file>: " */
        } cases[] = {
                /* unknown keys, every level */
                { "{'timeout': {}}",                                   "unknown key \"timeout\"" },
                { "{'timeouts': {'urc_watchdg': 1}}",                  "timeouts: unknown key \"urc_watchdg\"" },
                { "{'modems': [{'port': '/dev/x', 'speed': 115200}]}", "modems[0]: unknown key \"speed\"" },
                { "{'local': {'outbox': '/x'}}",                       "local: unknown key \"outbox\"" },
                { "{'reset': {'cmd': ['/x']}}",                        "reset: unknown key \"cmd\"" },
                /* wrong types */
                { "[]",                                                "must be a JSON object" },
                { "{'state_directory': 5}",                            "state_directory: must be a string" },
                { "{'state_directory': '/a\\u0000b'}",                 "state_directory: must not contain NUL characters" },
                { "{'log_level': 3}",                                  "log_level: must be a string" },
                { "{'modems': {'port': '/dev/x'}}",                    "modems: must be an array" },
                { "{'modems': ['/dev/ttyUSB2']}",                      "modems[0]: must be an object" },
                { "{'modems': [{'port': 2}]}",                         "modems[0].port: must be a string" },
                { "{'modems': [{'port': '/dev/x', 'family': null}]}",  "modems[0].family: must be a string" },
                { "{'timeouts': 5}",                                   "timeouts: must be an object" },
                { "{'timeouts': {'verify': '5'}}",                     "timeouts.verify: must be a number of seconds > 0" },
                { "{'timeouts': {'verify': true}}",                    "timeouts.verify: must be a number of seconds > 0" },
                { "{'timeouts': {'verify': null}}",                    "timeouts.verify: must be a number of seconds > 0" },
                { "{'local': '/x'}",                                   "local: must be an object" },
                { "{'local': {'inbox': 1}}",                           "local.inbox: must be a string" },
                /* ranges */
                { "{'timeouts': {'urc_watchdog': 0}}",                 "timeouts.urc_watchdog: must be a number of seconds > 0" },
                { "{'timeouts': {'urc_watchdog': 0.0}}",               "timeouts.urc_watchdog: must be a number of seconds > 0" },
                { "{'timeouts': {'at_command': -1}}",                  "timeouts.at_command: must be a number of seconds > 0" },
                { "{'timeouts': {'download': -0.5}}",                  "timeouts.download: must be a number of seconds > 0" },
                { "{'timeouts': {'port_return': 86401}}",              "timeouts.port_return: must be at most 86400 seconds" },
                { "{'timeouts': {'port_return': 86400.5}}",            "timeouts.port_return: must be at most 86400 seconds" },
                { "{'timeouts': {'verify': 99999999999999999999}}",    "timeouts.verify: must be at most 86400 seconds" },
                { "{'timeouts': {'first_urc_after_reboot': 1e-9}}",    "timeouts.first_urc_after_reboot: must be at least one microsecond" },
                /* values */
                { "{'log_level': 'loud'}",                             "log_level: unknown log level \"loud\"" },
                { "{'log_level': '8'}",                                "log_level: unknown log level \"8\"" },
                { "{'state_directory': 'var/lib/dfotad'}",             "state_directory: must be an absolute path" },
                { "{'local': {'inbox': 'inbox'}}",                     "local.inbox: must be an absolute path" },
                { "{'modems': [{'port': '/dev/a'}, {'port': '/dev/b', 'family': 'ec99'}]}",
                                                                       "modems[1].family: unknown family \"ec99\" (known: ec2x" },
                { "{'modems': [{'port': '/dev/a', 'family': 'EC2X'}]}", "modems[0].family: unknown family \"EC2X\"" },
                { "{'modems': [{'port': '/dev/a', 'family': 'generic'}]}",
                                                                       "modems[0].family: \"generic\" is the fallback" },
                { "{'modems': [{'port': 'ttyUSB2'}]}",                 "modems[0].port: must be an absolute path" },
                { "{'modems': [{'family': 'ec2x'}]}",                  "modems[0]: \"port\" is required" },
                { "{'modems': [{'port': '/dev/ttyUSB2'}, {'port': '/dev/ttyS0'}, {'port': '/dev/ttyUSB2'}]}",
                                                                       "modems[2]: port \"/dev/ttyUSB2\" is already listed as modems[0]" },
                /* reset */
                { "{'reset': 'gpio'}",                                 "reset: must be \"at\" or {\"command\"" },
                { "{'reset': 1}",                                      "reset: must be \"at\" or {\"command\"" },
                { "{'reset': {}}",                                     "reset: \"command\" is required" },
                { "{'reset': {'command': '/usr/bin/reset-modem'}}",    "reset.command: must be an array of strings" },
                { "{'reset': {'command': []}}",                        "reset.command: must not be empty" },
                { "{'reset': {'command': ['reset-modem']}}",           "reset.command[0]: must be an absolute path" },
                { "{'reset': {'command': ['/bin/x', '']}}",            "reset.command[1]: must be a non-empty string" },
                { "{'reset': {'command': ['/bin/x', 17]}}",            "reset.command[1]: must be a string" },
                /* not JSON */
                { "{'log_level': 'info',",                             "not valid JSON: unexpected end of data at line 1" },
                { "{\n  'log_level': 'info'\n  'state_directory': '/x'\n}", "not valid JSON: object value separator ',' expected at line 3, column 3" },
                { "{'log_level': 'info'} {}",                          "not valid JSON: " },
                { "",                                                  "not valid JSON: " },
        };
        Dir *d = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *err = NULL, *want = NULL;
                Config *c = NULL;
                int r;

                write_file(d->conf, cases[i].json);
                assert_true(asprintf(&want, "%s: %s", d->conf, cases[i].reason) > 0);

                r = config_load(d->conf, true, &c, &err);
                if (r != -EINVAL || !err || !startswith(err, want))
                        fail_msg("case %zu %s: r=%i err=\"%s\", want \"%s...\"", i, cases[i].json, r, strna(err), want);
                assert_null(c);
        }
}

static void test_unknown_family_lists_choices(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *err = NULL;
        Config *c = NULL;
        const char *known;

        write_file(d->conf, "{'modems': [{'port': '/dev/a', 'family': 'ec99'}]}");
        assert_int_equal(config_load(d->conf, true, &c, &err), -EINVAL);
        assert_non_null(err);
        known = strstr(err, "(known: ");
        assert_non_null(known);
        /* Every family a user may choose, and not the fallback. */
        for (ModemFamily f = 0; f < _MODEM_FAMILY_MAX; f++)
                if (f != MODEM_FAMILY_GENERIC)
                        assert_non_null(strstr(known, modem_family_to_string(f)));
        assert_null(strstr(known, "generic"));
}

static void test_dropins(void **state) {
        Dir *d = *state;
        _cleanup_(config_freep) Config *c = NULL;

        write_file(d->conf,
                   "{'state_directory': '/srv/a', 'log_level': 'info',"
                   " 'modems': [{'port': '/dev/ttyUSB2'}, {'port': '/dev/ttyUSB6'}],"
                   " 'timeouts': {'download': 100, 'verify': 10},"
                   " 'local': {'inbox': '/srv/in'}}");
        /* strcmp order: "10-..." before "9-...", so 9-last.json has the last word. */
        write_dropin(d, "10-first.json",
                     "{'log_level': 'debug', 'timeouts': {'verify': 20}, 'modems': [{'port': '/dev/ttyS1'}]}");
        write_dropin(d, "9-last.json",
                     "{'log_level': 'notice', 'timeouts': {'at_command': 2}, 'state_directory': '/srv/b'}");
        /* Not drop-ins: would fail to parse if they were read. */
        write_dropin(d, ".hidden.json", "not json");
        write_dropin(d, "README", "not json");
        write_dropin(d, "50-old.json.bak", "not json");

        c = load_ok(d->conf, true);
        assert_int_equal(c->log_level, LOG_NOTICE);
        /* timeouts merge key by key */
        assert_int_equal(c->timeouts.download, 100 * USEC_PER_SEC);
        assert_int_equal(c->timeouts.verify, 20 * USEC_PER_SEC);
        assert_int_equal(c->timeouts.at_command, 2 * USEC_PER_SEC);
        assert_int_equal(c->timeouts.urc_watchdog, 240 * USEC_PER_SEC);
        /* arrays are replaced */
        assert_int_equal(c->n_modems, 1);
        assert_string_equal(c->modems[0].port, "/dev/ttyS1");
        /* local merges: no drop-in touched it */
        assert_string_equal(c->state_directory, "/srv/b");
        assert_string_equal(c->inbox, "/srv/in");
}

static void test_dropins_inbox_default_and_missing_main(void **state) {
        Dir *d = *state;
        _cleanup_(config_freep) Config *c = NULL;

        /* No main file at the default path: the drop-ins still apply, and the inbox default is
         * computed from the final state_directory. */
        write_dropin(d, "a.json", "{'state_directory': '/srv/one'}");
        write_dropin(d, "b.json", "{'state_directory': '/srv/two', 'timeouts': {'verify': 1}}");

        c = load_ok(d->conf, false);
        assert_string_equal(c->state_directory, "/srv/two");
        assert_string_equal(c->inbox, "/srv/two/inbox");
        assert_int_equal(c->timeouts.verify, 1 * USEC_PER_SEC);
}

static void test_dropin_error_names_dropin(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *err = NULL, *want = NULL;
        Config *c = NULL;

        write_file(d->conf, "{'log_level': 'info'}");
        write_dropin(d, "10-ok.json", "{'log_level': 'debug'}");
        write_dropin(d, "20-bad.json", "{'local': {'inbox': 'relative'}}");

        assert_int_equal(config_load(d->conf, true, &c, &err), -EINVAL);
        assert_null(c);
        assert_true(asprintf(&want, "%s/20-bad.json: local.inbox: must be an absolute path", d->dropins) > 0);
        if (!err || !startswith(err, want))
                fail_msg("err=\"%s\", want \"%s...\"", strna(err), want);
}

/* ---- modems[].pdp (UC20/UC15: UMTS/HSPA DFOTA User Guide ch. 3) ---------------------------- */

/* Writes content byte for byte (no quote translation) to <dir>/<name>; returns the path. */
static char *write_secret(const char *dir, const char *name, const char *content) {
        char *path = NULL;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
        assert_int_equal(fclose(f), 0);
        return path;
}

/* The config text with ' for ", and %s replaced by arg. */
static void write_conf(const Dir *d, const char *format, const char *arg) {
        _cleanup_free_ char *text = NULL;

        assert_true(asprintf(&text, format, arg) > 0);
        write_file(d->conf, text);
}

static void test_pdp(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *pw = write_secret(d->path, "apn-password", "s3cret pass!\n");
        _cleanup_(config_freep) Config *c = NULL;
        const PdpConfig *p;

        /* Every key. */
        write_conf(d,
                   "{'modems': [ { 'port': '/dev/ttyUSB2', 'family': 'ucxx',"
                   "               'pdp': { 'cid': 16, 'apn': 'internet.example', 'username': 'user name',"
                   "                        'password_file': '%s', 'auth': 'pap-or-chap' } },"
                   "             { 'port': '/dev/ttyUSB6' } ] }", pw);
        c = load_ok(d->conf, true);
        assert_int_equal(c->n_modems, 2);
        p = c->modems[0].pdp;
        assert_non_null(p);
        assert_int_equal(p->cid, 16);
        assert_string_equal(p->apn, "internet.example");
        assert_string_equal(p->username, "user name");
        assert_string_equal(p->password, "s3cret pass!");           /* trailing newline stripped */
        assert_string_equal(p->password_file, pw);
        assert_int_equal(p->auth, 3);
        assert_null(c->modems[1].pdp);
        c = config_free(c);

        /* Only the APN: context 1 (the guide's default), no credentials, no authentication. And
         * without "family" (detected from ATI later) a pdp is fine. */
        write_file(d->conf, "{'modems': [ { 'port': '/dev/ttyUSB2', 'pdp': { 'apn': 'UNINET' } } ]}");
        c = load_ok(d->conf, true);
        p = c->modems[0].pdp;
        assert_non_null(p);
        assert_int_equal(p->cid, 1);
        assert_string_equal(p->apn, "UNINET");
        assert_null(p->username);
        assert_null(p->password);
        assert_null(p->password_file);
        assert_int_equal(p->auth, 0);
        c = config_free(c);

        /* The limits exactly: cid 1 and 16, APN 62 bytes, username 127 bytes. */
        write_file(d->conf,
                   "{'modems': [ { 'port': '/dev/a', 'pdp': { 'cid': 1,"
                   " 'apn': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',"
                   " 'username': 'uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu' } } ]}");
        c = load_ok(d->conf, true);
        assert_int_equal(c->modems[0].pdp->cid, 1);
        assert_int_equal(strlen(c->modems[0].pdp->apn), 62);
        assert_int_equal(strlen(c->modems[0].pdp->username), 127);
        c = config_free(c);

        /* A drop-in's modems array replaces the pdp with everything else. */
        write_conf(d, "{'modems': [ { 'port': '/dev/a', 'pdp': { 'apn': 'one', 'password_file': '%s' } } ]}", pw);
        write_dropin(d, "50-modems.json", "{'modems': [ { 'port': '/dev/a', 'pdp': { 'apn': 'two', 'cid': 2 } } ]}");
        c = load_ok(d->conf, true);
        assert_string_equal(c->modems[0].pdp->apn, "two");
        assert_int_equal(c->modems[0].pdp->cid, 2);
        assert_null(c->modems[0].pdp->password);
}

static void test_pdp_auth(void **state) {
        static const char *const names[] = { "none", "pap", "chap", "pap-or-chap" };
        Dir *d = *state;

        /* AT+QICSGP <authentication> 0..3. */
        for (unsigned i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_(config_freep) Config *c = NULL;

                write_conf(d, "{'modems': [ { 'port': '/dev/a', 'pdp': { 'apn': 'x', 'auth': '%s' } } ]}", names[i]);
                c = load_ok(d->conf, true);
                assert_int_equal(c->modems[0].pdp->auth, i);
                assert_string_equal(pdp_auth_to_string(i), names[i]);
                assert_int_equal(pdp_auth_from_string(names[i]), (int) i);
        }
        assert_null(pdp_auth_to_string(4));
        assert_int_equal(pdp_auth_from_string("PAP"), -EINVAL);
        assert_int_equal(pdp_auth_from_string("pap_or_chap"), -EINVAL);
        assert_int_equal(pdp_auth_from_string(NULL), -EINVAL);
}

static void test_pdp_password_file(void **state) {
        static const struct {
                const char *content;
                const char *password;
        } cases[] = {
                { "pw",              "pw" },
                { "pw\n",            "pw" },
                { "pw\r\n",          "pw" },             /* written on Windows */
                { "",                "" },
                { "\n",              "" },
                { " a b ",           " a b " },          /* blanks are part of it */
                { "!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" },
        };
        Dir *d = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *pw = write_secret(d->path, "pw", cases[i].content);
                _cleanup_(config_freep) Config *c = NULL;

                write_conf(d, "{'modems': [ { 'port': '/dev/a', 'pdp': { 'apn': 'x', 'password_file': '%s' } } ]}", pw);
                c = load_ok(d->conf, true);
                if (!streq(c->modems[0].pdp->password, cases[i].password))
                        fail_msg("case %zu: password '%s', want '%s'", i, c->modems[0].pdp->password, cases[i].password);
        }

        /* 127 bytes are fine. */
        {
                char long_pw[PDP_CREDENTIAL_MAX + 2];
                _cleanup_free_ char *pw = NULL;
                _cleanup_(config_freep) Config *c = NULL;

                memset(long_pw, 'p', PDP_CREDENTIAL_MAX);
                long_pw[PDP_CREDENTIAL_MAX] = '\n';
                long_pw[PDP_CREDENTIAL_MAX + 1] = '\0';
                pw = write_secret(d->path, "pw", long_pw);
                write_conf(d, "{'modems': [ { 'port': '/dev/a', 'pdp': { 'apn': 'x', 'password_file': '%s' } } ]}", pw);
                c = load_ok(d->conf, true);
                assert_int_equal(strlen(c->modems[0].pdp->password), PDP_CREDENTIAL_MAX);
        }
}

/* With $CREDENTIALS_DIRECTORY (systemd LoadCredential=), a bare name is a credential. */
static void test_pdp_credential(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *creds = NULL, *pw = NULL, *want = NULL;
        _cleanup_(config_freep) Config *c = NULL;

        assert_true(asprintf(&creds, "%s/credentials", d->path) > 0);
        assert_int_equal(mkdir(creds, 0700), 0);
        pw = write_secret(creds, "apn-password", "from-credential\n");
        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);

        write_file(d->conf, "{'modems': [ { 'port': '/dev/a', 'family': 'ucxx',"
                            " 'pdp': { 'apn': 'x', 'password_file': 'apn-password' } } ]}");
        c = load_ok(d->conf, true);
        assert_string_equal(c->modems[0].pdp->password, "from-credential");
        assert_string_equal(c->modems[0].pdp->password_file, pw);
        c = config_free(c);

        /* An absolute path is still a path. */
        write_conf(d, "{'modems': [ { 'port': '/dev/a', 'pdp': { 'apn': 'x', 'password_file': '%s' } } ]}", pw);
        c = load_ok(d->conf, true);
        assert_string_equal(c->modems[0].pdp->password, "from-credential");
        c = config_free(c);

        /* A missing credential names the key and the file. */
        write_file(d->conf, "{'modems': [ { 'port': '/dev/a', 'pdp': { 'apn': 'x', 'password_file': 'nope' } } ]}");
        {
                _cleanup_free_ char *err = NULL;

                assert_int_equal(config_load(d->conf, true, &c, &err), -ENOENT);
                assert_null(c);
                assert_true(asprintf(&want, "%s: modems[0].pdp.password_file: cannot read %s/nope: No such file or directory",
                                     d->conf, creds) > 0);
                assert_non_null(err);
                assert_string_equal(err, want);
        }
}

static void test_pdp_errors(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *quote = write_secret(d->path, "quote", "ab\"cd\n");
        _cleanup_free_ char *ctrl = write_secret(d->path, "ctrl", "ab\tcd");
        _cleanup_free_ char *utf8 = write_secret(d->path, "utf8", "p\xc3\xa4ss");
        _cleanup_free_ char *lines = write_secret(d->path, "lines", "one\ntwo\n");
        _cleanup_free_ char *nul = NULL, *toolong = NULL;
        char long_pw[PDP_CREDENTIAL_MAX + 2];
        FILE *f;

        /* Files with bytes a C string cannot hold, or too long to spell out. */
        assert_true(asprintf(&nul, "%s/nul", d->path) > 0);
        f = fopen(nul, "we");
        assert_non_null(f);
        assert_int_equal(fwrite("ab\0cd", 1, 5, f), 5);
        assert_int_equal(fclose(f), 0);
        memset(long_pw, 'p', PDP_CREDENTIAL_MAX + 1);
        long_pw[PDP_CREDENTIAL_MAX + 1] = '\0';
        toolong = write_secret(d->path, "toolong", long_pw);

        const struct {
                const char *json;           /* %s: arg */
                const char *arg;
                int error;
                const char *reason;         /* after "<file>: "; %s: arg */
        } cases[] = {
                { "{'modems': [{'port': '/dev/a', 'pdp': 'internet'}]}", NULL, -EINVAL,
                  "modems[0].pdp: must be an object" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {}}]}", NULL, -EINVAL,
                  "modems[0].pdp: \"apn\" is required" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'cid': 2}}]}", NULL, -EINVAL,
                  "modems[0].pdp: \"apn\" is required" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'apn_name': 'y'}}]}", NULL, -EINVAL,
                  "modems[0].pdp: unknown key \"apn_name\"" },
                /* cid */
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'cid': 0}}]}", NULL, -EINVAL,
                  "modems[0].pdp.cid: must be an integer 1..16" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'cid': 17}}]}", NULL, -EINVAL,
                  "modems[0].pdp.cid: must be an integer 1..16" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'cid': -1}}]}", NULL, -EINVAL,
                  "modems[0].pdp.cid: must be an integer 1..16" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'cid': 1.5}}]}", NULL, -EINVAL,
                  "modems[0].pdp.cid: must be an integer 1..16" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'cid': '1'}}]}", NULL, -EINVAL,
                  "modems[0].pdp.cid: must be an integer 1..16" },
                /* apn: it goes between '"' into AT+QICSGP */
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': ''}}]}", NULL, -EINVAL,
                  "modems[0].pdp.apn: must not be empty" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 5}}]}", NULL, -EINVAL,
                  "modems[0].pdp.apn: must be a string" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': "
                  "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}}]}", NULL, -EINVAL,
                  "modems[0].pdp.apn: must be at most 62 bytes" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'inter\\'net'}}]}", NULL, -EINVAL,
                  "modems[0].pdp.apn: must not contain '\"'" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x\\r\\nAT+CFUN=0'}}]}", NULL, -EINVAL,
                  "modems[0].pdp.apn: contains byte 0x0d at offset 1" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'caf\\u00e9'}}]}", NULL, -EINVAL,
                  "modems[0].pdp.apn: contains byte 0xc3 at offset 3" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'a\\u0000b'}}]}", NULL, -EINVAL,
                  "modems[0].pdp.apn: must not contain NUL characters" },
                /* username */
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'username': ''}}]}", NULL, -EINVAL,
                  "modems[0].pdp.username: must not be empty" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'username': 'a\\'b'}}]}", NULL, -EINVAL,
                  "modems[0].pdp.username: must not contain '\"'" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'username': "
                  "'uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu'}}]}",
                  NULL, -EINVAL, "modems[0].pdp.username: must be at most 127 bytes" },
                /* auth */
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'auth': 'PAP'}}]}", NULL, -EINVAL,
                  "modems[0].pdp.auth: must be \"none\", \"pap\", \"chap\" or \"pap-or-chap\", not \"PAP\"" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'auth': 1}}]}", NULL, -EINVAL,
                  "modems[0].pdp.auth: must be a string" },
                /* the password never comes from the config text */
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password': 'hunter2'}}]}", NULL, -EINVAL,
                  "modems[0].pdp.password: passwords are not taken from the configuration" },
                /* password_file */
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': 'apn-password'}}]}", NULL, -EINVAL,
                  "modems[0].pdp.password_file: must be an absolute path, not \"apn-password\" "
                  "(a credential name needs $CREDENTIALS_DIRECTORY)" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': ''}}]}", NULL, -EINVAL,
                  "modems[0].pdp.password_file: must be an absolute path" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': '%s'}}]}", "/nonexistent/apn-password", -ENOENT,
                  "modems[0].pdp.password_file: cannot read /nonexistent/apn-password: No such file or directory" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': '%s'}}]}", d->path, -EISDIR,
                  "modems[0].pdp.password_file: cannot read %s: Is a directory" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': '%s'}}]}", quote, -EINVAL,
                  "modems[0].pdp.password_file: the password in %s has a character that is not printable ASCII, or a '\"', at offset 2" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': '%s'}}]}", ctrl, -EINVAL,
                  "modems[0].pdp.password_file: the password in %s has a character that is not printable ASCII, or a '\"', at offset 2" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': '%s'}}]}", utf8, -EINVAL,
                  "modems[0].pdp.password_file: the password in %s has a character that is not printable ASCII, or a '\"', at offset 1" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': '%s'}}]}", lines, -EINVAL,
                  "modems[0].pdp.password_file: the password in %s has more than one line" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': '%s'}}]}", nul, -EINVAL,
                  "modems[0].pdp.password_file: the password in %s contains a NUL byte" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': '%s'}}]}", toolong, -EINVAL,
                  "modems[0].pdp.password_file: the password in %s is longer than 127 bytes" },
                /* a pdp where the family sets none up */
                { "{'modems': [{'port': '/dev/a', 'family': 'ec2x', 'pdp': {'apn': 'x'}}]}", NULL, -EINVAL,
                  "modems[0]: \"pdp\" is not used by family \"ec2x\"" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x'}, 'family': 'bc26'}]}", NULL, -EINVAL,
                  "modems[0]: \"pdp\" is not used by family \"bc26\"" },
                { "{'modems': [{'port': '/dev/a'}, {'port': '/dev/b', 'family': 'rg50x', 'pdp': {'apn': 'x'}}]}", NULL, -EINVAL,
                  "modems[1]: \"pdp\" is not used by family \"rg50x\"" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *err = NULL, *want = NULL, *reason = NULL;
                const char *arg = cases[i].arg;
                Config *c = NULL;
                int r;

                write_conf(d, cases[i].json, arg ?: "");
                assert_true(asprintf(&reason, cases[i].reason, arg ?: "") > 0);
                assert_true(asprintf(&want, "%s: %s", d->conf, reason) > 0);

                r = config_load(d->conf, true, &c, &err);
                if (r != cases[i].error || !err || !startswith(err, want))
                        fail_msg("case %zu %s: r=%i err=\"%s\", want %i \"%s...\"", i, cases[i].json, r, strna(err),
                                 cases[i].error, want);
                assert_null(c);

                /* Never the password in a message. */
                assert_null(strstr(err, "hunter2"));
                assert_null(strstr(err, "ab\"cd"));
                assert_null(strstr(err, "ab\tcd"));
                assert_null(strstr(err, "one\ntwo"));
        }
}

/* With $CREDENTIALS_DIRECTORY, a value with a '/' that is not absolute, or a dot name, is neither a
 * path nor a credential. */
static void test_pdp_credential_names(void **state) {
        static const char *const bad[] = { "sub/apn-password", ".", "..", "" };
        Dir *d = *state;

        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", d->path, 1), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *err = NULL, *want = NULL;
                Config *c = NULL;

                write_conf(d, "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': '%s'}}]}", bad[i]);
                assert_int_equal(config_load(d->conf, true, &c, &err), -EINVAL);
                assert_true(asprintf(&want, "%s: modems[0].pdp.password_file: must be an absolute path or the name of a systemd credential, not \"%s\"",
                                     d->conf, bad[i]) > 0);
                assert_non_null(err);
                assert_string_equal(err, want);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_defaults_missing_default_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_explicit_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_init_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_state_directory_env, setup, teardown),
                cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_values, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reset_at, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_family_lists_choices, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropins_inbox_default_and_missing_main, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropin_error_names_dropin, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp_auth, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp_password_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp_credential, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp_credential_names, setup, teardown),
        };

        /* Keep config_apply_file()'s debug lines out of the test output. */
        log_set_max_level(LOG_WARNING);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
