/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <linux/if_tun.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "alloc-util.h"
#include "client-balance.h"
#include "client-resume.h"
#include "client-routing.h"
#include "client-session.h"
#include "client-uplink.h"
#include "conf-parser.h"
#include "control.h"
#include "fd-util.h"
#include "log.h"
#include "nft.h"
#include "pki.h"
#include "rtnl.h"
#include "tun.h"
#include "tunnel.h"
#include "random-util.h"

/* Priorities: control (bus, netlink, TLS) before the data plane, so a loaded tunnel never starves
 * D-Bus (STYLE.md "Event loop"). */
#define SESSION_DATA_PRIORITY (SD_EVENT_PRIORITY_NORMAL + 10)
#define SESSION_BATCH 64U
/* All paths down for this long: the server is gone or restarted; set up control again. */
#define SESSION_ALL_DOWN_GRACE_USEC (2 * USEC_PER_SEC)
#define SESSION_SOCKET_BUFFER (4 * 1024 * 1024)
/* Happy eyeballs (RFC 8305 §5): the next uplink joins the race this long after the previous one
 * unless that one already failed. Starting all at once would let several attempts each create a
 * session on the server, the later ones replacing the earlier. */
#define SESSION_RACE_STAGGER_USEC (300 * USEC_PER_MSEC)

typedef struct ServerLookup ServerLookup;

struct Session {
        Manager *manager;
        PkiBundle *bundle;
        char *server_host;              /* for the certificate name check */
        uint16_t control_port;
        union sockaddr_union control_addr;
        int family;                     /* of the server address; AF_UNSPEC until resolved */
        ServerLookup *lookup;           /* name lookup in flight */

        unsigned protocol;              /* requested (config) */
        bool has_resume;
        uint32_t resume_id;
        uint8_t resume_token[CONTROL_TOKEN_SIZE];

        ControlClient *control;         /* established control connection (v2) */
        Uplink *control_uplink;         /* the uplink it runs over */
        unsigned n_attempts;            /* control attempts in flight (uplink->control) */
        sd_event_source *retry;         /* back-off timer */
        sd_event_source *stagger;       /* starts the next uplink's attempt while racing */
        bool racing;
        usec_t retry_delay;
        sd_event_source *all_down;      /* grace timer when every path is down */
        sd_event_source *fail_defer;    /* session_fail() outside a control callback */
        int fail_error;
        char *fail_message;

        /* Established session. */
        bool established;
        SessionInfo info;
        AddressLease lease;
        union sockaddr_union data_addr; /* server address + UDP port */
        uint16_t mtu;

        int tun_fd;
        int tun_ifindex;
        char tun_name[IFNAMSIZ];
        sd_event_source *tun_io;
        bool tun_vnet;                  /* IFF_VNET_HDR with TSO/CSUM offload: reads are split */
        bool routes_installed;
        bool nft_installed;             /* table inet fluxify_client_<profile> */

        FluxTunnel *tunnel;
        sd_event_source *tick;
        bool batching;                  /* inside a TUN batch: send_datagram() queues for sendmmsg */
        uint8_t *rx_bufs;               /* SESSION_BATCH receive slots */
        size_t rx_slot;
        uint8_t *tun_buf;
        size_t tun_buf_size;
        uint64_t rx_base, tx_base;      /* counters of earlier tunnels of this session */

        /* Routes the server pushed, as installed (through m->routing: tagged and journaled); all
         * point into the TUN, so they go with it (routing_remove_oif()). */
        RtnlRoute *pushed;
        size_t n_pushed;
};

static void session_schedule_retry(Session *s, const char *why);
static int session_start_lookup(Session *s);
static int session_start_attempts(Session *s);
static void uplink_data_stop(Session *s, Uplink *u);
static int uplink_data_start(Session *s, Uplink *u);

bool session_is_established(const Session *s) {
        return s && s->established;
}

const SessionInfo *session_get_info(const Session *s) {
        return &s->info;
}

uint64_t session_rx_bytes(const Session *s) {
        return s->rx_base + (s->tunnel ? flux_tunnel_get_stats(s->tunnel)->rx_bytes : 0);
}

uint64_t session_tx_bytes(const Session *s) {
        return s->tx_base + (s->tunnel ? flux_tunnel_get_stats(s->tunnel)->tx_bytes : 0);
}

const char *uplink_state_string(const Uplink *u) {
        if (u->manager && u->manager->balance)
                return balance_uplink_state(u);
        if (!uplink_is_usable(u))
                return "down";
        if (!u->path)
                return "probing";
        return flux_path_state_to_string(flux_path_get_state(u->path)) ?: "down";
}

void uplink_get_stats(const Uplink *u, UplinkStats *ret) {
        FluxPath *p = u->path;
        usec_t last;

        if (u->manager && u->manager->balance) {
                balance_uplink_stats(u, ret);
                return;
        }
        *ret = (UplinkStats) {};
        if (!p)
                return;
        last = flux_path_get_last_rx(p);
        *ret = (UplinkStats) {
                .rtt = flux_path_get_rtt(p),
                .jitter = flux_path_get_jitter(p),
                .loss_ppm = flux_path_get_loss_ppm(p),
                .rx_bytes = flux_path_get_rx_bytes(p),
                .tx_bytes = flux_path_get_tx_bytes(p),
                .rx_rate = flux_path_get_rx_rate(p),
                .tx_rate = flux_path_get_tx_rate(p),
        };
        /* The engine keeps CLOCK_MONOTONIC; the bus speaks CLOCK_REALTIME. */
        if (last > 0) {
                usec_t mono = now(CLOCK_MONOTONIC), real = now(CLOCK_REALTIME);
                usec_t age = mono > last ? mono - last : 0;
                ret->last_rx_realtime = real > age ? real - age : 0;
        }
}

const char *uplink_remote_address(const Uplink *u, char *buf, size_t size) {
        Session *s = u->manager ? u->manager->session : NULL;

        if (u->manager && u->manager->balance)
                return balance_uplink_remote(u, buf, size);
        if (!s || !s->established || u->fd < 0 || sockaddr_to_string(&s->data_addr, buf, size) < 0)
                return "";
        return buf;
}

/* ------------------------------------------------------------------ routing per uplink */

/* Does one of the uplink's own prefixes contain the server (same subnet: no gateway needed)? */
static bool uplink_server_on_link(Session *s, Uplink *u, const union in_addr_union *server) {
        _cleanup_(freep) RtnlAddress *addrs = NULL;
        size_t n = 0;

        if (rtnl_address_list(s->manager->rtnl, s->family, u->ifindex, &addrs, &n) < 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                union in_addr_union prefix = addrs[i].address;

                if (in_addr_mask(s->family, &prefix, addrs[i].prefixlen) >= 0 &&
                    in_addr_prefix_covers(s->family, &prefix, addrs[i].prefixlen, server))
                        return true;
        }
        return false;
}

/* The gateway through which the uplink reaches the server: the uplink's default route in the main
 * table (as DHCP/NetworkManager set it), or none when the server is on-link. -ENETUNREACH when
 * the uplink has no route yet: a route event brings us back (session_uplink_routes_changed()).
 * A plain "route get … oif X" cannot tell: the kernel then assumes on-link. */
static int uplink_find_gateway(Session *s, Uplink *u, union in_addr_union *ret) {
        union in_addr_union server = {};

        if (s->family == AF_INET)
                server.in = s->control_addr.in.sin_addr;
        else
                server.in6 = s->control_addr.in6.sin6_addr;

        if (rtnl_gateway_discover(s->manager->rtnl, s->family, u->ifindex, ret) >= 0)
                return 0;
        if (uplink_server_on_link(s, u, &server)) {
                *ret = (union in_addr_union) {};
                return 0;
        }
        return -ENETUNREACH;
}

/* Table T (default via the uplink's gateway) and rule "fwmark T lookup T": sockets marked T leave
 * through this uplink even though the main table's /1 routes point into the tunnel. */
static int uplink_route_install(Session *s, Uplink *u) {
        Manager *m = s->manager;
        union in_addr_union gw;
        RtnlRoute route;
        RtnlRule rule;
        int r;

        if (u->routed)
                return 0;
        r = uplink_find_gateway(s, u, &gw);
        if (r < 0)
                return log_debug_errno(r, "Uplink %s has no route towards the server yet.", u->name);
        u->table = routing_uplink_table(m->profile, u->ifindex);

        route = (RtnlRoute) {
                .family = s->family,
                .gateway = gw,
                .oif = u->ifindex,
                .table = u->table,
        };
        r = routing_add_route(m->routing, &route);
        if (r < 0)
                return log_warning_errno(r, "Failed to add the routing table of uplink %s: %m", u->name);
        rule = (RtnlRule) {
                .family = s->family,
                .priority = ROUTING_RULE_PRIORITY_MARK,
                .table = u->table,
                .fwmark = u->table,
        };
        r = routing_add_rule(m->routing, &rule);
        if (r < 0) {
                (void) routing_remove_table(m->routing, u->table);
                return log_warning_errno(r, "Failed to add the policy rule of uplink %s: %m", u->name);
        }
        u->gateway = gw;
        u->routed = true;
        return 0;
}

static void uplink_route_remove(Session *s, Uplink *u) {
        if (!u->routed)
                return;
        (void) routing_remove_table(s->manager->routing, u->table);
        u->routed = false;
}

/* ------------------------------------------------------------------ control */

static void control_established(ControlClient *c, const ControlSession *cs, void *userdata);
static void control_closed(ControlClient *c, int error, const char *message, void *userdata);
static void session_apply_push(Session *s, char *const *routes, char *const *dns);

static void control_message(ControlClient *c, const ControlMsg *msg, void *userdata) {
        Uplink *u = userdata;
        Session *s = u->manager->session;

        /* Rekey notices are informational: the data plane follows the epoch byte. */
        if (msg->type == CONTROL_MSG_PUSH && s && c == s->control)
                session_apply_push(s, msg->push.routes, msg->push.dns);
}

static const ControlClientCallbacks control_callbacks = {
        .established = control_established,
        .message = control_message,
        .closed = control_closed,
};

/* What the session holds of the data plane: only a running tunnel has the session's keys. */
static SessionKeys session_keys(const Session *s) {
        return (SessionKeys) {
                .has_tunnel = s->established && s->tunnel,
                .session_id = s->info.id,
        };
}

static void uplink_control_stop(Session *s, Uplink *u) {
        if (!u->control)
                return;
        u->control = control_client_free(u->control);
        assert(s->n_attempts > 0);
        s->n_attempts--;
}

static int uplink_control_start(Session *s, Uplink *u) {
        SessionKeys keys = session_keys(s);
        ControlClientConfig cfg = {
                .bundle = s->bundle,
                .server_name = s->server_host,
                .remote = s->control_addr,
                .bind_ifname = u->name,
                .fwmark = u->table,
                .protocol = s->protocol,
                /* The server keeps the data keys across a resume: without them, a fresh session. */
                .resume = session_may_resume(&keys, s->has_resume, s->resume_id),
                .resume_session_id = s->resume_id,
                /* The server uses the same scheduler toward us (docs/protocol.md "request"). */
                .scheduler = flux_scheduler_kind_to_string((FluxSchedulerKind) s->manager->scheduler),
        };
        int r;

        if (u->control || !uplink_is_usable(u))
                return 0;
        if (s->has_resume && !cfg.resume) {
                log_info("No data keys for session %u any more; asking for a new session.", s->resume_id);
                s->has_resume = false;
        }
        r = uplink_route_install(s, u);
        if (r < 0)
                return r;
        memcpy(cfg.resume_token, s->resume_token, sizeof cfg.resume_token);
        r = control_client_new(s->manager->event, &cfg, &control_callbacks, u, &u->control);
        explicit_bzero(cfg.resume_token, sizeof cfg.resume_token);
        if (r < 0)
                return log_warning_errno(r, "Failed to start a control connection over %s: %m", u->name);
        s->n_attempts++;
        log_debug("Control attempt over %s started.", u->name);
        return 0;
}

static int on_stagger(sd_event_source *es, uint64_t usec, void *userdata);

/* Starts the next attempt of the race: primary uplinks first, then backups, each uplink once per
 * race. Returns true if one was started. */
static bool session_race_next(Session *s) {
        Manager *m = s->manager;

        for (int prio = CLIENT_PRIORITY_PRIMARY; prio <= CLIENT_PRIORITY_BACKUP; prio++)
                for (size_t i = 0; i < m->n_uplinks; i++) {
                        Uplink *u = m->uplinks[i];

                        if (u->raced || u->control || u->priority != prio || !uplink_is_usable(u))
                                continue;
                        u->raced = true;
                        if (uplink_control_start(s, u) < 0)
                                continue;
                        s->stagger = sd_event_source_disable_unref(s->stagger);
                        (void) sd_event_add_time_relative(m->event, &s->stagger, CLOCK_MONOTONIC,
                                                          SESSION_RACE_STAGGER_USEC, 10 * USEC_PER_MSEC, on_stagger, s);
                        return true;
                }
        return false;
}

static int on_stagger(sd_event_source *es, uint64_t usec, void *userdata) {
        Session *s = userdata;

        s->stagger = sd_event_source_disable_unref(s->stagger);
        if (s->racing)
                (void) session_race_next(s);
        return 0;
}

/* Race the control connection over the usable uplinks: the first to complete wins, and a dead
 * uplink only costs the stagger delay. */
static int session_start_attempts(Session *s) {
        Manager *m = s->manager;

        if (s->family == AF_UNSPEC) {
                /* No address yet (a name): look it up first, the lookup starts the race. */
                if (!s->lookup && session_start_lookup(s) < 0)
                        session_schedule_retry(s, "server name lookup failed to start");
                return 0;
        }

        for (size_t i = 0; i < m->n_uplinks; i++)
                m->uplinks[i]->raced = false;
        s->racing = true;
        if (!session_race_next(s) && s->n_attempts == 0) {
                s->racing = false;
                manager_set_error(m, "No usable uplink: none of %zu interfaces has a carrier and an address.",
                                  m->n_uplinks);
                session_schedule_retry(s, "no usable uplink");
                return -ENETUNREACH;
        }
        return 0;
}

static int on_retry(sd_event_source *es, uint64_t usec, void *userdata) {
        Session *s = userdata;

        s->retry = sd_event_source_disable_unref(s->retry);
        if (s->control || s->n_attempts > 0 || s->lookup)
                return 0;
        if (s->family == AF_UNSPEC) {
                if (session_start_lookup(s) < 0)
                        session_schedule_retry(s, "server name lookup failed to start");
                return 0;
        }
        (void) session_start_attempts(s);
        return 0;
}

static void session_schedule_retry(Session *s, const char *why) {
        Manager *m = s->manager;
        char t[32];
        int r;

        if (s->retry || m->stopping)
                return;
        s->retry_delay = s->retry_delay == 0 ? SESSION_RETRY_MIN_USEC : MIN(s->retry_delay * 2, SESSION_RETRY_MAX_USEC);
        manager_set_state(m, s->established || m->state == CLIENT_STATE_RECONNECTING ? CLIENT_STATE_RECONNECTING
                                                                                    : CLIENT_STATE_CONNECTING);
        log_info("Retrying in %s (%s).", format_timespan(t, sizeof t, s->retry_delay), why);
        r = sd_event_add_time_relative(m->event, &s->retry, CLOCK_BOOTTIME, s->retry_delay, 10 * USEC_PER_MSEC,
                                       on_retry, s);
        if (r < 0)
                log_error_errno(r, "Failed to arm the retry timer: %m");
}

/* ------------------------------------------------------------------ data plane */

static int flush_batch(Uplink *u) {
        return uplink_flush_batch(u);
}

static int send_datagram(FluxTunnel *t, FluxPath *path, const uint8_t *buf, size_t len, void *userdata) {
        Session *s = userdata;
        Uplink *u = flux_path_get_userdata(path);

        if (!u || u->fd < 0)
                return -ENOTCONN;
        if (s->batching && u->batch_buf && len <= u->batch_slot) {
                memcpy(u->batch_buf + u->n_batch * u->batch_slot, buf, len);
                u->batch_len[u->n_batch++] = len;
                if (u->n_batch == UPLINK_BATCH_MAX)
                        return flush_batch(u);
                return 0;
        }
        if (send(u->fd, buf, len, MSG_DONTWAIT) < 0)
                return -errno;
        return 0;
}

static void deliver_ip(FluxTunnel *t, const uint8_t *ip, size_t len, void *userdata) {
        Session *s = userdata;

        /* A full TUN queue drops the packet, as a router would. */
        if (s->tun_vnet) {
                static const uint8_t none[TUN_VNET_HDR_SIZE]; /* no offload, checksum complete */
                struct iovec iov[2] = {
                        { .iov_base = (void *) none, .iov_len = sizeof(none) },
                        { .iov_base = (void *) ip, .iov_len = len },
                };
                (void) !writev(s->tun_fd, iov, 2);
        } else
                (void) !write(s->tun_fd, ip, len);
}

static int on_all_down(sd_event_source *es, uint64_t usec, void *userdata);

static bool session_any_path_up(Session *s) {
        for (size_t i = 0; i < s->manager->n_uplinks; i++) {
                Uplink *u = s->manager->uplinks[i];
                if (u->path && flux_path_get_state(u->path) != FLUX_PATH_DOWN &&
                    flux_path_get_state(u->path) != FLUX_PATH_PROBING)
                        return true;
        }
        return false;
}

static void session_check_paths(Session *s) {
        Manager *m = s->manager;

        if (!s->established)
                return;
        if (session_any_path_up(s)) {
                s->all_down = sd_event_source_disable_unref(s->all_down);
                s->retry_delay = 0;
                if (m->state == CLIENT_STATE_RECONNECTING && (s->control || s->protocol == CONTROL_PROTOCOL_V1))
                        manager_set_state(m, CLIENT_STATE_CONNECTED);
                return;
        }
        if (!s->all_down && !s->retry && s->n_attempts == 0)
                (void) sd_event_add_time_relative(m->event, &s->all_down, CLOCK_MONOTONIC, SESSION_ALL_DOWN_GRACE_USEC,
                                                  50 * USEC_PER_MSEC, on_all_down, s);
}

static void path_state_changed(FluxTunnel *t, FluxPath *path, FluxPathState old_state, FluxPathState new_state,
                               void *userdata) {
        Session *s = userdata;
        Uplink *u = flux_path_get_userdata(path);

        if (u) {
                log_info("Path over %s: %s → %s", u->name, strna(flux_path_state_to_string(old_state)),
                         strna(flux_path_state_to_string(new_state)));
                uplink_check_state(u);
        }
        session_check_paths(s);
        manager_update_status(s->manager);
}

static int tunnel_random_bytes(uint8_t *buf, size_t len, void *userdata) {
        return random_bytes(buf, len);
}

static const FluxTunnelCallbacks tunnel_callbacks = {
        .send_datagram = send_datagram,
        .deliver_ip = deliver_ip,
        .path_state_changed = path_state_changed,
        .random_bytes = tunnel_random_bytes,
};

static void session_rearm_tick(Session *s) {
        usec_t next;

        if (!s->tunnel || !s->tick)
                return;
        next = flux_tunnel_next_wakeup(s->tunnel);
        if (next == USEC_INFINITY) {
                (void) sd_event_source_set_enabled(s->tick, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(s->tick, next);
        (void) sd_event_source_set_enabled(s->tick, SD_EVENT_ONESHOT);
}

static void session_flush_all(Session *s) {
        for (size_t i = 0; i < s->manager->n_uplinks; i++)
                (void) flush_batch(s->manager->uplinks[i]);
}

static int on_tick(sd_event_source *es, uint64_t usec, void *userdata) {
        Session *s = userdata;

        s->batching = true;
        (void) flux_tunnel_tick(s->tunnel, now(CLOCK_MONOTONIC));
        s->batching = false;
        session_flush_all(s);
        session_rearm_tick(s);
        return 0;
}

static int on_uplink_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Uplink *u = userdata;
        Session *s = u->manager->session;
        struct mmsghdr msgs[SESSION_BATCH];
        struct iovec iov[SESSION_BATCH];
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } cm[SESSION_BATCH];
        /* With UDP_GRO, fewer but 64 KiB slots: a slot holds a run of datagrams. */
        size_t n_slots = u->gro ? UPLINK_GRO_SLOTS : SESSION_BATCH;
        size_t slot = u->gro ? UPLINK_GRO_SLOT_SIZE : s->rx_slot;
        uint8_t *bufs = u->gro ? u->gro_buf : s->rx_bufs;
        usec_t t;
        int n;

        for (size_t i = 0; i < n_slots; i++) {
                iov[i] = (struct iovec) { .iov_base = bufs + i * slot, .iov_len = slot };
                msgs[i] = (struct mmsghdr) { .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1,
                                                          .msg_control = u->gro ? cm[i].buf : NULL,
                                                          .msg_controllen = u->gro ? sizeof(cm[i].buf) : 0 } };
        }
        n = recvmmsg(fd, msgs, (unsigned) n_slots, MSG_DONTWAIT, NULL);
        if (n <= 0)
                return 0; /* EAGAIN, or an ICMP error reported on the connected socket: probes notice */

        t = now(CLOCK_MONOTONIC);
        s->batching = true;
        for (int i = 0; i < n && u->path; i++) {
                size_t len = msgs[i].msg_len, seg = u->gro ? uplink_gro_segment(&msgs[i].msg_hdr) : 0;

                if (seg == 0 || seg > len)
                        seg = len;
                /* A GRO run: equal-size datagrams, the last possibly shorter. */
                for (size_t off = 0; off < len && u->path; off += seg)
                        (void) flux_tunnel_receive(s->tunnel, t, &s->data_addr, u->path, bufs + (size_t) i * slot + off,
                                                   MIN(seg, len - off));
        }
        s->batching = false;
        session_flush_all(s);
        session_rearm_tick(s);
        return 0;
}

typedef struct TunBatch {
        Session *session;
        usec_t now;
} TunBatch;

static void tun_packet(const uint8_t *ip, size_t len, void *userdata) {
        TunBatch *b = userdata;

        (void) flux_tunnel_send_ip(b->session->tunnel, b->now, ip, len);
}

static int on_tun_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Session *s = userdata;
        usec_t t = now(CLOCK_MONOTONIC);
        TunBatch b = { .session = s, .now = t };

        s->batching = true;
        for (unsigned i = 0; i < SESSION_BATCH; i++) {
                ssize_t k = read(fd, s->tun_buf, s->tun_buf_size);
                if (k <= 0)
                        break;
                if (s->tun_vnet)
                        /* A TCP super-packet is cut into segments here (TSO); malformed ones dropped. */
                        (void) tun_vnet_split(s->tun_buf, (size_t) k, tun_packet, &b);
                else
                        (void) flux_tunnel_send_ip(s->tunnel, t, s->tun_buf, (size_t) k);
        }
        s->batching = false;
        session_flush_all(s);
        session_rearm_tick(s);
        return 0;
}

static int uplink_socket_open(Session *s, Uplink *u) {
        _cleanup_(closep) int fd = -EBADF;
        socklen_t len = sizeof(u->local);
        int buf = SESSION_SOCKET_BUFFER, r;

        fd = socket(s->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, u->name, (socklen_t) strlen(u->name) + 1) < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_MARK, &u->table, sizeof(u->table)) < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        /* Runs of datagrams from the server (its UDP GSO sends) arrive as one (on_uplink_io()). */
        uplink_enable_gro(u, fd);
        if (connect(fd, &s->data_addr.sa, sockaddr_len(&s->data_addr)) < 0)
                return -errno;
        if (getsockname(fd, &u->local.sa, &len) < 0)
                return -errno;

        r = sd_event_add_io(s->manager->event, &u->io, fd, EPOLLIN, on_uplink_io, u);
        if (r < 0)
                return r;
        (void) sd_event_source_set_priority(u->io, SESSION_DATA_PRIORITY);
        (void) sd_event_source_set_description(u->io, "uplink-udp");
        u->fd = TAKE_FD(fd);
        return 0;
}

/* Socket + path for one uplink in an established session. */
static int uplink_data_start(Session *s, Uplink *u) {
        uint16_t id;
        int r;

        if (!s->established || u->path || !uplink_is_usable(u))
                return 0;
        r = uplink_route_install(s, u);
        if (r < 0)
                return r;
        if (!u->batch_buf) {
                u->batch_slot = s->mtu + FLUX_TUNNEL_OVERHEAD + 64;
                u->batch_buf = malloc(UPLINK_BATCH_MAX * u->batch_slot);
                if (!u->batch_buf)
                        return -ENOMEM;
        }
        r = uplink_socket_open(s, u);
        if (r < 0) {
                uplink_data_stop(s, u);
                return log_warning_errno(r, "Failed to open the data socket on %s: %m", u->name);
        }
        /* Path ids: the interface index, unique within the tunnel; bumped on (rare) collisions. */
        for (id = (uint16_t) u->ifindex;; id++)
                if (!flux_tunnel_find_path(s->tunnel, id))
                        break;
        r = flux_tunnel_add_path(s->tunnel, now(CLOCK_MONOTONIC), id,
                                 u->priority == CLIENT_PRIORITY_BACKUP ? FLUX_PATH_BACKUP : FLUX_PATH_PRIMARY, u->weight,
                                 u, &u->path);
        if (r < 0) {
                uplink_data_stop(s, u);
                return log_warning_errno(r, "Failed to add a path over %s: %m", u->name);
        }
        uplink_mark_changed(u, UPLINK_PROP_LOCAL_ADDRESS | UPLINK_PROP_REMOTE_ADDRESS);
        uplink_check_state(u);
        session_rearm_tick(s);
        log_info("Path over %s added (local %s).", u->name, "socket bound");
        return 0;
}

static void uplink_data_stop(Session *s, Uplink *u) {
        if (u->path && s->tunnel)
                flux_tunnel_remove_path(s->tunnel, u->path);
        u->path = NULL;
        u->io = sd_event_source_disable_unref(u->io);
        u->fd = safe_close(u->fd);
        u->n_batch = 0;
        if (u->local.sa.sa_family != AF_UNSPEC) {
                u->local = (union sockaddr_union) {};
                uplink_mark_changed(u, UPLINK_PROP_LOCAL_ADDRESS | UPLINK_PROP_REMOTE_ADDRESS);
        }
        uplink_check_state(u);
}

static int tun_setup(Session *s) {
        Manager *m = s->manager;
        const char *name = strlen(m->profile) <= IFNAMSIZ - 5 ? NULL : "fluxc%d";
        char want[IFNAMSIZ];
        int r;

        if (!name) {
                snprintf(want, sizeof want, "flx-%s", m->profile);
                name = want;
        }
        /* TSO and checksum offload on the TUN: the stack hands over 64 KiB TCP super-packets,
         * cut into segments in on_tun_io(); a plain TUN if the kernel refuses. */
        r = tun_open(name, TUN_FLAG_VNET_HDR, &s->tun_fd, s->tun_name, &s->tun_ifindex);
        if (r >= 0) {
                s->tun_vnet = true;
                if (tun_set_offload(s->tun_fd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, TUN_VNET_HDR_SIZE) < 0)
                        log_debug("No TSO on %s, reading plain packets with a vnet header.", s->tun_name);
        } else {
                s->tun_vnet = false;
                r = tun_open(name, 0, &s->tun_fd, s->tun_name, &s->tun_ifindex);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to create the TUN device %s: %m", name);
        r = rtnl_link_set_mtu(m->rtnl, s->tun_ifindex, s->mtu);
        if (r < 0)
                return log_error_errno(r, "Failed to set the MTU of %s to %u: %m", s->tun_name, s->mtu);
        if (s->lease.has4) {
                r = rtnl_address_add(m->rtnl, s->tun_ifindex, AF_INET, &s->lease.address4, s->lease.prefixlen4, 0);
                if (r < 0 && r != -EEXIST)
                        return log_error_errno(r, "Failed to add the IPv4 address to %s: %m", s->tun_name);
        }
        if (s->lease.has6) {
                r = rtnl_address_add(m->rtnl, s->tun_ifindex, AF_INET6, &s->lease.address6, s->lease.prefixlen6,
                                     IFA_F_NODAD);
                if (r < 0 && r != -EEXIST)
                        return log_error_errno(r, "Failed to add the IPv6 address to %s: %m", s->tun_name);
        }
        r = rtnl_link_set_up(m->rtnl, s->tun_ifindex, true);
        if (r < 0)
                return log_error_errno(r, "Failed to bring %s up: %m", s->tun_name);

        s->tun_buf_size = s->tun_vnet ? TUN_VNET_HDR_SIZE + 65536 : (size_t) s->mtu + 64;
        s->tun_buf = malloc(s->tun_buf_size);
        if (!s->tun_buf)
                return log_oom();
        r = sd_event_add_io(m->event, &s->tun_io, s->tun_fd, EPOLLIN, on_tun_io, s);
        if (r < 0)
                return log_error_errno(r, "Failed to watch %s: %m", s->tun_name);
        (void) sd_event_source_set_priority(s->tun_io, SESSION_DATA_PRIORITY);
        (void) sd_event_source_set_description(s->tun_io, "tun");
        return 0;
}

/* The host route to the server outside the tunnel, then 0/1 + 128/1 (and ::/1 + 8000::/1) into it.
 * The original default route is never touched, so a crash cannot leave the host without one. */
static int routes_setup(Session *s) {
        Manager *m = s->manager;
        union in_addr_union server = {};
        RtnlRoute rt, host;
        int r;

        if (s->family == AF_INET)
                server.in = s->data_addr.in.sin_addr;
        else
                server.in6 = s->data_addr.in6.sin6_addr;

        if (rtnl_route_get(m->rtnl, s->family, &server, 0, 0, &rt) >= 0 && rt.oif != s->tun_ifindex) {
                host = (RtnlRoute) {
                        .family = s->family,
                        .dst = server,
                        .dst_prefixlen = s->family == AF_INET ? 32 : 128,
                        .gateway = rt.gateway,
                        .oif = rt.oif,
                };
                r = routing_add_route(m->routing, &host);
                if (r < 0)
                        log_warning_errno(r, "Failed to add the host route to the server, ignoring: %m");
        }

        if (!m->config.default_route)
                return 0;
        for (int fam = 0; fam < 2; fam++) {
                int family = fam == 0 ? AF_INET : AF_INET6;

                if ((family == AF_INET && !s->lease.has4) || (family == AF_INET6 && !s->lease.has6))
                        continue;
                for (int half = 0; half < 2; half++) {
                        RtnlRoute d = { .family = family, .dst_prefixlen = 1, .oif = s->tun_ifindex };
                        if (half == 1)
                                d.dst.bytes[0] = 0x80;
                        r = routing_add_route(m->routing, &d);
                        if (r < 0)
                                return log_error_errno(r, "Failed to route the default route into %s: %m", s->tun_name);
                }
        }
        s->routes_installed = true;
        return 0;
}

/* Table inet fluxify_client_<profile>: MSS clamping for traffic this host forwards into and out
 * of the tunnel (a LAN behind the client), whose endpoints cannot see the TUN's smaller MTU. Not
 * fatal: the tunnel works without it. */
static void session_nft_apply(Session *s) {
        NftClientConfig c = {
                .profile = s->manager->profile,
                .tun_ifname = s->tun_name,
                .mss_clamp = true,
        };
        _cleanup_(freep) char *err = NULL;
        int r;

        r = nft_client_table_apply(&c, &err);
        if (r < 0)
                log_warning_errno(r, "Failed to set up MSS clamping (nftables), continuing without: %s",
                                  err ?: strerror(-r));
        else
                s->nft_installed = true;
}

static void session_nft_remove(Session *s) {
        _cleanup_(freep) char *name = NULL;

        if (!s->nft_installed)
                return;
        s->nft_installed = false;
        if (nft_client_table_name(s->manager->profile, &name) >= 0)
                (void) nft_table_delete("inet", name, NULL);
}

/* ------------------------------------------------------------------ pushed routes */

static bool route_key_equal(const RtnlRoute *a, const RtnlRoute *b) {
        return a->family == b->family && a->dst_prefixlen == b->dst_prefixlen &&
               in_addr_equal(a->family, &a->dst, &b->dst);
}

static bool route_in(const RtnlRoute *list, size_t n, const RtnlRoute *r) {
        for (size_t i = 0; i < n; i++)
                if (route_key_equal(&list[i], r))
                        return true;
        return false;
}

static void session_pushed_remove(Session *s) {
        for (size_t i = 0; i < s->n_pushed; i++)
                (void) routing_remove_route(s->manager->routing, &s->pushed[i]);
        s->pushed = mfree(s->pushed);
        s->n_pushed = 0;
}

/* Has r's prefix a route in the main table already, one we did not push? Then it is the admin's,
 * the kernel's on-link one or our own default /1: a push neither replaces it (same metric) nor
 * overrides it (a lower one), and removing the push later cannot remove it. Any metric counts:
 * IPv6 stores our metric 0 as 1024 and on-link prefixes as 256. */
static bool session_route_taken(Session *s, const RtnlRoute *kernel, size_t n_kernel, const RtnlRoute *r) {
        for (size_t i = 0; i < n_kernel; i++)
                if (route_key_equal(&kernel[i], r) && !route_in(s->pushed, s->n_pushed, r))
                        return true;
        return false;
}

/* Appends the route(s) for one pushed CIDR to want[]: a default route becomes the two /1 halves,
 * like DefaultRoute= (the original default stays untouched). */
static size_t push_expand(Session *s, const char *cidr, RtnlRoute *want) {
        union in_addr_union a;
        uint8_t plen;
        int family;

        if (in_addr_prefix_from_string(cidr, false, &family, &a, &plen) < 0 || in_addr_mask(family, &a, plen) < 0)
                return 0;
        if ((family == AF_INET && !s->lease.has4) || (family == AF_INET6 && !s->lease.has6)) {
                log_info("Pushed route %s ignored: no address of that family in the tunnel.", cidr);
                return 0;
        }
        if (plen > 0) {
                want[0] = (RtnlRoute) { .family = family, .dst = a, .dst_prefixlen = plen, .oif = s->tun_ifindex };
                return 1;
        }
        if (!s->manager->config.default_route) {
                log_info("Pushed default route %s ignored (DefaultRoute=no).", cidr);
                return 0;
        }
        for (int half = 0; half < 2; half++) {
                want[half] = (RtnlRoute) { .family = family, .dst_prefixlen = 1, .oif = s->tun_ifindex };
                if (half == 1)
                        want[half].dst.bytes[0] = 0x80;
        }
        return 2;
}

/* A push replaces the previous one: routes no longer listed go, new ones are installed. DNS
 * servers are only logged (fluxifyd-client(8): resolver configuration is left to the admin). */
static void session_apply_push(Session *s, char *const *routes, char *const *dns) {
        Manager *m = s->manager;
        _cleanup_(freep) RtnlRoute *want = NULL, *kernel4 = NULL, *kernel6 = NULL, *keep = NULL;
        size_t n_want = 0, n_keep = 0, n4 = 0, n6 = 0;

        if (!s->established || s->tun_ifindex <= 0 || !m->routing)
                return;
        if (dns && dns[0])
                log_info("Server pushed %zu DNS server(s) (first %s); not applied, see fluxifyd-client(8).",
                         strv_length((char **) dns), dns[0]);

        want = new0(RtnlRoute, 2 * CONTROL_PUSH_MAX);
        keep = new0(RtnlRoute, 2 * CONTROL_PUSH_MAX);
        if (!want || !keep) {
                log_oom();
                return;
        }
        for (size_t i = 0; routes && routes[i] && i < CONTROL_PUSH_MAX; i++)
                n_want += push_expand(s, routes[i], want + n_want);
        (void) rtnl_route_list(m->rtnl, AF_INET, RT_TABLE_MAIN, &kernel4, &n4);
        (void) rtnl_route_list(m->rtnl, AF_INET6, RT_TABLE_MAIN, &kernel6, &n6);

        /* Withdrawn routes first. */
        for (size_t i = 0; i < s->n_pushed; i++)
                if (!route_in(want, n_want, &s->pushed[i]))
                        (void) routing_remove_route(m->routing, &s->pushed[i]);
        for (size_t i = 0; i < n_want; i++) {
                const RtnlRoute *r = &want[i];
                char buf[IN_ADDR_PREFIX_STR_MAX];
                int k;

                if (route_in(keep, n_keep, r))
                        continue; /* listed twice */
                (void) in_addr_to_string(r->family, &r->dst, buf, sizeof buf);
                if (r->family == AF_INET ? session_route_taken(s, kernel4, n4, r) : session_route_taken(s, kernel6, n6, r)) {
                        log_info("Pushed route %s/%u ignored: a route to that prefix is already there.", buf,
                                 r->dst_prefixlen);
                        continue;
                }
                k = routing_add_route(m->routing, r);
                if (k < 0) {
                        log_warning_errno(k, "Failed to install the pushed route %s/%u, ignoring: %m", buf, r->dst_prefixlen);
                        continue;
                }
                keep[n_keep++] = *r;
        }
        free(s->pushed);
        s->pushed = TAKE_PTR(keep);
        s->n_pushed = n_keep;
        log_info("Server pushed %zu route(s); %zu installed into %s.", routes ? strv_length((char **) routes) : 0,
                 n_keep, s->tun_name);
}

static int info_fill(Session *s, const ControlSession *cs) {
        char buf[IN_ADDR_PREFIX_STR_MAX + 8];
        size_t n = 0;

        strv_free(s->info.addresses);
        s->info.addresses = new0(char *, 3);
        if (!s->info.addresses)
                return -ENOMEM;
        if (cs->addresses.has4) {
                (void) in_addr_to_string(AF_INET, &cs->addresses.address4, buf, sizeof buf);
                if (asprintf(&s->info.addresses[n++], "%s/%u", buf, cs->addresses.prefixlen4) < 0)
                        return -ENOMEM;
        }
        if (cs->addresses.has6) {
                (void) in_addr_to_string(AF_INET6, &cs->addresses.address6, buf, sizeof buf);
                if (asprintf(&s->info.addresses[n++], "%s/%u", buf, cs->addresses.prefixlen6) < 0)
                        return -ENOMEM;
        }
        s->info.id = cs->session_id;
        s->info.protocol = cs->protocol;
        (void) sockaddr_to_string(&s->data_addr, s->info.server_address, sizeof s->info.server_address);
        s->info.created_usec = now(CLOCK_REALTIME);
        return 0;
}

static bool lease_equal(const AddressLease *a, const AddressLease *b) {
        return a->has4 == b->has4 && a->has6 == b->has6 &&
               (!a->has4 || (in_addr_equal(AF_INET, &a->address4, &b->address4) && a->prefixlen4 == b->prefixlen4)) &&
               (!a->has6 || (in_addr_equal(AF_INET6, &a->address6, &b->address6) && a->prefixlen6 == b->prefixlen6));
}

/* Everything the established session built, in reverse order. keep_tun: a new session with the
 * same addresses keeps TUN and routes. */
static void session_data_down(Session *s, bool keep_tun) {
        Manager *m = s->manager;

        for (size_t i = 0; i < m->n_uplinks; i++)
                uplink_data_stop(s, m->uplinks[i]);
        if (s->tunnel) {
                s->rx_base += flux_tunnel_get_stats(s->tunnel)->rx_bytes;
                s->tx_base += flux_tunnel_get_stats(s->tunnel)->tx_bytes;
        }
        s->tick = sd_event_source_disable_unref(s->tick);
        s->tunnel = flux_tunnel_free(s->tunnel);
        if (keep_tun) {
                /* A new session over the kept TUN: its server pushes its own routes. */
                session_pushed_remove(s);
                return;
        }

        /* The pushed routes point into the TUN: routing_remove_oif() below takes them. */
        s->pushed = mfree(s->pushed);
        s->n_pushed = 0;
        if (s->established) {
                (void) session_bus_emit_removed(m);
                s->established = false;
        }
        s->tun_io = sd_event_source_disable_unref(s->tun_io);
        session_nft_remove(s);
        /* Routes through the TUN vanish with it; the journal entries go with routing_remove_oif(). */
        if (s->tun_ifindex > 0)
                (void) routing_remove_oif(m->routing, s->tun_ifindex);
        s->tun_fd = safe_close(s->tun_fd);
        s->tun_ifindex = 0;
        s->routes_installed = false;
        s->tun_buf = mfree(s->tun_buf);
        s->rx_bufs = mfree(s->rx_bufs);
}

static int session_data_up(Session *s, const ControlSession *cs) {
        Manager *m = s->manager;
        FluxTunnelConfig cfg = {
                .role = FLUX_TUNNEL_CLIENT,
                .version = (uint8_t) cs->protocol,
                .session_id = cs->session_id,
                .secret = cs->data_secret,
                .secret_size = sizeof cs->data_secret,
                .scheduler = (FluxSchedulerKind) m->scheduler,
        };
        bool keep = s->tun_fd >= 0 && lease_equal(&s->lease, &cs->addresses);
        int r;

        session_data_down(s, keep);
        s->lease = cs->addresses;
        s->data_addr = cs->server;
        if (s->data_addr.sa.sa_family == AF_INET)
                s->data_addr.in.sin_port = htons(cs->udp_port);
        else
                s->data_addr.in6.sin6_port = htons(cs->udp_port);
        if (!keep)
                s->mtu = (uint16_t) (m->config.mtu ?: cs->mtu ?: CLIENT_MTU_DEFAULT);

        r = flux_tunnel_new(&cfg, &tunnel_callbacks, s, now(CLOCK_MONOTONIC), &s->tunnel);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the tunnel engine: %m");
        r = sd_event_add_time(m->event, &s->tick, CLOCK_MONOTONIC, 0, 1 * USEC_PER_MSEC, on_tick, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_priority(s->tick, SESSION_DATA_PRIORITY - 1);
        (void) sd_event_source_set_enabled(s->tick, SD_EVENT_OFF);

        if (!keep) {
                s->rx_slot = s->mtu + FLUX_TUNNEL_OVERHEAD + 256;
                s->rx_bufs = malloc(SESSION_BATCH * s->rx_slot);
                if (!s->rx_bufs)
                        return log_oom();
                r = tun_setup(s);
                if (r < 0)
                        return r;
                session_nft_apply(s);
        }
        /* A new session over the same TUN (the server forgot the old one) is a new Session object
         * for bus clients: its properties are constant for the object's lifetime. */
        if (s->established && s->info.id != cs->session_id) {
                (void) session_bus_emit_removed(m);
                s->established = false;
        }
        r = info_fill(s, cs);
        if (r < 0)
                return log_oom();
        if (!s->established) {
                s->established = true;
                (void) session_bus_emit_added(m);
        }
        for (size_t i = 0; i < m->n_uplinks; i++)
                (void) uplink_data_start(s, m->uplinks[i]);
        if (!keep) {
                r = routes_setup(s);
                if (r < 0)
                        return r;
        }
        session_rearm_tick(s);
        return 0;
}

static void session_fail(Session *s, int error, const char *message) {
        Manager *m = s->manager;

        manager_set_error(m, "%s", message);
        log_error_errno(error, "Profile %s failed: %s", m->profile, message);
        /* The manager tears everything down when the state machine settles on failed. */
        m->session = session_free(s);
        while (m->n_uplinks > 0)
                uplink_free(m->uplinks[m->n_uplinks - 1]);
        if (m->routing)
                (void) routing_remove_all(m->routing);
        manager_set_state(m, CLIENT_STATE_FAILED);
}

static int on_fail_defer(sd_event_source *es, void *userdata) {
        Session *s = userdata;
        _cleanup_(freep) char *msg = TAKE_PTR(s->fail_message);

        s->fail_defer = sd_event_source_disable_unref(s->fail_defer);
        session_fail(s, s->fail_error, msg ?: "Session set-up failed.");
        return 0;
}

/* From inside a ControlClient callback the client must not be freed under its feet: fail on the
 * next loop iteration instead. */
static void session_fail_later(Session *s, int error, const char *message) {
        if (s->fail_defer)
                return;
        s->fail_error = error;
        s->fail_message = strdup(message);
        if (sd_event_add_defer(s->manager->event, &s->fail_defer, on_fail_defer, s) < 0)
                log_error("Failed to schedule the session's teardown.");
}

static void control_established(ControlClient *c, const ControlSession *cs, void *userdata) {
        Uplink *u = userdata;
        Manager *m = u->manager;
        Session *s = m->session;
        SessionKeys keys = session_keys(s);
        SessionSetup setup = session_setup_classify(&keys, cs->resumed, cs->session_id);
        bool same = setup == SESSION_SETUP_RESUMED;
        char buf[IN_ADDR_PREFIX_STR_MAX];
        int r;

        /* This attempt won: the others go. */
        for (size_t i = 0; i < m->n_uplinks; i++)
                if (m->uplinks[i] != u)
                        uplink_control_stop(s, m->uplinks[i]);
        s->n_attempts--;
        u->control = NULL;
        s->racing = false;
        s->stagger = sd_event_source_disable_unref(s->stagger);
        s->retry = sd_event_source_disable_unref(s->retry);
        s->all_down = sd_event_source_disable_unref(s->all_down);
        s->retry_delay = 0;

        if (setup == SESSION_SETUP_REFUSE) {
                /* The server resumed a session whose data keys we no longer hold, and it keeps
                 * using those. Keying the tunnel from this connection's exporter would leave a data
                 * plane that silently drops everything: end that session and ask for a new one
                 * (the lease gives the same addresses back). c is freed once this callback returns. */
                log_warning("Server resumed session %u, but its data keys are gone here; starting a new session.",
                            cs->session_id);
                control_client_bye(c, "resume without data keys");
                control_client_free(c);
                s->has_resume = false;
                explicit_bzero(s->resume_token, sizeof s->resume_token);
                (void) session_start_attempts(s);
                return;
        }

        if (cs->protocol == CONTROL_PROTOCOL_V2) {
                s->control = c;
                s->control_uplink = u;
                s->has_resume = true;
                s->resume_id = cs->session_id;
                memcpy(s->resume_token, cs->resume_token, sizeof s->resume_token);
        } else
                control_client_free(c); /* version 1: one request, one response */

        (void) in_addr_to_string(AF_INET, &cs->addresses.address4, buf, sizeof buf);
        log_info("Session %u %s over %s (protocol %u, %s).", cs->session_id, same ? "resumed" : "established", u->name,
                 cs->protocol, cs->addresses.has4 ? buf : "no IPv4");

        if (!same) {
                r = session_data_up(s, cs);
                if (r < 0) {
                        session_fail_later(s, r, "Failed to set up the tunnel; see the journal.");
                        return;
                }
        }
        manager_set_error(m, "%s", "");
        manager_set_state(m, CLIENT_STATE_CONNECTED);
        session_check_paths(s);
        manager_update_status(m);
}

static bool error_is_fatal(int error) {
        /* The server refused us for good: certificate rejected or revoked, wrong name, protocol. */
        return error == -EPERM || error == -EACCES || error == -EKEYREJECTED || error == -EKEYREVOKED ||
               error == -EKEYEXPIRED || error == -EPROTONOSUPPORT;
}

static void control_closed(ControlClient *c, int error, const char *message, void *userdata) {
        Uplink *u = userdata;
        Manager *m = u->manager;
        Session *s = m->session;
        char what[256];

        snprintf(what, sizeof what, "%s", message ?: error < 0 ? strerror(-error) : "closed by the server");

        if (c == s->control) {
                /* The established control connection ended. A bye (error 0) ends the session; a lost
                 * connection is set up again over any uplink with the resume token, while the data
                 * plane keeps running. */
                s->control = control_client_free(c);
                s->control_uplink = NULL;
                if (error == 0) {
                        log_notice("The server ended the session: %s", strna(message));
                        manager_set_error(m, "Server ended the session: %s", strna(message));
                        s->has_resume = false;
                        session_data_down(s, false);
                        manager_set_state(m, CLIENT_STATE_RECONNECTING);
                        session_schedule_retry(s, "session ended by the server");
                        return;
                }
                log_warning_errno(error, "Control connection over %s lost: %s", u->name, what);
                (void) session_start_attempts(s);
                return;
        }

        /* A racing attempt failed. */
        uplink_control_stop(s, u);
        log_info("Control attempt over %s failed: %s", u->name, what);
        if (error == -ESTALE) {
                /* The server forgot the session (restart): start a fresh one; its lease gives us
                 * the same addresses back. */
                s->has_resume = false;
                manager_set_error(m, "Session resume refused; starting a new session.");
                if (s->n_attempts == 0)
                        (void) session_start_attempts(s);
                return;
        }
        if (error_is_fatal(error)) {
                session_fail(s, error, what);
                return;
        }
        if (s->control)
                return;
        /* Next uplink at once rather than after the stagger delay. */
        if (s->racing && session_race_next(s))
                return;
        if (s->n_attempts > 0)
                return;
        s->racing = false;
        s->stagger = sd_event_source_disable_unref(s->stagger);
        manager_set_error(m, "%s", what);
        session_schedule_retry(s, what);
}

static int on_all_down(sd_event_source *es, uint64_t usec, void *userdata) {
        Session *s = userdata;

        s->all_down = sd_event_source_disable_unref(s->all_down);
        if (session_any_path_up(s))
                return 0;
        log_warning("Every path is down; setting up the session again.");
        manager_set_state(s->manager, CLIENT_STATE_RECONNECTING);
        /* The control connection may be a zombie over a dead uplink: start over with resume. */
        if (s->control) {
                s->control = control_client_free(s->control);
                s->control_uplink = NULL;
        }
        if (s->n_attempts == 0 && session_start_attempts(s) < 0)
                return 0;
        return 0;
}

/* ------------------------------------------------------------------ lifecycle */

/* Server names are resolved with getaddrinfo_a(): a lookup may take seconds (DNS timeouts while
 * the uplinks come up) and must not stall the bus. The helper thread of glibc signals completion
 * through an eventfd watched by the event loop. */
struct ServerLookup {
        struct gaicb req;
        struct gaicb *list[1];
        struct addrinfo hints;
        char *host;
        int efd;
        sd_event_source *io;
        Session *session;       /* NULL once abandoned */
};

static void lookup_notify(union sigval v) {
        uint64_t one = 1;

        (void) !write(v.sival_int, &one, sizeof one);
}

static void lookup_abandon(ServerLookup *l) {
        if (!l)
                return;
        l->io = sd_event_source_disable_unref(l->io);
        l->session = NULL;
        if (gai_cancel(&l->req) == EAI_NOTCANCELED)
                /* glibc's thread still runs and will write to efd and read req: leave both alive
                 * (a few hundred bytes, only when a Disconnect hits a lookup in flight). */
                return;
        if (l->req.ar_result)
                freeaddrinfo(l->req.ar_result);
        safe_close(l->efd);
        free(l->host);
        free(l);
}

static int session_set_server_address(Session *s, const struct addrinfo *ai) {
        memcpy(&s->control_addr, ai->ai_addr, MIN((size_t) ai->ai_addrlen, sizeof s->control_addr));
        s->family = s->control_addr.sa.sa_family;
        if (s->family == AF_INET)
                s->control_addr.in.sin_port = htons(s->control_port);
        else if (s->family == AF_INET6)
                s->control_addr.in6.sin6_port = htons(s->control_port);
        else {
                s->family = AF_UNSPEC;
                return -EAFNOSUPPORT;
        }
        return 0;
}

static int on_lookup_done(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        ServerLookup *l = userdata;
        Session *s = l->session;
        int r = gai_error(&l->req);

        if (r == EAI_INPROGRESS)
                return 0;
        l->io = sd_event_source_disable_unref(l->io);
        s->lookup = NULL;
        if (r == 0 && l->req.ar_result && session_set_server_address(s, l->req.ar_result) >= 0) {
                log_info("Resolved server %s.", l->host);
                lookup_abandon(l);
                (void) session_start_attempts(s);
                return 0;
        }
        manager_set_error(s->manager, "Cannot resolve the server '%s': %s", l->host,
                          r == 0 ? "no usable address" : gai_strerror(r));
        log_warning("Cannot resolve the server '%s': %s", l->host, r == 0 ? "no usable address" : gai_strerror(r));
        lookup_abandon(l);
        session_schedule_retry(s, "server name not resolved");
        return 0;
}

static int session_start_lookup(Session *s) {
        _cleanup_(freep) ServerLookup *l = NULL;
        struct sigevent sev = { .sigev_notify = SIGEV_THREAD, .sigev_notify_function = lookup_notify };
        int r;

        l = new0(ServerLookup, 1);
        if (!l)
                return -ENOMEM;
        l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (l->efd < 0)
                return -errno;
        l->host = strdup(s->server_host);
        if (!l->host) {
                safe_close(l->efd);
                return -ENOMEM;
        }
        l->hints = (struct addrinfo) { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
        l->req = (struct gaicb) { .ar_name = l->host, .ar_request = &l->hints };
        l->list[0] = &l->req;
        l->session = s;
        r = sd_event_add_io(s->manager->event, &l->io, l->efd, EPOLLIN, on_lookup_done, l);
        if (r >= 0) {
                sev.sigev_value.sival_int = l->efd;
                r = getaddrinfo_a(GAI_NOWAIT, l->list, 1, &sev);
                r = r == 0 ? 0 : r == EAI_AGAIN ? -EAGAIN : r == EAI_MEMORY ? -ENOMEM : -EIO;
        }
        if (r < 0) {
                l->io = sd_event_source_disable_unref(l->io);
                safe_close(l->efd);
                free(l->host);
                return r;
        }
        s->lookup = TAKE_PTR(l);
        return 0;
}

/* Splits Server=, takes a numeric address at once, else starts a lookup. */
static int resolve_server(Session *s, const char *server) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *res = NULL;
        int r;

        r = client_server_split(server, &s->server_host, &s->control_port);
        if (r < 0)
                return r;
        if (getaddrinfo(s->server_host, NULL, &hints, &res) == 0 && res) {
                r = session_set_server_address(s, res);
                freeaddrinfo(res);
                return r;
        }
        return 0; /* a name: session_start() looks it up */
}

int session_start(Manager *m) {
        _cleanup_(session_freep) Session *s = NULL;
        int r;

        s = new0(Session, 1);
        if (!s)
                return -ENOMEM;
        s->tun_fd = -EBADF;
        s->protocol = m->config.protocol;

        r = pki_bundle_load(m->config.bundle, &s->bundle);
        if (r < 0) {
                manager_set_error(m, "Cannot use the certificate bundle %s: %s", m->config.bundle, strerror(-r));
                return log_error_errno(r, "Failed to load the certificate bundle %s: %m", m->config.bundle);
        }
        r = resolve_server(s, m->server);
        if (r < 0) {
                manager_set_error(m, "Invalid server '%s'.", m->server);
                return log_error_errno(r, "Invalid server '%s': %m", m->server);
        }

        s->manager = m;
        m->session = TAKE_PTR(s);
        if (m->session->family == AF_UNSPEC) {
                r = session_start_lookup(m->session);
                if (r < 0) {
                        manager_set_error(m, "Cannot look up the server '%s': %s", m->server, strerror(-r));
                        return log_error_errno(r, "Failed to start looking up '%s': %m", m->server);
                }
                return 0;
        }
        (void) session_start_attempts(m->session);
        return 0;
}

Session *session_free(Session *s) {
        Manager *m;

        if (!s)
                return NULL;
        m = s->manager;
        if (m) {
                for (size_t i = 0; i < m->n_uplinks; i++)
                        uplink_control_stop(s, m->uplinks[i]);
                if (s->control) {
                        control_client_bye(s->control, "disconnect");
                        s->control = control_client_free(s->control);
                }
                session_data_down(s, false);
                for (size_t i = 0; i < m->n_uplinks; i++)
                        uplink_route_remove(s, m->uplinks[i]);
                if (m->session == s)
                        m->session = NULL;
        }
        s->retry = sd_event_source_disable_unref(s->retry);
        s->stagger = sd_event_source_disable_unref(s->stagger);
        s->all_down = sd_event_source_disable_unref(s->all_down);
        s->fail_defer = sd_event_source_disable_unref(s->fail_defer);
        free(s->fail_message);
        lookup_abandon(s->lookup);
        s->bundle = pki_bundle_free(s->bundle);
        strv_free(s->info.addresses);
        free(s->server_host);
        explicit_bzero(s->resume_token, sizeof s->resume_token);
        return mfree(s);
}

int session_add_uplink(Session *s, Uplink *u) {
        if (s->established)
                (void) uplink_data_start(s, u);
        if (!s->control && s->racing && s->n_attempts == 0)
                (void) session_race_next(s);
        return 0;
}

void session_remove_uplink(Session *s, Uplink *u) {
        bool was_control = s->control_uplink == u;

        uplink_control_stop(s, u);
        uplink_data_stop(s, u);
        uplink_route_remove(s, u);
        if (was_control && s->control) {
                /* The control connection rode this uplink: move it. */
                s->control = control_client_free(s->control);
                s->control_uplink = NULL;
                (void) session_start_attempts(s);
        }
        session_check_paths(s);
}

void session_uplink_routes_changed(Session *s, Uplink *u) {
        union in_addr_union gw;

        if (!uplink_is_usable(u))
                return;
        if (u->routed) {
                /* The gateway moved (DHCP, a new router): repoint the table; path and socket stay. */
                if (uplink_find_gateway(s, u, &gw) < 0 || in_addr_equal(s->family, &gw, &u->gateway))
                        return;
                log_info("Uplink %s: gateway changed, updating its routing table.", u->name);
                uplink_route_remove(s, u);
                (void) uplink_route_install(s, u);
                return;
        }
        /* It had no route so far: it can join now. */
        session_uplink_changed(s, u);
}

void session_uplink_changed(Session *s, Uplink *u) {
        if (uplink_is_usable(u)) {
                /* Gateway and index may have changed while it was away. */
                uplink_route_remove(s, u);
                if (s->established)
                        (void) uplink_data_start(s, u);
                if (!s->control && s->racing && s->n_attempts == 0)
                        (void) session_race_next(s);
                else if (!s->control && !s->racing && s->retry) {
                        /* Waiting out a back-off because nothing was usable: try now. */
                        s->retry = sd_event_source_disable_unref(s->retry);
                        (void) session_start_attempts(s);
                }
                return;
        }
        session_remove_uplink(s, u);
}
