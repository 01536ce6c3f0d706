/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc-util.h"
#include "client-balance.h"
#include "client-routing.h"
#include "client-uplink.h"
#include "fd-util.h"
#include "log.h"
#include "nft.h"
#include "rtnl.h"

/* Loss and "degraded" look at the last ten probes (ten seconds). */
#define BALANCE_WINDOW 10U
#define BALANCE_WINDOW_MASK ((1U << BALANCE_WINDOW) - 1)

/* Rules that send traffic from an uplink's own address through that uplink's table. */
#define BALANCE_RULE_PRIORITY_SOURCE (FLUXIFY_RULE_PRIORITY_MIN + 200U)

struct Balance {
        Manager *manager;
        sd_event_source *timer;         /* probes, timeouts, rates: once per second */
        bool routes_installed;
        bool nft_installed;
        bool ever_up;
        char *nexthops_key;             /* the installed nexthop set, to skip no-op updates */
};

const char *balance_uplink_state(const Uplink *u) {
        if (!uplink_is_usable(u) || u->probe_fd < 0)
                return "down";
        if (!u->probed)
                return "probing";
        if (!u->healthy)
                return u->ok_streak > 0 ? "probing" : "down";
        /* Answering, but more than one of the last ten probes was lost. */
        return __builtin_popcount(u->history & BALANCE_WINDOW_MASK) > 1 ? "degraded" : "up";
}

void balance_uplink_stats(const Uplink *u, UplinkStats *ret) {
        *ret = (UplinkStats) {
                .rtt = u->rtt,
                .jitter = u->jitter,
                .loss_ppm = u->history_n > 0 ? (uint32_t) (__builtin_popcount(u->history & BALANCE_WINDOW_MASK) *
                                                           1000000ULL / MIN(u->history_n, BALANCE_WINDOW))
                                             : 0,
                .rx_bytes = u->rx_bytes,
                .tx_bytes = u->tx_bytes,
                .rx_rate = u->rx_rate,
                .tx_rate = u->tx_rate,
        };
        if (u->last_rx > 0) {
                usec_t mono = now(CLOCK_MONOTONIC), real = now(CLOCK_REALTIME);
                usec_t age = mono > u->last_rx ? mono - u->last_rx : 0;
                ret->last_rx_realtime = real > age ? real - age : 0;
        }
}

const char *balance_uplink_remote(const Uplink *u, char *buf, size_t size) {
        if (u->probe_fd < 0 || in_addr_to_string(AF_INET, &u->probe_target, buf, size) < 0)
                return "";
        return buf;
}

/* ------------------------------------------------------------------ routing */

/* The multipath /1 routes over the healthy uplinks: primaries, or the backups while no primary is
 * healthy; none at all leaves the original default route in charge. */
static void balance_update_routes(Balance *b) {
        Manager *m = b->manager;
        RtnlRoute halves[2] = {};
        char key[256] = "";
        size_t n = 0;

        for (int prio = CLIENT_PRIORITY_PRIMARY; prio <= CLIENT_PRIORITY_BACKUP && n == 0; prio++)
                for (size_t i = 0; i < m->n_uplinks && n < RTNL_NEXTHOPS_MAX; i++) {
                        Uplink *u = m->uplinks[i];
                        int w = (int) (u->weight + 0.5);
                        char k[32];

                        if (!u->healthy || !u->routed || u->priority != prio)
                                continue;
                        /* Nexthop weights are 1..256. */
                        halves[0].nexthops[n] = (RtnlNexthop) {
                                .ifindex = u->ifindex,
                                .gateway = u->gateway,
                                .weight = (uint16_t) (w < 1 ? 1 : w > 256 ? 256 : w),
                        };
                        snprintf(k, sizeof k, "%d/%u,", u->ifindex, halves[0].nexthops[n].weight);
                        strncat(key, k, sizeof key - strlen(key) - 1);
                        n++;
                }

        if (b->nexthops_key && streq(b->nexthops_key, key))
                return;
        free(b->nexthops_key);
        b->nexthops_key = strdup(key);

        for (int h = 0; h < 2; h++) {
                RtnlRoute *r = &halves[h];

                r->family = AF_INET;
                r->dst_prefixlen = 1;
                r->dst.bytes[0] = h == 0 ? 0x00 : 0x80;
                r->n_nexthops = n;
                if (h == 1)
                        memcpy(r->nexthops, halves[0].nexthops, sizeof r->nexthops);
        }

        if (n == 0 || !m->config.default_route) {
                if (b->routes_installed)
                        for (int h = 0; h < 2; h++)
                                (void) routing_remove_route(m->routing, &halves[h]);
                b->routes_installed = false;
                if (n == 0)
                        log_info("No healthy uplink: the original default route is in charge.");
                return;
        }
        for (int h = 0; h < 2; h++) {
                int r = routing_add_route(m->routing, &halves[h]);
                if (r < 0) {
                        log_warning_errno(r, "Failed to install the multipath default route: %m");
                        free(b->nexthops_key);
                        b->nexthops_key = NULL;
                        return;
                }
        }
        b->routes_installed = true;
        log_info("Default route over %zu uplink(s).", n);
}

/* Per-uplink table (default via its gateway), "fwmark T lookup T" for its probe socket and
 * "from ADDRESS lookup T" so that traffic bound to its address leaves through it. */
static int balance_route_uplink(Balance *b, Uplink *u) {
        Manager *m = b->manager;
        _cleanup_(freep) RtnlAddress *addrs = NULL;
        union in_addr_union gw = {};
        RtnlRoute route;
        RtnlRule rule;
        size_t n = 0;
        int r;

        if (u->routed)
                return 0;
        r = rtnl_gateway_discover(m->rtnl, AF_INET, u->ifindex, &gw);
        if (r < 0)
                return log_debug_errno(r, "Uplink %s has no IPv4 gateway yet.", u->name);

        u->has_address4 = false;
        if (rtnl_address_list(m->rtnl, AF_INET, u->ifindex, &addrs, &n) >= 0)
                for (size_t i = 0; i < n && !u->has_address4; i++)
                        if (addrs[i].scope == RT_SCOPE_UNIVERSE) {
                                u->address4 = addrs[i].address;
                                u->has_address4 = true;
                        }

        u->table = routing_uplink_table(m->profile, u->ifindex);
        route = (RtnlRoute) { .family = AF_INET, .gateway = gw, .oif = u->ifindex, .table = u->table };
        r = routing_add_route(m->routing, &route);
        if (r < 0)
                return log_warning_errno(r, "Failed to add the routing table of uplink %s: %m", u->name);
        rule = (RtnlRule) { .family = AF_INET, .priority = ROUTING_RULE_PRIORITY_MARK, .table = u->table,
                            .fwmark = u->table };
        r = routing_add_rule(m->routing, &rule);
        if (r >= 0 && u->has_address4) {
                rule = (RtnlRule) { .family = AF_INET, .priority = BALANCE_RULE_PRIORITY_SOURCE, .table = u->table,
                                    .src = u->address4, .src_prefixlen = 32 };
                r = routing_add_rule(m->routing, &rule);
        }
        if (r < 0) {
                (void) routing_remove_table(m->routing, u->table);
                return log_warning_errno(r, "Failed to add the policy rules of uplink %s: %m", u->name);
        }
        u->gateway = gw;
        u->routed = true;

        /* The probe target: the server when one is configured (numeric), else the gateway. */
        u->probe_target = gw;
        if (m->server) {
                _cleanup_(freep) char *host = NULL;
                union in_addr_union a;
                uint16_t port;

                if (client_server_split(m->server, &host, &port) >= 0 && in_addr_from_string(AF_INET, host, &a) >= 0)
                        u->probe_target = a;
        }
        return 0;
}

/* ------------------------------------------------------------------ probes */

static uint16_t icmp_checksum(const void *data, size_t len) {
        const uint8_t *p = data;
        uint32_t sum = 0;

        for (size_t i = 0; i + 1 < len; i += 2)
                sum += (uint32_t) (p[i] << 8 | p[i + 1]);
        if (len & 1)
                sum += (uint32_t) p[len - 1] << 8;
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return htons((uint16_t) ~sum);
}

static void probe_result(Balance *b, Uplink *u, bool ok, usec_t rtt) {
        bool was = u->healthy;

        u->probed = true;
        u->history = (u->history << 1) | (ok ? 0 : 1);
        u->history_n = MIN(u->history_n + 1, 32U);
        if (ok) {
                /* RFC 6298 smoothing, as the tunnel's paths do. */
                if (u->rtt == 0) {
                        u->rtt = rtt;
                        u->jitter = rtt / 2;
                } else {
                        usec_t d = rtt > u->rtt ? rtt - u->rtt : u->rtt - rtt;
                        u->jitter = (3 * u->jitter + d) / 4;
                        u->rtt = (7 * u->rtt + rtt) / 8;
                }
                u->ok_streak++;
                u->fail_streak = 0;
                if (u->ok_streak >= BALANCE_UP_AFTER)
                        u->healthy = true;
        } else {
                u->fail_streak++;
                u->ok_streak = 0;
                if (u->fail_streak >= BALANCE_DOWN_AFTER)
                        u->healthy = false;
        }
        if (was != u->healthy) {
                log_info("Uplink %s is %s.", u->name, u->healthy ? "healthy" : "not answering");
                balance_update_routes(b);
        }
        uplink_check_state(u);
}

static int on_probe_reply(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Uplink *u = userdata;
        Balance *b = u->manager->balance;
        uint8_t buf[512];

        for (int k = 0; k < 16; k++) {
                ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                const struct iphdr *ip = (const struct iphdr *) buf;
                const struct icmphdr *icmp;
                size_t hl;
                uint16_t seq;

                if (n < 0)
                        break;
                if ((size_t) n < sizeof(struct iphdr))
                        continue;
                hl = (size_t) ip->ihl * 4;
                if (hl < sizeof(struct iphdr) || (size_t) n < hl + sizeof(struct icmphdr))
                        continue;
                icmp = (const struct icmphdr *) (buf + hl);
                if (icmp->type != ICMP_ECHOREPLY || ntohs(icmp->un.echo.id) != u->probe_id ||
                    ip->saddr != u->probe_target.in.s_addr)
                        continue;
                seq = ntohs(icmp->un.echo.sequence);
                if (u->probe_sent[seq % 32] == 0)
                        continue; /* late, duplicate, or already counted as lost */
                u->last_rx = now(CLOCK_MONOTONIC);
                probe_result(b, u, true, u->last_rx - u->probe_sent[seq % 32]);
                u->probe_sent[seq % 32] = 0;
        }
        return 0;
}

static void probe_close(Uplink *u) {
        u->probe_io = sd_event_source_disable_unref(u->probe_io);
        u->probe_fd = safe_close(u->probe_fd);
        memset(u->probe_sent, 0, sizeof u->probe_sent);
        u->probed = u->healthy = false;
        u->ok_streak = u->fail_streak = 0;
        u->history = u->history_n = 0;
        u->rtt = u->jitter = 0;
}

static int probe_open(Balance *b, Uplink *u) {
        _cleanup_(closep) int fd = -EBADF;
        int r;

        fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, u->name, (socklen_t) strlen(u->name) + 1) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_MARK, &u->table, sizeof u->table) < 0)
                return -errno;
        r = sd_event_add_io(b->manager->event, &u->probe_io, fd, EPOLLIN, on_probe_reply, u);
        if (r < 0)
                return r;
        u->probe_fd = TAKE_FD(fd);
        u->probe_id = (uint16_t) (getpid() ^ (u->ifindex << 8));
        return 0;
}

static void probe_send(Uplink *u, usec_t t) {
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = u->probe_target.in };
        struct {
                struct icmphdr h;
                uint8_t payload[24];
        } pkt = {};

        u->probe_seq++;
        pkt.h.type = ICMP_ECHO;
        pkt.h.un.echo.id = htons(u->probe_id);
        pkt.h.un.echo.sequence = htons(u->probe_seq);
        memcpy(pkt.payload, "fluxify health probe....", sizeof pkt.payload);
        pkt.h.checksum = icmp_checksum(&pkt, sizeof pkt);
        u->probe_sent[u->probe_seq % 32] = t;
        /* A send error (no route, link gone) shows up as a lost probe. */
        (void) sendto(u->probe_fd, &pkt, sizeof pkt, MSG_DONTWAIT, (const struct sockaddr *) &to, sizeof to);
}

static void uplink_read_counters(Uplink *u, usec_t t) {
        uint64_t v[2] = {};
        const char *names[2] = { "rx_bytes", "tx_bytes" };

        for (int i = 0; i < 2; i++) {
                _cleanup_(freep) char *path = NULL, *text = NULL;

                if (asprintf(&path, "/sys/class/net/%s/statistics/%s", u->name, names[i]) < 0 ||
                    read_full_file(path, 64, &text, NULL) < 0)
                        return;
                v[i] = strtoull(text, NULL, 10);
        }
        if (u->bytes_at > 0 && t > u->bytes_at) {
                usec_t dt = t - u->bytes_at;
                u->rx_rate = (u->rx_rate + (v[0] - MIN(v[0], u->rx_bytes)) * USEC_PER_SEC / dt) / 2;
                u->tx_rate = (u->tx_rate + (v[1] - MIN(v[1], u->tx_bytes)) * USEC_PER_SEC / dt) / 2;
        }
        u->rx_bytes = v[0];
        u->tx_bytes = v[1];
        u->bytes_at = t;
}

static void balance_update_state(Balance *b) {
        Manager *m = b->manager;
        bool any = false;

        for (size_t i = 0; i < m->n_uplinks; i++)
                any = any || m->uplinks[i]->healthy;
        if (any) {
                b->ever_up = true;
                manager_set_error(m, "%s", "");
                manager_set_state(m, CLIENT_STATE_CONNECTED);
        } else if (b->ever_up) {
                manager_set_error(m, "No uplink answers its health probes.");
                manager_set_state(m, CLIENT_STATE_RECONNECTING);
        }
        manager_update_status(m);
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        Balance *b = userdata;
        Manager *m = b->manager;
        usec_t t = now(CLOCK_MONOTONIC);

        for (size_t i = 0; i < m->n_uplinks; i++) {
                Uplink *u = m->uplinks[i];

                uplink_read_counters(u, t);
                if (!u->routed && uplink_is_usable(u))
                        (void) balance_add_uplink(b, u); /* a gateway may have appeared */
                if (u->probe_fd < 0)
                        continue;
                /* Expire unanswered probes first, then send the next one. */
                for (size_t k = 0; k < ELEMENTSOF(u->probe_sent); k++)
                        if (u->probe_sent[k] > 0 && t - u->probe_sent[k] >= BALANCE_PROBE_TIMEOUT_USEC) {
                                u->probe_sent[k] = 0;
                                probe_result(b, u, false, 0);
                        }
                probe_send(u, t);
        }
        balance_update_state(b);
        (void) sd_event_source_set_time_relative(es, BALANCE_PROBE_INTERVAL_USEC);
        return 0;
}

/* ------------------------------------------------------------------ lifecycle */

int balance_add_uplink(Balance *b, Uplink *u) {
        int r;

        if (!uplink_is_usable(u) || u->probe_fd >= 0)
                return 0;
        r = balance_route_uplink(b, u);
        if (r < 0)
                return r;
        r = probe_open(b, u);
        if (r < 0) {
                balance_remove_uplink(b, u);
                return log_warning_errno(r, "Failed to open the health probe socket on %s: %m", u->name);
        }
        char t[INET_ADDRSTRLEN] = "";
        (void) in_addr_to_string(AF_INET, &u->probe_target, t, sizeof t);
        log_info("Uplink %s joins load balancing (probing %s).", u->name, t);
        probe_send(u, now(CLOCK_MONOTONIC));
        uplink_mark_changed(u, UPLINK_PROP_LOCAL_ADDRESS | UPLINK_PROP_REMOTE_ADDRESS);
        uplink_check_state(u);
        return 0;
}

void balance_remove_uplink(Balance *b, Uplink *u) {
        bool was = u->healthy;

        probe_close(u);
        if (u->routed) {
                (void) routing_remove_table(b->manager->routing, u->table);
                u->routed = false;
        }
        if (was)
                balance_update_routes(b);
        uplink_mark_changed(u, UPLINK_PROP_LOCAL_ADDRESS | UPLINK_PROP_REMOTE_ADDRESS);
        uplink_check_state(u);
}

void balance_uplink_changed(Balance *b, Uplink *u) {
        /* Index, addresses or gateway may have changed: start this uplink over. */
        balance_remove_uplink(b, u);
        (void) balance_add_uplink(b, u);
        balance_update_state(b);
}

static void balance_nft_apply(Balance *b) {
        Manager *m = b->manager;
        NftClientConfig c = {
                .profile = m->profile,
                .masquerade_ifnames = m->interfaces,
        };
        _cleanup_(freep) char *err = NULL;
        int r;

        r = nft_client_table_apply(&c, &err);
        if (r < 0)
                log_warning_errno(r, "Failed to set up masquerading per uplink (nftables), continuing without: %s",
                                  err ?: strerror(-r));
        else
                b->nft_installed = true;
}

int balance_start(Manager *m) {
        _cleanup_(balance_freep) Balance *b = NULL;
        int r;

        b = new0(Balance, 1);
        if (!b)
                return -ENOMEM;
        r = sd_event_add_time_relative(m->event, &b->timer, CLOCK_MONOTONIC, BALANCE_PROBE_INTERVAL_USEC,
                                       50 * USEC_PER_MSEC, on_timer, b);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(b->timer, SD_EVENT_ON);
        b->manager = m;
        m->balance = TAKE_PTR(b);

        balance_nft_apply(m->balance);
        for (size_t i = 0; i < m->n_uplinks; i++)
                (void) balance_add_uplink(m->balance, m->uplinks[i]);
        manager_update_status(m);
        return 0;
}

Balance *balance_free(Balance *b) {
        Manager *m;

        if (!b)
                return NULL;
        m = b->manager;
        b->timer = sd_event_source_disable_unref(b->timer);
        if (m) {
                RtnlRoute halves[2] = {};

                for (size_t i = 0; i < m->n_uplinks; i++) {
                        probe_close(m->uplinks[i]);
                        if (m->uplinks[i]->routed) {
                                (void) routing_remove_table(m->routing, m->uplinks[i]->table);
                                m->uplinks[i]->routed = false;
                        }
                }
                if (b->routes_installed)
                        for (int h = 0; h < 2; h++) {
                                halves[h] = (RtnlRoute) { .family = AF_INET, .dst_prefixlen = 1 };
                                halves[h].dst.bytes[0] = h == 0 ? 0x00 : 0x80;
                                (void) routing_remove_route(m->routing, &halves[h]);
                        }
                if (b->nft_installed) {
                        _cleanup_(freep) char *name = NULL;
                        if (nft_client_table_name(m->profile, &name) >= 0)
                                (void) nft_table_delete("inet", name, NULL);
                }
                if (m->balance == b)
                        m->balance = NULL;
        }
        free(b->nexthops_key);
        return mfree(b);
}
