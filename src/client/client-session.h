/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The bonding session: control connection raced over every uplink, session set-up and resume,
 * TUN with the assigned addresses, one UDP socket per uplink pinned to it (SO_BINDTODEVICE +
 * SO_MARK and a per-uplink routing table), the tunnel engine between them, the default route
 * into the tunnel as two /1 routes per family, and reconnection with capped exponential backoff.
 * Exported as org.fluxify.client1.Session at /org/fluxify/client1/session once established. */

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "client-manager.h"
#include "in-addr-util.h"
#include "time-util.h"

typedef struct FluxTunnel FluxTunnel;

/* Reconnect back-off: 250 ms doubling up to 30 s. */
#define SESSION_RETRY_MIN_USEC (250 * USEC_PER_MSEC)
#define SESSION_RETRY_MAX_USEC (30 * USEC_PER_SEC)

/* Exported session facts (the Session object), valid while s->established. */
typedef struct SessionInfo {
        uint32_t id;
        unsigned protocol;
        char **addresses;               /* CIDR strings */
        char server_address[SOCKADDR_STR_MAX];
        usec_t created_usec;            /* CLOCK_REALTIME */
} SessionInfo;

int session_start(Manager *m);
/* Says bye to the server, removes routes, TUN, sockets; the Session object disappears. */
Session *session_free(Session *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Session *, session_free);

bool session_is_established(const Session *s);
const SessionInfo *session_get_info(const Session *s);
uint64_t session_rx_bytes(const Session *s);
uint64_t session_tx_bytes(const Session *s);

/* Uplinks come and go while the session runs. */
int session_add_uplink(Session *s, Uplink *u);
void session_remove_uplink(Session *s, Uplink *u);
/* Carrier or addresses of u changed (netlink event): take its path down or bring it up now. */
void session_uplink_changed(Session *s, Uplink *u);
/* A default route in the main table appeared, changed or went away on u's interface. */
void session_uplink_routes_changed(Session *s, Uplink *u);

/* Connection properties that come from the tunnel engine (zero without a path). */
typedef struct UplinkStats {
        usec_t rtt, jitter, last_rx_realtime;
        uint32_t loss_ppm;
        uint64_t rx_bytes, tx_bytes, rx_rate, tx_rate;
} UplinkStats;
void uplink_get_stats(const Uplink *u, UplinkStats *ret);
/* "ADDRESS:PORT" of the server's data port as used by this uplink, "" if none. */
const char *uplink_remote_address(const Uplink *u, char *buf, size_t size);

/* client-session-bus.c */
int session_bus_emit_added(Manager *m);
int session_bus_emit_removed(Manager *m);
