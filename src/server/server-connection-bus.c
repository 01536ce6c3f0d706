/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/capability.h>
#include <stdio.h>

#include <systemd/sd-bus.h>

#include "alloc-util.h"
#include "flux-bus-names.h"
#include "server-connection-bus.h"
#include "server-connection.h"
#include "server-session.h"
#include "tunnel.h"

static const char *const connection_property_names[] = {
        [CONNECTION_PROPERTY_STATE] = "State",
        [CONNECTION_PROPERTY_PRIORITY] = "Priority",
        [CONNECTION_PROPERTY_WEIGHT] = "Weight",
        NULL,
};

int connection_bus_path(uint32_t session_id, unsigned index, char **ret) {
        char sid[16], idx[16];

        snprintf(sid, sizeof(sid), "%" PRIu32, session_id);
        snprintf(idx, sizeof(idx), "%u", index);
        return sd_bus_path_encode_many(ret, FLUX_SERVER_SESSION_PREFIX "/%/connection/%", sid, idx);
}

static int connection_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                                  void **found, sd_bus_error *error) {
        _cleanup_(freep) char *sid = NULL, *idx = NULL;
        Manager *m = userdata;
        uint64_t id, index;
        Connection *c;
        Session *s;
        int r;

        r = sd_bus_path_decode_many(path, FLUX_SERVER_SESSION_PREFIX "/%/connection/%", &sid, &idx);
        if (r <= 0)
                return 0;
        if (parse_uint64_range(sid, 1, UINT32_MAX, &id) < 0 ||
            parse_uint64_range(idx, 0, UINT32_MAX, &index) < 0)
                return 0;
        s = manager_find_session(m, (uint32_t) id);
        if (!s)
                return 0;
        c = session_find_connection(s, (unsigned) index);
        if (!c)
                return 0;
        *found = c;
        return 1;
}

static int property_get_interface(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", "");
}

static int property_get_address(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Connection *c = userdata;
        const union sockaddr_union *sa =
                streq(property, "LocalAddress") ? &c->local : flux_path_get_remote_address(c->path);
        char buf[SOCKADDR_STR_MAX] = "";

        if (sa && sa->sa.sa_family != AF_UNSPEC && sockaddr_to_string(sa, buf, sizeof(buf)) < 0)
                buf[0] = '\0';
        return sd_bus_message_append(reply, "s", buf);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Connection *c = userdata;
        return sd_bus_message_append(reply, "s", flux_path_state_to_string(flux_path_get_state(c->path)));
}

static int property_get_priority(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Connection *c = userdata;
        return sd_bus_message_append(reply, "s", flux_path_priority_to_string(flux_path_get_priority(c->path)));
}

static int property_get_weight(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Connection *c = userdata;
        return sd_bus_message_append(reply, "d", flux_path_get_weight(c->path));
}

static int property_get_loss(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Connection *c = userdata;
        return sd_bus_message_append(reply, "u", flux_path_get_loss_ppm(c->path));
}

/* The engine's last-receive time is CLOCK_MONOTONIC; the bus speaks CLOCK_REALTIME like CreatedUSec. */
static usec_t last_rx_realtime(Connection *c) {
        usec_t last = flux_path_get_last_rx(c->path), mono = now(CLOCK_MONOTONIC), real = now(CLOCK_REALTIME);

        if (last == 0 || last > mono || mono - last > real)
                return 0;
        return real - (mono - last);
}

static int property_get_counter(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Connection *c = userdata;
        uint64_t v;

        if (streq(property, "RTTUSec"))
                v = flux_path_get_rtt(c->path);
        else if (streq(property, "JitterUSec"))
                v = flux_path_get_jitter(c->path);
        else if (streq(property, "RxBytes"))
                v = flux_path_get_rx_bytes(c->path);
        else if (streq(property, "TxBytes"))
                v = flux_path_get_tx_bytes(c->path);
        else if (streq(property, "RxRate"))
                v = flux_path_get_rx_rate(c->path);
        else if (streq(property, "TxRate"))
                v = flux_path_get_tx_rate(c->path);
        else if (streq(property, "LastRxUSec"))
                v = last_rx_realtime(c);
        else
                return -EINVAL;
        return sd_bus_message_append(reply, "t", v);
}

static const sd_bus_vtable connection_vtable[] = {
        SD_BUS_VTABLE_START(SD_BUS_VTABLE_CAPABILITY(CAP_NET_ADMIN)),
        /* The server does not know the client's interface names. */
        SD_BUS_PROPERTY("Interface", "s", property_get_interface, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("LocalAddress", "s", property_get_address, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* The engine moves a path to the new source of a fresh registration (NAT rebinding) without
         * telling: read it, do not wait for a signal. */
        SD_BUS_PROPERTY("RemoteAddress", "s", property_get_address, 0, 0),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RTTUSec", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("JitterUSec", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("LossPPM", "u", property_get_loss, 0, 0),
        SD_BUS_PROPERTY("RxBytes", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("TxBytes", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("RxRate", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("TxRate", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("LastRxUSec", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("Priority", "s", property_get_priority, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Weight", "d", property_get_weight, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

int connection_bus_register(Manager *m) {
        return sd_bus_add_fallback_vtable(m->bus, NULL, FLUX_SERVER_SESSION_PREFIX,
                                          FLUX_SERVER_CONNECTION_IFACE, connection_vtable,
                                          connection_object_find, m);
}

void connection_bus_emit_added(Connection *c) {
        Manager *m = c->session ? c->session->manager : NULL;

        if (m && m->bus)
                (void) sd_bus_emit_object_added(m->bus, c->object_path);
}

void connection_bus_emit_removed(Connection *c) {
        Manager *m = c->session ? c->session->manager : NULL;

        if (m && m->bus)
                (void) sd_bus_emit_object_removed(m->bus, c->object_path);
}

void connection_bus_mark_dirty(Connection *c, uint64_t bits) {
        Manager *m = c->session ? c->session->manager : NULL;

        if (m && m->changes)
                (void) bus_change_queue_mark(m->changes, c->object_path, FLUX_SERVER_CONNECTION_IFACE,
                                             connection_property_names, bits);
}
