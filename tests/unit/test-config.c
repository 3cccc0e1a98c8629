/* SPDX-License-Identifier: MIT */

#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <mosquitto.h>

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

/* n bytes of content (NULs allowed) into <dir>/<name>; returns the path. */
static char *write_secret_bytes(const char *dir, const char *name, const char *content, size_t n) {
        char *path = NULL;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(content, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
        return path;
}

static char *write_secret(const char *dir, const char *name, const char *content) {
        return write_secret_bytes(dir, name, content, strlen(content));
}

/* The config text with ' for ", and %s replaced by arg. */
static void write_conf(const Dir *d, const char *format, const char *arg) {
        _cleanup_free_ char *text = NULL;

        assert_true(asprintf(&text, format, arg) > 0);
        write_file(d->conf, text);
}

typedef struct ErrorCase {
        const char *json;           /* %s: arg */
        const char *arg;
        int error;
        const char *reason;         /* after "<file>: "; %s: arg */
} ErrorCase;

/* Each case must fail to load with its error and a message starting with "<file>: <reason>", and
 * no message may contain any of the NULL-terminated secrets. */
static void check_error_cases(const Dir *d, const ErrorCase *cases, size_t n, const char *const *secrets) {
        for (size_t i = 0; i < n; i++) {
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

                for (const char *const *x = secrets; *x; x++)
                        if (strstr(err, *x))
                                fail_msg("case %zu: a secret is in \"%s\"", i, err);
        }
}

/* An executable shell script <dir>/<name> (mode 0755); returns the path. */
static char *write_program(const char *dir, const char *name) {
        char *path = write_secret(dir, name, "#!/bin/sh\nexit 0\n");

        assert_int_equal(chmod(path, 0755), 0);
        return path;
}

static void assert_default_timeouts(const Timeouts *t) {
        assert_int_equal(t->at_command, 5 * USEC_PER_SEC);
        assert_int_equal(t->download_start, 90 * USEC_PER_SEC);
        assert_int_equal(t->download, 1800 * USEC_PER_SEC);
        assert_int_equal(t->port_return, 300 * USEC_PER_SEC);
        assert_int_equal(t->first_urc_after_reboot, 90 * USEC_PER_SEC);
        assert_int_equal(t->urc_watchdog, 240 * USEC_PER_SEC);
        assert_int_equal(t->verify, 300 * USEC_PER_SEC);
        assert_int_equal(t->state_write_retry, 10 * USEC_PER_SEC);
}

static void assert_default_records(const Config *c) {
        assert_int_equal(c->records_max_age, 90 * 24 * 3600 * USEC_PER_SEC);
        assert_int_equal(c->records_max_count, 1000);
}

static void test_defaults_missing_default_file(void **state) {
        Dir *d = *state;
        _cleanup_(config_freep) Config *c = NULL;

        c = load_ok(d->conf, /* path_explicit= */ false);
        assert_string_equal(c->state_directory, CONFIG_DEFAULT_STATE_DIRECTORY);
        assert_int_equal(c->log_level, LOG_INFO);
        assert_int_equal(c->n_modems, 0);
        assert_default_timeouts(&c->timeouts);
        assert_int_equal(c->reset.method, RESET_METHOD_AT);
        assert_null(c->reset.command);
        assert_false(c->reset.try_at_first);
        assert_default_records(c);
        assert_string_equal(c->control_planes.inbox, CONFIG_DEFAULT_STATE_DIRECTORY "/inbox");
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
        assert_string_equal(c->control_planes.inbox, "/var/lib/dfotad-a/inbox");
        assert_int_equal(c->log_level, LOG_INFO);
        assert_default_timeouts(&c->timeouts);
        assert_default_records(c);
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
                assert_string_equal(c->control_planes.inbox, inbox);
        }

        /* The file wins over the environment. */
        write_file(d->conf, "{'state_directory': '/srv/dfotad'}");
        _cleanup_(config_freep) Config *c = load_ok(d->conf, true);
        assert_string_equal(c->state_directory, "/srv/dfotad");
        assert_string_equal(c->control_planes.inbox, "/srv/dfotad/inbox");
}

static void test_every_key(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *program = write_program(d->path, "power-cycle");
        _cleanup_(config_freep) Config *c = NULL;

        write_conf(d,
                   "{\n"
                   "  'state_directory': '/srv/dfotad',\n"
                   "  'log_level': 'debug',\n"
                   "  'modems': [ { 'port': '/dev/ttyUSB2', 'family': 'ec2x' }, { 'port': '/dev/ttyS1' } ],\n"
                   "  'timeouts': { 'at_command': 1, 'download_start': 2, 'download': 3, 'port_return': 4,\n"
                   "                'first_urc_after_reboot': 5, 'urc_watchdog': 6, 'verify': 7.25,\n"
                   "                'state_write_retry': 8 },\n"
                   "  'reset': { 'command': [ '%s', '--gpio', '17' ], 'try_at_first': true },\n"
                   "  'records': { 'max_age_days': 7, 'max_count': 50 },\n"
                   "  'local': { 'inbox': '/srv/inbox' }\n"
                   "}\n", program);

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
        assert_int_equal(c->timeouts.state_write_retry, 8 * USEC_PER_SEC);
        assert_int_equal(c->reset.method, RESET_METHOD_COMMAND);
        assert_string_equal(c->reset.command[0], program);
        assert_string_equal(c->reset.command[1], "--gpio");
        assert_string_equal(c->reset.command[2], "17");
        assert_null(c->reset.command[3]);
        assert_true(c->reset.try_at_first);
        assert_int_equal(c->records_max_age, 7 * 24 * 3600 * USEC_PER_SEC);
        assert_int_equal(c->records_max_count, 50);
        assert_string_equal(c->control_planes.inbox, "/srv/inbox");
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
                { "{'timeouts': {'state_write_retry': 0.25}}", offsetof(Config, timeouts.state_write_retry), false, 250000 },
                { "{'timeouts': {'state_write_retry': 1e-6}}", offsetof(Config, timeouts.state_write_retry), false, 1 },
                { "{'timeouts': {'state_write_retry': 86400}}", offsetof(Config, timeouts.state_write_retry), false, 86400 * USEC_PER_SEC },
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

        write_file(d->conf, "{'reset': {'command': ['/bin/true'], 'try_at_first': true}}");
        write_dropin(d, "50-at.json", "{'reset': 'at'}");
        c = load_ok(d->conf, true);
        assert_int_equal(c->reset.method, RESET_METHOD_AT);
        assert_null(c->reset.command);
        /* "at" is AT only: no program to fall back to, and nothing to try first. */
        assert_false(c->reset.try_at_first);
        c = config_free(c);

        /* A "reset" object replaces the earlier one as a whole, try_at_first included. */
        write_dropin(d, "50-at.json", "{'reset': {'command': ['/bin/sh', '-c', 'exit 0']}}");
        c = load_ok(d->conf, true);
        assert_int_equal(c->reset.method, RESET_METHOD_COMMAND);
        assert_string_equal(c->reset.command[0], "/bin/sh");
        assert_false(c->reset.try_at_first);
        c = config_free(c);

        write_dropin(d, "50-at.json", "{'reset': {'command': ['/bin/true'], 'try_at_first': false}}");
        c = load_ok(d->conf, true);
        assert_int_equal(c->reset.method, RESET_METHOD_COMMAND);
        assert_false(c->reset.try_at_first);

        assert_string_equal(reset_method_to_string(RESET_METHOD_AT), "at");
        assert_string_equal(reset_method_to_string(RESET_METHOD_COMMAND), "command");
        assert_int_equal(reset_method_from_string("command"), RESET_METHOD_COMMAND);
        assert_int_equal(reset_method_from_string("gpio"), -EINVAL);
}

/* The reset program is what the watchdog falls back on when a module has stopped answering: a
 * typo must stop the daemon at start, not surface hours later. */
static void test_reset_command_checked(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *program = write_program(d->path, "power-cycle");
        _cleanup_free_ char *plain = write_secret(d->path, "not-executable", "#!/bin/sh\nexit 0\n");
        _cleanup_free_ char *fifo = NULL, *link = NULL, *dangling = NULL;
        _cleanup_(config_freep) Config *c = NULL;

        assert_true(asprintf(&fifo, "%s/fifo", d->path) > 0);
        assert_int_equal(mkfifo(fifo, 0755), 0);
        assert_int_equal(chmod(plain, 0644), 0);
        /* A symbolic link to the program is the program. */
        assert_true(asprintf(&link, "%s/link", d->path) > 0);
        assert_int_equal(symlink(program, link), 0);
        assert_true(asprintf(&dangling, "%s/dangling", d->path) > 0);
        assert_int_equal(symlink("/nonexistent/power-cycle", dangling), 0);

        write_conf(d, "{'reset': {'command': ['%s']}}", link);
        c = load_ok(d->conf, true);
        assert_string_equal(c->reset.command[0], link);

        const ErrorCase cases[] = {
                { "{'reset': {'command': ['%s', '--gpio', '17']}}", "/nonexistent/power-cycle", -ENOENT,
                  "reset.command[0]: /nonexistent/power-cycle does not exist" },
                { "{'reset': {'command': ['%s']}}", dangling, -ENOENT, "reset.command[0]: %s does not exist" },
                /* a component of the path that is a file, not a directory */
                { "{'reset': {'command': ['%s/x']}}", program, -ENOENT, "reset.command[0]: %s/x does not exist" },
                { "{'reset': {'command': ['%s']}}", plain, -EACCES, "reset.command[0]: %s is not executable" },
                { "{'reset': {'command': ['%s']}}", d->path, -EISDIR, "reset.command[0]: %s is not a regular file" },
                { "{'reset': {'command': ['%s']}}", fifo, -EBADFD, "reset.command[0]: %s is not a regular file" },
                { "{'reset': {'command': ['%s']}}", "/dev/null", -EBADFD, "reset.command[0]: /dev/null is not a regular file" },
                /* with try_at_first too: the program is the fallback, and must be there */
                { "{'reset': {'command': ['%s'], 'try_at_first': true}}", "/nonexistent/x", -ENOENT,
                  "reset.command[0]: /nonexistent/x does not exist" },
        };

        check_error_cases(d, cases, ELEMENTSOF(cases), (const char *const[]) { NULL });
}

/* "records": limits on the ended job records kept in the state directory. */
static void test_records(void **state) {
        static const struct {
                const char *json;
                usec_t max_age;
                unsigned max_count;
        } cases[] = {
                { "{'records': {}}",                                     90 * 24 * 3600 * USEC_PER_SEC, 1000 },
                { "{'records': {'max_age_days': 0}}",                    0, 1000 },
                { "{'records': {'max_count': 0}}",                       90 * 24 * 3600 * USEC_PER_SEC, 0 },
                { "{'records': {'max_age_days': 0, 'max_count': 0}}",    0, 0 },
                { "{'records': {'max_age_days': 1, 'max_count': 1}}",    24 * 3600 * USEC_PER_SEC, 1 },
                { "{'records': {'max_age_days': 36500, 'max_count': 1000000}}",
                                                                         (usec_t) 36500 * 24 * 3600 * USEC_PER_SEC, 1000000 },
        };
        Dir *d = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(config_freep) Config *c = NULL;

                write_file(d->conf, cases[i].json);
                c = load_ok(d->conf, true);
                if (c->records_max_age != cases[i].max_age || c->records_max_count != cases[i].max_count)
                        fail_msg("case %zu %s: max_age %" PRIu64 " max_count %u, want %" PRIu64 " %u", i, cases[i].json,
                                 c->records_max_age, c->records_max_count, cases[i].max_age, cases[i].max_count);
        }
}

/* Not a file to read: a FIFO (open() and read() would block start-up for good), a directory, or a
 * file too large for a configuration. Each says what the path is. alarm(): the old reader hung
 * here, and a hung test must fail rather than wait for meson's timeout. */
static void test_not_a_file(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *fifo = NULL, *big = NULL, *text = NULL;
        const char *enough = "{'log_level': 'info'}";

        alarm(20);

        /* The config file itself, given explicitly or at the default path. */
        assert_int_equal(mkfifo(d->conf, 0600), 0);
        for (int explicit = 0; explicit <= 1; explicit++) {
                _cleanup_free_ char *err = NULL, *want = NULL;
                Config *c = NULL;

                assert_int_equal(config_load(d->conf, explicit, &c, &err), -EBADFD);
                assert_null(c);
                assert_true(asprintf(&want, "%s: is not a regular file (a FIFO, socket or device)", d->conf) > 0);
                assert_string_equal(err, want);
        }
        assert_int_equal(unlink(d->conf), 0);

        assert_int_equal(mkdir(d->conf, 0700), 0);
        {
                _cleanup_free_ char *err = NULL, *want = NULL;
                Config *c = NULL;

                assert_int_equal(config_load(d->conf, true, &c, &err), -EISDIR);
                assert_true(asprintf(&want, "%s: is a directory, not a file", d->conf) > 0);
                assert_string_equal(err, want);
        }
        assert_int_equal(rmdir(d->conf), 0);

        /* One byte over the cap; the cap itself is fine. */
        big = malloc(1024 * 1024 + 2);
        assert_non_null(big);
        memset(big, ' ', 1024 * 1024 + 1);
        big[1024 * 1024 + 1] = '\0';
        memcpy(big, "{}", 2);
        write_file(d->conf, big);
        {
                _cleanup_free_ char *err = NULL, *want = NULL;
                Config *c = NULL;

                assert_int_equal(config_load(d->conf, true, &c, &err), -EFBIG);
                assert_true(asprintf(&want, "%s: is larger than 1048576 bytes", d->conf) > 0);
                assert_string_equal(err, want);
        }
        big[1024 * 1024] = '\0';
        write_file(d->conf, big);
        config_free(load_ok(d->conf, true));

        /* A drop-in: named, like a drop-in's bad key. */
        write_file(d->conf, enough);
        (void) mkdir(d->dropins, 0755);
        assert_true(asprintf(&fifo, "%s/20-fifo.json", d->dropins) > 0);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        {
                _cleanup_free_ char *err = NULL, *want = NULL;
                Config *c = NULL;

                assert_int_equal(config_load(d->conf, true, &c, &err), -EBADFD);
                assert_true(asprintf(&want, "%s: is not a regular file (a FIFO, socket or device)", fifo) > 0);
                assert_string_equal(err, want);
        }
        assert_int_equal(unlink(fifo), 0);
        assert_int_equal(mkdir(fifo, 0700), 0);
        {
                _cleanup_free_ char *err = NULL, *want = NULL;
                Config *c = NULL;

                assert_int_equal(config_load(d->conf, true, &c, &err), -EISDIR);
                assert_true(asprintf(&want, "%s: is a directory, not a file", fifo) > 0);
                assert_string_equal(err, want);
        }
        assert_int_equal(rmdir(fifo), 0);
        /* A dangling symbolic link among the drop-ins is a drop-in that is gone: skipped, as before. */
        assert_int_equal(symlink("/nonexistent/x.json", fifo), 0);
        config_free(load_ok(d->conf, true));
        assert_int_equal(unlink(fifo), 0);

        /* Files named by keys: a password file is read at load time, a TLS file later by
         * OpenSSL, which would block on a FIFO just the same. */
        assert_true(asprintf(&text, "%s/fifo", d->path) > 0);
        assert_int_equal(mkfifo(text, 0600), 0);
        {
                const ErrorCase cases[] = {
                        { "{'mqtt': {'dialect': 'plain', 'host': 'b', 'device_id': 'gw1', 'username': 'u', 'password_file': '%s'}}",
                          text, -EBADFD, "mqtt.password_file: %s is not a regular file (a FIFO, socket or device)" },
                        { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'password_file': '%s'}}]}",
                          text, -EBADFD, "modems[0].pdp.password_file: %s is not a regular file (a FIFO, socket or device)" },
                        { "{'mqtt': {'dialect': 'plain', 'host': 'b', 'device_id': 'gw1', 'tls': {'ca_file': '%s'}}}",
                          text, -EBADFD, "mqtt.tls.ca_file: %s is not a regular file (a FIFO, socket or device)" },
                        { "{'mqtt': {'dialect': 'plain', 'host': 'b', 'device_id': 'gw1', 'tls': {'key_file': '%s'}}}",
                          text, -EBADFD, "mqtt.tls.key_file: %s is not a regular file (a FIFO, socket or device)" },
                        { "{'mqtt': {'dialect': 'plain', 'host': 'b', 'device_id': 'gw1', 'username': 'u', 'password_file': '%s'}}",
                          "/dev/null", -EBADFD, "mqtt.password_file: /dev/null is not a regular file (a FIFO, socket or device)" },
                };

                check_error_cases(d, cases, ELEMENTSOF(cases), (const char *const[]) { NULL });
        }

        alarm(0);
}

static void test_errors(void **state) {
        static const struct {
                const char *json;
                const char *reason;     /* after "<file>: " */
        } cases[] = {
                /* unknown keys, every level */
                { "{'timeout': {}}",                                   "timeout: unknown field" },
                { "{'timeouts': {'urc_watchdg': 1}}",                  "timeouts.urc_watchdg: unknown field" },
                { "{'modems': [{'port': '/dev/x', 'speed': 115200}]}", "modems[0].speed: unknown field" },
                { "{'local': {'outbox': '/x'}}",                       "local.outbox: unknown field" },
                { "{'reset': {'cmd': ['/x']}}",                        "reset.cmd: unknown field" },
                /* wrong types */
                { "[]",                                                "must be a JSON object" },
                { "{'state_directory': 5}",                            "state_directory: must be a string" },
                { "{'state_directory': '/a\\u0000b'}",                 "state_directory: must not contain NUL characters" },
                { "{'log_level': 3}",                                  "log_level: must be a string" },
                { "{'modems': {'port': '/dev/x'}}",                    "modems: must be an array" },
                { "{'modems': ['/dev/ttyUSB2']}",                      "modems[0]: must be a JSON object" },
                { "{'modems': [{'port': 2}]}",                         "modems[0].port: must be a string" },
                { "{'modems': [{'port': '/dev/x', 'family': null}]}",  "modems[0].family: must be a string" },
                { "{'timeouts': 5}",                                   "timeouts: must be a JSON object" },
                { "{'timeouts': {'verify': '5'}}",                     "timeouts.verify: must be a number of seconds > 0" },
                { "{'timeouts': {'verify': true}}",                    "timeouts.verify: must be a number of seconds > 0" },
                { "{'timeouts': {'verify': null}}",                    "timeouts.verify: must be a number of seconds > 0" },
                { "{'local': '/x'}",                                   "local: must be a JSON object" },
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
                { "{'timeouts': {'state_write_retry': 0}}",            "timeouts.state_write_retry: must be a number of seconds > 0" },
                { "{'timeouts': {'state_write_retry': -0.5}}",         "timeouts.state_write_retry: must be a number of seconds > 0" },
                { "{'timeouts': {'state_write_retry': '10'}}",         "timeouts.state_write_retry: must be a number of seconds > 0" },
                { "{'timeouts': {'state_write_retry': 86400.5}}",      "timeouts.state_write_retry: must be at most 86400 seconds" },
                { "{'timeouts': {'state_write_retry': 1e-7}}",         "timeouts.state_write_retry: must be at least one microsecond" },
                /* values */
                { "{'log_level': 'loud'}",                             "log_level: must be \"emerg\", \"alert\", \"crit\", \"err\", \"warning\", \"notice\", \"info\" or \"debug\", not \"loud\"" },
                { "{'log_level': '8'}",                                "log_level: must be \"emerg\"" },
                { "{'state_directory': 'var/lib/dfotad'}",             "state_directory: must be an absolute path" },
                { "{'local': {'inbox': 'inbox'}}",                     "local.inbox: must be an absolute path" },
                { "{'modems': [{'port': '/dev/a'}, {'port': '/dev/b', 'family': 'ec99'}]}",
                                                                       "modems[1].family: must be \"ec2x\"" },
                { "{'modems': [{'port': '/dev/a', 'family': 'EC2X'}]}", "modems[0].family: must be \"ec2x\"" },
                { "{'modems': [{'port': '/dev/a', 'family': 'generic'}]}",
                                                                       "modems[0].family: \"generic\" is the fallback" },
                { "{'modems': [{'port': 'ttyUSB2'}]}",                 "modems[0].port: must be an absolute path" },
                { "{'modems': [{'family': 'ec2x'}]}",                  "modems[0]: needs exactly one of \"port\", \"imei\" or \"usb_path\"" },
                { "{'modems': [{'port': '/dev/x', 'imei': '861234567890123'}]}",
                                                                       "modems[0]: needs exactly one of \"port\", \"imei\" or \"usb_path\"" },
                { "{'modems': [{'imei': '86123456789012'}]}",           "modems[0].imei: must be 15 digits (the module's AT+GSN)" },
                { "{'modems': [{'imei': '86123456789012x'}]}",          "modems[0].imei: must be 15 digits (the module's AT+GSN)" },
                { "{'modems': [{'usb_path': '/dev/bus/usb/001'}]}",     "modems[0].usb_path: must be a USB path such as \"1-1.2\" (as dmesg and lsusb -t show it)" },
                { "{'modems': [{'usb_path': '1-'}]}",                   "modems[0].usb_path: must be a USB path such as \"1-1.2\" (as dmesg and lsusb -t show it)" },
                { "{'modems': [{'usb_path': '1-1..2'}]}",               "modems[0].usb_path: must be a USB path such as \"1-1.2\" (as dmesg and lsusb -t show it)" },
                { "{'modems': [{'imei': '861234567890123'}, {'imei': '861234567890123'}]}",
                                                                       "modems[1]: imei \"861234567890123\" is already listed as modems[0]" },
                { "{'modems': [{'usb_path': '1-1.2'}, {'usb_path': '1-1.2', 'family': 'ucxx'}]}",
                                                                       "modems[1]: usb_path \"1-1.2\" is already listed as modems[0]" },
                { "{'modems': [{'port': '/dev/ttyUSB2'}, {'port': '/dev/ttyS0'}, {'port': '/dev/ttyUSB2'}]}",
                                                                       "modems[2]: port \"/dev/ttyUSB2\" is already listed as modems[0]" },
                /* reset */
                { "{'reset': 'gpio'}",                                 "reset: must be \"at\" or {\"command\"" },
                { "{'reset': 1}",                                      "reset: must be \"at\" or {\"command\"" },
                { "{'reset': {}}",                                     "reset: \"command\" is required" },
                { "{'reset': {'command': '/usr/bin/reset-modem'}}",    "reset.command: must be an array of strings" },
                { "{'reset': {'command': []}}",                        "reset.command: must not be empty" },
                { "{'reset': {'command': ['reset-modem']}}",           "reset.command[0]: must be an absolute path" },
                { "{'reset': {'command': ['/bin/sh', '']}}",           "reset.command[1]: must be a non-empty string" },
                { "{'reset': {'command': ['/bin/sh', 17]}}",           "reset.command[1]: must be a string" },
                { "{'reset': {'command': ['/bin/sh'], 'try_at_first': 'yes'}}", "reset.try_at_first: must be true or false" },
                { "{'reset': {'command': ['/bin/sh'], 'try_at_first': 1}}", "reset.try_at_first: must be true or false" },
                { "{'reset': {'try_at_first': true}}",                 "reset: \"command\" is required" },
                /* records */
                { "{'records': 90}",                                   "records: must be a JSON object" },
                { "{'records': {'max_age': 90}}",                      "records.max_age: unknown field" },
                { "{'records': {'max_age_days': -1}}",                 "records.max_age_days: must be an integer 0..36500" },
                { "{'records': {'max_age_days': 36501}}",              "records.max_age_days: must be an integer 0..36500" },
                { "{'records': {'max_age_days': 1.5}}",                "records.max_age_days: must be an integer 0..36500" },
                { "{'records': {'max_age_days': '90'}}",               "records.max_age_days: must be an integer 0..36500" },
                { "{'records': {'max_age_days': null}}",               "records.max_age_days: must be an integer 0..36500" },
                { "{'records': {'max_age_days': 99999999999999999999}}", "records.max_age_days: must be an integer 0..36500" },
                { "{'records': {'max_count': -1}}",                    "records.max_count: must be an integer 0..1000000" },
                { "{'records': {'max_count': 1000001}}",               "records.max_count: must be an integer 0..1000000" },
                { "{'records': {'max_count': 10.0}}",                  "records.max_count: must be an integer 0..1000000" },
                { "{'records': {'max_count': true}}",                  "records.max_count: must be an integer 0..1000000" },
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
        known = strstr(err, "must be ");
        assert_non_null(known);
        /* Every family a user may choose, and not the fallback. */
        for (ModemFamily f = 0; f < _MODEM_FAMILY_MAX; f++)
                if (f != MODEM_FAMILY_GENERIC)
                        assert_non_null(strstr(known, modem_family_to_string(f)));
        assert_null(strstr(known, "generic"));
}

/* A control character the file quotes (here in a key) reaches the message escaped, never raw:
 * the message goes to the log (tests/fuzz/corpus/fuzz-config/regress-key-control-char). */
static void test_error_escaped(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *err = NULL;
        Config *c = NULL;

        write_file(d->conf, "{\"log_level\": \"info\", \"keep\nal\x12ive\": 1}");
        assert_int_equal(config_load(d->conf, true, &c, &err), -EINVAL);
        assert_non_null(err);
        assert_null(strchr(err, '\n'));
        assert_null(strchr(err, '\x12'));
        assert_non_null(strstr(err, "keep\\nal\\x12ive: unknown field"));
}

static void test_dropins(void **state) {
        Dir *d = *state;
        _cleanup_(config_freep) Config *c = NULL;

        write_file(d->conf,
                   "{'state_directory': '/srv/a', 'log_level': 'info',"
                   " 'modems': [{'port': '/dev/ttyUSB2'}, {'port': '/dev/ttyUSB6'}],"
                   " 'timeouts': {'download': 100, 'verify': 10, 'state_write_retry': 3},"
                   " 'records': {'max_age_days': 30, 'max_count': 10},"
                   " 'local': {'inbox': '/srv/in'}}");
        /* strcmp order: "10-..." before "9-...", so 9-last.json has the last word. */
        write_dropin(d, "10-first.json",
                     "{'log_level': 'debug', 'timeouts': {'verify': 20}, 'modems': [{'port': '/dev/ttyS1'}],"
                     " 'records': {'max_count': 20}}");
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
        assert_int_equal(c->timeouts.state_write_retry, 3 * USEC_PER_SEC);
        /* records merge key by key */
        assert_int_equal(c->records_max_age, 30 * 24 * 3600 * USEC_PER_SEC);
        assert_int_equal(c->records_max_count, 20);
        /* arrays are replaced */
        assert_int_equal(c->n_modems, 1);
        assert_string_equal(c->modems[0].port, "/dev/ttyS1");
        /* local merges: no drop-in touched it */
        assert_string_equal(c->state_directory, "/srv/b");
        assert_string_equal(c->control_planes.inbox, "/srv/in");
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
        assert_string_equal(c->control_planes.inbox, "/srv/two/inbox");
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

/* A module found through udev named by IMEI or USB path carries family and pdp (issue 10 item 10). */
static void test_modems_by_imei_and_usb_path(void **state) {
        Dir *d = *state;
        _cleanup_(config_freep) Config *c = NULL;

        write_conf(d,
                   "{'modems': [ { 'imei': '861234567890123', 'family': 'ucxx', 'pdp': { 'apn': 'a.example' } },"
                   "             { 'usb_path': '1-1.2', 'pdp': { 'apn': 'b.example', 'cid': 2 } },"
                   "             { 'usb_path': '3-10.4.1' },"
                   "             { 'port': '/dev/ttyS1', 'family': 'bc26' } ] }", NULL);
        c = load_ok(d->conf, true);
        assert_int_equal(c->n_modems, 4);
        assert_null(c->modems[0].port);
        assert_string_equal(c->modems[0].imei, "861234567890123");
        assert_null(c->modems[0].usb_path);
        assert_int_equal(c->modems[0].family, MODEM_FAMILY_UCXX);
        assert_string_equal(c->modems[0].pdp->apn, "a.example");
        assert_null(c->modems[1].imei);
        assert_string_equal(c->modems[1].usb_path, "1-1.2");
        assert_int_equal(c->modems[1].family, _MODEM_FAMILY_INVALID);
        assert_int_equal(c->modems[1].pdp->cid, 2);
        assert_string_equal(c->modems[2].usb_path, "3-10.4.1");
        assert_null(c->modems[2].pdp);
        assert_string_equal(c->modems[3].port, "/dev/ttyS1");
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
        /* Files with bytes a C string cannot hold, or too long to spell out. */
        _cleanup_free_ char *nul = write_secret_bytes(d->path, "nul", "ab\0cd", 5), *toolong = NULL;
        char long_pw[PDP_CREDENTIAL_MAX + 2];

        memset(long_pw, 'p', PDP_CREDENTIAL_MAX + 1);
        long_pw[PDP_CREDENTIAL_MAX + 1] = '\0';
        toolong = write_secret(d->path, "toolong", long_pw);

        const ErrorCase cases[] = {
                { "{'modems': [{'port': '/dev/a', 'pdp': 'internet'}]}", NULL, -EINVAL,
                  "modems[0].pdp: must be a JSON object" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {}}]}", NULL, -EINVAL,
                  "modems[0].pdp: \"apn\" is required" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'cid': 2}}]}", NULL, -EINVAL,
                  "modems[0].pdp: \"apn\" is required" },
                { "{'modems': [{'port': '/dev/a', 'pdp': {'apn': 'x', 'apn_name': 'y'}}]}", NULL, -EINVAL,
                  "modems[0].pdp.apn_name: unknown field" },
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

        check_error_cases(d, cases, ELEMENTSOF(cases),
                          (const char *const[]) { "hunter2", "ab\"cd", "ab\tcd", "one\ntwo", NULL });
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

/* ---- mqtt (issue 5) ------------------------------------------------------------------------ */

/* gethostname(), or NULL when it is not a valid device id (the default then is an error). */
static char *valid_hostname(void) {
        char name[HOST_NAME_MAX + 1] = {};

        assert_int_equal(gethostname(name, sizeof(name) - 1), 0);
        if (name[0] == '\0' || strlen(name) > MQTT_ID_MAX)
                return NULL;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr("._:-", *p)))
                        return NULL;
        return strdup(name);
}

static void test_mqtt_every_key(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *pw = write_secret(d->path, "mqtt-password", "s3cret pass\"!\n");
        _cleanup_free_ char *ca = write_secret(d->path, "ca.pem", "-----BEGIN CERTIFICATE-----\n");
        _cleanup_free_ char *cert = write_secret(d->path, "cert.pem", "-----BEGIN CERTIFICATE-----\n");
        _cleanup_free_ char *key = write_secret(d->path, "key.pem", "-----BEGIN PRIVATE KEY-----\n");
        _cleanup_free_ char *text = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        const MqttConfig *m;

        assert_true(asprintf(&text,
                             "{ 'mqtt': {\n"
                             "    'dialect': 'aws-iot-jobs', 'host': 'a1b2c3-ats.iot.eu-west-1.amazonaws.com', 'port': 443,\n"
                             "    'device_id': 'gw-01.site:7', 'client_id': 'client/#1', 'thing_name': 'gw-01_site:7',\n"
                             "    'prefix': 'fleet/eu west/dfotad', 'protocol': '5', 'keepalive': 120,\n"
                             "    'username': 'user name@example', 'password_file': '%s',\n"
                             "    'tls': { 'ca_file': '%s', 'certificate_file': '%s', 'key_file': '%s', 'alpn': 'x-amzn-mqtt-ca' },\n"
                             "    'reconnect_min': 0.5, 'reconnect_max': 60, 'request_timeout': 2.5,\n"
                             "    'step_timeout_minutes': 15, 'heartbeat': 120\n"
                             "} }\n", pw, ca, cert, key) > 0);
        write_file(d->conf, text);

        c = load_ok(d->conf, true);
        m = c->control_planes.mqtt;
        assert_non_null(m);
        assert_int_equal(m->dialect, MQTT_DIALECT_AWS_IOT_JOBS);
        assert_string_equal(m->host, "a1b2c3-ats.iot.eu-west-1.amazonaws.com");
        assert_int_equal(m->port, 443);
        assert_string_equal(m->device_id, "gw-01.site:7");
        assert_string_equal(m->client_id, "client/#1");
        assert_string_equal(m->thing_name, "gw-01_site:7");
        assert_string_equal(m->prefix, "fleet/eu west/dfotad");
        assert_int_equal(m->protocol, MQTT_PROTOCOL_V5);
        assert_int_equal(m->keepalive, 120);
        assert_string_equal(m->username, "user name@example");
        assert_string_equal(m->password, "s3cret pass\"!");        /* '"' is fine here, newline stripped */
        assert_string_equal(m->password_file, pw);
        assert_true(m->tls);
        assert_string_equal(m->ca_file, ca);
        assert_string_equal(m->certificate_file, cert);
        assert_string_equal(m->key_file, key);
        assert_string_equal(m->alpn, "x-amzn-mqtt-ca");
        assert_int_equal(m->reconnect_min, 500 * USEC_PER_MSEC);
        assert_int_equal(m->reconnect_max, 60 * USEC_PER_SEC);
        assert_int_equal(m->request_timeout, 2500 * USEC_PER_MSEC);
        assert_int_equal(m->step_timeout_minutes, 15);
        assert_int_equal(m->heartbeat, 120 * USEC_PER_SEC);

        assert_string_equal(mqtt_dialect_to_string(MQTT_DIALECT_PLAIN), "plain");
        assert_string_equal(mqtt_dialect_to_string(MQTT_DIALECT_AWS_IOT_JOBS), "aws-iot-jobs");
        assert_null(mqtt_dialect_to_string(_MQTT_DIALECT_MAX));
        assert_int_equal(mqtt_dialect_from_string("aws-iot-jobs"), MQTT_DIALECT_AWS_IOT_JOBS);
        assert_int_equal(mqtt_dialect_from_string("aws"), _MQTT_DIALECT_INVALID);
        assert_int_equal(mqtt_dialect_from_string(NULL), _MQTT_DIALECT_INVALID);
}

static void test_mqtt_defaults(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *hostname = valid_hostname();
        _cleanup_(config_freep) Config *c = NULL;
        const MqttConfig *m;

        /* No "mqtt": no MQTT. */
        write_file(d->conf, "{'log_level': 'info'}");
        c = load_ok(d->conf, true);
        assert_null(c->control_planes.mqtt);
        c = config_free(c);

        write_file(d->conf, "{'mqtt': {'dialect': 'plain', 'host': 'broker.example'}}");
        if (!hostname) {
                /* This machine's host name is no device id: the default is refused (test_mqtt_hostname
                 * covers that), and the rest is checked with a device id given. */
                print_message("host name is not a valid device id, its default is not checked here\n");
                write_file(d->conf, "{'mqtt': {'dialect': 'plain', 'host': 'broker.example', 'device_id': 'gw1'}}");
                hostname = strdup("gw1");
                assert_non_null(hostname);
        }
        c = load_ok(d->conf, true);
        m = c->control_planes.mqtt;
        assert_non_null(m);
        assert_int_equal(m->dialect, MQTT_DIALECT_PLAIN);
        assert_string_equal(m->host, "broker.example");
        assert_int_equal(m->port, 1883);
        assert_string_equal(m->device_id, hostname);
        assert_string_equal(m->client_id, hostname);
        assert_string_equal(m->thing_name, hostname);
        assert_string_equal(m->prefix, "dfotad");
        assert_int_equal(m->protocol, MQTT_PROTOCOL_V311);
        assert_int_equal(m->keepalive, 60);
        assert_null(m->username);
        assert_null(m->password);
        assert_null(m->password_file);
        assert_false(m->tls);
        assert_null(m->ca_file);
        assert_null(m->certificate_file);
        assert_null(m->key_file);
        assert_null(m->alpn);
        assert_int_equal(m->reconnect_min, 1 * USEC_PER_SEC);
        assert_int_equal(m->reconnect_max, 300 * USEC_PER_SEC);
        assert_int_equal(m->request_timeout, 10 * USEC_PER_SEC);
        assert_int_equal(m->step_timeout_minutes, 60);
        assert_int_equal(m->heartbeat, 20 * 60 * USEC_PER_SEC);
        c = config_free(c);

        /* TLS: 8883; the ids follow device_id; "3.1.1" spelled out. */
        write_file(d->conf, "{'mqtt': {'dialect': 'aws-iot-jobs', 'host': '192.0.2.1', 'device_id': 'gw:1',"
                            " 'protocol': '3.1.1', 'tls': {}}}");
        c = load_ok(d->conf, true);
        m = c->control_planes.mqtt;
        assert_true(m->tls);
        assert_int_equal(m->port, 8883);
        assert_string_equal(m->client_id, "gw:1");
        assert_string_equal(m->thing_name, "gw:1");
        assert_int_equal(m->protocol, MQTT_PROTOCOL_V311);
        c = config_free(c);

        /* A given client_id or thing_name stays; a '.' in device_id is fine with a thing_name. */
        write_file(d->conf, "{'mqtt': {'dialect': 'aws-iot-jobs', 'host': 'h', 'device_id': 'gw.1', 'thing_name': 't',"
                            " 'client_id': 'c'}}");
        c = load_ok(d->conf, true);
        assert_string_equal(c->control_planes.mqtt->device_id, "gw.1");
        assert_string_equal(c->control_planes.mqtt->thing_name, "t");
        assert_string_equal(c->control_planes.mqtt->client_id, "c");
        c = config_free(c);

        /* The plain dialect does not use thing_name: a '.' there is fine. */
        write_file(d->conf, "{'mqtt': {'dialect': 'plain', 'host': 'h', 'device_id': 'gw.1'}}");
        c = load_ok(d->conf, true);
        assert_string_equal(c->control_planes.mqtt->thing_name, "gw.1");
        c = config_free(c);

        /* A unix socket: no port (0), with or without TLS. */
        write_file(d->conf, "{'mqtt': {'dialect': 'plain', 'host': '/run/mosquitto/mqtt.sock', 'device_id': 'gw1',"
                            " 'tls': {}}}");
        c = load_ok(d->conf, true);
        assert_string_equal(c->control_planes.mqtt->host, "/run/mosquitto/mqtt.sock");
        assert_int_equal(c->control_planes.mqtt->port, 0);
        c = config_free(c);

        /* Step timeouts off: no heartbeat. */
        write_file(d->conf, "{'mqtt': {'dialect': 'aws-iot-jobs', 'host': 'h', 'device_id': 'gw1', 'step_timeout_minutes': 0}}");
        c = load_ok(d->conf, true);
        assert_int_equal(c->control_planes.mqtt->step_timeout_minutes, 0);
        assert_int_equal(c->control_planes.mqtt->heartbeat, 0);
        c = config_free(c);

        /* The limits exactly. */
        write_file(d->conf, "{'mqtt': {'dialect': 'aws-iot-jobs', 'host': 'h', 'port': 65535, 'keepalive': 5,"
                            " 'device_id': 'dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd',"
                            " 'step_timeout_minutes': 10080, 'reconnect_min': 300, 'heartbeat': 604799.5}}");
        {
                _cleanup_free_ char *err = NULL;

                /* heartbeat is capped like every number of seconds */
                assert_int_equal(config_load(d->conf, true, &c, &err), -EINVAL);
                assert_non_null(strstr(err, "mqtt.heartbeat: must be at most 86400 seconds"));
        }
        write_file(d->conf, "{'mqtt': {'dialect': 'aws-iot-jobs', 'host': 'h', 'port': 65535, 'keepalive': 65535,"
                            " 'device_id': 'dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd',"
                            " 'step_timeout_minutes': 10080, 'reconnect_min': 300, 'reconnect_max': 300}}");
        c = load_ok(d->conf, true);
        m = c->control_planes.mqtt;
        assert_int_equal(m->port, 65535);
        assert_int_equal(m->keepalive, 65535);
        assert_int_equal(strlen(m->thing_name), MQTT_ID_MAX);
        assert_int_equal(m->step_timeout_minutes, 10080);
        assert_int_equal(m->heartbeat, 10080 * 60 / 3 * USEC_PER_SEC);
        assert_int_equal(m->reconnect_min, m->reconnect_max);
        c = config_free(c);

        /* A heartbeat just below the step timeout. */
        write_file(d->conf, "{'mqtt': {'dialect': 'aws-iot-jobs', 'host': 'h', 'device_id': 'gw1',"
                            " 'step_timeout_minutes': 1, 'heartbeat': 59.999999}}");
        c = load_ok(d->conf, true);
        assert_int_equal(c->control_planes.mqtt->heartbeat, 59999999);
}

/* A valid "mqtt" object to append keys to. */
#define MQ "{'mqtt': {'dialect': 'plain', 'host': 'broker', 'device_id': 'gw1', "
#define MQ_PW "'username': 'u', 'password_file': '%s'"
#define S129 "sssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss"

static void test_mqtt_errors(void **state) {
        Dir *d = *state;
        /* Every password here holds "hunter2", which no message may show. */
        _cleanup_free_ char *pw = write_secret(d->path, "pw", "hunter2\n");
        _cleanup_free_ char *empty = write_secret(d->path, "empty", "\n");
        _cleanup_free_ char *lines = write_secret(d->path, "lines", "hunter2\nhunter2\n");
        _cleanup_free_ char *cert = write_secret(d->path, "cert.pem", "x");
        _cleanup_free_ char *nul = write_secret_bytes(d->path, "nul", "hunter2\0x", 9), *toolong = NULL, *long_pw = NULL;

        long_pw = malloc(MQTT_PASSWORD_MAX + 2);
        assert_non_null(long_pw);
        memset(long_pw, 'x', MQTT_PASSWORD_MAX + 1);
        memcpy(long_pw, "hunter2", 7);
        long_pw[MQTT_PASSWORD_MAX + 1] = '\0';
        toolong = write_secret(d->path, "toolong", long_pw);

        const ErrorCase cases[] = {
                /* the object, required keys, unknown keys */
                { "{'mqtt': 5}", NULL, -EINVAL, "mqtt: must be a JSON object" },
                { "{'mqtt': 'plain'}", NULL, -EINVAL, "mqtt: must be a JSON object" },
                { "{'mqtt': {}}", NULL, -EINVAL, "mqtt: \"dialect\" is required" },
                { "{'mqtt': {'host': 'broker', 'device_id': 'gw1'}}", NULL, -EINVAL, "mqtt: \"dialect\" is required" },
                { "{'mqtt': {'dialect': 'plain', 'device_id': 'gw1'}}", NULL, -EINVAL, "mqtt: \"host\" is required" },
                { MQ "'hots': 'x'}}", NULL, -EINVAL, "mqtt.hots: unknown field" },
                { MQ "'tls': {'cafile': '/x'}}}", NULL, -EINVAL, "mqtt.tls.cafile: unknown field" },
                /* dialect */
                { "{'mqtt': {'dialect': 'aws', 'host': 'broker'}}", NULL, -EINVAL,
                  "mqtt.dialect: must be \"plain\" or \"aws-iot-jobs\", not \"aws\"" },
                { "{'mqtt': {'dialect': 1, 'host': 'broker'}}", NULL, -EINVAL, "mqtt.dialect: must be a string" },
                /* host */
                { "{'mqtt': {'dialect': 'plain', 'host': ''}}", NULL, -EINVAL, "mqtt.host: must not be empty" },
                { "{'mqtt': {'dialect': 'plain', 'host': 'bro ker'}}", NULL, -EINVAL, "mqtt.host: must not contain spaces" },
                { "{'mqtt': {'dialect': 'plain', 'host': 'a\\u0000b'}}", NULL, -EINVAL, "mqtt.host: must not contain NUL characters" },
                { "{'mqtt': {'dialect': 'plain', 'host': '" S129 S129 "'}}", NULL, -EINVAL, "mqtt.host: must be at most 255 bytes" },
                { "{'mqtt': {'dialect': 'plain', 'host': '/run/" S129 "'}}", NULL, -EINVAL,
                  "mqtt.host: a unix socket path must be shorter than 108 bytes" },
                /* port */
                { MQ "'port': 65536}}", NULL, -EINVAL, "mqtt.port: must be an integer 1..65535" },
                /* 0 is no port; the default is what leaving the key out gives */
                { MQ "'port': 0}}", NULL, -EINVAL, "mqtt.port: must be an integer 1..65535" },
                { MQ "'port': 0, 'tls': {}}}", NULL, -EINVAL, "mqtt.port: must be an integer 1..65535" },
                { "{'mqtt': {'dialect': 'plain', 'host': '/run/mqtt.sock', 'port': 0}}", NULL, -EINVAL,
                  "mqtt.port: must be an integer 1..65535" },
                { MQ "'port': 0.0}}", NULL, -EINVAL, "mqtt.port: must be an integer 1..65535" },
                { MQ "'port': -1}}", NULL, -EINVAL, "mqtt.port: must be an integer 1..65535" },
                { MQ "'port': '1883'}}", NULL, -EINVAL, "mqtt.port: must be an integer 1..65535" },
                { MQ "'port': 1883.0}}", NULL, -EINVAL, "mqtt.port: must be an integer 1..65535" },
                { "{'mqtt': {'dialect': 'plain', 'host': '/run/mqtt.sock', 'port': 1883}}", NULL, -EINVAL,
                  "mqtt.port: must be left out when \"host\" is a unix socket path (/run/mqtt.sock)" },
                /* ids */
                { MQ "'device_id': ''}}", NULL, -EINVAL, "mqtt.device_id: must not be empty" },
                { MQ "'device_id': 'gw 1'}}", NULL, -EINVAL, "mqtt.device_id: must not contain spaces" },
                { MQ "'device_id': 'gw/1'}}", NULL, -EINVAL,
                  "mqtt.device_id: must not contain '/' (letters, digits, '.', '_', ':' and '-' only)" },
                { MQ "'device_id': 'gw+1'}}", NULL, -EINVAL, "mqtt.device_id: must not contain '+'" },
                { MQ "'device_id': 'caf\\u00e9'}}", NULL, -EINVAL, "mqtt.device_id: contains byte 0xc3 at offset 3" },
                { MQ "'device_id': '" S129 "'}}", NULL, -EINVAL, "mqtt.device_id: must be at most 128 bytes" },
                { MQ "'device_id': 7}}", NULL, -EINVAL, "mqtt.device_id: must be a string" },
                { MQ "'client_id': 'a b'}}", NULL, -EINVAL, "mqtt.client_id: must not contain spaces" },
                { MQ "'client_id': 'a\\tb'}}", NULL, -EINVAL, "mqtt.client_id: contains byte 0x09 at offset 1" },
                { MQ "'client_id': ''}}", NULL, -EINVAL, "mqtt.client_id: must not be empty" },
                { MQ "'client_id': '" S129 "'}}", NULL, -EINVAL, "mqtt.client_id: must be at most 128 bytes" },
                { MQ "'thing_name': 'gw.1'}}", NULL, -EINVAL,
                  "mqtt.thing_name: must not contain '.' (letters, digits, '_', ':' and '-' only)" },
                { MQ "'thing_name': '" S129 "'}}", NULL, -EINVAL, "mqtt.thing_name: must be at most 128 bytes" },
                { "{'mqtt': {'dialect': 'aws-iot-jobs', 'host': 'broker', 'device_id': 'gw.example'}}", NULL, -EINVAL,
                  "mqtt.thing_name: the device id \"gw.example\" is not a valid AWS IoT thing name "
                  "(letters, digits, '_', ':' and '-' only); set \"thing_name\"" },
                /* prefix */
                { MQ "'prefix': 'a+b'}}", NULL, -EINVAL, "mqtt.prefix: must not contain '+'" },
                { MQ "'prefix': 'a/#'}}", NULL, -EINVAL, "mqtt.prefix: must not contain '#'" },
                { MQ "'prefix': '$SYS'}}", NULL, -EINVAL, "mqtt.prefix: must not start with '$'" },
                { MQ "'prefix': '/dfotad'}}", NULL, -EINVAL, "mqtt.prefix: must not start with '/'" },
                { MQ "'prefix': 'dfotad/'}}", NULL, -EINVAL, "mqtt.prefix: must not end with '/'" },
                { MQ "'prefix': 'fleet//dfotad'}}", NULL, -EINVAL, "mqtt.prefix: must not contain \"//\"" },
                { MQ "'prefix': ''}}", NULL, -EINVAL, "mqtt.prefix: must not be empty" },
                { MQ "'prefix': '" S129 "'}}", NULL, -EINVAL, "mqtt.prefix: must be at most 128 bytes" },
                { MQ "'prefix': 'a\\u0001'}}", NULL, -EINVAL, "mqtt.prefix: contains byte 0x01 at offset 1" },
                /* protocol, keepalive */
                { MQ "'protocol': '3.1'}}", NULL, -EINVAL, "mqtt.protocol: must be \"3.1.1\" or \"5\"" },
                { MQ "'protocol': 5}}", NULL, -EINVAL, "mqtt.protocol: must be \"3.1.1\" or \"5\"" },
                { MQ "'keepalive': 4}}", NULL, -EINVAL, "mqtt.keepalive: must be an integer 5..65535" },
                { MQ "'keepalive': 65536}}", NULL, -EINVAL, "mqtt.keepalive: must be an integer 5..65535" },
                { MQ "'keepalive': 60.5}}", NULL, -EINVAL, "mqtt.keepalive: must be an integer 5..65535" },
                /* username, password */
                { MQ "'username': ''}}", NULL, -EINVAL, "mqtt.username: must not be empty" },
                { MQ "'username': 'a\\nb'}}", NULL, -EINVAL, "mqtt.username: contains byte 0x0a at offset 1 (printable ASCII only)" },
                { MQ "'username': '" S129 S129 "'}}", NULL, -EINVAL, "mqtt.username: must be at most 256 bytes" },
                { MQ "'username': 'u', 'password': 'hunter2'}}", NULL, -EINVAL,
                  "mqtt.password: passwords are not taken from the configuration" },
                { MQ "'password_file': '%s'}}", pw, -EINVAL,
                  "mqtt.password_file: needs \"username\"" },
                { MQ "'username': 'u', 'password_file': 'pw'}}", NULL, -EINVAL,
                  "mqtt.password_file: must be an absolute path, not \"pw\" (a credential name needs $CREDENTIALS_DIRECTORY)" },
                { MQ MQ_PW "}}", "/nonexistent/pw", -ENOENT,
                  "mqtt.password_file: cannot read /nonexistent/pw: No such file or directory" },
                { MQ MQ_PW "}}", empty, -EINVAL, "mqtt.password_file: the password in %s is empty" },
                { MQ MQ_PW "}}", lines, -EINVAL, "mqtt.password_file: the password in %s has more than one line" },
                { MQ MQ_PW "}}", nul, -EINVAL, "mqtt.password_file: the password in %s contains a NUL byte" },
                { MQ MQ_PW "}}", toolong, -EINVAL, "mqtt.password_file: the password in %s is longer than 4096 bytes" },
                /* a password read, then another key at fault */
                { MQ MQ_PW ", 'keepalive': 1}}", pw, -EINVAL, "mqtt.keepalive: must be an integer 5..65535" },
                { MQ MQ_PW ", 'heartbeat': 7200}}", pw, -EINVAL, "mqtt.heartbeat: 7200 s must be less than" },
                /* tls */
                { MQ "'tls': true}}", NULL, -EINVAL, "mqtt.tls: must be a JSON object" },
                { MQ "'tls': {'ca_file': 'ca.pem'}}}", NULL, -EINVAL, "mqtt.tls.ca_file: must be an absolute path, not \"ca.pem\"" },
                { MQ "'tls': {'ca_file': '%s'}}}", "/nonexistent/ca.pem", -ENOENT,
                  "mqtt.tls.ca_file: cannot read /nonexistent/ca.pem: No such file or directory" },
                { MQ "'tls': {'ca_file': '%s'}}}", d->path, -EISDIR, "mqtt.tls.ca_file: cannot read %s: Is a directory" },
                { MQ "'tls': {'certificate_file': '%s', 'key_file': '/x'}}}", "/nonexistent/cert.pem", -ENOENT,
                  "mqtt.tls.certificate_file: cannot read /nonexistent/cert.pem: No such file or directory" },
                { MQ "'tls': {'certificate_file': 'cert.pem'}}}", NULL, -EINVAL,
                  "mqtt.tls.certificate_file: must be an absolute path, not \"cert.pem\"" },
                { MQ "'tls': {'certificate_file': '%s'}}}", cert, -EINVAL,
                  "mqtt.tls: \"key_file\" is required with \"certificate_file\"" },
                { MQ "'tls': {'key_file': '%s'}}}", cert, -EINVAL,
                  "mqtt.tls: \"certificate_file\" is required with \"key_file\"" },
                { MQ "'tls': {'key_file': 'key.pem'}}}", NULL, -EINVAL,
                  "mqtt.tls.key_file: must be an absolute path, not \"key.pem\" (a credential name needs $CREDENTIALS_DIRECTORY)" },
                { MQ "'tls': {'key_file': '%s'}}}", "/nonexistent/key.pem", -ENOENT,
                  "mqtt.tls.key_file: cannot read /nonexistent/key.pem: No such file or directory" },
                { MQ "'tls': {'alpn': ''}}}", NULL, -EINVAL, "mqtt.tls.alpn: must not be empty" },
                { MQ "'tls': {'alpn': 'x amzn'}}}", NULL, -EINVAL, "mqtt.tls.alpn: must not contain spaces" },
                { MQ "'tls': {'alpn': '" S129 S129 "'}}}", NULL, -EINVAL, "mqtt.tls.alpn: must be at most 255 bytes" },
                /* seconds */
                { MQ "'reconnect_min': 0}}", NULL, -EINVAL, "mqtt.reconnect_min: must be a number of seconds > 0" },
                { MQ "'reconnect_max': '5'}}", NULL, -EINVAL, "mqtt.reconnect_max: must be a number of seconds > 0" },
                { MQ "'request_timeout': -1}}", NULL, -EINVAL, "mqtt.request_timeout: must be a number of seconds > 0" },
                { MQ "'heartbeat': 0}}", NULL, -EINVAL, "mqtt.heartbeat: must be a number of seconds > 0" },
                { MQ "'reconnect_min': 10, 'reconnect_max': 5}}", NULL, -EINVAL,
                  "mqtt.reconnect_max: 5 s is less than reconnect_min (10 s)" },
                { MQ "'reconnect_min': 1.5, 'reconnect_max': 1.25}}", NULL, -EINVAL,
                  "mqtt.reconnect_max: 1.25 s is less than reconnect_min (1.5 s)" },
                { MQ "'reconnect_min': 500}}", NULL, -EINVAL,
                  "mqtt.reconnect_max: 300 s is less than reconnect_min (500 s)" },
                /* step timeout, heartbeat */
                { MQ "'step_timeout_minutes': -1}}", NULL, -EINVAL, "mqtt.step_timeout_minutes: must be an integer 0..10080" },
                { MQ "'step_timeout_minutes': 10081}}", NULL, -EINVAL, "mqtt.step_timeout_minutes: must be an integer 0..10080" },
                { MQ "'step_timeout_minutes': 1.5}}", NULL, -EINVAL, "mqtt.step_timeout_minutes: must be an integer 0..10080" },
                { MQ "'step_timeout_minutes': 1, 'heartbeat': 60}}", NULL, -EINVAL,
                  "mqtt.heartbeat: 60 s must be less than step_timeout_minutes (1 min = 60 s)" },
                { MQ "'heartbeat': 3600}}", NULL, -EINVAL,
                  "mqtt.heartbeat: 3600 s must be less than step_timeout_minutes (60 min = 3600 s)" },
                { MQ "'step_timeout_minutes': 0, 'heartbeat': 10}}", NULL, -EINVAL,
                  "mqtt.heartbeat: is not used when step_timeout_minutes is 0" },
        };

        check_error_cases(d, cases, ELEMENTSOF(cases), (const char *const[]) { "hunter2", NULL });
}

/* Without read permission (root reads anything: checked only when not root). */
static void test_mqtt_unreadable(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *ca = write_secret(d->path, "ca.pem", "x");
        _cleanup_free_ char *err = NULL, *want = NULL;
        Config *c = NULL;

        if (geteuid() == 0) {
                print_message("running as root, every file is readable: skipped\n");
                return;
        }

        assert_int_equal(chmod(ca, 0), 0);
        write_conf(d, MQ "'tls': {'ca_file': '%s'}}}", ca);
        assert_int_equal(config_load(d->conf, true, &c, &err), -EACCES);
        assert_true(asprintf(&want, "%s: mqtt.tls.ca_file: cannot read %s: Permission denied", d->conf, ca) > 0);
        assert_string_equal(err, want);
}

static void test_mqtt_dropins(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *ca = write_secret(d->path, "ca.pem", "x");
        _cleanup_free_ char *cert = write_secret(d->path, "cert.pem", "x");
        _cleanup_free_ char *key = write_secret(d->path, "key.pem", "x");
        _cleanup_free_ char *pw = write_secret(d->path, "pw", "hunter2");
        _cleanup_free_ char *text = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        const MqttConfig *m;

        /* Key by key, "tls" too; a drop-in without "mqtt" keeps it. */
        assert_true(asprintf(&text, "{'mqtt': {'dialect': 'plain', 'host': 'broker.example', 'device_id': 'gw1', 'keepalive': 30,"
                                    " 'username': 'u', 'password_file': '%s', 'tls': {'ca_file': '%s', 'alpn': 'mqtt'}}}",
                             pw, ca) > 0);
        write_file(d->conf, text);
        free(text);
        text = NULL;
        assert_true(asprintf(&text, "{'mqtt': {'dialect': 'aws-iot-jobs', 'thing_name': 'thing-1',"
                                    " 'tls': {'certificate_file': '%s', 'key_file': '%s'}}}", cert, key) > 0);
        write_dropin(d, "10-aws.json", text);
        write_dropin(d, "20-port.json", "{'mqtt': {'port': 443, 'tls': {'alpn': 'x-amzn-mqtt-ca'}}}");
        write_dropin(d, "30-other.json", "{'log_level': 'debug'}");

        c = load_ok(d->conf, true);
        m = c->control_planes.mqtt;
        assert_non_null(m);
        assert_int_equal(m->dialect, MQTT_DIALECT_AWS_IOT_JOBS);
        assert_string_equal(m->host, "broker.example");
        assert_string_equal(m->device_id, "gw1");
        assert_string_equal(m->client_id, "gw1");
        assert_string_equal(m->thing_name, "thing-1");
        assert_int_equal(m->keepalive, 30);
        assert_int_equal(m->port, 443);
        assert_string_equal(m->username, "u");
        assert_string_equal(m->password, "hunter2");
        assert_true(m->tls);
        assert_string_equal(m->ca_file, ca);
        assert_string_equal(m->certificate_file, cert);
        assert_string_equal(m->key_file, key);
        assert_string_equal(m->alpn, "x-amzn-mqtt-ca");
        assert_int_equal(c->log_level, LOG_DEBUG);
        c = config_free(c);

        /* The required keys may come from different files; defaults follow the merged keys
         * (tls from a drop-in: port 8883). */
        write_file(d->conf, "{'mqtt': {'host': 'broker', 'device_id': 'gw1'}}");
        write_dropin(d, "10-aws.json", "{'mqtt': {'dialect': 'plain', 'tls': {}}}");
        write_dropin(d, "20-port.json", "{'mqtt': {'step_timeout_minutes': 3}}");
        c = load_ok(d->conf, true);
        assert_int_equal(c->control_planes.mqtt->dialect, MQTT_DIALECT_PLAIN);
        assert_int_equal(c->control_planes.mqtt->port, 8883);
        assert_int_equal(c->control_planes.mqtt->heartbeat, 60 * USEC_PER_SEC);
        c = config_free(c);

        /* "mqtt" only in a drop-in. */
        write_file(d->conf, "{'log_level': 'info'}");
        write_dropin(d, "10-aws.json", "{'mqtt': {'dialect': 'plain', 'host': 'broker', 'device_id': 'gw1'}}");
        write_dropin(d, "20-port.json", "{}");
        c = load_ok(d->conf, true);
        assert_non_null(c->control_planes.mqtt);
        assert_int_equal(c->control_planes.mqtt->port, 1883);
        c = config_free(c);

        /* A check across keys names the last file that set "mqtt" keys. */
        write_file(d->conf, "{'mqtt': {'host': 'broker'}}");
        write_dropin(d, "10-aws.json", "{'mqtt': {'device_id': 'gw1'}}");
        write_dropin(d, "20-port.json", "{'log_level': 'debug'}");
        {
                _cleanup_free_ char *err = NULL, *want = NULL;

                assert_int_equal(config_load(d->conf, true, &c, &err), -EINVAL);
                assert_null(c);
                assert_true(asprintf(&want, "%s/10-aws.json: mqtt: \"dialect\" is required", d->dropins) > 0);
                assert_string_equal(err, want);
        }

        /* A key's own error names the drop-in that has it. */
        write_dropin(d, "20-port.json", "{'mqtt': {'tls': {'alpn': ''}}}");
        {
                _cleanup_free_ char *err = NULL, *want = NULL;

                assert_int_equal(config_load(d->conf, true, &c, &err), -EINVAL);
                assert_true(asprintf(&want, "%s/20-port.json: mqtt.tls.alpn: must not be empty", d->dropins) > 0);
                assert_string_equal(err, want);
        }
}

/* password_file and tls.key_file take systemd credential names, like modems[].pdp.password_file. */
static void test_mqtt_credentials(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *creds = NULL, *pw = NULL, *key = NULL, *cert = NULL, *text = NULL;
        _cleanup_(config_freep) Config *c = NULL;

        assert_true(asprintf(&creds, "%s/credentials", d->path) > 0);
        assert_int_equal(mkdir(creds, 0700), 0);
        pw = write_secret(creds, "mqtt-password", "from-credential\r\n");
        key = write_secret(creds, "mqtt-key", "-----BEGIN PRIVATE KEY-----\n");
        cert = write_secret(d->path, "cert.pem", "x");
        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);

        assert_true(asprintf(&text, MQ "'username': 'u', 'password_file': 'mqtt-password',"
                                    " 'tls': {'certificate_file': '%s', 'key_file': 'mqtt-key'}}}", cert) > 0);
        write_file(d->conf, text);
        c = load_ok(d->conf, true);
        assert_string_equal(c->control_planes.mqtt->password, "from-credential");
        assert_string_equal(c->control_planes.mqtt->password_file, pw);
        assert_string_equal(c->control_planes.mqtt->key_file, key);
        c = config_free(c);

        /* Absolute paths are still paths. */
        free(text);
        text = NULL;
        assert_true(asprintf(&text, MQ "'username': 'u', 'password_file': '%s'}}", pw) > 0);
        write_file(d->conf, text);
        c = load_ok(d->conf, true);
        assert_string_equal(c->control_planes.mqtt->password, "from-credential");
        c = config_free(c);

        /* A missing credential names the key and the file. */
        {
                static const struct {
                        const char *json;
                        const char *reason;  /* %s: the credentials directory */
                        int error;
                } cases[] = {
                        { MQ "'username': 'u', 'password_file': 'nope'}}",
                          "mqtt.password_file: cannot read %s/nope: No such file or directory", -ENOENT },
                        { MQ "'tls': {'key_file': 'nope'}}}",
                          "mqtt.tls.key_file: cannot read %s/nope: No such file or directory", -ENOENT },
                        { MQ "'tls': {'key_file': 'sub/key'}}}",
                          "mqtt.tls.key_file: must be an absolute path or the name of a systemd credential, not \"sub/key\"", -EINVAL },
                        { MQ "'tls': {'key_file': '..'}}}",
                          "mqtt.tls.key_file: must be an absolute path or the name of a systemd credential, not \"..\"", -EINVAL },
                        { MQ "'username': 'u', 'password_file': ''}}",
                          "mqtt.password_file: must be an absolute path or the name of a systemd credential, not \"\"", -EINVAL },
                };

                for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                        _cleanup_free_ char *err = NULL, *reason = NULL, *want = NULL;

                        write_file(d->conf, cases[i].json);
                        assert_int_equal(config_load(d->conf, true, &c, &err), cases[i].error);
                        assert_null(c);
                        assert_true(asprintf(&reason, cases[i].reason, creds) > 0);
                        assert_true(asprintf(&want, "%s: %s", d->conf, reason) > 0);
                        assert_string_equal(err, want);
                }
        }
}

/* The default device id comes from the host name: in a UTS namespace of a child, set one that is
 * not a valid device id, and one that is not a valid thing name. Skipped where no namespace can be
 * made. */
static int hostname_child(const Dir *d) {
        static const struct {
                const char *hostname;
                const char *json;
                const char *reason;     /* NULL: loads, with device_id */
                const char *device_id;
        } cases[] = {
                { "gw 01", "{'mqtt': {'dialect': 'plain', 'host': 'b'}}",
                  "mqtt.device_id: the host name \"gw 01\" is not a valid device id (1..128 characters, "
                  "letters, digits, '.', '_', ':' and '-' only); set \"device_id\"" },
                { "gw\x01", "{'mqtt': {'dialect': 'plain', 'host': 'b'}}",
                  "mqtt.device_id: the host name \"gw?\" is not a valid device id" },
                { "gw-01.example", "{'mqtt': {'dialect': 'aws-iot-jobs', 'host': 'b'}}",
                  "mqtt.thing_name: the device id \"gw-01.example\" is not a valid AWS IoT thing name" },
                { "gw-01.example", "{'mqtt': {'dialect': 'plain', 'host': 'b'}}", NULL, "gw-01.example" },
                { "gw 01", "{'mqtt': {'dialect': 'plain', 'host': 'b', 'device_id': 'gw-01'}}", NULL, "gw-01" },
        };

        if (unshare(CLONE_NEWUTS) < 0 && unshare(CLONE_NEWUSER | CLONE_NEWUTS) < 0)
                return 77;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *err = NULL, *want = NULL;
                Config *c = NULL;
                int r;

                if (sethostname(cases[i].hostname, strlen(cases[i].hostname)) < 0)
                        return 77;

                write_file(d->conf, cases[i].json);
                r = config_load(d->conf, true, &c, &err);
                if (!cases[i].reason) {
                        if (r < 0 || !c || !c->control_planes.mqtt) {
                                fprintf(stderr, "case %zu: r=%i err=%s\n", i, r, strna(err));
                                return 1;
                        }
                        if (!streq(c->control_planes.mqtt->device_id, cases[i].device_id)) {
                                fprintf(stderr, "case %zu: device_id %s\n", i, c->control_planes.mqtt->device_id);
                                return 1;
                        }
                        config_free(c);
                        continue;
                }

                if (asprintf(&want, "%s: %s", d->conf, cases[i].reason) < 0)
                        return 1;
                if (r != -EINVAL || !err || !startswith(err, want)) {
                        fprintf(stderr, "case %zu: r=%i err=\"%s\", want \"%s...\"\n", i, r, strna(err), want);
                        return 1;
                }
        }

        return 0;
}

static void test_mqtt_hostname(void **state) {
        Dir *d = *state;
        int status;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(hostname_child(d));

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77) {
                print_message("no UTS namespace here: the host name default is not checked\n");
                return;
        }
        assert_int_equal(WEXITSTATUS(status), 0);
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
                cmocka_unit_test_setup_teardown(test_reset_command_checked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_records, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_a_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_family_lists_choices, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropins_inbox_default_and_missing_main, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropin_error_names_dropin, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_modems_by_imei_and_usb_path, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp_auth, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp_password_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp_credential, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pdp_credential_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mqtt_every_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mqtt_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mqtt_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mqtt_unreadable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mqtt_dropins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mqtt_credentials, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mqtt_hostname, setup, teardown),
                cmocka_unit_test_setup_teardown(test_error_escaped, setup, teardown),
        };

        /* Keep config_apply_file()'s debug lines out of the test output. */
        log_set_max_level(LOG_WARNING);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
