/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>

#include "aead.h"
#include "alloc-util.h"
#include "compress.h"
#include "keys.h"
#include "macro.h"
#include "path.h"
#include "reorder.h"
#include "replay.h"
#include "scheduler.h"
#include "tunnel.h"
#include "wire.h"

/* Probe/registration body (all four control types, version 2), big-endian:
 *   u64 timestamp   PROBE/REGISTER: the sender's `now`; PROBE_REPLY/REGISTER_ACK: the echo
 *   u64 rx_bytes    what the sender of this packet received on this path so far
 *   u32 rx_packets
 *   u32 rx_max_seq  highest path sequence it received on this path
 * Receivers accept longer bodies (future extensions) and ignore the rest. */
#define PROBE_BODY_SIZE 24U
/* Version 1 heartbeat: 8-byte big-endian nanosecond timestamp, echoed by the peer. */
#define V1_HEARTBEAT_SIZE 8U
/* Version 1 server: no heartbeat for this long marks a path down (the reference sends every 2 s);
 * sooner, V1_SERVER_STALE_AFTER, if another path of the session is heard from meanwhile (a client
 * behind a rebinding NAT reappears as a new path; its old address is dead). */
#define V1_SERVER_DEAD_AFTER (6 * USEC_PER_SEC)
#define V1_SERVER_STALE_AFTER (3 * USEC_PER_SEC)
/* Version 1 server: remember this many handshake nonces to refuse byte-identical replays. */
#define V1_HANDSHAKE_MEMORY 32U

#define IN_SET_VERSION(v) ((v) == FLUX_WIRE_VERSION_1 || (v) == FLUX_WIRE_VERSION_2)

typedef struct AllowedSource {
        int family;
        union in_addr_union prefix;
        uint8_t prefixlen;
} AllowedSource;

struct FluxTunnel {
        FluxTunnelRole role;
        uint8_t version;
        uint32_t session_id;
        FluxTunnelCallbacks cb;
        void *userdata;
        FluxTunnelStats stats;

        union {
                /* Version 2: per-direction key state (keys.h). */
                struct {
                        FluxSender sender;
                        FluxReceiver receiver;
                };
                /* Version 1: one key both ways. */
                FluxAead v1_aead;
        };
        /* Version 1: random nonces, a replay window over the IP sequence, gzip. */
        FluxNoncePool *nonce_pool;      /* only without a random_bytes callback */
        FluxReplayWindow v1_replay;
        uint64_t v1_rx_top;             /* 64-bit extension of the highest IP sequence seen */
        uint32_t v1_tx_seq;
        uint16_t v1_next_path_id;
        uint8_t v1_handshake_nonces[V1_HANDSHAKE_MEMORY][FLUX_WIRE_NONCE_SIZE];
        unsigned v1_handshake_head;
        FluxGzip *gzip;
        uint8_t *inflate_buf;

        /* Data plane. tx_data_seq is the last data sequence sent (first packet carries 1). */
        uint32_t tx_data_seq;
        FluxReorder reorder;
        usec_t reorder_ceiling;
        FluxScheduler sched;
        usec_t last_activity;

        FluxPath *paths[FLUX_TUNNEL_MAX_PATHS];
        size_t n_paths;

        AllowedSource allowed[FLUX_TUNNEL_MAX_ALLOWED_SOURCES];
        size_t n_allowed;

        uint8_t *scratch;               /* FLUX_TUNNEL_MAX_DATAGRAM bytes, for sealing */
};

static const char *const flux_tunnel_role_table[_FLUX_TUNNEL_ROLE_MAX] = {
        [FLUX_TUNNEL_CLIENT] = "client",
        [FLUX_TUNNEL_SERVER] = "server",
};
DEFINE_STRING_TABLE(flux_tunnel_role, FluxTunnelRole, _FLUX_TUNNEL_ROLE_MAX);

static const char *const flux_rx_result_table[_FLUX_RX_RESULT_MAX] = {
        [FLUX_RX_DATA] = "data",
        [FLUX_RX_CONTROL] = "control",
        [FLUX_RX_DUPLICATE] = "duplicate",
        [FLUX_RX_MALFORMED] = "malformed",
        [FLUX_RX_WRONG_SESSION] = "wrong-session",
        [FLUX_RX_AUTH_FAILED] = "auth-failed",
        [FLUX_RX_REPLAY] = "replay",
        [FLUX_RX_NO_PATH] = "no-path",
        [FLUX_RX_SPOOFED] = "spoofed",
};

const char *flux_rx_result_to_string(FluxRxResult r) {
        if ((int) r < 0 || r >= _FLUX_RX_RESULT_MAX)
                return NULL;
        return flux_rx_result_table[r];
}

/* ---- construction ---- */

static void tunnel_deliver(const uint8_t *pkt, size_t len, void *userdata) {
        FluxTunnel *t = userdata;

        t->stats.rx_bytes += len;
        t->stats.rx_packets++;
        t->cb.deliver_ip(t, pkt, len, t->userdata);
}

static int tunnel_init_keys(FluxTunnel *t, const FluxTunnelConfig *c, usec_t now) {
        uint8_t c2s[FLUX_KEY_SECRET_SIZE], s2c[FLUX_KEY_SECRET_SIZE];
        bool client = c->role == FLUX_TUNNEL_CLIENT;
        int r;

        if (c->version == FLUX_WIRE_VERSION_1) {
                r = flux_aead_init(&t->v1_aead, c->secret);
                if (r < 0)
                        return r;
                flux_replay_init(&t->v1_replay);
                if (!t->cb.random_bytes) {
                        t->nonce_pool = new0(FluxNoncePool, 1);
                        if (!t->nonce_pool)
                                return -ENOMEM;
                        flux_nonce_pool_init(t->nonce_pool);
                }
                return 0;
        }

        r = flux_keys_direction_secret(c->secret, c->secret_size, FLUX_DIRECTION_CLIENT_TO_SERVER, c2s);
        if (r < 0)
                return r;
        r = flux_keys_direction_secret(c->secret, c->secret_size, FLUX_DIRECTION_SERVER_TO_CLIENT, s2c);
        if (r < 0) {
                explicit_bzero(c2s, sizeof(c2s));
                return r;
        }
        r = flux_sender_init(&t->sender, client ? c2s : s2c, now);
        if (r >= 0)
                r = flux_receiver_init(&t->receiver, client ? s2c : c2s, now);
        explicit_bzero(c2s, sizeof(c2s));
        explicit_bzero(s2c, sizeof(s2c));
        return r < 0 ? r : 0;
}

int flux_tunnel_new(const FluxTunnelConfig *config, const FluxTunnelCallbacks *callbacks, void *userdata,
                    usec_t now, FluxTunnel **ret) {
        _cleanup_(flux_tunnel_freep) FluxTunnel *t = NULL;
        int r;

        assert_return(config, -EINVAL);
        assert_return(callbacks && callbacks->send_datagram && callbacks->deliver_ip, -EINVAL);
        assert_return(ret, -EINVAL);
        assert_return(config->role >= 0 && config->role < _FLUX_TUNNEL_ROLE_MAX, -EINVAL);
        assert_return(IN_SET_VERSION(config->version), -EINVAL);
        assert_return(config->secret && config->secret_size == FLUX_TUNNEL_SECRET_SIZE, -EINVAL);
        assert_return(config->scheduler >= 0 && config->scheduler < _FLUX_SCHEDULER_KIND_MAX, -EINVAL);

        t = new0(FluxTunnel, 1);
        if (!t)
                return -ENOMEM;
        t->role = config->role;
        t->version = config->version;
        t->session_id = config->session_id;
        t->cb = *callbacks;
        t->userdata = userdata;
        t->reorder_ceiling = config->reorder_max_hold ?: FLUX_REORDER_HOLD_DEFAULT;
        t->v1_next_path_id = 1;

        t->scratch = malloc(FLUX_TUNNEL_MAX_DATAGRAM);
        if (!t->scratch)
                return -ENOMEM;
        r = flux_scheduler_init(&t->sched, config->scheduler, config->redundancy);
        if (r < 0)
                return r;
        t->sched.max_skew = t->reorder_ceiling;
        r = flux_reorder_init(&t->reorder, config->reorder_max_packets, t->reorder_ceiling, tunnel_deliver, t);
        if (r < 0)
                return r;
        r = tunnel_init_keys(t, config, now);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(t);
        return 0;
}

static FluxPath *path_free(FluxPath *p) {
        return mfree(p);
}

FluxTunnel *flux_tunnel_free(FluxTunnel *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_paths; i++)
                path_free(t->paths[i]);
        if (t->version == FLUX_WIRE_VERSION_2) {
                flux_sender_done(&t->sender);
                flux_receiver_done(&t->receiver);
        } else
                flux_aead_done(&t->v1_aead);
        if (t->nonce_pool) {
                flux_nonce_pool_done(t->nonce_pool);
                free(t->nonce_pool);
        }
        flux_gzip_free(t->gzip);
        free(t->inflate_buf);
        flux_reorder_done(&t->reorder);
        flux_scheduler_done(&t->sched);
        if (t->scratch)
                explicit_bzero(t->scratch, FLUX_TUNNEL_MAX_DATAGRAM);
        free(t->scratch);
        return mfree(t);
}

void flux_tunnel_set_userdata(FluxTunnel *t, void *userdata) {
        t->userdata = userdata;
}
void *flux_tunnel_get_userdata(const FluxTunnel *t) {
        return t->userdata;
}
uint32_t flux_tunnel_get_session_id(const FluxTunnel *t) {
        return t->session_id;
}
uint8_t flux_tunnel_get_version(const FluxTunnel *t) {
        return t->version;
}
FluxTunnelRole flux_tunnel_get_role(const FluxTunnel *t) {
        return t->role;
}

static void sync_stats(FluxTunnel *t) {
        const FluxReorderStats *rs = &t->reorder.stats;

        t->stats.reorder_held = rs->held;
        t->stats.reorder_timeouts = rs->timeouts;
        t->stats.reorder_overflows = rs->overflows;
        t->stats.reorder_late_drops = rs->too_old;
        t->stats.reorder_max_depth = rs->max_depth;
}

const FluxTunnelStats *flux_tunnel_get_stats(const FluxTunnel *t) {
        return &t->stats;
}

int flux_tunnel_set_scheduler(FluxTunnel *t, FluxSchedulerKind kind) {
        return flux_scheduler_set_kind(&t->sched, kind);
}
FluxSchedulerKind flux_tunnel_get_scheduler(const FluxTunnel *t) {
        return t->sched.kind;
}

int flux_tunnel_add_allowed_source(FluxTunnel *t, int family, const union in_addr_union *prefix,
                                   uint8_t prefixlen) {
        assert_return(t && prefix, -EINVAL);
        assert_return(family == AF_INET || family == AF_INET6, -EAFNOSUPPORT);
        assert_return(prefixlen <= (family == AF_INET ? 32 : 128), -EINVAL);
        if (t->n_allowed >= FLUX_TUNNEL_MAX_ALLOWED_SOURCES)
                return -ENOSPC;
        t->allowed[t->n_allowed++] = (AllowedSource) { family, *prefix, prefixlen };
        return 0;
}

void flux_tunnel_clear_allowed_sources(FluxTunnel *t) {
        t->n_allowed = 0;
}

int flux_tunnel_peek_session(const uint8_t *datagram, size_t len, uint8_t *ret_version,
                             uint32_t *ret_session_id) {
        FluxWireHeader h;
        int r;

        r = flux_wire_header_decode(datagram, len, &h);
        if (r < 0)
                return r;
        if (!IN_SET_VERSION(h.version))
                return -EPROTONOSUPPORT;
        if (ret_version)
                *ret_version = h.version;
        if (ret_session_id)
                *ret_session_id = h.session_id;
        return 0;
}

/* ---- paths ---- */

size_t flux_tunnel_get_n_paths(const FluxTunnel *t) {
        return t->n_paths;
}

FluxPath *flux_tunnel_get_path(const FluxTunnel *t, size_t index) {
        return index < t->n_paths ? t->paths[index] : NULL;
}

FluxPath *flux_tunnel_find_path(const FluxTunnel *t, uint16_t path_id) {
        for (size_t i = 0; i < t->n_paths; i++)
                if (t->paths[i]->id == path_id)
                        return t->paths[i];
        return NULL;
}

static FluxPath *find_path_by_address(const FluxTunnel *t, const union sockaddr_union *a) {
        for (size_t i = 0; i < t->n_paths; i++)
                if (sockaddr_equal(&t->paths[i]->remote, a))
                        return t->paths[i];
        return NULL;
}

static int tunnel_link_path(FluxTunnel *t, usec_t now, uint16_t id, FluxPath **ret) {
        FluxPath *p;

        if (t->n_paths >= FLUX_TUNNEL_MAX_PATHS)
                return -ENOSPC;
        p = new0(FluxPath, 1);
        if (!p)
                return -ENOMEM;
        flux_path_init(p, t, id, now);
        t->paths[t->n_paths++] = p;
        *ret = p;
        return 0;
}

int flux_tunnel_add_path(FluxTunnel *t, usec_t now, uint16_t path_id, FluxPathPriority priority, double weight,
                         void *path_userdata, FluxPath **ret) {
        FluxPath *p;
        int r;

        assert_return(t, -EINVAL);
        assert_return(t->role == FLUX_TUNNEL_CLIENT, -EOPNOTSUPP);
        assert_return(priority >= 0 && priority < _FLUX_PATH_PRIORITY_MAX, -EINVAL);
        if (weight == 0)
                weight = 1.0;
        assert_return(weight > 0 && weight <= 1000, -EINVAL);
        if (flux_tunnel_find_path(t, path_id))
                return -EEXIST;

        r = tunnel_link_path(t, now, path_id, &p);
        if (r < 0)
                return r;
        p->priority = priority;
        p->weight = weight;
        p->userdata = path_userdata;
        /* Version 1 has no acknowledgement: the reference accepts any authentic packet from a new
         * address, so the path is usable at once (the first heartbeat echo confirms it). */
        p->registered = t->version == FLUX_WIRE_VERSION_1;
        if (ret)
                *ret = p;
        return 0;
}

void flux_tunnel_remove_path(FluxTunnel *t, FluxPath *p) {
        size_t i;

        if (!t || !p)
                return;
        for (i = 0; i < t->n_paths; i++)
                if (t->paths[i] == p)
                        break;
        if (i >= t->n_paths)
                return;
        if (t->cb.path_removed)
                t->cb.path_removed(t, p, t->userdata);
        memmove(t->paths + i, t->paths + i + 1, (t->n_paths - i - 1) * sizeof(FluxPath *));
        t->n_paths--;
        path_free(p);
}

static void path_changed(FluxTunnel *t, FluxPath *p, FluxPathState old) {
        if (old != p->state && t->cb.path_state_changed)
                t->cb.path_state_changed(t, p, old, p->state, t->userdata);
}

static void path_force_state(FluxTunnel *t, FluxPath *p, usec_t now, FluxPathState s) {
        FluxPathState old = p->state;

        flux_path_set_state(p, now, s);
        path_changed(t, p, old);
}

static void path_evaluate(FluxTunnel *t, FluxPath *p, usec_t now) {
        FluxPathState old;

        flux_path_evaluate(p, now, &old);
        path_changed(t, p, old);
}

/* ---- sending ---- */

/* Seals the payload that sits at scratch + FLUX_WIRE_PAYLOAD_OFFSET and sends it on p. */
static int tunnel_seal_and_send(FluxTunnel *t, FluxPath *p, usec_t now, uint8_t type, uint32_t data_seq,
                                size_t payload_len) {
        FluxWireHeader h = {
                .type = type,
                .session_id = t->session_id,
        };
        uint8_t *buf = t->scratch;
        int size, r;

        if (t->version == FLUX_WIRE_VERSION_2) {
                uint32_t epoch = t->sender.epoch;

                h.data_seq = data_seq;
                h.path_id = p->id;
                h.seq = p->tx_seq + 1 ?: 1;
                size = flux_sender_seal(&t->sender, &h, buf, FLUX_TUNNEL_MAX_DATAGRAM, payload_len, now);
                if (size < 0)
                        return size;
                if (t->sender.epoch != epoch)
                        t->stats.epoch_changes++;
        } else {
                uint8_t nonce[FLUX_WIRE_NONCE_SIZE];

                h.version = FLUX_WIRE_VERSION_1;
                h.seq = data_seq; /* IP packets only; 0 for heartbeats and handshakes */
                r = t->cb.random_bytes ? t->cb.random_bytes(nonce, sizeof(nonce), t->userdata)
                                       : flux_nonce_pool_take(t->nonce_pool, nonce);
                if (r < 0)
                        return r;
                size = flux_aead_seal(&t->v1_aead, &h, nonce, buf, FLUX_TUNNEL_MAX_DATAGRAM, payload_len);
                if (size < 0)
                        return size;
        }

        (void) flux_path_on_tx(p, now, (size_t) size);
        t->stats.tx_datagrams++;
        r = t->cb.send_datagram(t, p, buf, (size_t) size, t->userdata);
        if (r < 0)
                t->stats.tx_errors++;
        return 0;
}

static void put_probe_body(uint8_t *b, uint64_t ts, const FluxPath *p) {
        FluxPathReport rep;

        flux_path_fill_report(p, ts, &rep);
        flux_put_be64(b, rep.echo_usec);
        flux_put_be64(b + 8, rep.rx_bytes);
        flux_put_be32(b + 16, rep.rx_packets);
        flux_put_be32(b + 20, rep.rx_max_seq);
}

static void get_probe_body(const uint8_t *b, FluxPathReport *ret) {
        *ret = (FluxPathReport) {
                .echo_usec = flux_get_be64(b),
                .rx_bytes = flux_get_be64(b + 8),
                .rx_packets = flux_get_be32(b + 16),
                .rx_max_seq = flux_get_be32(b + 20),
        };
}

/* Sends a probe, or a registration while the path is not (or no longer) known to the server. */
static int tunnel_send_probe(FluxTunnel *t, FluxPath *p, usec_t now) {
        uint8_t *body = t->scratch + FLUX_WIRE_PAYLOAD_OFFSET;
        uint8_t type;
        size_t len;

        if (t->version == FLUX_WIRE_VERSION_1) {
                /* Client only: a handshake first and again while the path is down (a new NAT
                 * mapping needs one with a hardened server; the reference needs no answer), then
                 * heartbeats carrying our own clock in ns, echoed by the server. */
                if (p->last_probe == 0 || p->state == FLUX_PATH_DOWN) {
                        int r = tunnel_seal_and_send(t, p, now, FLUX_PACKET_REGISTER, 0, 0);
                        if (r < 0)
                                return r;
                }
                flux_put_be64(body, (uint64_t) now * NSEC_PER_USEC);
                type = FLUX_PACKET_PROBE;
                len = V1_HEARTBEAT_SIZE;
        } else {
                bool reg = t->role == FLUX_TUNNEL_CLIENT && (!p->registered || p->state == FLUX_PATH_DOWN);

                put_probe_body(body, now, p);
                type = reg ? FLUX_PACKET_REGISTER : FLUX_PACKET_PROBE;
                len = PROBE_BODY_SIZE;
        }
        flux_path_on_probe_sent(p, now);
        return tunnel_seal_and_send(t, p, now, type, 0, len);
}

static int tunnel_send_reply(FluxTunnel *t, FluxPath *p, usec_t now, uint8_t type, uint64_t echo) {
        put_probe_body(t->scratch + FLUX_WIRE_PAYLOAD_OFFSET, echo, p);
        return tunnel_seal_and_send(t, p, now, type, 0, PROBE_BODY_SIZE);
}

int flux_tunnel_send_ip(FluxTunnel *t, usec_t now, const uint8_t *ip, size_t len) {
        FluxPath *picked[FLUX_TUNNEL_MAX_PATHS];
        uint32_t seq;
        size_t n;
        int r;

        assert_return(t, -EINVAL);
        assert_return(ip && len > 0, -EINVAL);
        if (len > FLUX_TUNNEL_MAX_IP)
                return -EMSGSIZE;

        t->last_activity = now;
        n = flux_scheduler_pick(&t->sched, t->paths, t->n_paths, now, ip, len, picked, ELEMENTSOF(picked));
        if (n == 0) {
                /* No sequence number is consumed: a gap would stall the peer's reorder buffer. */
                t->stats.tx_no_path++;
                return 0;
        }

        if (t->version == FLUX_WIRE_VERSION_2)
                seq = ++t->tx_data_seq;
        else {
                /* The reference numbers IP packets from 1 and drops 0. */
                if (++t->v1_tx_seq == 0)
                        t->v1_tx_seq = 1;
                seq = t->v1_tx_seq;
        }

        for (size_t i = 0; i < n; i++) {
                /* Sealing is in place, so every copy starts from the caller's packet. */
                memcpy(t->scratch + FLUX_WIRE_PAYLOAD_OFFSET, ip, len);
                r = tunnel_seal_and_send(t, picked[i], now, FLUX_PACKET_DATA, seq, len);
                if (r < 0)
                        return r;
        }
        t->stats.tx_bytes += len;
        t->stats.tx_packets++;
        return (int) n;
}

/* ---- receiving ---- */

static bool source_allowed(const FluxTunnel *t, const uint8_t *ip, size_t len) {
        union in_addr_union src = {};
        int family;

        if (len >= 20 && ip[0] >> 4 == 4) {
                family = AF_INET;
                memcpy(&src.in, ip + 12, 4);
        } else if (len >= 40 && ip[0] >> 4 == 6) {
                family = AF_INET6;
                memcpy(&src.in6, ip + 8, 16);
        } else
                return false;

        for (size_t i = 0; i < t->n_allowed; i++)
                if (t->allowed[i].family == family &&
                    in_addr_prefix_covers(family, &t->allowed[i].prefix, t->allowed[i].prefixlen, &src))
                        return true;
        return false;
}

/* Common to both versions: an inner IP packet that authenticated. */
static int tunnel_rx_ip(FluxTunnel *t, usec_t now, const uint8_t *ip, size_t len, bool ordered, uint32_t seq,
                        usec_t not_before) {
        FluxReorderResult rr;

        /* Dropped packets still consume their data sequence number, else every later packet would
         * wait the hold time for them. */
        if (len == 0) {
                if (ordered)
                        (void) flux_reorder_skip(&t->reorder, now, seq);
                t->stats.malformed++;
                return FLUX_RX_MALFORMED;
        }
        if (t->role == FLUX_TUNNEL_SERVER && !source_allowed(t, ip, len)) {
                if (ordered)
                        (void) flux_reorder_skip(&t->reorder, now, seq);
                t->stats.spoofed_drops++;
                return FLUX_RX_SPOOFED;
        }
        t->last_activity = now;
        if (!ordered) {
                tunnel_deliver(ip, len, t);
                return FLUX_RX_DATA;
        }
        rr = flux_reorder_insert_at(&t->reorder, now, seq, ip, len, not_before);
        sync_stats(t);
        if (rr == FLUX_REORDER_DUPLICATE || rr == FLUX_REORDER_TOO_OLD) {
                t->stats.duplicates++;
                return FLUX_RX_DUPLICATE;
        }
        return FLUX_RX_DATA;
}

/* Loss detection by the per-path order (RACK-like, RFC 8985 in spirit): the sender hands data
 * sequence numbers out in increasing order and every path is (nearly) FIFO, so once every path that
 * carries data has delivered something newer than the gap at the head of the reorder buffer, the
 * missing packet was lost, not delayed: give up on it now instead of waiting the hold time. A path
 * that brought no data for FLUX_GAP_PATH_IDLE does not count (the sender no longer uses it). Were
 * the verdict wrong, the packet is still delivered late, and the hold timer remains the backstop. */
#define FLUX_GAP_PATH_IDLE (100 * USEC_PER_MSEC)

static void tunnel_skip_lost_gaps(FluxTunnel *t, usec_t now) {
        while (t->reorder.depth > 0) {
                uint32_t gap = t->reorder.next;
                bool any = false;

                for (size_t i = 0; i < t->n_paths; i++) {
                        const FluxPath *p = t->paths[i];

                        if (!p->rx_data_valid || now - p->rx_data_last > FLUX_GAP_PATH_IDLE)
                                continue;
                        if (!flux_seq_after(p->rx_data_seq_max, gap))
                                return; /* it may still come on this path */
                        any = true;
                }
                if (!any || flux_reorder_skip_gap(&t->reorder) == 0)
                        return;
                t->stats.reorder_loss_skips++;
        }
}

/* Delay equalisation, adaptive: while a slower path is carrying data, a packet that came over a
 * faster one is released only when a packet sent at the same time over the slowest such path would
 * arrive, so a flow striped over both sees one RTT. Without it, the packets that happen to find no
 * gap ahead of them reach the far end at the fast path's delay; a delay-based sender (BBR) takes
 * that as its minimum RTT, sizes its window to fast RTT × rate, and stays far below the sum of the
 * paths (measured: 0.1 of 2 × 50 Mbit/s with 10 vs 40 ms RTT).
 *
 * But only then: the weighted scheduler sends everything over the fastest path until it is
 * saturated, so on a lightly loaded tunnel (a ping, an interactive session) no slower path brings
 * data and nothing is held. A path counts as carrying data if it brought some within
 * FLUX_EQUALIZE_PATH_IDLE (long enough to cover BBR's 200 ms PROBE_RTT). The packet's own path is
 * taken at its current delay (half its smoothed RTT, which includes the queue the scheduler lets
 * build on a fast path before it overflows to a slower one), the slowest at its base delay, so a
 * loaded fast path is not held twice. Only with the weighted scheduler (the peer is assumed to use
 * the same one), over usable paths of the best priority that the sender would not leave out as too
 * slow; differences under 1 ms are ignored; the delay never exceeds the reorder ceiling. */
#define FLUX_EQUALIZE_PATH_IDLE (1 * USEC_PER_SEC)

static int equalize_tier(const FluxPath *q) {
        int tier = flux_path_tier(q);

        return tier == 1 || tier == 3 ? tier - 1 : tier; /* degraded counts with up */
}

static usec_t tunnel_equalize(const FluxTunnel *t, const FluxPath *p, usec_t now) {
        usec_t fastest = USEC_INFINITY, slowest = 0, own, d;
        int best = -1;

        if (t->sched.kind != FLUX_SCHEDULER_WEIGHTED || p->rtt_min == 0)
                return 0;
        for (size_t i = 0; i < t->n_paths; i++) {
                const FluxPath *q = t->paths[i];
                int tier = equalize_tier(q);

                if (tier < 0 || tier > 3 || q->rtt_min == 0)
                        continue;
                if (best < 0 || tier < best) {
                        best = tier;
                        fastest = USEC_INFINITY;
                }
                if (tier == best)
                        fastest = MIN(fastest, q->rtt_min / 2);
        }
        for (size_t i = 0; i < t->n_paths; i++) {
                const FluxPath *q = t->paths[i];

                if (q == p || !q->rx_data_valid || now - q->rx_data_last > FLUX_EQUALIZE_PATH_IDLE)
                        continue;
                if (equalize_tier(q) == best && q->rtt_min != 0 && q->rtt_min / 2 <= fastest + t->reorder_ceiling)
                        slowest = MAX(slowest, q->rtt_min / 2);
        }
        own = p->srtt > p->rtt_min ? p->srtt / 2 : p->rtt_min / 2;
        if (slowest <= own + USEC_PER_MSEC)
                return 0;
        d = slowest - own;
        return now + MIN(d, t->reorder_ceiling);
}

/* The adaptive hold time: how far apart in time the peer's packets can arrive over the paths in
 * use (their RTT spread, plus variation), bounded by the configured ceiling. */
static void tunnel_update_hold(FluxTunnel *t) {
        usec_t lo = USEC_INFINITY, hi = 0, var = 0, hold;

        for (size_t i = 0; i < t->n_paths; i++) {
                const FluxPath *p = t->paths[i];
                int tier = flux_path_tier(p);

                if (tier < 0 || tier > 3 || p->srtt == 0)
                        continue;
                lo = MIN(lo, p->rtt_min);
                hi = MAX(hi, p->srtt);
                var = MAX(var, p->rttvar);
        }
        if (hi == 0)
                hold = t->reorder_ceiling;
        else
                hold = hi - MIN(lo, hi) + 2 * var + 2 * USEC_PER_MSEC;
        flux_reorder_set_hold(&t->reorder, MIN(hold, t->reorder_ceiling));
}

static int server_register(FluxTunnel *t, usec_t now, const union sockaddr_union *from, uint16_t id,
                           FluxPath **ret) {
        FluxPath *p = flux_tunnel_find_path(t, id);
        int r;

        if (p) {
                /* Fresh and authentic: the client moved (NAT rebinding, new uplink address). */
                p->remote = *from;
                *ret = p;
                return 0;
        }

        if (t->n_paths >= FLUX_TUNNEL_MAX_PATHS) {
                /* Make room by forgetting the longest-dead path, if any. */
                FluxPath *victim = NULL;

                for (size_t i = 0; i < t->n_paths; i++)
                        if (t->paths[i]->state == FLUX_PATH_DOWN &&
                            (!victim || t->paths[i]->state_since < victim->state_since))
                                victim = t->paths[i];
                if (!victim)
                        return -ENOSPC;
                flux_tunnel_remove_path(t, victim);
        }

        r = tunnel_link_path(t, now, id, &p);
        if (r < 0)
                return r;
        p->remote = *from;
        p->registered = true;
        flux_path_set_state(p, now, FLUX_PATH_UP);
        if (t->cb.path_added)
                t->cb.path_added(t, p, t->userdata);
        *ret = p;
        return 0;
}

/* Which path an authentic version 2 datagram belongs to: on the server a REGISTER creates or moves
 * one, anything else must name a registered path id; on the client the socket it came in on, or
 * the path id. NULL if none. */
static FluxPath *v2_path_for(FluxTunnel *t, usec_t now, const union sockaddr_union *from, FluxPath *hint,
                             const FluxWireHeader *h) {
        FluxPath *p = NULL;

        if (t->role == FLUX_TUNNEL_CLIENT)
                return hint && hint->id == h->path_id ? hint : flux_tunnel_find_path(t, h->path_id) ?: hint;
        if (h->type != FLUX_PACKET_REGISTER)
                return flux_tunnel_find_path(t, h->path_id);
        if (!from || from->sa.sa_family == AF_UNSPEC || server_register(t, now, from, h->path_id, &p) < 0)
                return NULL;
        return p;
}

static int v2_rx_data(FluxTunnel *t, FluxPath *p, usec_t now, const FluxWireHeader *h, const uint8_t *payload,
                      size_t plen) {
        usec_t not_before = tunnel_equalize(t, p, now); /* before this packet counts as "recent" */
        int r;

        if (!p->rx_data_valid || flux_seq_after(h->data_seq, p->rx_data_seq_max))
                p->rx_data_seq_max = h->data_seq;
        p->rx_data_valid = true;
        p->rx_data_last = now;
        r = tunnel_rx_ip(t, now, payload, plen, true, h->data_seq, not_before);
        if (t->reorder.depth > 0) {
                tunnel_skip_lost_gaps(t, now);
                sync_stats(t);
        }
        return r;
}

/* PROBE_REPLY or REGISTER_ACK: RTT, liveness, loss, capacity, state. */
static int v2_rx_answer(FluxTunnel *t, FluxPath *p, usec_t now, const FluxWireHeader *h, const uint8_t *payload) {
        FluxPathState old = p->state;
        FluxPathReport rep;

        get_probe_body(payload, &rep);
        if (flux_path_on_reply(p, now, &rep) < 0)
                return FLUX_RX_CONTROL; /* an answer to a probe we no longer track */
        path_changed(t, p, old); /* down -> probing */
        if (h->type == FLUX_PACKET_REGISTER_ACK && !p->registered) {
                p->registered = true;
                path_force_state(t, p, now, FLUX_PATH_UP);
        } else
                path_evaluate(t, p, now);
        tunnel_update_hold(t);
        return FLUX_RX_CONTROL;
}

static int tunnel_receive_v2(FluxTunnel *t, usec_t now, const union sockaddr_union *from, FluxPath *hint,
                             uint8_t *buf, size_t len) {
        const uint8_t *payload = buf + FLUX_WIRE_PAYLOAD_OFFSET;
        bool server = t->role == FLUX_TUNNEL_SERVER;
        FluxPathReport rep;
        FluxWireHeader h;
        FluxPath *p;
        size_t plen;
        int r;

        r = flux_receiver_open(&t->receiver, buf, len, now, &h, &plen);
        if (r == -EKEYREJECTED || r == -ENOKEY) {
                t->stats.auth_failures++;
                return FLUX_RX_AUTH_FAILED;
        }
        if (r > 0) {
                t->stats.replay_drops++;
                return FLUX_RX_REPLAY;
        }
        if (r < 0 || (h.type != FLUX_PACKET_DATA && plen < PROBE_BODY_SIZE)) {
                t->stats.malformed++;
                return FLUX_RX_MALFORMED;
        }
        t->stats.rx_datagrams++;

        p = v2_path_for(t, now, from, hint, &h);
        if (!p) {
                if (h.type == FLUX_PACKET_DATA)
                        (void) flux_reorder_skip(&t->reorder, now, h.data_seq);
                t->stats.no_path_drops++;
                return FLUX_RX_NO_PATH;
        }
        flux_path_on_rx(p, now, h.seq, len);

        switch (h.type) {
        case FLUX_PACKET_DATA:
                return v2_rx_data(t, p, now, &h, payload, plen);

        case FLUX_PACKET_PROBE:
                get_probe_body(payload, &rep);
                flux_path_on_peer_probe(p, now, &rep);
                r = tunnel_send_reply(t, p, now, FLUX_PACKET_PROBE_REPLY, rep.echo_usec);
                return r < 0 ? r : FLUX_RX_CONTROL;

        case FLUX_PACKET_REGISTER:
                if (!server)
                        break;
                r = tunnel_send_reply(t, p, now, FLUX_PACKET_REGISTER_ACK, flux_get_be64(payload));
                return r < 0 ? r : FLUX_RX_CONTROL;

        case FLUX_PACKET_REGISTER_ACK:
                if (server)
                        break;
                return v2_rx_answer(t, p, now, &h, payload);

        case FLUX_PACKET_PROBE_REPLY:
                return v2_rx_answer(t, p, now, &h, payload);

        default:
                break;
        }

        t->stats.malformed++;
        return FLUX_RX_MALFORMED;
}

/* Version 1 has no counter: remember recent handshake nonces so that a byte-identical replay of a
 * captured handshake cannot move or add a path (the reference's path hijack, S2). */
static bool v1_handshake_seen(FluxTunnel *t, const uint8_t *nonce) {
        for (unsigned i = 0; i < V1_HANDSHAKE_MEMORY; i++)
                if (memcmp(t->v1_handshake_nonces[i], nonce, FLUX_WIRE_NONCE_SIZE) == 0)
                        return true;
        memcpy(t->v1_handshake_nonces[t->v1_handshake_head], nonce, FLUX_WIRE_NONCE_SIZE);
        t->v1_handshake_head = (t->v1_handshake_head + 1) % V1_HANDSHAKE_MEMORY;
        return false;
}

/* Version 1 IP sequence check: the reference numbers IP packets per direction from 1; a window over
 * the 64-bit extension of that number drops replays and duplicates (wrap-safe). */
static bool v1_seq_fresh(FluxTunnel *t, uint32_t seq) {
        uint64_t ext;

        if (t->v1_rx_top == 0)
                ext = seq;
        else
                ext = t->v1_rx_top + (int64_t) (int32_t) (seq - (uint32_t) t->v1_rx_top);
        if ((int64_t) ext <= 0 || flux_replay_commit(&t->v1_replay, ext) != FLUX_REPLAY_OK)
                return false;
        t->v1_rx_top = MAX(t->v1_rx_top, ext);
        return true;
}

static int v1_inflate(FluxTunnel *t, const uint8_t *in, size_t len, const uint8_t **ret, size_t *ret_len) {
        int r;

        if (!t->gzip) {
                r = flux_gzip_new(&t->gzip);
                if (r < 0)
                        return r;
        }
        if (!t->inflate_buf) {
                t->inflate_buf = malloc(FLUX_WIRE_V1_MAX_PACKET);
                if (!t->inflate_buf)
                        return -ENOMEM;
        }
        r = flux_gzip_decompress(t->gzip, in, len, t->inflate_buf, FLUX_WIRE_V1_MAX_PACKET, ret_len);
        if (r < 0)
                return r;
        *ret = t->inflate_buf;
        return 0;
}

/* Which path an authentic version 1 datagram belongs to. Server: its source address, and only a
 * fresh handshake makes a new one (*ret_replay if the handshake was seen before). Client: the
 * socket it came in on. NULL if none. */
static FluxPath *v1_path_for(FluxTunnel *t, usec_t now, const union sockaddr_union *from, FluxPath *hint,
                             const FluxWireHeader *h, const uint8_t *nonce, bool *ret_replay) {
        FluxPath *p;

        *ret_replay = false;
        if (t->role == FLUX_TUNNEL_CLIENT)
                return hint ?: (t->n_paths > 0 ? t->paths[0] : NULL);
        if (!from || from->sa.sa_family == AF_UNSPEC)
                return NULL;

        p = find_path_by_address(t, from);
        if (h->type == FLUX_PACKET_REGISTER) {
                if (v1_handshake_seen(t, nonce)) {
                        *ret_replay = true;
                        return NULL;
                }
                if (!p) {
                        uint16_t id = t->v1_next_path_id++;

                        while (flux_tunnel_find_path(t, id))
                                id = t->v1_next_path_id++;
                        if (server_register(t, now, from, id, &p) < 0)
                                return NULL;
                }
        }
        /* The reference client's packets are its only sign of life (it does not answer probes). */
        if (p && p->state != FLUX_PATH_UP)
                path_force_state(t, p, now, FLUX_PATH_UP);
        return p;
}

static int v1_rx_data(FluxTunnel *t, usec_t now, const FluxWireHeader *h, const uint8_t *payload, size_t plen) {
        const uint8_t *ip = payload;
        size_t iplen = plen;
        int r;

        if (!v1_seq_fresh(t, h->seq)) {
                t->stats.replay_drops++;
                return FLUX_RX_REPLAY;
        }
        if (h->reserved[0] & FLUX_WIRE_FLAG_GZIP) {
                r = v1_inflate(t, payload, plen, &ip, &iplen);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        t->stats.malformed++;
                        return FLUX_RX_MALFORMED;
                }
        }
        /* Like the reference: only IPv4 (>= 20 bytes) or IPv6 (>= 40 bytes) go to the TUN. */
        if (!((iplen >= 20 && ip[0] >> 4 == 4) || (iplen >= 40 && ip[0] >> 4 == 6))) {
                t->stats.malformed++;
                return FLUX_RX_MALFORMED;
        }
        return tunnel_rx_ip(t, now, ip, iplen, false, 0, 0);
}

/* Heartbeat: the server echoes it as the first reference did (same payload, same sequence
 * number); the client takes the echo of its own clock as a probe reply. */
static int v1_rx_heartbeat(FluxTunnel *t, FluxPath *p, usec_t now, const FluxWireHeader *h,
                           const uint8_t *payload) {
        FluxPathState old = p->state;
        int r;

        if (t->role == FLUX_TUNNEL_SERVER) {
                memmove(t->scratch + FLUX_WIRE_PAYLOAD_OFFSET, payload, V1_HEARTBEAT_SIZE);
                r = tunnel_seal_and_send(t, p, now, FLUX_PACKET_PROBE, h->seq, V1_HEARTBEAT_SIZE);
                return r < 0 ? r : FLUX_RX_CONTROL;
        }
        if (flux_path_on_echo(p, now, flux_get_be64(payload) / NSEC_PER_USEC) < 0)
                return FLUX_RX_CONTROL;
        path_changed(t, p, old);
        if (p->state == FLUX_PATH_PROBING && p->state_since == p->created)
                path_force_state(t, p, now, FLUX_PATH_UP); /* the first echo: no ack in version 1 */
        else
                path_evaluate(t, p, now);
        tunnel_update_hold(t);
        return FLUX_RX_CONTROL;
}

static int tunnel_receive_v1(FluxTunnel *t, usec_t now, const union sockaddr_union *from, FluxPath *hint,
                             uint8_t *buf, size_t len) {
        const uint8_t *payload = buf + FLUX_WIRE_PAYLOAD_OFFSET;
        FluxWireHeader h;
        bool replay;
        FluxPath *p;
        int plen;

        plen = flux_v1_open(&t->v1_aead, buf, len, &h);
        if (plen == -EKEYREJECTED) {
                t->stats.auth_failures++;
                return FLUX_RX_AUTH_FAILED;
        }
        if (plen < 0) {
                t->stats.malformed++;
                return FLUX_RX_MALFORMED;
        }
        t->stats.rx_datagrams++;

        p = v1_path_for(t, now, from, hint, &h, buf + FLUX_WIRE_HEADER_SIZE, &replay);
        if (replay) {
                t->stats.replay_drops++;
                return FLUX_RX_REPLAY;
        }
        if (!p) {
                t->stats.no_path_drops++;
                return FLUX_RX_NO_PATH;
        }
        /* No per-path sequence in version 1: count the packet as the next one. */
        flux_path_on_rx(p, now, p->rx_max_seq + 1, len);

        switch (h.type) {
        case FLUX_PACKET_DATA:
                return v1_rx_data(t, now, &h, payload, (size_t) plen);
        case FLUX_PACKET_PROBE:
                if (plen != V1_HEARTBEAT_SIZE) {
                        t->stats.malformed++;
                        return FLUX_RX_MALFORMED;
                }
                return v1_rx_heartbeat(t, p, now, &h, payload);
        default:
                /* Handshakes need no answer; type 4 and unknown types authenticate but mean
                 * nothing (like the reference). */
                return FLUX_RX_CONTROL;
        }
}

int flux_tunnel_receive(FluxTunnel *t, usec_t now, const union sockaddr_union *from, FluxPath *path_hint,
                        uint8_t *datagram, size_t len) {
        FluxWireHeader h;

        assert_return(t, -EINVAL);
        assert_return(datagram || len == 0, -EINVAL);

        if (flux_wire_header_decode(datagram, len, &h) < 0 || h.version != t->version) {
                t->stats.malformed++;
                return FLUX_RX_MALFORMED;
        }
        if (h.session_id != t->session_id) {
                t->stats.wrong_session++;
                return FLUX_RX_WRONG_SESSION;
        }
        if (path_hint && path_hint->tunnel != t)
                path_hint = NULL;

        if (t->version == FLUX_WIRE_VERSION_2)
                return tunnel_receive_v2(t, now, from, path_hint, datagram, len);
        return tunnel_receive_v1(t, now, from, path_hint, datagram, len);
}

/* ---- timers ---- */

static bool tunnel_active(const FluxTunnel *t, usec_t now) {
        return t->last_activity != 0 && now < t->last_activity + FLUX_ACTIVE_WINDOW;
}

/* Whether this side probes: both sides in version 2; only the client in version 1 (the reference
 * server only echoes, and would not echo our heartbeats). */
static bool tunnel_probes(const FluxTunnel *t) {
        return t->version == FLUX_WIRE_VERSION_2 || t->role == FLUX_TUNNEL_CLIENT;
}

static usec_t path_expiry(const FluxTunnel *t, const FluxPath *p) {
        if (t->role != FLUX_TUNNEL_SERVER)
                return USEC_INFINITY;
        if (t->version == FLUX_WIRE_VERSION_1 && p->state != FLUX_PATH_DOWN) {
                /* Liveness from the client's heartbeats. */
                for (size_t i = 0; i < t->n_paths; i++)
                        if (t->paths[i] != p && t->paths[i]->last_rx > p->last_rx)
                                return p->last_rx + V1_SERVER_STALE_AFTER;
                return p->last_rx + V1_SERVER_DEAD_AFTER;
        }
        if (p->state == FLUX_PATH_DOWN)
                return p->state_since + FLUX_PATH_EXPIRE;
        return USEC_INFINITY;
}

usec_t flux_tunnel_next_wakeup(const FluxTunnel *t) {
        usec_t w = flux_reorder_next_deadline(&t->reorder);
        bool active = t->last_activity != 0; /* conservative: tick re-evaluates */

        for (size_t i = 0; i < t->n_paths; i++) {
                const FluxPath *p = t->paths[i];

                if (tunnel_probes(t))
                        w = MIN(w, flux_path_next_probe(p, active));
                w = MIN(w, flux_path_next_deadline(p));
                w = MIN(w, path_expiry(t, p));
        }
        if (active)
                /* The cadence slows down when traffic stops: wake up to notice. */
                w = MIN(w, t->last_activity + FLUX_ACTIVE_WINDOW);
        return w;
}

static int tunnel_tick_path(FluxTunnel *t, FluxPath *p, usec_t now, bool active, bool *ret_removed) {
        int r;

        *ret_removed = false;
        flux_path_update_rates(p, now);

        if (now >= path_expiry(t, p)) {
                if (t->version == FLUX_WIRE_VERSION_1 && p->state != FLUX_PATH_DOWN)
                        path_force_state(t, p, now, FLUX_PATH_DOWN);
                else {
                        flux_tunnel_remove_path(t, p);
                        *ret_removed = true;
                        return 0;
                }
        }

        path_evaluate(t, p, now);

        if (tunnel_probes(t) && now >= flux_path_next_probe(p, active)) {
                r = tunnel_send_probe(t, p, now);
                if (r < 0)
                        return r;
        }
        return 0;
}

int flux_tunnel_tick(FluxTunnel *t, usec_t now) {
        bool active;
        int r = 0;

        assert_return(t, -EINVAL);

        if (t->last_activity != 0 && now >= t->last_activity + FLUX_ACTIVE_WINDOW)
                t->last_activity = 0; /* idle now: slow probing */
        active = tunnel_active(t, now);

        for (size_t i = 0; i < t->n_paths;) {
                bool removed;
                int k = tunnel_tick_path(t, t->paths[i], now, active, &removed);

                if (k < 0 && r == 0)
                        r = k;
                if (!removed)
                        i++;
        }

        tunnel_update_hold(t);
        flux_reorder_flush(&t->reorder, now);
        sync_stats(t);
        return r;
}

int flux_tunnel_rekey(FluxTunnel *t, usec_t now) {
        int r;

        assert_return(t, -EINVAL);

        if (t->version != FLUX_WIRE_VERSION_2)
                return -EOPNOTSUPP;
        r = flux_sender_rekey(&t->sender, now);
        if (r < 0)
                return r;
        t->stats.epoch_changes++;
        return 0;
}
