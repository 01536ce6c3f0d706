/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "client-bus.h"
#include "flux-bus-names.h"
#include "client-session.h"

int session_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **ret_found,
                     sd_bus_error *error) {
        Manager *m = userdata;

        if (!streq(path, FLUX_CLIENT_SESSION_PATH) || !m->session || !session_is_established(m->session))
                return 0;
        *ret_found = m->session;
        return 1;
}

static int property_get_id(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const SessionInfo *i = session_get_info(userdata);

        return sd_bus_message_append(reply, "u", streq(property, "Id") ? i->id : (uint32_t) i->protocol);
}

static int property_get_addresses(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append_strv(reply, session_get_info(userdata)->addresses);
}

static int property_get_server(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", session_get_info(userdata)->server_address);
}

static int property_get_created(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", (uint64_t) session_get_info(userdata)->created_usec);
}

/* A resumed session keeps its id and addresses, so everything here is constant for the object's
 * lifetime. */
const sd_bus_vtable session_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "u", property_get_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Addresses", "as", property_get_addresses, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ServerAddress", "s", property_get_server, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Protocol", "u", property_get_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CreatedUSec", "t", property_get_created, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

int session_bus_emit_added(Manager *m) {
        if (!m->bus || !m->name_acquired)
                return 0;
        manager_mark_changed(m, MANAGER_PROP_SESSION);
        return sd_bus_emit_object_added(m->bus, FLUX_CLIENT_SESSION_PATH);
}

int session_bus_emit_removed(Manager *m) {
        if (!m->bus || !m->name_acquired)
                return 0;
        manager_mark_changed(m, MANAGER_PROP_SESSION);
        return sd_bus_emit_interfaces_removed(m->bus, FLUX_CLIENT_SESSION_PATH, FLUX_CLIENT_SESSION_IFACE, NULL);
}
