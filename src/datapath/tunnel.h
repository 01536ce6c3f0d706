/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* FluxTunnel: one session's data plane, on either side (client or server), sans I/O.
 *
 * The engine never opens a socket, never reads a clock and never logs above debug. The daemon
 * feeds it received datagrams and TUN packets together with `now` (µs, CLOCK_MONOTONIC), arms
 * one timer at flux_tunnel_next_wakeup() and calls flux_tunnel_tick() when it fires. Everything
 * the engine wants to send or deliver goes out through the callbacks given at creation, from
 * inside the call that caused it (receive, send_ip, tick); buffers passed to callbacks are only
 * valid during the callback (copy them to batch into sendmmsg/writev).
 *
 * Paths: on the client, the daemon adds one path per uplink (flux_tunnel_add_path()); the engine
 * registers it with the server (REGISTER → REGISTER_ACK) and probes it. On the server, paths are
 * created only by an authenticated, fresh REGISTER (version 2) or handshake (version 1); the
 * daemon learns about them through path_added() and sends to flux_path_get_remote_address().
 *
 * Algorithms, parameters and payload formats: docs/multipath.md. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "in-addr-util.h"
#include "macro.h"
#include "time-util.h"

typedef struct FluxTunnel FluxTunnel;
typedef struct FluxPath FluxPath;

/* Size limits. A datagram is header(22) + nonce(12) + payload + tag(16). */
#define FLUX_TUNNEL_OVERHEAD 50U
#define FLUX_TUNNEL_MAX_DATAGRAM 65507U /* largest UDP payload over IPv4 */
#define FLUX_TUNNEL_MAX_IP (FLUX_TUNNEL_MAX_DATAGRAM - FLUX_TUNNEL_OVERHEAD)
#define FLUX_TUNNEL_MAX_PATHS 16U
#define FLUX_TUNNEL_SECRET_SIZE 32U
#define FLUX_TUNNEL_MAX_ALLOWED_SOURCES 8U

typedef enum FluxTunnelRole {
        FLUX_TUNNEL_CLIENT,
        FLUX_TUNNEL_SERVER,
        _FLUX_TUNNEL_ROLE_MAX,
        _FLUX_TUNNEL_ROLE_INVALID = -EINVAL,
} FluxTunnelRole;

typedef enum FluxPathState {
        FLUX_PATH_PROBING,      /* new or recovering: not yet (again) confirmed by the peer */
        FLUX_PATH_UP,
        FLUX_PATH_DEGRADED,     /* answering, but lossy or late: used only if nothing better */
        FLUX_PATH_DOWN,         /* probes unanswered: carries no traffic, probed for recovery */
        _FLUX_PATH_STATE_MAX,
        _FLUX_PATH_STATE_INVALID = -EINVAL,
} FluxPathState;

typedef enum FluxPathPriority {
        FLUX_PATH_PRIMARY,
        FLUX_PATH_BACKUP,       /* carries traffic only while no primary path is up */
        _FLUX_PATH_PRIORITY_MAX,
        _FLUX_PATH_PRIORITY_INVALID = -EINVAL,
} FluxPathPriority;

typedef enum FluxSchedulerKind {
        FLUX_SCHEDULER_WEIGHTED,        /* "weighted": per-packet striping by measured delivery rate */
        FLUX_SCHEDULER_FLOW,            /* "flow": per-flow pinning weighted by capacity */
        FLUX_SCHEDULER_LOWEST_RTT,      /* "lowest-rtt": active/backup on the lowest RTT */
        FLUX_SCHEDULER_REDUNDANT,       /* "redundant": every packet on the best N paths */
        _FLUX_SCHEDULER_KIND_MAX,
        _FLUX_SCHEDULER_KIND_INVALID = -EINVAL,
} FluxSchedulerKind;

DECLARE_STRING_TABLE(flux_tunnel_role, FluxTunnelRole);
DECLARE_STRING_TABLE(flux_path_state, FluxPathState);
DECLARE_STRING_TABLE(flux_path_priority, FluxPathPriority);
DECLARE_STRING_TABLE(flux_scheduler_kind, FluxSchedulerKind);

/* What flux_tunnel_receive() did with a datagram (non-negative return values). Drops are also
 * counted in FluxTunnelStats; the daemon never needs to log them. */
typedef enum FluxRxResult {
        FLUX_RX_DATA,           /* IP packet delivered or held by the reorder buffer */
        FLUX_RX_CONTROL,        /* probe, probe reply, registration or its ack handled */
        FLUX_RX_DUPLICATE,      /* authentic data already delivered (redundant copy, late) */
        FLUX_RX_MALFORMED,      /* bad size, length field, version, type or payload */
        FLUX_RX_WRONG_SESSION,  /* session id is not this tunnel's */
        FLUX_RX_AUTH_FAILED,    /* AEAD open failed (forged, corrupted, wrong or expired key) */
        FLUX_RX_REPLAY,         /* authentic but replayed or too old for the window */
        FLUX_RX_NO_PATH,        /* server: authentic, but not from a registered path; dropped */
        FLUX_RX_SPOOFED,        /* server: inner source address not assigned to the session */
        _FLUX_RX_RESULT_MAX,
} FluxRxResult;

const char *flux_rx_result_to_string(FluxRxResult r) _const_;

typedef struct FluxTunnelCallbacks {
        /* Sends one datagram on `path` (client: through the uplink's socket; server: from the data
         * socket to flux_path_get_remote_address(path)). Returns 0 or a negative errno, which is
         * counted (tx_errors) and otherwise ignored. */
        int (*send_datagram)(FluxTunnel *t, FluxPath *path, const uint8_t *buf, size_t len,
                             void *userdata);
        /* Hands one decrypted, in-order inner IP packet to the TUN device. */
        void (*deliver_ip)(FluxTunnel *t, const uint8_t *ip, size_t len, void *userdata);
        /* Optional: a path changed state (not called for the initial PROBING state). */
        void (*path_state_changed)(FluxTunnel *t, FluxPath *path, FluxPathState old_state,
                                   FluxPathState new_state, void *userdata);
        /* Optional (server): a path was registered by the peer. The daemon may attach its own
         * object with flux_path_set_userdata(). */
        void (*path_added)(FluxTunnel *t, FluxPath *path, void *userdata);
        /* Optional: the path is about to be freed (expired on the server, or removed by the
         * daemon). Do not call back into the tunnel from here. */
        void (*path_removed)(FluxTunnel *t, FluxPath *path, void *userdata);
        /* Version 1 only (random 96-bit nonces): fill buf with len random bytes (getrandom()).
         * Returns 0 or a negative errno. Required when version == 1. */
        int (*random_bytes)(uint8_t *buf, size_t len, void *userdata);
} FluxTunnelCallbacks;

typedef struct FluxTunnelConfig {
        FluxTunnelRole role;
        uint8_t version;                /* FLUX_WIRE_VERSION_1 or _2 */
        uint32_t session_id;
        /* v2: the 32-byte TLS exporter secret (label EXPORTER-fluxify-v2-data); per-direction keys
         * are derived from it. v1: the 32-byte session key from the control response. Copied. */
        const uint8_t *secret;
        size_t secret_size;
        FluxSchedulerKind scheduler;    /* default (0): weighted */
        unsigned redundancy;            /* redundant: copies per packet; 0 = default (2) */
        usec_t reorder_max_hold;        /* ceiling of the adaptive hold time; 0 = default 50 ms */
        unsigned reorder_max_packets;   /* 0 = default 512 */
} FluxTunnelConfig;

typedef struct FluxTunnelStats {
        uint64_t rx_bytes;              /* inner IP bytes delivered */
        uint64_t rx_packets;
        uint64_t tx_bytes;              /* inner IP bytes accepted by flux_tunnel_send_ip() */
        uint64_t tx_packets;
        uint64_t rx_datagrams;          /* authentic datagrams of any type */
        uint64_t tx_datagrams;
        uint64_t malformed;
        uint64_t wrong_session;
        uint64_t auth_failures;
        uint64_t replay_drops;
        uint64_t duplicates;
        uint64_t no_path_drops;         /* server: authentic but from an unregistered address */
        uint64_t spoofed_drops;         /* server: inner source not assigned to the session */
        uint64_t tx_no_path;            /* IP packets dropped because no path was usable */
        uint64_t tx_errors;             /* send_datagram() failures */
        uint64_t reorder_held;          /* packets that arrived early and waited */
        uint64_t reorder_timeouts;      /* gaps given up on after the hold time */
        uint64_t reorder_overflows;     /* gaps given up on because the buffer was full */
        uint64_t reorder_late_drops;    /* arrived too long after their gap was given up on */
        uint64_t reorder_max_depth;
        uint64_t epoch_changes;         /* v2 send-side rekeys */
        uint64_t reorder_loss_skips;    /* gaps given up on at once: every path delivered past them */
} FluxTunnelStats;

/* Creates a tunnel. -EINVAL for a bad config (role, version, secret size, missing callbacks). */
int flux_tunnel_new(const FluxTunnelConfig *config, const FluxTunnelCallbacks *callbacks, void *userdata,
                    usec_t now, FluxTunnel **ret);
/* Frees the tunnel, its paths (path_removed() is not called) and wipes key material. NULL ok. */
FluxTunnel *flux_tunnel_free(FluxTunnel *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(FluxTunnel *, flux_tunnel_free);

void flux_tunnel_set_userdata(FluxTunnel *t, void *userdata);
void *flux_tunnel_get_userdata(const FluxTunnel *t);
uint32_t flux_tunnel_get_session_id(const FluxTunnel *t);
uint8_t flux_tunnel_get_version(const FluxTunnel *t);
FluxTunnelRole flux_tunnel_get_role(const FluxTunnel *t);
const FluxTunnelStats *flux_tunnel_get_stats(const FluxTunnel *t);
int flux_tunnel_set_scheduler(FluxTunnel *t, FluxSchedulerKind kind);
FluxSchedulerKind flux_tunnel_get_scheduler(const FluxTunnel *t);

/* Server: inner source addresses the client may use (its leases). Packets from the client whose
 * IPv4/IPv6 source is not covered by one of these prefixes are dropped (FLUX_RX_SPOOFED). With no
 * prefix set, a server tunnel delivers nothing. -ENOSPC beyond FLUX_TUNNEL_MAX_ALLOWED_SOURCES. */
int flux_tunnel_add_allowed_source(FluxTunnel *t, int family, const union in_addr_union *prefix,
                                   uint8_t prefixlen);
void flux_tunnel_clear_allowed_sources(FluxTunnel *t);

/* Reads version and session id from a raw datagram before any lookup (server demultiplexing).
 * Does not authenticate anything. -EMSGSIZE if too short for a header, -EPROTONOSUPPORT for an
 * unknown version. */
int flux_tunnel_peek_session(const uint8_t *datagram, size_t len, uint8_t *ret_version,
                             uint32_t *ret_session_id);

/* Feeds one received datagram. `datagram` is decrypted in place (it is modified). `from` is the
 * datagram's source address (required on the server, ignored on the client); `path_hint` is the
 * path whose socket received it (client; NULL on the server). Returns a FluxRxResult (>= 0) or a
 * negative errno for internal failures only. */
int flux_tunnel_receive(FluxTunnel *t, usec_t now, const union sockaddr_union *from, FluxPath *path_hint,
                        uint8_t *datagram, size_t len);

/* Sends one inner IP packet: the scheduler picks the path(s), the packet is sealed in the tunnel's
 * scratch buffer (no allocation) and passed to send_datagram(). Returns the number of datagrams
 * sent (0 when no path is usable; counted in tx_no_path), -EMSGSIZE beyond FLUX_TUNNEL_MAX_IP,
 * -EINVAL for an empty packet, or another negative errno (e.g. key usage exhausted). */
int flux_tunnel_send_ip(FluxTunnel *t, usec_t now, const uint8_t *ip, size_t len);

/* When flux_tunnel_tick() must run next (absolute, µs CLOCK_MONOTONIC; USEC_INFINITY if never).
 * Changes after every receive/send_ip/tick/path change: re-read it after each batch. */
usec_t flux_tunnel_next_wakeup(const FluxTunnel *t);
/* Sends due probes and registrations, runs the path state machines, flushes the reorder buffer,
 * advances the send epoch, expires dead server paths. Safe to call early or often. */
int flux_tunnel_tick(FluxTunnel *t, usec_t now);

/* Version 2: moves the sending direction to the next key epoch now (e.g. on a rekey notice from
 * the control connection). Epochs also advance on their own before 2^28 packets or one hour. The
 * peer follows without loss: it holds the next epoch's key and keeps the previous one a while.
 * -EOPNOTSUPP for version 1. */
int flux_tunnel_rekey(FluxTunnel *t, usec_t now);

/* Client: one path per uplink. `path_id` is unique within the tunnel (the daemon may use the
 * uplink's ifindex truncated to 16 bits or a counter). The path starts in PROBING and is
 * registered with the server at the next tick (flux_tunnel_next_wakeup() becomes "now").
 * -EEXIST for a duplicate id, -ENOSPC beyond FLUX_TUNNEL_MAX_PATHS, -EOPNOTSUPP on a server. */
int flux_tunnel_add_path(FluxTunnel *t, usec_t now, uint16_t path_id, FluxPathPriority priority, double weight,
                         void *path_userdata, FluxPath **ret);
/* Removes and frees a path (either side); path_removed() is called. */
void flux_tunnel_remove_path(FluxTunnel *t, FluxPath *p);
size_t flux_tunnel_get_n_paths(const FluxTunnel *t);
/* Iteration: index in [0, n_paths); order is stable until a path is added or removed. */
FluxPath *flux_tunnel_get_path(const FluxTunnel *t, size_t index);
FluxPath *flux_tunnel_find_path(const FluxTunnel *t, uint16_t path_id);

FluxTunnel *flux_path_get_tunnel(const FluxPath *p);
uint16_t flux_path_get_id(const FluxPath *p);
void flux_path_set_userdata(FluxPath *p, void *userdata);
void *flux_path_get_userdata(const FluxPath *p);
/* Server: where the path's datagrams come from and go to. Client: unset (family AF_UNSPEC). */
const union sockaddr_union *flux_path_get_remote_address(const FluxPath *p);
FluxPathState flux_path_get_state(const FluxPath *p);
FluxPathPriority flux_path_get_priority(const FluxPath *p);
int flux_path_set_priority(FluxPath *p, FluxPathPriority priority);
/* A hand-set multiplier of the scheduler's measured share (default 1.0; 0 < weight <= 1000). */
double flux_path_get_weight(const FluxPath *p);
int flux_path_set_weight(FluxPath *p, double weight);
usec_t flux_path_get_rtt(const FluxPath *p);           /* smoothed RTT, 0 while unknown */
usec_t flux_path_get_rtt_min(const FluxPath *p);
usec_t flux_path_get_jitter(const FluxPath *p);        /* RTT variation (RFC 6298 rttvar) */
uint32_t flux_path_get_loss_ppm(const FluxPath *p);    /* send-direction loss reported by the peer */
uint64_t flux_path_get_rx_bytes(const FluxPath *p);    /* datagram bytes, all packet types */
uint64_t flux_path_get_tx_bytes(const FluxPath *p);
uint64_t flux_path_get_rx_packets(const FluxPath *p);
uint64_t flux_path_get_tx_packets(const FluxPath *p);
uint64_t flux_path_get_rx_rate(const FluxPath *p);     /* bytes/s, smoothed */
uint64_t flux_path_get_tx_rate(const FluxPath *p);
uint64_t flux_path_get_capacity(const FluxPath *p);    /* estimated deliverable bytes/s, 0 unknown */
usec_t flux_path_get_last_rx(const FluxPath *p);       /* CLOCK_MONOTONIC µs, 0 = never */
