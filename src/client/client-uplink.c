/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "alloc-util.h"
#include "client-uplink.h"
#include "fd-util.h"
#include "flux-bus-names.h"
#include "log.h"
#include "rtnl.h"

const char *const uplink_property_names[] = {
        "State", "LocalAddress", "RemoteAddress", "Priority", "Weight", NULL,
};

/* Object path of a connection: the interface name escaped by sd_bus_path_encode(). Implemented in
 * client-connection-bus.c (the only place that may include sd-bus.h). */
int uplink_bus_path(const char *name, char **ret);

int uplink_new(Manager *m, const char *name, Uplink **ret) {
        _cleanup_(uplink_freep) Uplink *u = NULL;
        const InterfaceConfig *ic;
        Uplink **n;
        int r;

        u = new0(Uplink, 1);
        if (!u)
                return -ENOMEM;
        u->fd = -EBADF;
        u->probe_fd = -EBADF;
        u->name = strdup(name);
        if (!u->name)
                return -ENOMEM;
        r = uplink_bus_path(name, &u->bus_path);
        if (r < 0)
                return r;

        ic = client_config_get_interface(&m->config, name);
        u->priority = ic ? ic->priority : CLIENT_PRIORITY_PRIMARY;
        u->weight = ic ? ic->weight : 1.0;

        n = reallocarray(m->uplinks, m->n_uplinks + 1, sizeof(Uplink *));
        if (!n)
                return -ENOMEM;
        m->uplinks = n;
        m->uplinks[m->n_uplinks++] = u;
        u->manager = m;

        (void) uplink_refresh(u);
        u->last_state = uplink_state_string(u);
        (void) uplink_bus_emit_added(u);
        manager_mark_changed(m, MANAGER_PROP_CONNECTIONS);

        if (ret)
                *ret = u;
        TAKE_PTR(u);
        return 0;
}

Uplink *uplink_free(Uplink *u) {
        if (!u)
                return NULL;

        if (u->manager) {
                Manager *m = u->manager;

                (void) uplink_bus_emit_removed(u);
                if (m->changes)
                        bus_change_queue_forget(m->changes, u->bus_path);
                for (size_t i = 0; i < m->n_uplinks; i++)
                        if (m->uplinks[i] == u) {
                                memmove(m->uplinks + i, m->uplinks + i + 1, (m->n_uplinks - i - 1) * sizeof(Uplink *));
                                m->n_uplinks--;
                                break;
                        }
                manager_mark_changed(m, MANAGER_PROP_CONNECTIONS);
        }

        /* The session has already taken down the data plane (path, socket, control attempt). */
        u->io = sd_event_source_disable_unref(u->io);
        u->fd = safe_close(u->fd);
        u->probe_io = sd_event_source_disable_unref(u->probe_io);
        u->probe_fd = safe_close(u->probe_fd);
        free(u->batch_buf);
        free(u->bus_path);
        free(u->name);
        return mfree(u);
}

int uplink_refresh(Uplink *u) {
        bool was = uplink_is_usable(u);
        _cleanup_(freep) RtnlAddress *addrs = NULL;
        size_t n = 0;
        RtnlLink link;
        int r;

        r = rtnl_link_get_by_name(u->manager->rtnl, u->name, &link);
        if (r < 0) {
                u->ifindex = 0;
                u->carrier = false;
                u->has_address = false;
        } else {
                u->ifindex = link.ifindex;
                u->carrier = rtnl_link_is_up(&link);
                u->has_address = false;
                if (rtnl_address_list(u->manager->rtnl, AF_UNSPEC, link.ifindex, &addrs, &n) >= 0)
                        for (size_t i = 0; i < n; i++)
                                if (addrs[i].scope == RT_SCOPE_UNIVERSE &&
                                    !(addrs[i].flags & IFA_F_TENTATIVE))
                                        u->has_address = true;
        }
        return was != uplink_is_usable(u);
}

bool uplink_is_usable(const Uplink *u) {
        return u->ifindex > 0 && u->carrier && u->has_address;
}

void uplink_mark_changed(Uplink *u, uint64_t bits) {
        if (!u->manager || !u->manager->changes)
                return;
        (void) bus_change_queue_mark(u->manager->changes, u->bus_path, FLUX_CLIENT_CONNECTION_IFACE,
                                     uplink_property_names, bits);
}

void uplink_check_state(Uplink *u) {
        const char *s = uplink_state_string(u);

        if (s == u->last_state)
                return;
        u->last_state = s;
        uplink_mark_changed(u, UPLINK_PROP_STATE);
}
