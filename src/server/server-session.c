/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "alloc-util.h"
#include "control.h"
#include "log.h"
#include "server-connection-bus.h"
#include "server-connection.h"
#include "server-datapath.h"
#include "server-session-bus.h"
#include "server-session.h"
#include "tunnel.h"
#include "random-util.h"

static const char *const session_state_table[_SESSION_STATE_MAX] = {
        [SESSION_ACTIVE] = "active",
        [SESSION_DETACHED] = "detached",
        [SESSION_CLOSING] = "closing",
};
DEFINE_STRING_TABLE(session_state, SessionState, _SESSION_STATE_MAX);

static unsigned hash_u32(uint32_t v) {
        /* Fibonacci hashing: ids are random, addresses sequential; both spread well. */
        return (unsigned) ((v * UINT32_C(2654435769)) >> 22) % SESSION_HASH_SIZE;
}

static unsigned hash_bytes(const uint8_t *p, size_t n) {
        uint32_t h = 2166136261u; /* FNV-1a */
        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 16777619u;
        return hash_u32(h);
}

static unsigned hash_addr(int family, const void *addr) {
        return hash_bytes(addr, family == AF_INET ? 4 : 16);
}

Session *manager_find_session(Manager *m, uint32_t id) {
        for (Session *s = m->by_id[hash_u32(id)]; s; s = s->next_by_id)
                if (s->id == id)
                        return s;
        return NULL;
}

Session *manager_find_session_by_address(Manager *m, int family, const void *addr) {
        if (family == AF_INET) {
                for (Session *s = m->by_addr4[hash_addr(AF_INET, addr)]; s; s = s->next_by_addr4)
                        if (memcmp(&s->lease.address4.in, addr, 4) == 0)
                                return s;
        } else if (family == AF_INET6) {
                for (Session *s = m->by_addr6[hash_addr(AF_INET6, addr)]; s; s = s->next_by_addr6)
                        if (memcmp(&s->lease.address6.in6, addr, 16) == 0)
                                return s;
        }
        return NULL;
}

static void chain_remove(Session **head, Session *s, size_t link_offset) {
        for (Session **p = head; *p; p = (Session **) ((uint8_t *) *p + link_offset))
                if (*p == s) {
                        *p = *(Session **) ((uint8_t *) s + link_offset);
                        return;
                }
}

static void session_link(Manager *m, Session *s) {
        unsigned h;

        s->next = m->sessions;
        if (m->sessions)
                m->sessions->prev = s;
        m->sessions = s;

        h = hash_u32(s->id);
        s->next_by_id = m->by_id[h];
        m->by_id[h] = s;
        if (s->lease.has4) {
                h = hash_addr(AF_INET, &s->lease.address4.in);
                s->next_by_addr4 = m->by_addr4[h];
                m->by_addr4[h] = s;
        }
        if (s->lease.has6) {
                h = hash_addr(AF_INET6, &s->lease.address6.in6);
                s->next_by_addr6 = m->by_addr6[h];
                m->by_addr6[h] = s;
        }
        m->n_sessions++;
        s->manager = m;
}

static void session_unlink(Session *s) {
        Manager *m = s->manager;

        if (s->prev)
                s->prev->next = s->next;
        else
                m->sessions = s->next;
        if (s->next)
                s->next->prev = s->prev;
        s->next = s->prev = NULL;

        chain_remove(&m->by_id[hash_u32(s->id)], s, offsetof(Session, next_by_id));
        if (s->lease.has4)
                chain_remove(&m->by_addr4[hash_addr(AF_INET, &s->lease.address4.in)], s,
                             offsetof(Session, next_by_addr4));
        if (s->lease.has6)
                chain_remove(&m->by_addr6[hash_addr(AF_INET6, &s->lease.address6.in6)], s,
                             offsetof(Session, next_by_addr6));
        m->n_sessions--;
        s->manager = NULL;
}

int session_pick_id(Manager *m, uint32_t *ret) {
        for (unsigned attempt = 0; attempt < 64; attempt++) {
                uint32_t id;
                int r = random_bytes(&id, sizeof(id));

                if (r < 0)
                        return r;
                if (id != 0 && !manager_find_session(m, id)) {
                        *ret = id;
                        return 0;
                }
        }
        return -EBUSY;
}

/* ---- engine callbacks ---- */

static int tunnel_send_datagram(FluxTunnel *t, FluxPath *path, const uint8_t *buf, size_t len, void *userdata) {
        Session *s = userdata;
        Manager *m = s->manager;
        Connection *c = flux_path_get_userdata(path);
        const union sockaddr_union *to = flux_path_get_remote_address(path);
        const union sockaddr_union *local = c ? &c->local : m->current_local;
        DataSocket *sock = c ? c->socket : m->current_socket;

        if (!to || to->sa.sa_family == AF_UNSPEC)
                return -EDESTADDRREQ;
        if (!sock || data_socket_family(sock) != to->sa.sa_family) {
                sock = manager_pick_socket(m, to->sa.sa_family);
                local = NULL;
        }
        if (!sock)
                return -EAFNOSUPPORT;
        return data_socket_queue(sock, to, local, buf, len);
}

static void tunnel_deliver_ip(FluxTunnel *t, const uint8_t *ip, size_t len, void *userdata) {
        Session *s = userdata;

        manager_tun_write(s->manager, ip, len);
}

static void tunnel_path_added(FluxTunnel *t, FluxPath *path, void *userdata) {
        Session *s = userdata;
        Manager *m = s->manager;
        int r;

        r = connection_new(s, path, m->current_socket, m->current_local, NULL);
        if (r < 0)
                log_warning_errno(r, "Session %u: failed to track a new path, ignoring: %m", s->id);
}

static void tunnel_path_removed(FluxTunnel *t, FluxPath *path, void *userdata) {
        connection_free(flux_path_get_userdata(path));
}

static void tunnel_path_state_changed(FluxTunnel *t, FluxPath *path, FluxPathState old_state,
                                      FluxPathState new_state, void *userdata) {
        Session *s = userdata;
        Connection *c = flux_path_get_userdata(path);

        if (c)
                connection_mark_dirty(c, UINT64_C(1) << CONNECTION_PROPERTY_STATE);
        if (s->manager)
                manager_update_status(s->manager);
}

static int tunnel_random_bytes(uint8_t *buf, size_t len, void *userdata) {
        return random_bytes(buf, len);
}

static const FluxTunnelCallbacks tunnel_callbacks = {
        .send_datagram = tunnel_send_datagram,
        .deliver_ip = tunnel_deliver_ip,
        .path_state_changed = tunnel_path_state_changed,
        .path_added = tunnel_path_added,
        .path_removed = tunnel_path_removed,
        .random_bytes = tunnel_random_bytes,
};

/* ---- timers ---- */

static int on_tick(sd_event_source *source, uint64_t usec, void *userdata) {
        Session *s = userdata;
        Manager *m = s->manager;
        usec_t now_usec;

        s->tick_armed_at = USEC_INFINITY;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now_usec);
        (void) flux_tunnel_tick(s->tunnel, now_usec);
        manager_flush_tx(m);
        session_schedule(s);
        return 0;
}

void session_schedule(Session *s) {
        usec_t next;

        if (!s->tunnel || !s->tick_timer)
                return;
        next = flux_tunnel_next_wakeup(s->tunnel);
        if (next == USEC_INFINITY)
                return;
        /* Firing early is harmless (the tick re-arms), so only ever move the timer earlier. */
        if (s->tick_armed_at != USEC_INFINITY && s->tick_armed_at <= next)
                return;
        if (sd_event_source_set_time(s->tick_timer, next) < 0 ||
            sd_event_source_set_enabled(s->tick_timer, SD_EVENT_ONESHOT) < 0)
                return;
        s->tick_armed_at = next;
}

static int arm_grace_timer(Session *s, usec_t delay, sd_event_time_handler_t handler);

static int on_resume_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        session_end(userdata, "control-lost");
        return 0;
}

static int on_legacy_idle_check(sd_event_source *source, uint64_t usec, void *userdata) {
        Session *s = userdata;
        usec_t idle = s->manager->config->legacy_idle_timeout_sec * USEC_PER_SEC, now_usec;

        (void) sd_event_now(s->manager->event, CLOCK_MONOTONIC, &now_usec);
        if (now_usec >= s->last_rx + idle) {
                session_end(s, "idle");
                return 0;
        }
        (void) arm_grace_timer(s, s->last_rx + idle - now_usec, on_legacy_idle_check);
        return 0;
}

static int arm_grace_timer(Session *s, usec_t delay, sd_event_time_handler_t handler) {
        Manager *m = s->manager;
        usec_t now_usec;
        int r;

        s->grace_timer = sd_event_source_disable_unref(s->grace_timer);
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now_usec);
        r = sd_event_add_time(m->event, &s->grace_timer, CLOCK_MONOTONIC, now_usec + delay, USEC_PER_SEC,
                              handler, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_priority(s->grace_timer, MANAGER_PRIORITY_TIMER);
        (void) sd_event_source_set_description(s->grace_timer, "session-grace");
        return 0;
}

/* ---- life cycle ---- */

int session_new(Manager *m, uint32_t id, const SessionParams *p, Session **ret) {
        _cleanup_(session_freep) Session *s = NULL;
        FluxTunnelConfig tc;
        usec_t now_usec;
        int r;

        assert_return(m && id != 0 && p && p->client_name && p->secret && p->lease, -EINVAL);
        assert_return(p->protocol == 1 || p->protocol == 2, -EPROTONOSUPPORT);

        s = new0(Session, 1);
        if (!s)
                return -ENOMEM;
        s->id = id;
        s->protocol = p->protocol;
        s->state = SESSION_ACTIVE;
        s->created_realtime = now(CLOCK_REALTIME);
        s->lease = *p->lease;
        s->tick_armed_at = USEC_INFINITY;
        s->client_name = strdup(p->client_name);
        if (!s->client_name)
                return -ENOMEM;
        r = session_bus_path(id, &s->object_path);
        if (r < 0)
                return r;

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now_usec);
        s->last_rx = now_usec;
        tc = (FluxTunnelConfig) {
                .role = FLUX_TUNNEL_SERVER,
                .version = (uint8_t) p->protocol,
                .session_id = id,
                .secret = p->secret,
                .secret_size = CONTROL_KEY_SIZE,
                .scheduler = (FluxSchedulerKind) m->config->scheduler,
        };
        r = flux_tunnel_new(&tc, &tunnel_callbacks, s, now_usec, &s->tunnel);
        if (r < 0)
                return r;
        /* Inner source addresses must be the client's own (DESIGN.md §4). */
        if (s->lease.has4) {
                r = flux_tunnel_add_allowed_source(s->tunnel, AF_INET, &s->lease.address4, 32);
                if (r < 0)
                        return r;
        }
        if (s->lease.has6) {
                r = flux_tunnel_add_allowed_source(s->tunnel, AF_INET6, &s->lease.address6, 128);
                if (r < 0)
                        return r;
        }

        r = sd_event_add_time(m->event, &s->tick_timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, on_tick, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(s->tick_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_priority(s->tick_timer, MANAGER_PRIORITY_TIMER);
        (void) sd_event_source_set_description(s->tick_timer, "session-tick");

        session_link(m, s);
        s->lease_live = true;

        if (s->protocol == 1) {
                r = arm_grace_timer(s, m->config->legacy_idle_timeout_sec * USEC_PER_SEC, on_legacy_idle_check);
                if (r < 0)
                        return r;
        }
        session_schedule(s);

        session_bus_emit_new(s);
        manager_mark_dirty(m, UINT64_C(1) << MANAGER_PROPERTY_SESSION_COUNT);
        manager_update_status(m);

        if (ret)
                *ret = s;
        TAKE_PTR(s);
        return 0;
}

Session *session_free(Session *s) {
        Manager *m;

        if (!s)
                return NULL;

        m = s->manager;
        while (s->connections)
                connection_free(s->connections);

        if (m) {
                const FluxTunnelStats *st = flux_tunnel_get_stats(s->tunnel);

                session_bus_emit_removed(s);
                if (st) {
                        m->rx_bytes_ended += st->rx_bytes;
                        m->tx_bytes_ended += st->tx_bytes;
                }
                session_unlink(s);
                if (m->changes)
                        bus_change_queue_forget(m->changes, s->object_path);
                if (s->lease_live && m->pool)
                        (void) address_pool_release(m->pool, s->client_name, now(CLOCK_REALTIME));
                manager_mark_dirty(m, UINT64_C(1) << MANAGER_PROPERTY_SESSION_COUNT);
                manager_update_status(m);
        }

        if (s->conn) {
                control_conn_set_userdata(s->conn, NULL);
                control_conn_close(s->conn, "closed");
                s->conn = NULL;
        }
        sd_event_source_disable_unref(s->tick_timer);
        sd_event_source_disable_unref(s->grace_timer);
        flux_tunnel_free(s->tunnel);
        free(s->client_name);
        free(s->object_path);
        return mfree(s);
}

void session_end(Session *s, const char *reason) {
        if (!s || s->state == SESSION_CLOSING)
                return;
        s->state = SESSION_CLOSING;
        reason = isempty(reason) ? "terminated" : reason;

        log_info("Session %u of %s ended: %s.", s->id, s->client_name, reason);
        if (s->manager)
                session_bus_emit_removed_signal(s, reason);
        if (s->conn) {
                ControlConn *c = TAKE_PTR(s->conn);
                control_conn_set_userdata(c, NULL);
                control_conn_close(c, reason);
        }
        session_free(s);
}

void session_attach_conn(Session *s, ControlConn *c) {
        if (s->conn && s->conn != c) {
                ControlConn *old = TAKE_PTR(s->conn);
                control_conn_set_userdata(old, NULL);
                control_conn_close(old, "replaced by a resumed connection");
        }
        s->conn = c;
        control_conn_set_userdata(c, s);
        s->grace_timer = sd_event_source_disable_unref(s->grace_timer);
        if (s->state != SESSION_ACTIVE) {
                s->state = SESSION_ACTIVE;
                session_mark_dirty(s, UINT64_C(1) << SESSION_PROPERTY_STATE);
        }
}

void session_conn_closed(Session *s, int error, const char *reason) {
        int r;

        s->conn = NULL;
        if (error == 0) {
                session_end(s, "bye");
                return;
        }
        /* The data plane keeps running so the client can resume over another uplink. */
        log_info_errno(error, "Session %u of %s lost its control connection (%s), waiting %us for a resume: %m",
                       s->id, s->client_name, strna(reason), s->manager->config->resume_timeout_sec);
        s->state = SESSION_DETACHED;
        session_mark_dirty(s, UINT64_C(1) << SESSION_PROPERTY_STATE);
        r = arm_grace_timer(s, s->manager->config->resume_timeout_sec * USEC_PER_SEC, on_resume_timeout);
        if (r < 0)
                session_end(s, "error");
}

/* ---- packets ---- */

void session_receive(Session *s, usec_t now_usec, const union sockaddr_union *from, uint8_t *buf, size_t len) {
        int r;

        r = flux_tunnel_receive(s->tunnel, now_usec, from, NULL, buf, len);
        if (r == FLUX_RX_DATA || r == FLUX_RX_CONTROL || r == FLUX_RX_DUPLICATE)
                s->last_rx = now_usec;
        session_schedule(s);
}

void session_send_ip(Session *s, usec_t now_usec, const uint8_t *ip, size_t len) {
        (void) flux_tunnel_send_ip(s->tunnel, now_usec, ip, len);
        session_schedule(s);
}

unsigned session_n_paths_up(Session *s) {
        unsigned n = 0;
        size_t k = flux_tunnel_get_n_paths(s->tunnel);

        for (size_t i = 0; i < k; i++) {
                FluxPathState st = flux_path_get_state(flux_tunnel_get_path(s->tunnel, i));
                if (st == FLUX_PATH_UP || st == FLUX_PATH_DEGRADED)
                        n++;
        }
        return n;
}

void session_mark_dirty(Session *s, uint64_t bits) {
        if (s->manager)
                session_bus_mark_dirty(s, bits);
}

int session_addresses_strv(Session *s, char ***ret) {
        char **l = new0(char *, 3);
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        if (s->lease.has4) {
                char a[INET6_ADDRSTRLEN];
                (void) in_addr_to_string(AF_INET, &s->lease.address4, a, sizeof(a));
                if (asprintf(&l[n++], "%s/%u", a, s->lease.prefixlen4) < 0)
                        goto oom;
        }
        if (s->lease.has6) {
                char a[INET6_ADDRSTRLEN];
                (void) in_addr_to_string(AF_INET6, &s->lease.address6, a, sizeof(a));
                if (asprintf(&l[n++], "%s/%u", a, s->lease.prefixlen6) < 0)
                        goto oom;
        }
        *ret = l;
        return 0;
oom:
        l[n - 1] = NULL;
        strv_free(l);
        return -ENOMEM;
}

int session_set_scheduler(Session *s, int scheduler) {
        return flux_tunnel_set_scheduler(s->tunnel, (FluxSchedulerKind) scheduler);
}
