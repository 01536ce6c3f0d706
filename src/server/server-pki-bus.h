/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* org.fluxify.server1.PKI at /org/fluxify/server1/pki. */

#include "server-manager.h"

int pki_bus_register(Manager *m);
void pki_bus_emit_certificate_issued(Manager *m, const char *name);
void pki_bus_emit_certificate_revoked(Manager *m, const char *name);
void pki_bus_mark_dirty(Manager *m, uint64_t bits);

enum {
        PKI_PROPERTY_CA_FINGERPRINT,
        PKI_PROPERTY_SERVER_NAMES,
        PKI_PROPERTY_SERVER_NOT_AFTER,
};
