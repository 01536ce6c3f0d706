/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* org.fluxify.server1.Connection: vtable, object paths, signals. */

#include <stdint.h>

#include "server-manager.h"

int connection_bus_register(Manager *m);
int connection_bus_path(uint32_t session_id, unsigned index, char **ret);
void connection_bus_emit_added(Connection *c);
void connection_bus_emit_removed(Connection *c);
void connection_bus_mark_dirty(Connection *c, uint64_t bits);
