/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>

#include "flux-bus-names.h"

/* The name <-> errno map for org.fluxify.Error.*, registered by both daemons and by fluxifyctl so
 * that sd_bus_call() returns a meaningful errno. */
extern const sd_bus_error_map flux_error_map[];

int flux_errors_register(void);
/* Is the profile name acceptable as part of a bus name? */
bool flux_profile_name_is_valid(const char *p);
