/* SPDX-License-Identifier: MIT */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "log.h"
#include "manager.h"

static const char *arg_config = CONFIG_DEFAULT_PATH;
static bool arg_config_explicit = false;
static int arg_log_level = -1;

static void help(void) {
        printf("Usage: dfotad [OPTIONS]\n"
               "\n"
               "Upgrades the firmware of Quectel cellular modules with DFOTA on orders from a\n"
               "control plane, and reports back.\n"
               "\n"
               "  -h --help              Show this help and exit\n"
               "     --version           Show the version and exit\n"
               "  -c --config=PATH       Configuration file (default " CONFIG_DEFAULT_PATH ";\n"
               "                         drop-ins from PATH.d/*.json)\n"
               "     --log-level=LEVEL   debug, info, notice, warning or err (overrides the config)\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_LOG_LEVEL };
        static const struct option options[] = {
                { "help",      no_argument,       NULL, 'h'           },
                { "version",   no_argument,       NULL, ARG_VERSION   },
                { "config",    required_argument, NULL, 'c'           },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("dfotad %s\n", DFOTAD_VERSION);
                        return 0;
                case 'c':
                        arg_config = optarg;
                        arg_config_explicit = true;
                        break;
                case ARG_LOG_LEVEL:
                        arg_log_level = log_level_from_string(optarg);
                        if (arg_log_level < 0) {
                                fprintf(stderr, "dfotad: --log-level: unknown level \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case '?':
                        return -EINVAL;
                }

        if (optind < argc) {
                fprintf(stderr, "dfotad: this program takes no positional arguments (got \"%s\")\n", argv[optind]);
                return -EINVAL;
        }

        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_free_ char *error = NULL;
        sigset_t mask;
        int r;

        log_setup();

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        if (arg_log_level >= 0)
                log_set_max_level(arg_log_level);

        r = config_load(arg_config, arg_config_explicit, &config, &error);
        if (r < 0) {
                log_error_errno(r, "%s", error ?: "Failed to load the configuration: %m");
                return r;
        }
        log_set_max_level(arg_log_level >= 0 ? arg_log_level : config->log_level);

        /* sd_event_add_child() for the reset command needs SIGCHLD blocked. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block SIGCHLD: %m");

        r = manager_new(config, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up: %m");
        TAKE_PTR(config);

        r = manager_start(m);
        if (r < 0) {
                (void) sd_notifyf(false, "STATUS=Failed to start: %s", strerror(-r));
                return log_error_errno(r, "Failed to start: %m");
        }

        return manager_run(m);
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);

        if (r < 0)
                (void) sd_notifyf(false, "ERRNO=%i", -r);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
