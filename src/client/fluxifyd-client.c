/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc-util.h"
#include "client-manager.h"
#include "daemon-util.h"
#include "flux-errors.h"
#include "log.h"

static char *arg_profile = NULL;
static char *arg_config_dir = NULL;
static char *arg_state_dir = NULL;
static char *arg_runtime_dir = NULL;

static void help(void) {
        printf("%s --profile NAME [OPTIONS...]\n\n"
               "Fluxify client daemon: one instance per profile, controlled over D-Bus as\n"
               "org.fluxify.client1.NAME (see fluxifyctl(1)).\n\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "  -p --profile=NAME      Profile to run: reads CONFIG-DIR/client/NAME.conf\n"
               "     --config-dir=DIR    Configuration directory (default %s, $FLUXIFY_CONFIG_DIR)\n"
               "     --state-dir=DIR     State directory (default %s, $FLUXIFY_STATE_DIR)\n"
               "     --runtime-dir=DIR   Runtime directory (default %s, $FLUXIFY_RUNTIME_DIR)\n",
               program_invocation_short_name, FLUXIFY_CONFIG_DIR, FLUXIFY_STATE_DIR, FLUXIFY_RUNTIME_DIR);
}

/* > 0: run; 0: done (help); < 0: error (logged). */
static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_CONFIG_DIR, ARG_STATE_DIR, ARG_RUNTIME_DIR };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "profile", required_argument, NULL, 'p' },
                { "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "hp:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("fluxifyd-client %s\n", PACKAGE_VERSION);
                        return 0;
                case 'p':
                        arg_profile = optarg;
                        break;
                case ARG_CONFIG_DIR:
                        arg_config_dir = optarg;
                        break;
                case ARG_STATE_DIR:
                        arg_state_dir = optarg;
                        break;
                case ARG_RUNTIME_DIR:
                        arg_runtime_dir = optarg;
                        break;
                default:
                        return log_error_errno(EINVAL, "Try '%s --help'.", program_invocation_short_name);
                }

        if (optind < argc)
                return log_error_errno(EINVAL, "Unexpected argument '%s'. Try '%s --help'.", argv[optind],
                                       program_invocation_short_name);
        if (!arg_profile)
                return log_error_errno(EINVAL, "No profile given: use --profile NAME (the unit passes %%i).");
        if (!flux_profile_name_is_valid(arg_profile))
                return log_error_errno(EINVAL,
                                       "Invalid profile name '%s': it becomes part of the bus name, so it must be a "
                                       "letter followed by up to 31 letters, digits or underscores.",
                                       arg_profile);
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(freep) char *config_dir = NULL, *state_dir = NULL, *runtime_dir = NULL;
        int r;

        log_set_ident("fluxifyd-client");
        log_open();

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        r = daemon_resolve_dirs(arg_config_dir, arg_state_dir, arg_runtime_dir, &config_dir, &state_dir,
                                &runtime_dir);
        if (r < 0)
                return log_error_errno(r, "Directories must be absolute paths: %m");

        r = flux_errors_register();
        if (r < 0)
                return log_error_errno(r, "Failed to register the error map: %m");

        r = manager_new(arg_profile, config_dir, state_dir, runtime_dir, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the manager: %m");
        r = manager_load_config(m);
        if (r < 0)
                return r;
        r = manager_start(m);
        if (r < 0)
                return r;
        return manager_run(m);
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);

        if (r < 0)
                (void) notify_errno(r);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
