/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/capability.h>

#include <systemd/sd-bus.h>

#include "alloc-util.h"
#include "daemon-util.h"
#include "flux-bus-names.h"
#include "flux-errors.h"
#include "log.h"
#include "server-connection-bus.h"
#include "server-manager-bus.h"
#include "server-pki-bus.h"
#include "server-session-bus.h"
#include "server-session.h"

static const char *const manager_property_names[] = {
        [MANAGER_PROPERTY_STATE] = "State",
        [MANAGER_PROPERTY_SESSION_COUNT] = "SessionCount",
        [MANAGER_PROPERTY_ADDRESSES] = "Addresses",
        NULL,
};

void manager_bus_mark_dirty(Manager *m, uint64_t bits) {
        if (m->changes)
                (void) bus_change_queue_mark(m->changes, FLUX_SERVER_PATH, FLUX_SERVER_MANAGER_IFACE,
                                             manager_property_names, bits);
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "s", manager_state_to_string(m->state));
}

static int property_get_control_port(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "q", m->config->control_port);
}

static int property_get_data_port(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "q", m->config->data_port);
}

static int property_get_tunnel(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "s", m->config->tunnel);
}

static int property_get_addresses(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        r = manager_addresses_strv(m, &l);
        if (r < 0)
                return r;
        return sd_bus_message_append_strv(reply, l);
}

static int property_get_session_count(sd_bus *bus, const char *path, const char *interface,
                                      const char *property, sd_bus_message *reply, void *userdata,
                                      sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "u", m->n_sessions);
}

static int property_get_counter(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        uint64_t v;

        if (streq(property, "RxBytes"))
                v = manager_rx_bytes(m);
        else if (streq(property, "TxBytes"))
                v = manager_tx_bytes(m);
        else if (streq(property, "UnknownSessionDrops"))
                v = m->drops.unknown_session;
        else if (streq(property, "MalformedDrops"))
                v = m->drops.malformed;
        else if (streq(property, "TunNoSessionDrops"))
                v = m->drops.tun_no_session;
        else if (streq(property, "TunMalformedDrops"))
                v = m->drops.tun_malformed;
        else if (streq(property, "TunWriteErrors"))
                v = m->drops.tun_write_errors;
        else if (streq(property, "SendErrors"))
                v = m->drops.send_errors;
        else if (streq(property, "SendQueueFull"))
                v = m->drops.send_queue_full;
        else
                return -EINVAL;
        return sd_bus_message_append(reply, "t", v);
}

static int method_list_sessions(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        int r;

        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(uso)");
        if (r < 0)
                return r;
        for (Session *s = m->sessions; s; s = s->next) {
                r = sd_bus_message_append(reply, "(uso)", s->id, s->client_name, s->object_path);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_reload(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(freep) char *msg = NULL;
        Manager *m = userdata;
        int r;

        (void) notify_reloading();
        r = manager_reload(m, &msg);
        (void) notify_ready_status("%u session%s, %u path%s up", m->n_sessions, m->n_sessions == 1 ? "" : "s",
                                   manager_n_paths_up(m), manager_n_paths_up(m) == 1 ? "" : "s");
        if (r < 0)
                return sd_bus_error_setf(error, FLUX_ERROR_INVALID_CONFIG,
                                         "Configuration not reloaded, the running one stays: %s",
                                         msg ?: strerror(-r));
        log_info("Configuration reloaded (requested over the bus).");
        return sd_bus_reply_method_return(message, NULL);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(SD_BUS_VTABLE_CAPABILITY(CAP_NET_ADMIN)),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ControlPort", "q", property_get_control_port, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DataPort", "q", property_get_data_port, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("TunnelInterface", "s", property_get_tunnel, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Addresses", "as", property_get_addresses, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SessionCount", "u", property_get_session_count, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* Counters are polled, never signalled (DESIGN.md §2). */
        SD_BUS_PROPERTY("RxBytes", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("TxBytes", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("UnknownSessionDrops", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("MalformedDrops", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("TunNoSessionDrops", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("TunMalformedDrops", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("TunWriteErrors", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("SendErrors", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("SendQueueFull", "t", property_get_counter, 0, 0),

        SD_BUS_METHOD_WITH_ARGS("ListSessions", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(uso)", sessions),
                                method_list_sessions, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload, 0),

        SD_BUS_SIGNAL_WITH_ARGS("SessionNew", SD_BUS_ARGS("u", id, "o", path), 0),
        SD_BUS_SIGNAL_WITH_ARGS("SessionRemoved", SD_BUS_ARGS("u", id, "o", path, "s", reason), 0),
        SD_BUS_VTABLE_END,
};

int manager_bus_register(Manager *m) {
        int r;

        r = flux_errors_register();
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(m->bus, NULL, FLUX_SERVER_PATH, FLUX_SERVER_MANAGER_IFACE,
                                     manager_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_add_object_manager(m->bus, NULL, FLUX_SERVER_PATH);
        if (r < 0)
                return r;
        r = session_bus_register(m);
        if (r < 0)
                return r;
        r = connection_bus_register(m);
        if (r < 0)
                return r;
        return pki_bus_register(m);
}
