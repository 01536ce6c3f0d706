/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* org.fluxify.server1.Session: vtable, object paths, signals. */

#include <stdint.h>

#include "server-manager.h"

int session_bus_register(Manager *m);
int session_bus_path(uint32_t id, char **ret);
/* ObjectManager InterfacesAdded + Manager.SessionNew. */
void session_bus_emit_new(Session *s);
/* Manager.SessionRemoved(id, path, reason). */
void session_bus_emit_removed_signal(Session *s, const char *reason);
/* ObjectManager InterfacesRemoved (before the session is unlinked). */
void session_bus_emit_removed(Session *s);
void session_bus_mark_dirty(Session *s, uint64_t bits);
