/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Internal to the client's *-bus.c files (the only ones that include sd-bus.h). */

#include <systemd/sd-bus.h>

#include "client-manager.h"

extern const sd_bus_vtable manager_vtable[];
extern const sd_bus_vtable session_vtable[];
extern const sd_bus_vtable connection_vtable[];

int session_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **ret_found,
                     sd_bus_error *error);
int connection_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **ret_found,
                        sd_bus_error *error);
/* Every child object path (session, connections). */
int client_bus_enumerate(sd_bus *bus, const char *path, void *userdata, char ***ret_nodes, sd_bus_error *error);
