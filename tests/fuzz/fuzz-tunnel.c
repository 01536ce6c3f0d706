/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Fuzzes the tunnel engine on both sides. The input is a small script, so that the fuzzer reaches
 * past authentication: besides raw datagrams it can have the real client seal packets (data,
 * registrations, probes) and then deliver them intact, mutated, truncated, replayed, reordered or
 * from another address, advance the clock, and send downlink traffic back. Byte 0 picks the
 * protocol version and scheduler. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "tunnel.h"

#define QUEUE_MAX 32
#define DGRAM_MAX 2048

typedef struct Dgram {
        uint8_t buf[DGRAM_MAX];
        size_t len;
        int path;
} Dgram;

typedef struct Ctx {
        FluxTunnel *client, *server;
        FluxPath *cpath[2];
        Dgram up[QUEUE_MAX], down[QUEUE_MAX];
        size_t n_up, n_down;
        usec_t now;
        uint64_t delivered;
} Ctx;

static int on_send(FluxTunnel *t, FluxPath *path, const uint8_t *buf, size_t len, void *userdata) {
        Ctx *c = userdata;
        bool up = t == c->client;
        Dgram *q = up ? c->up : c->down;
        size_t *n = up ? &c->n_up : &c->n_down;

        if (len > DGRAM_MAX)
                abort(); /* the engine never produces more than it was given plus overhead */
        if (*n >= QUEUE_MAX) {
                memmove(q, q + 1, (QUEUE_MAX - 1) * sizeof(Dgram));
                (*n)--;
        }
        memcpy(q[*n].buf, buf, len);
        q[*n].len = len;
        q[*n].path = up ? (int) (intptr_t) flux_path_get_userdata(path) : 0;
        (*n)++;
        return 0;
}

static void on_deliver(FluxTunnel *t, const uint8_t *ip, size_t len, void *userdata) {
        Ctx *c = userdata;

        if (len == 0 || len > FLUX_TUNNEL_MAX_IP)
                abort();
        c->delivered += ip[0] + len; /* touch the bytes */
}

static union sockaddr_union addr(unsigned k) {
        union sockaddr_union a = {};

        a.in.sin_family = AF_INET;
        a.in.sin_port = htons(1000 + (k & 3));
        a.in.sin_addr.s_addr = htonl(0x7f000001);
        return a;
}

static size_t take(const uint8_t **data, size_t *size, size_t n) {
        n = MIN(n, *size);
        *data += n;
        *size -= n;
        return n;
}

static uint8_t byte(const uint8_t **data, size_t *size) {
        uint8_t b = *size > 0 ? **data : 0;

        take(data, size, 1);
        return b;
}

static void make_ip(uint8_t *b, size_t len, uint32_t src, uint16_t sport) {
        memset(b, 0x5a, len);
        b[0] = 0x45;
        b[9] = 17;
        b[12] = (uint8_t) (src >> 24), b[13] = (uint8_t) (src >> 16), b[14] = (uint8_t) (src >> 8), b[15] = (uint8_t) src;
        b[20] = (uint8_t) (sport >> 8), b[21] = (uint8_t) sport;
}

static void deliver_up(Ctx *c, size_t i, unsigned from, const Dgram *override) {
        Dgram d = override ? *override : c->up[i];
        union sockaddr_union a = addr(from == 0 ? (unsigned) d.path : from);

        (void) flux_tunnel_receive(c->server, c->now, &a, NULL, d.buf, d.len);
}

static void deliver_down(Ctx *c, size_t i, bool hint) {
        Dgram d = c->down[i];

        (void) flux_tunnel_receive(c->client, c->now, NULL, hint ? c->cpath[0] : NULL, d.buf, d.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t secret[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        const FluxTunnelCallbacks cb = { .send_datagram = on_send, .deliver_ip = on_deliver };
        union in_addr_union allowed = { .in.s_addr = htonl(0x0a080002) };
        _cleanup_(freep) Ctx *c = new0(Ctx, 1);
        FluxTunnelConfig cfg;
        uint8_t mode;

        if (!c)
                return 0;
        mode = byte(&data, &size);
        cfg = (FluxTunnelConfig) {
                .role = FLUX_TUNNEL_CLIENT,
                .version = mode & 1 ? 1 : 2,
                .session_id = 7,
                .secret = secret,
                .secret_size = sizeof(secret),
                .scheduler = (mode >> 1) % _FLUX_SCHEDULER_KIND_MAX,
                .reorder_max_packets = 16,
        };
        c->now = 1000000;
        if (flux_tunnel_new(&cfg, &cb, c, c->now, &c->client) < 0)
                return 0;
        cfg.role = FLUX_TUNNEL_SERVER;
        if (flux_tunnel_new(&cfg, &cb, c, c->now, &c->server) < 0)
                goto finish;
        (void) flux_tunnel_add_allowed_source(c->server, AF_INET, &allowed, 32);
        for (int i = 0; i < 2; i++)
                (void) flux_tunnel_add_path(c->client, c->now, (uint16_t) (i + 1), i ? FLUX_PATH_BACKUP : FLUX_PATH_PRIMARY,
                                            1.0, (void *) (intptr_t) i, &c->cpath[i]);

        while (size > 0) {
                uint8_t op = byte(&data, &size), arg = byte(&data, &size);
                size_t i = c->n_up ? arg % c->n_up : 0;
                uint8_t pkt[1500];
                Dgram d;

                switch (op % 10) {
                case 0: { /* raw datagram to the server */
                        size_t n = MIN((size_t) arg * 4, size);

                        memcpy(d.buf, data, n);
                        d.len = take(&data, &size, n);
                        deliver_up(c, 0, 1 + (arg & 3), &d);
                        break;
                }
                case 1: /* time passes, timers run */
                        c->now += (usec_t) arg * 1000;
                        (void) flux_tunnel_tick(c->client, c->now);
                        (void) flux_tunnel_tick(c->server, c->now);
                        break;
                case 2: /* the client sends an IP packet (source ours or spoofed) */
                        make_ip(pkt, 28 + arg, arg & 0x80 ? 0x0a080003 : 0x0a080002, arg);
                        (void) flux_tunnel_send_ip(c->client, c->now, pkt, 28 + arg);
                        break;
                case 3: /* deliver a queued uplink datagram intact */
                        if (c->n_up)
                                deliver_up(c, i, 0, NULL);
                        break;
                case 4: /* deliver it with one byte changed */
                        if (c->n_up) {
                                d = c->up[i];
                                d.buf[byte(&data, &size) % d.len] ^= byte(&data, &size) | 1;
                                deliver_up(c, 0, 0, &d);
                        }
                        break;
                case 5: /* deliver it truncated */
                        if (c->n_up) {
                                d = c->up[i];
                                d.len = byte(&data, &size) % (d.len + 1);
                                deliver_up(c, 0, 0, &d);
                        }
                        break;
                case 6: /* from another address */
                        if (c->n_up)
                                deliver_up(c, i, 1 + (arg & 3), NULL);
                        break;
                case 7: /* downlink traffic */
                        make_ip(pkt, 40 + arg, 0x01020304, arg);
                        (void) flux_tunnel_send_ip(c->server, c->now, pkt, 40 + arg);
                        break;
                case 8: /* deliver queued downlink datagrams to the client */
                        for (size_t k = 0; k < c->n_down; k++)
                                deliver_down(c, (k + arg) % c->n_down, arg & 1);
                        c->n_down = 0;
                        break;
                case 9: /* control knobs */
                        if (arg & 1)
                                (void) flux_tunnel_rekey(c->client, c->now);
                        if (arg & 2)
                                (void) flux_tunnel_set_scheduler(c->client, (arg >> 2) % _FLUX_SCHEDULER_KIND_MAX);
                        if ((arg & 0x30) == 0x30 && flux_tunnel_get_n_paths(c->server) > 0)
                                flux_tunnel_remove_path(c->server, flux_tunnel_get_path(c->server, 0));
                        break;
                }
                /* Whatever happened, the engine's view stays consistent. */
                if (flux_tunnel_next_wakeup(c->client) < c->now && flux_tunnel_tick(c->client, c->now) >= 0 &&
                    flux_tunnel_next_wakeup(c->client) < c->now)
                        abort();
        }

finish:
        flux_tunnel_free(c->client);
        flux_tunnel_free(c->server);
        return 0;
}
