/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fluxifyd-server: parse the command line, build the Manager, run the loop. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc-util.h"
#include "daemon-util.h"
#include "log.h"
#include "server-manager.h"

static char *arg_config_dir, *arg_state_dir, *arg_runtime_dir;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Fluxify multi-path VPN server.\n\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n"
               "     --config-dir=DIR     Configuration directory (server.conf) [$FLUXIFY_CONFIG_DIR, %s]\n"
               "     --state-dir=DIR      State directory (pki/, leases) [$FLUXIFY_STATE_DIR, %s]\n"
               "     --runtime-dir=DIR    Runtime directory (crash records) [$FLUXIFY_RUNTIME_DIR, %s]\n"
               "     --log-level=LEVEL    debug, info, notice, warning, err [$FLUXIFY_LOG_LEVEL]\n",
               program_invocation_short_name, FLUXIFY_CONFIG_DIR, FLUXIFY_STATE_DIR, FLUXIFY_RUNTIME_DIR);
}

/* 0: exit successfully (help/version); > 0: run; < 0: usage error. */
static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_CONFIG_DIR, ARG_STATE_DIR, ARG_RUNTIME_DIR, ARG_LOG_LEVEL };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                {},
        };
        const char *log_level = getenv("FLUXIFY_LOG_LEVEL");
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("fluxifyd-server %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_CONFIG_DIR:
                        arg_config_dir = optarg;
                        break;
                case ARG_STATE_DIR:
                        arg_state_dir = optarg;
                        break;
                case ARG_RUNTIME_DIR:
                        arg_runtime_dir = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        log_level = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "%s takes no positional arguments.",
                                       program_invocation_short_name);
        if (log_level) {
                r = log_set_max_level_from_string(log_level);
                if (r < 0)
                        return log_error_errno(r, "Invalid log level '%s'.", log_level);
        }
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(freep) char *config_dir = NULL, *state_dir = NULL, *runtime_dir = NULL;
        int r;

        log_set_ident("fluxifyd-server");
        log_open();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        r = daemon_resolve_dirs(arg_config_dir, arg_state_dir, arg_runtime_dir, &config_dir, &state_dir,
                                &runtime_dir);
        if (r < 0)
                return log_error_errno(r, "Directories must be absolute paths: %m");

        r = manager_new(config_dir, state_dir, runtime_dir, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the manager: %m");
        r = manager_start(m);
        if (r < 0)
                return r;
        return manager_run(m);
}

int main(int argc, char *argv[]) {
        int r;

        r = run(argc, argv);
        if (r < 0)
                (void) notify_errno(r);
        return r == -EINVAL ? 2 : r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
