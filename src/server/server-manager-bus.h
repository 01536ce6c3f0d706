/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* org.fluxify.server1.Manager and the ObjectManager at the root; registers every object. */

#include "server-manager.h"

/* Registers Manager, ObjectManager, Session, Connection and PKI objects. */
int manager_bus_register(Manager *m);
void manager_bus_mark_dirty(Manager *m, uint64_t bits);
