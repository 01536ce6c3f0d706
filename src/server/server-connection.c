/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alloc-util.h"
#include "server-connection-bus.h"
#include "server-connection.h"
#include "server-session-bus.h"
#include "server-session.h"
#include "tunnel.h"

int connection_new(Session *s, FluxPath *path, DataSocket *socket, const union sockaddr_union *local,
                   Connection **ret) {
        _cleanup_(connection_freep) Connection *c = NULL;
        int r;

        assert_return(s && path, -EINVAL);

        c = new0(Connection, 1);
        if (!c)
                return -ENOMEM;
        c->path = path;
        c->socket = socket;
        c->index = s->next_connection_index;
        if (local)
                c->local = *local;
        r = connection_bus_path(s->id, c->index, &c->object_path);
        if (r < 0)
                return r;

        /* Link last. */
        s->next_connection_index++;
        c->next = s->connections;
        if (s->connections)
                s->connections->prev = c;
        s->connections = c;
        s->n_connections++;
        c->session = s;
        flux_path_set_userdata(path, c);

        connection_bus_emit_added(c);
        session_mark_dirty(s, UINT64_C(1) << SESSION_PROPERTY_CONNECTIONS);
        if (s->manager)
                manager_update_status(s->manager);
        if (ret)
                *ret = c;
        TAKE_PTR(c);
        return 0;
}

/* Does not touch c->path: this runs from the engine's path_removed() or while the tunnel is
 * being freed. */
Connection *connection_free(Connection *c) {
        Session *s;

        if (!c)
                return NULL;
        s = c->session;
        if (s) {
                connection_bus_emit_removed(c);
                if (c->prev)
                        c->prev->next = c->next;
                else
                        s->connections = c->next;
                if (c->next)
                        c->next->prev = c->prev;
                s->n_connections--;
                if (s->manager && s->manager->changes)
                        bus_change_queue_forget(s->manager->changes, c->object_path);
                session_mark_dirty(s, UINT64_C(1) << SESSION_PROPERTY_CONNECTIONS);
                if (s->manager)
                        manager_update_status(s->manager);
        }
        free(c->object_path);
        return mfree(c);
}

Connection *session_find_connection(Session *s, unsigned index) {
        for (Connection *c = s->connections; c; c = c->next)
                if (c->index == index)
                        return c;
        return NULL;
}

void connection_mark_dirty(Connection *c, uint64_t bits) {
        if (c->session && c->session->manager)
                connection_bus_mark_dirty(c, bits);
}
