/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/capability.h>
#include <stdlib.h>

#include "alloc-util.h"
#include "client-bus.h"
#include "flux-bus-names.h"
#include "client-session.h"
#include "client-uplink.h"
#include "conf-parser.h"
#include "flux-errors.h"

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *v = "";

        if (streq(property, "Profile"))
                v = m->profile;
        else if (streq(property, "Mode"))
                v = client_mode_to_string(m->mode);
        else if (streq(property, "State"))
                v = client_state_to_string(m->state);
        else if (streq(property, "Server"))
                v = m->server;
        else if (streq(property, "Scheduler"))
                v = client_scheduler_to_string(m->scheduler);
        else if (streq(property, "LastError"))
                v = m->last_error;
        return sd_bus_message_append(reply, "s", strempty(v));
}

static int property_get_interfaces(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append_strv(reply, m->interfaces);
}

static int property_get_session(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "o",
                                     m->session && session_is_established(m->session) ? FLUX_CLIENT_SESSION_PATH : "/");
}

static int property_get_connections(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "o");
        for (size_t i = 0; r >= 0 && i < m->n_uplinks; i++)
                r = sd_bus_message_append(reply, "o", m->uplinks[i]->bus_path);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int property_get_bytes(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "t", streq(property, "RxBytes") ? manager_rx_bytes(m) : manager_tx_bytes(m));
}

/* Reads one "v" holding the given basic-or-array signature; InvalidArgs on a type mismatch. */
static int read_option_variant(sd_bus_message *msg, const char *key, const char *sig, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(msg, 'v', sig);
        if (r == -ENXIO)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option '%s' must be of type '%s'.", key,
                                         sig);
        return r;
}

static int parse_connect_string(sd_bus_message *msg, const char *key, sd_bus_error *error, const char **ret) {
        int r;

        r = read_option_variant(msg, key, "s", error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "s", ret);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

static int parse_connect_interfaces(sd_bus_message *msg, ConnectOptions *o, sd_bus_error *error) {
        int r;

        r = read_option_variant(msg, "interfaces", "as", error);
        if (r < 0)
                return r;
        r = sd_bus_message_read_strv(msg, &o->interfaces);
        if (r < 0)
                return r;
        if (!o->interfaces || !o->interfaces[0])
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option 'interfaces' must not be empty.");
        for (char **i = o->interfaces; *i; i++) {
                if (!ifname_is_valid(*i))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid interface name '%s'.", *i);
                for (char **j = o->interfaces; j < i; j++)
                        if (streq(*i, *j))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Interface '%s' is listed twice.", *i);
        }
        return sd_bus_message_exit_container(msg);
}

static int parse_connect_option(sd_bus_message *msg, const char *key, ConnectOptions *o, sd_bus_error *error) {
        _cleanup_(freep) char *host = NULL;
        const char *s;
        uint16_t port;
        int r, b;

        if (streq(key, "interfaces"))
                return parse_connect_interfaces(msg, o, error);
        if (streq(key, "save")) {
                r = read_option_variant(msg, key, "b", error);
                if (r >= 0)
                        r = sd_bus_message_read(msg, "b", &b);
                if (r >= 0)
                        o->save = b;
                return r < 0 ? r : sd_bus_message_exit_container(msg);
        }
        if (!streq(key, "mode") && !streq(key, "server") && !streq(key, "scheduler"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Unknown option '%s' (expected interfaces, mode, server, scheduler, save).", key);

        r = parse_connect_string(msg, key, error, &s);
        if (r < 0)
                return r;
        if (streq(key, "mode")) {
                o->mode = client_mode_from_string(s);
                if (o->mode < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Invalid mode '%s' (expected bonding or load-balance).", s);
        } else if (streq(key, "scheduler")) {
                o->scheduler = client_scheduler_from_string(s);
                if (o->scheduler < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Invalid scheduler '%s' (expected weighted, flow, lowest-rtt or redundant).", s);
        } else {
                if (client_server_split(s, &host, &port) < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Invalid server '%s' (expected HOST[:PORT], IPv6 as [ADDRESS]:PORT).", s);
                if (free_and_strdup(&o->server, s) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int method_connect(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(connect_options_done) ConnectOptions o = { .mode = -1, .scheduler = -1 };
        _cleanup_(freep) char *message = NULL;
        Manager *m = userdata;
        unsigned seen = 0;
        const char *key;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                static const char *const keys[] = { "interfaces", "mode", "server", "scheduler", "save" };

                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (streq(key, keys[i])) {
                                if (seen & (1u << i))
                                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                                 "Option '%s' given twice.", key);
                                seen |= 1u << i;
                        }
                r = parse_connect_option(msg, key, &o, error);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;

        r = manager_connect(m, &o, &message);
        switch (r) {
        case 0:
                return sd_bus_reply_method_return(msg, NULL);
        case -EALREADY:
                return sd_bus_error_setf(error, FLUX_ERROR_ALREADY_CONNECTED, "Profile '%s' is already %s.", m->profile,
                                         client_state_to_string(m->state));
        case -ENODEV:
                return sd_bus_error_setf(error, FLUX_ERROR_NO_SUCH_INTERFACE, "%s", strna(message));
        case -EOPNOTSUPP:
                return sd_bus_error_setf(error, SD_BUS_ERROR_NOT_SUPPORTED, "%s", strna(message));
        case -EBADMSG:
                return sd_bus_error_setf(error, FLUX_ERROR_INVALID_CONFIG, "%s", strna(message));
        default:
                return sd_bus_error_set_errnof(error, r, "%s", message ?: "Failed to connect.");
        }
}

static int method_disconnect(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = manager_disconnect(m, "requested over D-Bus");
        if (r == -ENOTCONN)
                return sd_bus_error_setf(error, FLUX_ERROR_NOT_CONNECTED, "Profile '%s' is not connected.", m->profile);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_interface(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        bool add = streq(sd_bus_message_get_member(msg), "AddInterface");
        _cleanup_(freep) char *message = NULL;
        Manager *m = userdata;
        const char *ifname;
        int r;

        r = sd_bus_message_read(msg, "s", &ifname);
        if (r < 0)
                return r;
        if (!ifname_is_valid(ifname))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid interface name '%s'.", ifname);

        r = add ? manager_add_interface(m, ifname, &message) : manager_remove_interface(m, ifname, &message);
        if (r == -ENODEV)
                return sd_bus_error_setf(error, FLUX_ERROR_NO_SUCH_INTERFACE, "%s", strna(message));
        if (r == -EEXIST || r == -EBUSY)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s", strna(message));
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "%s", message ?: "Failed to change the uplinks.");
        return sd_bus_reply_method_return(msg, NULL);
}

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(SD_BUS_VTABLE_CAPABILITY(CAP_NET_ADMIN)),
        SD_BUS_PROPERTY("Profile", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Mode", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Server", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Interfaces", "as", property_get_interfaces, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Scheduler", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastError", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Session", "o", property_get_session, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Connections", "ao", property_get_connections, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RxBytes", "t", property_get_bytes, 0, 0),
        SD_BUS_PROPERTY("TxBytes", "t", property_get_bytes, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("Connect", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_connect, 0),
        SD_BUS_METHOD("Disconnect", NULL, NULL, method_disconnect, 0),
        SD_BUS_METHOD_WITH_ARGS("AddInterface", SD_BUS_ARGS("s", interface), SD_BUS_NO_RESULT, method_interface, 0),
        SD_BUS_METHOD_WITH_ARGS("RemoveInterface", SD_BUS_ARGS("s", interface), SD_BUS_NO_RESULT, method_interface, 0),
        SD_BUS_VTABLE_END,
};

int client_bus_enumerate(sd_bus *bus, const char *path, void *userdata, char ***ret_nodes, sd_bus_error *error) {
        Manager *m = userdata;
        char **l;
        size_t n = 0;

        l = new0(char *, m->n_uplinks + 2);
        if (!l)
                return -ENOMEM;
        if (m->session && session_is_established(m->session)) {
                l[n] = strdup(FLUX_CLIENT_SESSION_PATH);
                if (!l[n++]) {
                        strv_free(l);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < m->n_uplinks; i++) {
                l[n] = strdup(m->uplinks[i]->bus_path);
                if (!l[n++]) {
                        strv_free(l);
                        return -ENOMEM;
                }
        }
        *ret_nodes = l;
        return 0;
}

int manager_bus_register(Manager *m) {
        int r;

        r = sd_bus_add_object_vtable(m->bus, &m->slots[0], FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE,
                                     manager_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_add_object_manager(m->bus, &m->slots[1], FLUX_CLIENT_PATH);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(m->bus, &m->slots[2], FLUX_CLIENT_PATH, client_bus_enumerate, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, &m->slots[3], FLUX_CLIENT_SESSION_PATH, FLUX_CLIENT_SESSION_IFACE,
                                       session_vtable, session_bus_find, m);
        if (r < 0)
                return r;
        return sd_bus_add_fallback_vtable(m->bus, &m->slots[4], FLUX_CLIENT_CONNECTION_PREFIX,
                                          FLUX_CLIENT_CONNECTION_IFACE, connection_vtable, connection_bus_find, m);
}

void manager_bus_free(Manager *m) {
        for (size_t i = 0; i < ELEMENTSOF(m->slots); i++)
                m->slots[i] = sd_bus_slot_unref(m->slots[i]);
        m->bus = sd_bus_flush_close_unref(m->bus);
}
