/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "macro.h"

/* fluxifyctl's command line, parsed by fluxifyctl.c and read by the verbs. */

typedef enum JsonFormat {
        JSON_OFF,
        JSON_SHORT,
        JSON_PRETTY,
        _JSON_FORMAT_MAX,
        _JSON_FORMAT_INVALID = -EINVAL,
} JsonFormat;

DECLARE_STRING_TABLE(json_format, JsonFormat);

extern char *arg_profile;    /* --profile: client instance to talk to, NULL = the only one running */
extern JsonFormat arg_json;  /* --json */
extern bool arg_legend;      /* cleared by --no-legend */
extern char **arg_ifaces;    /* connect --ifaces, NULL-terminated, NULL if not given */
extern char *arg_mode;       /* connect --mode */
extern char *arg_server;     /* connect --server */
extern char *arg_scheduler;  /* connect --scheduler */
extern bool arg_save;        /* connect --save */
extern unsigned arg_days;    /* pki issue --days, 0 = server default */
extern char *arg_output;     /* pki issue --output ("-" = stdout) */
extern bool arg_yes;         /* pki regenerate-ca --yes */
extern bool arg_no_block;    /* connect --no-block */

void ctl_args_free(void);

/* Verbs return 0 on success, a negative errno on failure (already reported on stderr) and
 * CTL_EXIT_USAGE when the command line was wrong (also reported). */
#define CTL_EXIT_USAGE 2

int ctl_usage_error(const char *fmt, ...) _printf_(1, 2);

/* Colour only on a TTY, with NO_COLOR unset and a terminal that is not "dumb". */
bool ctl_use_color(void);

/* Prints j to stdout in the --json format, followed by a newline. */
int ctl_json_print(json_t *j);

/* Splits "a,b,c" into a NULL-terminated vector; empty elements are refused with -EINVAL. */
int ctl_split_list(const char *s, char ***ret);

int verb_status(int argc, char **argv);
int verb_connect(int argc, char **argv);
int verb_disconnect(int argc, char **argv);
int verb_paths(int argc, char **argv);
int verb_add_iface(int argc, char **argv);
int verb_remove_iface(int argc, char **argv);
int verb_sessions(int argc, char **argv);
int verb_terminate(int argc, char **argv);
int verb_pki(int argc, char **argv);
