/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc-util.h"
#include "ctl.h"
#include "flux-errors.h"
#include "log.h"

/* Options, as bits, so that each verb says which ones it takes. */
enum {
        OPT_PROFILE = 1 << 0,
        OPT_JSON = 1 << 1,
        OPT_LEGEND = 1 << 2,
        OPT_IFACES = 1 << 3,
        OPT_MODE = 1 << 4,
        OPT_SERVER = 1 << 5,
        OPT_SCHEDULER = 1 << 6,
        OPT_SAVE = 1 << 7,
        OPT_DAYS = 1 << 8,
        OPT_OUTPUT = 1 << 9,
        OPT_YES = 1 << 10,
        OPT_NO_BLOCK = 1 << 11,
};

typedef struct Verb {
        const char *name;
        unsigned min_args, max_args; /* counting the verb itself */
        unsigned options;            /* OPT_* accepted */
        int (*dispatch)(int argc, char **argv);
} Verb;

static const Verb verbs[] = {
        { "status", 1, 1, OPT_PROFILE | OPT_JSON, verb_status },
        { "connect", 1, 1, OPT_PROFILE | OPT_IFACES | OPT_MODE | OPT_SERVER | OPT_SCHEDULER | OPT_SAVE | OPT_NO_BLOCK,
          verb_connect },
        { "disconnect", 1, 1, OPT_PROFILE, verb_disconnect },
        { "paths", 1, 1, OPT_PROFILE | OPT_JSON | OPT_LEGEND, verb_paths },
        { "add-iface", 2, 2, OPT_PROFILE, verb_add_iface },
        { "remove-iface", 2, 2, OPT_PROFILE, verb_remove_iface },
        { "sessions", 1, 1, OPT_JSON | OPT_LEGEND, verb_sessions },
        { "terminate", 2, 2, 0, verb_terminate },
        { "pki", 2, 3, OPT_JSON | OPT_LEGEND | OPT_DAYS | OPT_OUTPUT | OPT_YES, verb_pki },
};

static const char *const option_names[] = {
        "--profile", "--json", "--no-legend", "--ifaces", "--mode", "--server",
        "--scheduler", "--save", "--days", "--output", "--yes", "--no-block",
};

static const char *const modes[] = { "bonding", "load-balance" };
static const char *const schedulers[] = { "weighted", "flow", "lowest-rtt", "redundant" };

static unsigned arg_given = 0; /* OPT_* seen on the command line */

static void help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Control the Fluxify multi-path VPN daemons.\n\n"
               "Client commands (fluxifyd-client, one instance per profile):\n"
               "  status                   Show the server and client status (default)\n"
               "  connect                  Connect the profile (options below override the profile)\n"
               "  disconnect               Disconnect and restore routing\n"
               "  paths                    List the uplink paths with RTT, loss and rates\n"
               "  add-iface IFACE          Add an uplink to the running session\n"
               "  remove-iface IFACE       Remove an uplink from the running session\n\n"
               "Server commands (fluxifyd-server):\n"
               "  sessions                 List the client sessions\n"
               "  terminate ID             End a session\n"
               "  pki list                 List the issued client certificates\n"
               "  pki issue NAME           Issue a client certificate bundle (needs --output)\n"
               "  pki revoke NAME          Revoke a client certificate and end its sessions\n"
               "  pki regenerate-ca        Replace the CA (needs --yes; invalidates every client)\n\n"
               "Options:\n"
               "  -h --help                Show this help\n"
               "     --version             Show the version\n"
               "  -p --profile=NAME        Client instance to control (default: the only one running)\n"
               "     --json[=pretty|short] Machine-readable output\n"
               "     --no-legend           Do not print the column headers and the legend\n"
               "     --ifaces=IF[,IF...]   connect: uplinks to bond\n"
               "     --mode=MODE           connect: bonding or load-balance\n"
               "     --server=HOST[:PORT]  connect: server control address\n"
               "     --scheduler=NAME      connect: weighted, flow, lowest-rtt or redundant\n"
               "     --save                connect: write the options back to the profile\n"
               "     --no-block            connect: do not wait until the profile is connected\n"
               "     --days=N              pki issue: validity in days (default 365)\n"
               "     --output=FILE         pki issue: file for the bundle (mode 0600), '-' for stdout\n"
               "     --yes                 pki regenerate-ca: confirm\n\n"
               "See the fluxifyctl(1) man page for details.\n",
               program_invocation_short_name);
}

static bool in_list(const char *s, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(s, list[i]))
                        return true;
        return false;
}

static int set_string(char **p, const char *v, unsigned bit) {
        arg_given |= bit;
        return free_and_strdup(p, v) < 0 ? log_oom() : 0;
}

static int parse_one(int c, const char *optarg_) {
        unsigned long v;
        char *end;
        int r;

        switch (c) {
        case 'p':
                if (!flux_profile_name_is_valid(optarg_))
                        return ctl_usage_error("Invalid profile name '%s': expected a letter followed by up to 31 "
                                               "letters, digits or underscores.", optarg_);
                return set_string(&arg_profile, optarg_, OPT_PROFILE);
        case 'j':
                arg_given |= OPT_JSON;
                arg_json = optarg_ ? json_format_from_string(optarg_) : JSON_PRETTY;
                if (arg_json < 0 || arg_json == JSON_OFF)
                        return ctl_usage_error("Invalid --json mode '%s': expected pretty or short.", optarg_);
                return 0;
        case 'L':
                arg_given |= OPT_LEGEND;
                arg_legend = false;
                return 0;
        case 'i':
                arg_given |= OPT_IFACES;
                strv_freep(&arg_ifaces);
                arg_ifaces = NULL;
                r = ctl_split_list(optarg_, &arg_ifaces);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return ctl_usage_error("Invalid --ifaces '%s': expected a comma-separated list of "
                                               "interface names.", optarg_);
                for (char **i = arg_ifaces; *i; i++)
                        if (strlen(*i) >= IFNAMSIZ || strpbrk(*i, "/ \t\n:"))
                                return ctl_usage_error("Invalid interface name '%s'.", *i);
                return 0;
        case 'm':
                if (!in_list(optarg_, modes, ELEMENTSOF(modes)))
                        return ctl_usage_error("Invalid --mode '%s': expected bonding or load-balance.", optarg_);
                return set_string(&arg_mode, optarg_, OPT_MODE);
        case 's':
                if (isempty(optarg_))
                        return ctl_usage_error("--server needs HOST[:PORT].");
                return set_string(&arg_server, optarg_, OPT_SERVER);
        case 'S':
                if (!in_list(optarg_, schedulers, ELEMENTSOF(schedulers)))
                        return ctl_usage_error("Invalid --scheduler '%s': expected weighted, flow, lowest-rtt or "
                                               "redundant.", optarg_);
                return set_string(&arg_scheduler, optarg_, OPT_SCHEDULER);
        case 'w':
                arg_given |= OPT_SAVE;
                arg_save = true;
                return 0;
        case 'd':
                errno = 0;
                v = strtoul(optarg_, &end, 10);
                if (errno != 0 || *end != '\0' || optarg_[0] < '0' || optarg_[0] > '9' || v < 1 || v > 36500)
                        return ctl_usage_error("Invalid --days '%s': expected a number of days from 1 to 36500.",
                                               optarg_);
                arg_given |= OPT_DAYS;
                arg_days = (unsigned) v;
                return 0;
        case 'o':
                if (isempty(optarg_))
                        return ctl_usage_error("--output needs a file name (or '-' for stdout).");
                return set_string(&arg_output, optarg_, OPT_OUTPUT);
        case 'y':
                arg_given |= OPT_YES;
                arg_yes = true;
                return 0;
        case 'B':
                arg_given |= OPT_NO_BLOCK;
                arg_no_block = true;
                return 0;
        }
        return ctl_usage_error("Try '%s --help'.", program_invocation_short_name);
}

/* 0: run a verb; 1: done (help/version); CTL_EXIT_USAGE or < 0: failed. */
static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { "profile", required_argument, NULL, 'p' },
                { "json", optional_argument, NULL, 'j' },
                { "no-legend", no_argument, NULL, 'L' },
                { "ifaces", required_argument, NULL, 'i' },
                { "mode", required_argument, NULL, 'm' },
                { "server", required_argument, NULL, 's' },
                { "scheduler", required_argument, NULL, 'S' },
                { "save", no_argument, NULL, 'w' },
                { "days", required_argument, NULL, 'd' },
                { "output", required_argument, NULL, 'o' },
                { "yes", no_argument, NULL, 'y' },
                { "no-block", no_argument, NULL, 'B' },
                {},
        };
        int c, r;

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hp:", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case 'V':
                        printf("fluxifyctl %s\n", PACKAGE_VERSION);
                        return 1;
                case '?':
                        return ctl_usage_error("Unknown option '%s'. Try '%s --help'.", argv[optind - 1],
                                               program_invocation_short_name);
                case ':':
                        return ctl_usage_error("Option '%s' needs an argument.", argv[optind - 1]);
                default:
                        r = parse_one(c, optarg);
                        if (r != 0)
                                return r;
                }
        }
        return 0;
}

static int dispatch_verb(int argc, char *argv[]) {
        const char *name = argc > 0 ? argv[0] : "status";
        char *def[] = { (char *) "status", NULL };
        const Verb *verb = NULL;
        unsigned extra;

        if (argc == 0) {
                argc = 1;
                argv = def;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        verb = &verbs[i];
        if (!verb)
                return ctl_usage_error("Unknown command '%s'. Try '%s --help'.", name, program_invocation_short_name);

        if ((unsigned) argc < verb->min_args || (unsigned) argc > verb->max_args)
                return ctl_usage_error("'%s' takes %s. Try '%s --help'.", verb->name,
                                       verb->max_args == 1 ? "no arguments" : verb->min_args == verb->max_args ? "one argument" : "one or two arguments",
                                       program_invocation_short_name);

        extra = arg_given & ~verb->options;
        if (extra)
                for (size_t i = 0; i < ELEMENTSOF(option_names); i++)
                        if (extra & (1u << i))
                                return ctl_usage_error("Option %s does not apply to '%s'.", option_names[i],
                                                       verb->name);

        return verb->dispatch(argc, argv);
}

int main(int argc, char *argv[]) {
        int r;

        log_set_target(LOG_TARGET_CONSOLE);
        log_open();

        r = parse_argv(argc, argv);
        if (r == 0)
                r = dispatch_verb(argc - optind, argv + optind);
        else if (r == 1)
                r = 0;

        ctl_args_free();
        if (r == CTL_EXIT_USAGE)
                return 2;
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
