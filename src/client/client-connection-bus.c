/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "alloc-util.h"
#include "client-bus.h"
#include "flux-bus-names.h"
#include "client-session.h"
#include "client-uplink.h"

int uplink_bus_path(const char *name, char **ret) {
        return sd_bus_path_encode(FLUX_CLIENT_CONNECTION_PREFIX, name, ret);
}

int connection_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **ret_found,
                        sd_bus_error *error) {
        _cleanup_(freep) char *name = NULL;
        Manager *m = userdata;
        Uplink *u;
        int r;

        r = sd_bus_path_decode(path, FLUX_CLIENT_CONNECTION_PREFIX, &name);
        if (r <= 0)
                return 0;
        u = manager_find_uplink(m, name);
        if (!u)
                return 0;
        *ret_found = u;
        return 1;
}

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Uplink *u = userdata;
        char buf[SOCKADDR_STR_MAX] = "";
        const char *v = "";

        if (streq(property, "Interface"))
                v = u->name;
        else if (streq(property, "State"))
                v = uplink_state_string(u);
        else if (streq(property, "Priority"))
                v = client_priority_to_string(u->priority);
        else if (streq(property, "LocalAddress")) {
                if (u->local.sa.sa_family != AF_UNSPEC && sockaddr_to_string(&u->local, buf, sizeof buf) >= 0)
                        v = buf;
                else if (u->probe_fd >= 0 && u->has_address4 &&
                         in_addr_to_string(AF_INET, &u->address4, buf, sizeof buf) >= 0)
                        v = buf; /* load-balance: the uplink's own address */
        } else if (streq(property, "RemoteAddress"))
                v = uplink_remote_address(u, buf, sizeof buf);
        return sd_bus_message_append(reply, "s", strempty(v));
}

static int property_get_stat(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        UplinkStats s;
        uint64_t v = 0;

        uplink_get_stats(userdata, &s);
        if (streq(property, "RTTUSec"))
                v = s.rtt;
        else if (streq(property, "JitterUSec"))
                v = s.jitter;
        else if (streq(property, "RxBytes"))
                v = s.rx_bytes;
        else if (streq(property, "TxBytes"))
                v = s.tx_bytes;
        else if (streq(property, "RxRate"))
                v = s.rx_rate;
        else if (streq(property, "TxRate"))
                v = s.tx_rate;
        else if (streq(property, "LastRxUSec"))
                v = s.last_rx_realtime;
        else if (streq(property, "LossPPM"))
                return sd_bus_message_append(reply, "u", s.loss_ppm);
        return sd_bus_message_append(reply, "t", v);
}

static int property_get_weight(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Uplink *u = userdata;

        return sd_bus_message_append(reply, "d", u->weight);
}

/* Counters, rates and RTT are polled (no PropertiesChanged): they change with every packet. */
const sd_bus_vtable connection_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Interface", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("LocalAddress", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RemoteAddress", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RTTUSec", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("JitterUSec", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("LossPPM", "u", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("RxBytes", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("TxBytes", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("RxRate", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("TxRate", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("LastRxUSec", "t", property_get_stat, 0, 0),
        SD_BUS_PROPERTY("Priority", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Weight", "d", property_get_weight, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

int uplink_bus_emit_added(Uplink *u) {
        Manager *m = u->manager;

        if (!m || !m->bus || !m->name_acquired)
                return 0;
        return sd_bus_emit_object_added(m->bus, u->bus_path);
}

int uplink_bus_emit_removed(Uplink *u) {
        Manager *m = u->manager;

        if (!m || !m->bus || !m->name_acquired)
                return 0;
        return sd_bus_emit_interfaces_removed(m->bus, u->bus_path, FLUX_CLIENT_CONNECTION_IFACE, NULL);
}
