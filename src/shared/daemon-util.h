/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* sd_notify() helpers and other small pieces both daemons share. All notify helpers are no-ops
 * (returning 0) when not run under a service manager (NOTIFY_SOCKET unset). */

#include <stdbool.h>

#include "macro.h"

typedef struct sd_event sd_event;

int notify_ready(void);
/* "READY=1" plus a STATUS= line in the same datagram. */
int notify_ready_status(const char *fmt, ...) _printf_(1, 2);
int notify_status(const char *fmt, ...) _printf_(1, 2);
int notify_reloading(void);
int notify_stopping(void);
/* ERRNO= for a fatal exit; error is a negative or positive errno. */
int notify_errno(int error);

/* Enable the sd-event watchdog (WATCHDOG=1 pings at half of WATCHDOG_USEC) if the service manager
 * asked for one. Returns > 0 if enabled, 0 if not requested. */
int daemon_watchdog_enable(sd_event *event);

/* Resolve a directory setting: the command-line value if set, else the environment variable if set
 * and non-empty, else the default. Relative paths are refused (-EINVAL). */
int daemon_resolve_dir(const char *arg, const char *env_name, const char *fallback, char **ret);

/* The three directories both daemons take (--config-dir/--state-dir/--runtime-dir, then
 * FLUXIFY_{CONFIG,STATE,RUNTIME}_DIR, then the built-in defaults). Returns -EINVAL for a relative
 * path (or -ENOMEM). The out-parameters are written only on success. */
int daemon_resolve_dirs(const char *config_arg, const char *state_arg, const char *runtime_arg,
                        char **ret_config, char **ret_state, char **ret_runtime);
