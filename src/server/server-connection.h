/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A Connection is the bus face of one registered path of a session: created when the engine
 * reports path_added(), freed on path_removed() or with the session. It remembers the data socket
 * and local address the path's registration arrived on, so replies leave from that address. */

#include "in-addr-util.h"
#include "server-manager.h"

typedef struct FluxPath FluxPath;

enum {
        CONNECTION_PROPERTY_STATE,
        CONNECTION_PROPERTY_PRIORITY,
        CONNECTION_PROPERTY_WEIGHT,
};

struct Connection {
        Session *session;
        Connection *next, *prev;
        FluxPath *path;
        unsigned index;                 /* n in .../connection/<n> */
        char *object_path;
        DataSocket *socket;
        union sockaddr_union local;     /* family AF_UNSPEC when unknown */
};

int connection_new(Session *s, FluxPath *path, DataSocket *socket, const union sockaddr_union *local,
                   Connection **ret);
Connection *connection_free(Connection *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Connection *, connection_free);

Connection *session_find_connection(Session *s, unsigned index);
void connection_mark_dirty(Connection *c, uint64_t bits);
