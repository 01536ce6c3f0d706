/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/capability.h>
#include <stdio.h>

#include <systemd/sd-bus.h>

#include "alloc-util.h"
#include "flux-bus-names.h"
#include "server-connection.h"
#include "server-session-bus.h"
#include "server-session.h"
#include "tunnel.h"

static const char *const session_property_names[] = {
        [SESSION_PROPERTY_STATE] = "State",
        [SESSION_PROPERTY_CONNECTIONS] = "Connections",
        NULL,
};

int session_bus_path(uint32_t id, char **ret) {
        char buf[16];

        snprintf(buf, sizeof(buf), "%" PRIu32, id);
        return sd_bus_path_encode(FLUX_SERVER_SESSION_PREFIX, buf, ret);
}

/* "/org/fluxify/server1/session/<id>" → the session; anything deeper is not a session. */
int session_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                        sd_bus_error *error);
int session_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                        sd_bus_error *error) {
        _cleanup_(freep) char *e = NULL;
        Manager *m = userdata;
        Session *s;
        uint64_t id;
        int r;

        r = sd_bus_path_decode(path, FLUX_SERVER_SESSION_PREFIX, &e);
        if (r <= 0 || strchr(e, '/'))
                return 0;
        if (parse_uint64_range(e, 1, UINT32_MAX, &id) < 0)
                return 0;
        s = manager_find_session(m, (uint32_t) id);
        if (!s)
                return 0;
        *found = s;
        return 1;
}

static int session_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                                   sd_bus_error *error) {
        Manager *m = userdata;
        char **l;
        size_t n = 0, total = 0;

        for (Session *s = m->sessions; s; s = s->next)
                total += 1 + s->n_connections;
        l = new0(char *, total + 1);
        if (!l)
                return -ENOMEM;
        for (Session *s = m->sessions; s; s = s->next) {
                l[n] = strdup(s->object_path);
                if (!l[n])
                        goto oom;
                n++;
                for (Connection *c = s->connections; c; c = c->next) {
                        l[n] = strdup(c->object_path);
                        if (!l[n])
                                goto oom;
                        n++;
                }
        }
        *nodes = l;
        return 1;
oom:
        strv_free(l);
        return -ENOMEM;
}

static int property_get_addresses(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        r = session_addresses_strv(userdata, &l);
        if (r < 0)
                return r;
        return sd_bus_message_append_strv(reply, l);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Session *s = userdata;
        return sd_bus_message_append(reply, "s", session_state_to_string(s->state));
}

static int property_get_connections(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Session *s = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "o");
        if (r < 0)
                return r;
        /* In index order (the list is newest first). */
        for (unsigned i = 0; i < s->next_connection_index; i++) {
                Connection *c = session_find_connection(s, i);
                if (!c)
                        continue;
                r = sd_bus_message_append(reply, "o", c->object_path);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_stat(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Session *s = userdata;
        const FluxTunnelStats *st = flux_tunnel_get_stats(s->tunnel);
        uint64_t v;

        if (streq(property, "RxBytes"))
                v = st->rx_bytes;
        else if (streq(property, "TxBytes"))
                v = st->tx_bytes;
        else if (streq(property, "RxPackets"))
                v = st->rx_packets;
        else if (streq(property, "TxPackets"))
                v = st->tx_packets;
        else if (streq(property, "ReplayDrops"))
                v = st->replay_drops;
        else if (streq(property, "ReorderHeld"))
                v = st->reorder_held;
        else if (streq(property, "ReorderTimeouts"))
                v = st->reorder_timeouts;
        else if (streq(property, "AuthFailures"))
                v = st->auth_failures;
        else if (streq(property, "SpoofedDrops"))
                v = st->spoofed_drops;
        else if (streq(property, "NoPathDrops"))
                v = st->no_path_drops;
        else
                return -EINVAL;
        return sd_bus_message_append(reply, "t", v);
}

static bool reason_is_valid(const char *r) {
        if (strlen(r) > SESSION_REASON_MAX)
                return false;
        for (const char *p = r; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 0x7f)
                        return false;
        return true;
}

static int method_terminate(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Session *s = userdata;
        const char *reason;
        int r;

        r = sd_bus_message_read(message, "s", &reason);
        if (r < 0)
                return r;
        if (!reason_is_valid(reason))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid reason: at most %u printable characters.", SESSION_REASON_MAX);
        session_end(s, isempty(reason) ? "terminated" : reason);
        return sd_bus_reply_method_return(message, NULL);
}

static const sd_bus_vtable session_vtable[] = {
        SD_BUS_VTABLE_START(SD_BUS_VTABLE_CAPABILITY(CAP_NET_ADMIN)),
        SD_BUS_PROPERTY("Id", "u", NULL, offsetof(Session, id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ClientName", "s", NULL, offsetof(Session, client_name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Addresses", "as", property_get_addresses, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CreatedUSec", "t", NULL, offsetof(Session, created_realtime), SD_BUS_VTABLE_PROPERTY_CONST),
        /* Beyond DESIGN.md §2, like client1.Session: 1 = legacy (Go) client, 2 = native. */
        SD_BUS_PROPERTY("Protocol", "u", NULL, offsetof(Session, protocol), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Connections", "ao", property_get_connections, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RxBytes", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("TxBytes", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("RxPackets", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("TxPackets", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("ReplayDrops", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("ReorderHeld", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("ReorderTimeouts", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("AuthFailures", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("SpoofedDrops", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("NoPathDrops", "t", property_get_stat, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("Terminate", SD_BUS_ARGS("s", reason), SD_BUS_NO_RESULT, method_terminate, 0),
        SD_BUS_VTABLE_END,
};

int session_bus_register(Manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, NULL, FLUX_SERVER_SESSION_PREFIX, FLUX_SERVER_SESSION_IFACE,
                                       session_vtable, session_object_find, m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(m->bus, NULL, FLUX_SERVER_SESSION_PREFIX, session_node_enumerator, m);
}

void session_bus_emit_new(Session *s) {
        Manager *m = s->manager;

        if (!m || !m->bus)
                return;
        (void) sd_bus_emit_object_added(m->bus, s->object_path);
        (void) sd_bus_emit_signal(m->bus, FLUX_SERVER_PATH, FLUX_SERVER_MANAGER_IFACE, "SessionNew", "uo", s->id,
                                  s->object_path);
}

void session_bus_emit_removed_signal(Session *s, const char *reason) {
        Manager *m = s->manager;

        if (!m || !m->bus)
                return;
        (void) sd_bus_emit_signal(m->bus, FLUX_SERVER_PATH, FLUX_SERVER_MANAGER_IFACE, "SessionRemoved", "uos",
                                  s->id, s->object_path, reason);
}

void session_bus_emit_removed(Session *s) {
        Manager *m = s->manager;

        if (!m || !m->bus)
                return;
        (void) sd_bus_emit_object_removed(m->bus, s->object_path);
}

void session_bus_mark_dirty(Session *s, uint64_t bits) {
        Manager *m = s->manager;

        if (m && m->changes)
                (void) bus_change_queue_mark(m->changes, s->object_path, FLUX_SERVER_SESSION_IFACE,
                                             session_property_names, bits);
}
