/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A client session: identity (certificate CN), leased addresses, the data-plane engine
 * (FluxTunnel), its tick timer, the control connection (version 2) and the Connection objects of
 * its registered paths. A session ends with a reason: "bye" (the client said goodbye),
 * "control-lost" (no resume within ResumeTimeoutSec), "idle" (version 1 without traffic),
 * "revoked", "ca-regenerated", "replaced" (the same client set up a new session), "shutdown",
 * "error", or the reason given to Terminate(). */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "pool.h"
#include "server-manager.h"
#include "time-util.h"

typedef struct FluxTunnel FluxTunnel;
typedef struct ControlConn ControlConn;

typedef enum SessionState {
        SESSION_ACTIVE,         /* control connection up (v2), or a version 1 session */
        SESSION_DETACHED,       /* control connection lost; data plane runs; waiting for a resume */
        SESSION_CLOSING,
        _SESSION_STATE_MAX,
        _SESSION_STATE_INVALID = -EINVAL,
} SessionState;

DECLARE_STRING_TABLE(session_state, SessionState);

/* Bits for Session PropertiesChanged (index into session_property_names). */
enum {
        SESSION_PROPERTY_STATE,
        SESSION_PROPERTY_CONNECTIONS,
};

#define SESSION_REASON_MAX 128U

struct Session {
        Manager *manager;       /* NULL until linked */
        Session *next, *prev;   /* manager->sessions */
        Session *next_by_id, *next_by_addr4, *next_by_addr6;

        uint32_t id;            /* non-zero, unique among live sessions */
        char *client_name;
        char *object_path;
        unsigned protocol;      /* 1 or 2 */
        SessionState state;
        usec_t created_realtime;

        AddressLease lease;
        bool lease_live;        /* acquired from the pool, to be released */
        bool scheduler_requested; /* the client chose its scheduler: a reload of Scheduler= leaves it */

        FluxTunnel *tunnel;
        sd_event_source *tick_timer;
        usec_t tick_armed_at;   /* USEC_INFINITY when not armed */
        usec_t last_rx;         /* CLOCK_MONOTONIC of the last authentic datagram */

        ControlConn *conn;      /* v2 control connection, NULL when detached or v1 */
        sd_event_source *grace_timer; /* detached: ends the session; v1: idle check */

        Connection *connections;
        unsigned n_connections;
        unsigned next_connection_index;
};

typedef struct SessionParams {
        const char *client_name;
        unsigned protocol;
        const uint8_t *secret;  /* 32 bytes */
        const AddressLease *lease;
} SessionParams;

/* Builds the session (tunnel, timers) and links it into the manager; the lease is taken over
 * (released when the session ends). */
int session_new(Manager *m, uint32_t id, const SessionParams *p, Session **ret);
/* Unlinks (bus signals first), releases the lease, closes the control connection with reason
 * (if still attached) and frees. NULL is fine. */
Session *session_free(Session *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Session *, session_free);

/* Ends the session: SessionRemoved(id, path, reason), then session_free(). */
void session_end(Session *s, const char *reason);

/* Picks a random free non-zero id. */
int session_pick_id(Manager *m, uint32_t *ret);

void session_attach_conn(Session *s, ControlConn *c);
/* The control connection was lost (error != 0) or the client said bye (error == 0). */
void session_conn_closed(Session *s, int error, const char *reason);

/* A datagram for this session (already demultiplexed by id). */
void session_receive(Session *s, usec_t now, const union sockaddr_union *from, uint8_t *buf, size_t len);
/* An IP packet from the TUN toward this session's addresses. */
void session_send_ip(Session *s, usec_t now, const uint8_t *ip, size_t len);
/* Re-arm the tick timer if the engine's next wake-up moved earlier. */
void session_schedule(Session *s);

unsigned session_n_paths_up(Session *s);
void session_mark_dirty(Session *s, uint64_t bits);
int session_addresses_strv(Session *s, char ***ret);
int session_set_scheduler(Session *s, int scheduler);
