/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A discrete-event network simulator for the datapath tests: a client and a server FluxTunnel
 * wired by simulated paths, each direction of each path with its own rate (token bucket like tbf:
 * serialisation plus a tail-drop queue bounded in time), propagation delay, random loss and an
 * on/off switch. Simulated clock only; deterministic (xorshift PRNG with a fixed seed). */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "tunnel.h"

#define SIM_MAX_PATHS 4
#define SIM_MAX_EVENTS (1U << 16)
#define SIM_SECRET_BYTE 0x42
#define SIM_SESSION_ID 0x1234abcdU

typedef struct SimLink {
        double rate;            /* bytes/s; 0 = unlimited */
        usec_t delay;           /* one-way propagation */
        double loss;            /* drop probability */
        usec_t queue_limit;     /* tail drop beyond this much queueing delay */
        bool cut;
        usec_t busy_until;
        uint64_t sent, dropped, bytes;
        uint64_t data_bytes;    /* bytes of DATA datagrams accepted by the link */
} SimLink;

typedef struct SimEvent {
        usec_t t;
        uint64_t order;
        bool ack;               /* simulated TCP acknowledgement of `counter` (no datagram) */
        uint32_t counter;
        bool to_server;
        int path;
        size_t len;
        uint8_t *data;
} SimEvent;

typedef struct SimSink {
        uint64_t packets, bytes;
        uint32_t last_counter;
        uint64_t out_of_order;
        usec_t last_delivery;
        usec_t max_gap;         /* longest time between two deliveries (after gap_from) */
        usec_t gap_from;
        uint8_t *seen;          /* counter -> delivered times (for loss/duplicate checks) */
        size_t seen_size;
        usec_t max_latency;
        usec_t min_latency;     /* 0 = none yet */
} SimSink;

/* A Reno-like window sender over the tunnel (client -> server): slow start, congestion avoidance,
 * halving on a loss detected by three later deliveries (at most once per window), a 300 ms
 * retransmission-timeout restart. No retransmissions: the goodput counts unique packets. Acks come
 * back outside the tunnel after ack_delay. */
typedef struct SimTcp {
        bool enabled;
        bool downlink;                  /* server -> client (set after sim_tcp_enable()) */
        double cwnd, ssthresh;
        usec_t ack_delay;
        uint32_t highest_acked;
        uint32_t scan;                  /* lowest counter not yet acked or declared lost */
        uint32_t recover_until;
        uint64_t acked, lost;
        usec_t last_progress;
        uint8_t *state;                 /* per counter: 0 in flight, 1 acked, 2 lost */
        size_t state_size;
} SimTcp;

typedef struct Sim {
        usec_t now;
        uint64_t rng;
        uint64_t order;
        SimEvent *heap;
        size_t n_events;
        int n_paths;
        SimLink up[SIM_MAX_PATHS], down[SIM_MAX_PATHS];
        FluxTunnel *client, *server;
        FluxPath *cpath[SIM_MAX_PATHS];
        SimSink at_server, at_client;
        uint64_t path_state_changes;
        /* Per client path index: when it last entered each state, on the client and the server. */
        usec_t client_state_at[SIM_MAX_PATHS][_FLUX_PATH_STATE_MAX];
        usec_t server_state_at[SIM_MAX_PATHS][_FLUX_PATH_STATE_MAX];
        /* Last datagram the client sent, for replay/forgery tests. */
        uint8_t last_up[2048];
        size_t last_up_len;
        int last_up_path;
        bool capture_data_only;
        SimTcp tcp;
        unsigned nat_gen[SIM_MAX_PATHS];
        uint64_t nat_dropped;
        /* Send timestamps of generated packets (by counter), for latency. */
        usec_t *sent_at;
        size_t sent_at_size;
        /* A sparse ping stream client -> server (SIM_PING_PORT, send time at offset 32), alongside
         * any other traffic; not counted in the sink, never acknowledged. 0 = off. */
        usec_t ping_interval, ping_next;
        uint64_t ping_sent, ping_received;
        usec_t ping_sum, ping_max, ping_min;
} Sim;

#define SIM_PING_PORT 7000
#define SIM_PING_SIZE 84

static inline usec_t sim_min(usec_t a, usec_t b) {
        return a < b ? a : b;
}

static inline usec_t sim_max(usec_t a, usec_t b) {
        return a > b ? a : b;
}

static inline uint64_t sim_rand(Sim *s) {
        s->rng ^= s->rng << 13;
        s->rng ^= s->rng >> 7;
        s->rng ^= s->rng << 17;
        return s->rng;
}

static inline double sim_rand01(Sim *s) {
        return (double) (sim_rand(s) >> 11) * 0x1.0p-53;
}

static inline bool sim_event_less(const SimEvent *a, const SimEvent *b) {
        return a->t < b->t || (a->t == b->t && a->order < b->order);
}

static inline void sim_push(Sim *s, SimEvent e) {
        size_t i;

        ck_assert_uint_lt(s->n_events, SIM_MAX_EVENTS);
        e.order = s->order++;
        i = s->n_events++;
        s->heap[i] = e;
        while (i > 0 && sim_event_less(&s->heap[i], &s->heap[(i - 1) / 2])) {
                SimEvent tmp = s->heap[i];
                s->heap[i] = s->heap[(i - 1) / 2];
                s->heap[(i - 1) / 2] = tmp;
                i = (i - 1) / 2;
        }
}

static inline SimEvent sim_pop(Sim *s) {
        SimEvent top = s->heap[0];
        size_t i = 0;

        s->heap[0] = s->heap[--s->n_events];
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;

                if (l < s->n_events && sim_event_less(&s->heap[l], &s->heap[m]))
                        m = l;
                if (r < s->n_events && sim_event_less(&s->heap[r], &s->heap[m]))
                        m = r;
                if (m == i)
                        break;
                SimEvent tmp = s->heap[i];
                s->heap[i] = s->heap[m];
                s->heap[m] = tmp;
                i = m;
        }
        return top;
}

/* Puts a datagram on a link; false if the link drops it. */
static inline bool sim_link_send(Sim *s, SimLink *l, size_t len, usec_t *ret_arrival) {
        usec_t start, done;

        l->sent++;
        if (l->cut || (l->loss > 0 && sim_rand01(s) < l->loss)) {
                l->dropped++;
                return false;
        }
        start = sim_max(s->now, l->busy_until);
        if (l->rate > 0) {
                /* 28 bytes of UDP/IPv4 header on the wire, like a real link. */
                done = start + (usec_t) ((len + 28) * 1e6 / l->rate);
                if (start - s->now > (l->queue_limit ?: 50 * USEC_PER_MSEC)) {
                        l->dropped++;
                        return false;
                }
                l->busy_until = done;
        } else
                done = start;
        l->bytes += len;
        *ret_arrival = done + l->delay;
        return true;
}

/* The client's address on path `path` as the server sees it; `gen` changes on NAT rebinding. */
static inline union sockaddr_union sim_addr_gen(int path, unsigned gen) {
        union sockaddr_union a = {};

        a.in.sin_family = AF_INET;
        a.in.sin_port = htons(40000 + path + 100 * gen);
        a.in.sin_addr.s_addr = htonl(0xc0000200 + path); /* 192.0.2.x */
        return a;
}

static inline union sockaddr_union sim_addr(int path) {
        return sim_addr_gen(path, 0);
}

static inline int sim_path_of_addr(const union sockaddr_union *a) {
        return (ntohs(a->in.sin_port) - 40000) % 100;
}

static inline unsigned sim_gen_of_addr(const union sockaddr_union *a) {
        return (ntohs(a->in.sin_port) - 40000) / 100;
}

static inline int sim_send(FluxTunnel *t, FluxPath *path, const uint8_t *buf, size_t len, void *userdata) {
        Sim *s = userdata;
        bool to_server = t == s->client;
        int i = to_server ? (int) (intptr_t) flux_path_get_userdata(path)
                          : sim_path_of_addr(flux_path_get_remote_address(path));
        SimLink *l = to_server ? &s->up[i] : &s->down[i];
        usec_t arrival;

        ck_assert_int_ge(i, 0);
        ck_assert_int_lt(i, s->n_paths);
        if (to_server && (!s->capture_data_only || buf[1] == 1) && len <= sizeof(s->last_up)) {
                memcpy(s->last_up, buf, len);
                s->last_up_len = len;
                s->last_up_path = i;
        }
        /* A datagram to a NAT mapping that no longer exists goes nowhere. */
        if (!to_server && sim_gen_of_addr(flux_path_get_remote_address(path)) != s->nat_gen[i]) {
                s->nat_dropped++;
                return 0;
        }
        if (!sim_link_send(s, l, len, &arrival))
                return 0;
        if (buf[1] == 1)
                l->data_bytes += len;
        uint8_t *copy = malloc(len);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, buf, len);
        sim_push(s, (SimEvent) { .t = arrival, .to_server = to_server, .path = i, .len = len, .data = copy });
        return 0;
}

/* Test packets: IPv4/UDP with a 32-bit counter at offset 28. */
#define SIM_CLIENT_IP 0x0a080002U /* 10.8.0.2 */
#define SIM_SERVER_IP 0x0a080001U

static inline size_t sim_make_ip(uint8_t *b, size_t len, uint32_t src, uint32_t dst, uint32_t counter,
                                 uint16_t sport) {
        ck_assert_uint_ge(len, 32);
        memset(b, 0, len);
        b[0] = 0x45;
        b[2] = (uint8_t) (len >> 8);
        b[3] = (uint8_t) len;
        b[8] = 64;
        b[9] = 17;
        b[12] = (uint8_t) (src >> 24), b[13] = (uint8_t) (src >> 16), b[14] = (uint8_t) (src >> 8), b[15] = (uint8_t) src;
        b[16] = (uint8_t) (dst >> 24), b[17] = (uint8_t) (dst >> 16), b[18] = (uint8_t) (dst >> 8), b[19] = (uint8_t) dst;
        b[20] = (uint8_t) (sport >> 8), b[21] = (uint8_t) sport;
        b[22] = 0x13, b[23] = 0x88;
        memcpy(b + 28, &counter, 4);
        return len;
}

static inline void sim_deliver(FluxTunnel *t, const uint8_t *ip, size_t len, void *userdata) {
        Sim *s = userdata;
        SimSink *k = t == s->server ? &s->at_server : &s->at_client;
        uint32_t c;

        ck_assert_uint_ge(len, 32);
        memcpy(&c, ip + 28, 4);
        if (t == s->server && len >= 40 && ip[20] == SIM_PING_PORT >> 8 && ip[21] == (SIM_PING_PORT & 0xff)) {
                usec_t sent, l;

                memcpy(&sent, ip + 32, sizeof(sent));
                l = s->now - sent;
                s->ping_received++;
                s->ping_sum += l;
                s->ping_max = MAX(s->ping_max, l);
                if (s->ping_min == 0 || l < s->ping_min)
                        s->ping_min = l;
                return;
        }
        if (k->packets > 0 && c < k->last_counter)
                k->out_of_order++;
        k->last_counter = c;
        k->packets++;
        k->bytes += len;
        if (k->last_delivery != 0 && s->now >= k->gap_from && s->now - k->last_delivery > k->max_gap)
                k->max_gap = s->now - k->last_delivery;
        k->last_delivery = s->now;
        if (k->seen && c < k->seen_size && k->seen[c] < 255)
                k->seen[c]++;
        if (s->sent_at && t == s->server && c < s->sent_at_size) {
                usec_t l = s->now - s->sent_at[c];

                k->max_latency = MAX(k->max_latency, l);
                if (k->min_latency == 0 || l < k->min_latency)
                        k->min_latency = l;
        }
        if (s->tcp.enabled && t == (s->tcp.downlink ? s->client : s->server))
                sim_push(s, (SimEvent) { .t = s->now + s->tcp.ack_delay, .ack = true, .counter = c });
}

static inline void sim_tcp_enable(Sim *s, size_t max_packets) {
        s->tcp = (SimTcp) {
                .enabled = true,
                .cwnd = 10,
                .ssthresh = 1e9,
                .ack_delay = 5 * USEC_PER_MSEC,
                .state = calloc(max_packets, 1),
                .state_size = max_packets,
                .last_progress = s->now,
        };
        ck_assert_ptr_nonnull(s->tcp.state);
}

static inline void sim_tcp_loss(Sim *s, uint32_t sent) {
        SimTcp *k = &s->tcp;

        if (k->scan >= k->recover_until) {
                k->cwnd = MAX(k->cwnd / 2, 2.0);
                k->ssthresh = k->cwnd;
                k->recover_until = sent;
        }
}

static inline void sim_tcp_ack(Sim *s, uint32_t c, uint32_t sent) {
        SimTcp *k = &s->tcp;

        ck_assert_uint_lt(c, k->state_size);
        if (k->state[c] != 0)
                return;
        k->state[c] = 1;
        k->acked++;
        k->last_progress = s->now;
        if (c > k->highest_acked)
                k->highest_acked = c;
        if (k->cwnd < k->ssthresh)
                k->cwnd += 1;
        else
                k->cwnd += 1 / k->cwnd;
        for (; k->scan + 3 < k->highest_acked; k->scan++)
                if (k->state[k->scan] == 0) {
                        k->state[k->scan] = 2;
                        k->lost++;
                        sim_tcp_loss(s, sent);
                }
}

static inline uint64_t sim_tcp_inflight(const Sim *s, uint32_t sent) {
        return sent - s->tcp.acked - s->tcp.lost;
}

static inline void sim_tcp_timeout(Sim *s, uint32_t sent) {
        SimTcp *k = &s->tcp;

        if (sim_tcp_inflight(s, sent) == 0 || s->now < k->last_progress + 300 * USEC_PER_MSEC)
                return;
        for (; k->scan < sent; k->scan++)
                if (k->state[k->scan] == 0) {
                        k->state[k->scan] = 2;
                        k->lost++;
                }
        k->ssthresh = MAX(k->cwnd / 2, 2.0);
        k->cwnd = 2;
        k->recover_until = sent;
        k->last_progress = s->now;
}

static inline void sim_state_changed(FluxTunnel *t, FluxPath *p, FluxPathState o, FluxPathState n, void *userdata) {
        Sim *s = userdata;
        int i;

        s->path_state_changes++;
        if (t == s->client) {
                i = (int) (intptr_t) flux_path_get_userdata(p);
                s->client_state_at[i][n] = s->now;
        } else {
                /* Version 2 paths carry the client's id (100 + index); version 1 ones are numbered
                 * by the server itself and are not recorded. */
                i = flux_path_get_id(p) - 100;
                if (i >= 0 && i < SIM_MAX_PATHS)
                        s->server_state_at[i][n] = s->now;
        }
}

static inline void sim_init(Sim *s, int n_paths, uint8_t version, FluxSchedulerKind kind) {
        static const uint8_t secret[32] = { [0 ... 31] = SIM_SECRET_BYTE };
        const FluxTunnelCallbacks cb = {
                .send_datagram = sim_send,
                .deliver_ip = sim_deliver,
                .path_state_changed = sim_state_changed,
        };
        FluxTunnelConfig cc = {
                .role = FLUX_TUNNEL_CLIENT,
                .version = version,
                .session_id = SIM_SESSION_ID,
                .secret = secret,
                .secret_size = sizeof(secret),
                .scheduler = kind,
        };
        FluxTunnelConfig sc = cc;
        union in_addr_union a = { .in.s_addr = htonl(SIM_CLIENT_IP) };

        *s = (Sim) { .now = 1000 * USEC_PER_SEC, .rng = 0x2545f4914f6cdd1dULL, .n_paths = n_paths };
        s->heap = new(SimEvent, SIM_MAX_EVENTS);
        ck_assert_ptr_nonnull(s->heap);
        sc.role = FLUX_TUNNEL_SERVER;
        ck_assert_int_eq(flux_tunnel_new(&cc, &cb, s, s->now, &s->client), 0);
        ck_assert_int_eq(flux_tunnel_new(&sc, &cb, s, s->now, &s->server), 0);
        ck_assert_int_eq(flux_tunnel_add_allowed_source(s->server, AF_INET, &a, 32), 0);
        for (int i = 0; i < n_paths; i++) {
                s->up[i] = s->down[i] = (SimLink) { .delay = 5 * USEC_PER_MSEC };
                ck_assert_int_eq(flux_tunnel_add_path(s->client, s->now, (uint16_t) (100 + i), FLUX_PATH_PRIMARY,
                                                      1.0, (void *) (intptr_t) i, &s->cpath[i]), 0);
        }
}

static inline void sim_done(Sim *s) {
        while (s->n_events > 0)
                free(sim_pop(s).data);
        free(s->heap);
        free(s->at_server.seen);
        free(s->at_client.seen);
        free(s->sent_at);
        free(s->tcp.state);
        flux_tunnel_free(s->client);
        flux_tunnel_free(s->server);
}

/* Traffic generator: client -> server IP packets of `size` bytes at `rate` bytes/s (0 = none). */
typedef struct SimTraffic {
        double rate;
        size_t size;
        usec_t next;
        uint32_t counter;
        bool downlink;          /* server -> client instead */
} SimTraffic;

static inline void sim_traffic_send(Sim *s, SimTraffic *g) {
        uint8_t pkt[2048];
        size_t n;

        if (g->downlink)
                n = sim_make_ip(pkt, g->size, SIM_SERVER_IP, SIM_CLIENT_IP, g->counter, 5000);
        else
                n = sim_make_ip(pkt, g->size, SIM_CLIENT_IP, SIM_SERVER_IP, g->counter, 5000);
        if (s->sent_at && g->counter < s->sent_at_size)
                s->sent_at[g->counter] = s->now;
        g->counter++;
        ck_assert_int_ge(flux_tunnel_send_ip(g->downlink ? s->server : s->client, s->now, pkt, n), 0);
}

static inline void sim_ping_send(Sim *s) {
        uint8_t pkt[SIM_PING_SIZE];
        size_t n = sim_make_ip(pkt, sizeof(pkt), SIM_CLIENT_IP, SIM_SERVER_IP, (uint32_t) s->ping_sent, SIM_PING_PORT);

        memcpy(pkt + 32, &s->now, sizeof(s->now));
        s->ping_sent++;
        ck_assert_int_ge(flux_tunnel_send_ip(s->client, s->now, pkt, n), 0);
}

/* Starts a ping every `interval` (0 stops it) and clears its statistics. */
static inline void sim_ping_start(Sim *s, usec_t interval) {
        s->ping_interval = interval;
        s->ping_next = s->now;
        s->ping_sent = s->ping_received = 0;
        s->ping_sum = s->ping_max = s->ping_min = 0;
}

static inline usec_t sim_ping_mean(const Sim *s) {
        return s->ping_received ? s->ping_sum / s->ping_received : 0;
}

static inline void sim_cut(Sim *s, int path, bool cut) {
        s->up[path].cut = s->down[path].cut = cut;
}

static inline void sim_set_link(Sim *s, int path, double rate, usec_t delay, double loss) {
        s->up[path].rate = s->down[path].rate = rate;
        s->up[path].delay = s->down[path].delay = delay;
        s->up[path].loss = s->down[path].loss = loss;
}

/* Runs the simulation until `until`, generating traffic and ticking both tunnels at their wakeups. */
static inline void sim_run(Sim *s, usec_t until, SimTraffic *g) {
        usec_t last = 0;
        unsigned same = 0;

        for (;;) {
                usec_t t = until, wc, ws;

                /* A tunnel whose wakeup never moves forward would spin here. */
                same = s->now == last ? same + 1 : 0;
                last = s->now;
                ck_assert_uint_lt(same, 100000);

                if (s->n_events > 0)
                        t = MIN(t, s->heap[0].t);
                wc = flux_tunnel_next_wakeup(s->client);
                ws = flux_tunnel_next_wakeup(s->server);
                t = sim_min(t, sim_max(wc, s->now));
                t = sim_min(t, sim_max(ws, s->now));
                if (g && g->rate > 0 && !s->tcp.enabled)
                        t = sim_min(t, sim_max(g->next, s->now));
                if (s->ping_interval != 0)
                        t = sim_min(t, sim_max(s->ping_next, s->now));
                if (g && s->tcp.enabled) {
                        sim_tcp_timeout(s, g->counter);
                        if (sim_tcp_inflight(s, g->counter) < (uint64_t) s->tcp.cwnd)
                                t = s->now;
                        else
                                t = sim_min(t, s->tcp.last_progress + 300 * USEC_PER_MSEC + 1);
                }
                if (t >= until) {
                        s->now = until;
                        return;
                }
                s->now = t;

                if (s->n_events > 0 && s->heap[0].t <= s->now) {
                        SimEvent e = sim_pop(s);
                        union sockaddr_union from = sim_addr_gen(e.path, s->nat_gen[e.path]);

                        if (e.ack) {
                                sim_tcp_ack(s, e.counter, g ? g->counter : 0);
                                continue;
                        }

                        if (e.to_server)
                                flux_tunnel_receive(s->server, s->now, &from, NULL, e.data, e.len);
                        else
                                flux_tunnel_receive(s->client, s->now, NULL, s->cpath[e.path], e.data, e.len);
                        free(e.data);
                        continue;
                }
                if (wc <= s->now)
                        ck_assert_int_ge(flux_tunnel_tick(s->client, s->now), 0);
                if (ws <= s->now)
                        ck_assert_int_ge(flux_tunnel_tick(s->server, s->now), 0);
                if (s->ping_interval != 0 && s->ping_next <= s->now) {
                        sim_ping_send(s);
                        s->ping_next += s->ping_interval;
                }
                if (g && s->tcp.enabled) {
                        if (sim_tcp_inflight(s, g->counter) < (uint64_t) s->tcp.cwnd) {
                                ck_assert_uint_lt(g->counter, s->tcp.state_size);
                                sim_traffic_send(s, g);
                        }
                        continue;
                }
                if (g && g->rate > 0 && g->next <= s->now) {
                        sim_traffic_send(s, g);
                        g->next = sim_max(g->next, s->now - USEC_PER_MSEC) + (usec_t) (g->size * 1e6 / g->rate);
                }
        }
}
