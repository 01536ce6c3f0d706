/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "alloc-util.h"
#include "control.h"
#include "daemon-util.h"
#include "fd-util.h"
#include "flux-bus-names.h"
#include "log.h"
#include "pki.h"
#include "pool.h"
#include "server-datapath.h"
#include "server-manager-bus.h"
#include "server-manager.h"
#include "server-pki-bus.h"
#include "server-session.h"
#include "tunnel.h"

static const char *const manager_state_table[_MANAGER_STATE_MAX] = {
        [MANAGER_STARTING] = "starting",
        [MANAGER_RUNNING] = "running",
        [MANAGER_STOPPING] = "stopping",
};
DEFINE_STRING_TABLE(manager_state, ManagerState, _MANAGER_STATE_MAX);

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata);
static int on_exit_event(sd_event_source *s, void *userdata);
static int on_status(sd_event_source *s, void *userdata);

int manager_new(const char *config_dir, const char *state_dir, const char *runtime_dir, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        sigset_t mask;
        int r;

        assert_return(config_dir && state_dir && runtime_dir && ret, -EINVAL);

        m = new0(Manager, 1);
        if (!m)
                return -ENOMEM;
        m->kernel = SERVER_KERNEL_INIT;
        m->state = MANAGER_STARTING;
        m->config_dir = strdup(config_dir);
        m->state_dir = strdup(state_dir);
        m->runtime_dir = strdup(runtime_dir);
        if (!m->config_dir || !m->state_dir || !m->runtime_dir)
                return -ENOMEM;
        if (asprintf(&m->config_path, "%s/server.conf", config_dir) < 0)
                return -ENOMEM;

        r = sd_event_new(&m->event);
        if (r < 0)
                return r;

        /* sd-event wants the signals it handles blocked. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        r = sd_event_set_signal_exit(m->event, true);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, &m->sighup, SIGHUP, on_sighup, m);
        if (r < 0)
                return r;
        r = sd_event_add_exit(m->event, NULL, on_exit_event, m);
        if (r < 0)
                return r;
        r = sd_event_add_defer(m->event, &m->status_defer, on_status, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(m->status_defer, SD_EVENT_OFF);
        (void) sd_event_source_set_priority(m->status_defer, SD_EVENT_PRIORITY_IDLE);

        r = daemon_watchdog_enable(m->event);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog, ignoring: %m");

        *ret = TAKE_PTR(m);
        return 0;
}

static void manager_end_all_sessions(Manager *m, const char *reason) {
        while (m->sessions)
                session_end(m->sessions, reason);
}

/* Everything the daemon installed or opened, in reverse order of start-up. Idempotent. */
static void manager_stop(Manager *m) {
        manager_end_all_sessions(m, "shutdown");
        m->tun_source = sd_event_source_disable_unref(m->tun_source);
        for (size_t i = 0; i < m->n_control; i++)
                m->control[i] = control_server_free(m->control[i]);
        m->n_control = 0;
        for (size_t i = 0; i < m->n_sockets; i++)
                m->sockets[i] = data_socket_free(m->sockets[i]);
        m->n_sockets = 0;
        server_kernel_teardown(&m->kernel);
        m->pool = address_pool_free(m->pool);
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        manager_stop(m);
        m->pki = pki_store_free(m->pki);
        m->changes = bus_change_queue_free(m->changes);
        m->bus = bus_flush_close_unref(m->bus);
        sd_event_source_disable_unref(m->sighup);
        sd_event_source_disable_unref(m->status_defer);
        sd_event_unref(m->event);
        server_config_free(m->config);
        free(m->tun_buf);
        free(m->config_dir);
        free(m->state_dir);
        free(m->runtime_dir);
        free(m->config_path);
        return mfree(m);
}

void manager_fail(Manager *m, int error) {
        if (m->exit_error == 0)
                m->exit_error = -abs(error ?: EIO);
        (void) sd_event_exit(m->event, m->exit_error);
}

/* ---- status and change notification ---- */

unsigned manager_n_paths_up(Manager *m) {
        unsigned n = 0;

        for (Session *s = m->sessions; s; s = s->next)
                n += session_n_paths_up(s);
        return n;
}

static int on_status(sd_event_source *source, void *userdata) {
        Manager *m = userdata;

        if (m->state == MANAGER_RUNNING)
                (void) notify_status("%u session%s, %u path%s up", m->n_sessions, m->n_sessions == 1 ? "" : "s",
                                     manager_n_paths_up(m), manager_n_paths_up(m) == 1 ? "" : "s");
        return 0;
}

void manager_update_status(Manager *m) {
        if (m->status_defer && m->state == MANAGER_RUNNING)
                (void) sd_event_source_set_enabled(m->status_defer, SD_EVENT_ONESHOT);
}

void manager_mark_dirty(Manager *m, uint64_t bits) {
        manager_bus_mark_dirty(m, bits);
}

uint64_t manager_rx_bytes(Manager *m) {
        uint64_t n = m->rx_bytes_ended;

        for (Session *s = m->sessions; s; s = s->next)
                n += flux_tunnel_get_stats(s->tunnel)->rx_bytes;
        return n;
}

uint64_t manager_tx_bytes(Manager *m) {
        uint64_t n = m->tx_bytes_ended;

        for (Session *s = m->sessions; s; s = s->next)
                n += flux_tunnel_get_stats(s->tunnel)->tx_bytes;
        return n;
}

int manager_addresses_strv(Manager *m, char ***ret) {
        const ConfigAddress *a[2] = { &m->kernel.addr4, &m->kernel.addr6 };
        bool installed[2] = { m->kernel.addr4_installed, m->kernel.addr6_installed };
        char **l = new0(char *, 3);
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < 2; i++) {
                char buf[IN_ADDR_PREFIX_STR_MAX];

                if (!installed[i])
                        continue;
                l[n] = strdup(config_address_to_string(a[i], buf, sizeof(buf)));
                if (!l[n]) {
                        strv_free(l);
                        return -ENOMEM;
                }
                n++;
        }
        *ret = l;
        return 0;
}

/* ---- control callbacks ---- */

static int grant_session(Manager *m, Session *s, ControlGrant *g) {
        *g = (ControlGrant) {
                .session_id = s->id,
                .addresses = s->lease,
                .udp_port = m->config->data_port,
                .mtu = (uint16_t) m->config->mtu,
        };
        return 0;
}

/* The client's profile chose a scheduler: use it toward that client too, so both directions
 * behave alike (a redundant client gets a redundant downlink). Scheduler= is the default for
 * clients that do not ask (and for version 1). */
static void session_apply_requested_scheduler(Session *s, const ControlSessionRequest *req) {
        FluxSchedulerKind k;
        int r;

        if (!req->scheduler)
                return;
        k = flux_scheduler_kind_from_string(req->scheduler);
        r = k < 0 ? k : session_set_scheduler(s, k);
        if (r >= 0)
                s->scheduler_requested = true;
        else
                log_warning_errno(r, "Session %u: cannot use the scheduler '%s' the client asked for, ignoring: %m",
                                  s->id, req->scheduler);
}

static int on_control_resume(Manager *m, ControlConn *c, const ControlSessionRequest *req, ControlGrant *g) {
        Session *s = manager_find_session(m, req->resume_session_id);

        if (!s || s->protocol != 2 || !streq(s->client_name, req->client_name) || s->state == SESSION_CLOSING) {
                control_conn_set_error_message(c, "Session %u does not exist (any more).",
                                               req->resume_session_id);
                return -ESTALE;
        }
        session_attach_conn(s, c);
        session_apply_requested_scheduler(s, req);
        log_info("Session %u of %s resumed its control connection.", s->id, s->client_name);
        return grant_session(m, s, g);
}

static int on_control_request(ControlServer *cs, ControlConn *c, const ControlSessionRequest *req,
                              ControlGrant *ret_grant, void *userdata) {
        Manager *m = userdata;
        AddressLease lease;
        Session *s;
        uint32_t id;
        int r;

        if (m->state != MANAGER_RUNNING)
                return -EBUSY;
        if (req->resume)
                return on_control_resume(m, c, req, ret_grant);
        if (req->protocol == 1 && !m->config->accept_legacy_clients) {
                control_conn_set_error_message(c, "Version 1 clients are not accepted by this server.");
                return -EPROTONOSUPPORT;
        }

        /* A fresh session replaces an older one of the same client (it crashed or lost its token). */
        for (Session *i = m->sessions, *next; i; i = next) {
                next = i->next;
                if (streq(i->client_name, req->client_name))
                        session_end(i, "replaced");
        }
        if (m->n_sessions >= m->config->max_sessions) {
                control_conn_set_error_message(c, "Too many sessions (MaxSessions=%u).",
                                               m->config->max_sessions);
                return -EBUSY;
        }

        r = address_pool_acquire(m->pool, req->client_name, now(CLOCK_REALTIME), &lease);
        if (r < 0) {
                if (r == -ENOSPC)
                        control_conn_set_error_message(c, "The address pool is exhausted.");
                return r;
        }
        r = session_pick_id(m, &id);
        if (r >= 0)
                r = session_new(m, id, &(SessionParams) {
                                        .client_name = req->client_name,
                                        .protocol = req->protocol,
                                        .secret = req->data_secret,
                                        .lease = &lease,
                                }, &s);
        if (r < 0) {
                (void) address_pool_release(m->pool, req->client_name, now(CLOCK_REALTIME));
                return log_warning_errno(r, "Failed to create a session for %s: %m", req->client_name);
        }
        if (req->protocol == 2)
                session_attach_conn(s, c);
        session_apply_requested_scheduler(s, req);

        log_info("Session %u for %s (protocol %u).", s->id, s->client_name, s->protocol);
        return grant_session(m, s, ret_grant);
}

static bool on_control_id_in_use(ControlServer *cs, uint32_t id, void *userdata) {
        return manager_find_session(userdata, id);
}

static void on_control_closed(ControlServer *cs, ControlConn *c, int error, const char *reason,
                              void *userdata) {
        Session *s = control_conn_get_userdata(c);

        if (!s || s->conn != c)
                return;
        control_conn_set_userdata(c, NULL);
        session_conn_closed(s, error, reason);
}

static const ControlServerCallbacks control_callbacks = {
        .request = on_control_request,
        .session_id_in_use = on_control_id_in_use,
        .closed = on_control_closed,
};

/* ---- start-up ---- */

static int manager_load_config(Manager *m, ServerConfig **ret) {
        _cleanup_(freep) char *msg = NULL;
        int r;

        r = server_config_load(m->config_path, ret, &msg);
        if (r < 0)
                return log_error_errno(r, "%s", msg ?: "Failed to load the configuration: %m");
        if ((*ret)->compression == SERVER_COMPRESSION_GZIP)
                /* The tunnel engine inflates gzip-flagged version 1 packets but has no switch to
                 * compress what it sends. */
                log_notice("Compression=gzip: compressed packets from version 1 peers are accepted, "
                           "but this server sends uncompressed.");
        return 0;
}

static int manager_setup_pki(Manager *m) {
        _cleanup_(freep) char *dir = NULL;
        char fp[PKI_FINGERPRINT_HEX_SIZE];
        int r;

        if (asprintf(&dir, "%s/pki", m->state_dir) < 0)
                return log_oom();
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", dir);
        r = pki_store_open(dir, &m->pki);
        if (r == -EUCLEAN)
                return log_error_errno(r, "The PKI store in %s is incomplete or inconsistent; fix it or remove it "
                                       "to start over (every client certificate becomes invalid): %m", dir);
        if (r < 0)
                return log_error_errno(r, "Failed to open the PKI store in %s: %m", dir);

        if (!pki_store_is_initialized(m->pki)) {
                r = pki_store_initialize(m->pki, PKI_KEY_ECDSA_P256, m->config->server_names);
                if (r < 0)
                        return log_error_errno(r, "Failed to initialise the PKI in %s: %m", dir);
                if (pki_store_ca_fingerprint(m->pki, fp) >= 0)
                        log_notice("Created a new CA in %s, fingerprint %s.", dir, fp);
        } else {
                r = pki_store_ensure_server_cert(m->pki, m->config->server_names);
                if (r < 0)
                        return log_error_errno(r, "Failed to check the server certificate: %m");
                if (r > 0)
                        log_info("Re-issued the server certificate for the configured ServerNames=.");
        }
        return 0;
}

static int manager_setup_pool(Manager *m) {
        _cleanup_(freep) char *lease_file = NULL;
        AddressPoolConfig pc;
        int r;

        if (asprintf(&lease_file, "%s/leases", m->state_dir) < 0)
                return log_oom();
        pc = (AddressPoolConfig) {
                .enable4 = true,
                .prefix4 = m->config->pool.addr,
                .prefixlen4 = m->config->pool.prefixlen,
                .enable6 = true,
                .prefix6 = m->config->pool6.addr,
                .prefixlen6 = m->config->pool6.prefixlen,
                .lease_file = lease_file,
        };
        r = address_pool_new(&pc, &m->pool);
        if (r == -EBADMSG)
                return log_error_errno(r, "The lease file %s is corrupt; fix or remove it: %m", lease_file);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the address pool: %m");
        return 0;
}

static void listen_sockaddr(const ConfigAddress *a, uint16_t port, union sockaddr_union *ret) {
        *ret = (union sockaddr_union) {};
        if (a->family == AF_INET)
                ret->in = (struct sockaddr_in) {
                        .sin_family = AF_INET,
                        .sin_addr = a->addr.in,
                        .sin_port = htons(port),
                };
        else
                ret->in6 = (struct sockaddr_in6) { .sin6_family = AF_INET6, .sin6_addr = a->addr.in6,
                                                   .sin6_port = htons(port) };
}

/* Without Listen=, IPv6 is optional: a host without it still serves IPv4. */
static bool listen_optional(Manager *m, const ConfigAddress *a, int r) {
        return !m->config->listen_explicit && a->family == AF_INET6 &&
               (r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL || r == -EPROTONOSUPPORT);
}

static int manager_setup_listeners(Manager *m) {
        const ServerConfig *c = m->config;
        int r;

        for (size_t i = 0; i < c->n_listen; i++) {
                union sockaddr_union sa;
                char buf[SOCKADDR_STR_MAX];

                listen_sockaddr(&c->listen[i], c->data_port, &sa);
                (void) sockaddr_to_string(&sa, buf, sizeof(buf));
                r = data_socket_new(m, &sa, &m->sockets[m->n_sockets]);
                if (r < 0 && listen_optional(m, &c->listen[i], r)) {
                        log_info_errno(r, "No IPv6 data socket (%s), serving IPv4 only: %m", buf);
                        continue;
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to bind the data socket on UDP %s: %m", buf);
                m->n_sockets++;

                listen_sockaddr(&c->listen[i], c->control_port, &sa);
                (void) sockaddr_to_string(&sa, buf, sizeof(buf));
                r = control_server_new(m->event, m->pki,
                                       &(ControlServerConfig) {
                                               .listen = sa,
                                               .accept_legacy = c->accept_legacy_clients,
                                       },
                                       &control_callbacks, m, &m->control[m->n_control]);
                if (r < 0)
                        return log_error_errno(r, "Failed to listen for control connections on TCP %s: %m",
                                               buf);
                m->n_control++;
        }
        if (m->n_sockets == 0)
                return log_error_errno(-EADDRNOTAVAIL, "No address to listen on.");
        return 0;
}

/* Phase 2: the bus name is ours. */
static int manager_start_owned(Manager *m) {
        int r;

        r = manager_setup_pki(m);
        if (r < 0)
                return r;
        r = manager_setup_pool(m);
        if (r < 0)
                return r;
        r = server_kernel_setup(&m->kernel, m->config, m->runtime_dir);
        if (r < 0)
                return r;
        r = manager_setup_listeners(m);
        if (r < 0)
                return r;
        r = manager_tun_start(m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the TUN device: %m");

        m->state = MANAGER_RUNNING;
        manager_mark_dirty(m, (UINT64_C(1) << MANAGER_PROPERTY_STATE) |
                                      (UINT64_C(1) << MANAGER_PROPERTY_ADDRESSES));
        pki_bus_mark_dirty(m, UINT64_MAX);
        log_info("Serving on TCP %u (control) and UDP %u (data), tunnel %s.", m->config->control_port,
                 m->config->data_port, m->kernel.tun_name);
        (void) notify_ready_status("0 sessions, 0 paths up");
        /* Start-up (PKI, nft, TLS credentials) leaves freed heap behind: give it back, idle RSS
         * counts (DESIGN.md §7). */
        (void) malloc_trim(0);
        return 0;
}

static void on_name_done(void *userdata, int error, const char *message) {
        Manager *m = userdata;
        int r;

        if (error < 0) {
                log_error_errno(error, "Failed to acquire bus name %s: %s", FLUX_SERVER_BUS_NAME,
                                message ?: "%m");
                manager_fail(m, error);
                return;
        }
        log_debug("Acquired bus name %s.", FLUX_SERVER_BUS_NAME);
        r = manager_start_owned(m);
        if (r < 0)
                manager_fail(m, r);
}

int manager_start(Manager *m) {
        int r;

        r = manager_load_config(m, &m->config);
        if (r < 0)
                return r;
        r = bus_open_system_attached(m->event, "bus-api-server", MANAGER_PRIORITY_BUS, &m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = bus_change_queue_new(m->event, m->bus, MANAGER_PRIORITY_PROPERTIES, &m->changes);
        if (r < 0)
                return log_error_errno(r, "Failed to set up change notification: %m");
        r = manager_bus_register(m);
        if (r < 0)
                return log_error_errno(r, "Failed to register bus objects: %m");
        r = bus_request_name_async_done(m->bus, FLUX_SERVER_BUS_NAME, on_name_done, m);
        if (r < 0)
                return log_error_errno(r, "Failed to request bus name %s: %m", FLUX_SERVER_BUS_NAME);
        return 0;
}

/* ---- running ---- */

static int on_exit_event(sd_event_source *source, void *userdata) {
        Manager *m = userdata;

        m->state = MANAGER_STOPPING;
        (void) notify_stopping();
        manager_mark_dirty(m, UINT64_C(1) << MANAGER_PROPERTY_STATE);
        if (m->changes)
                (void) bus_change_queue_flush(m->changes);
        manager_stop(m);
        return 0;
}

int manager_run(Manager *m) {
        int r;

        r = sd_event_loop(m->event);
        if (r < 0 && m->exit_error == 0)
                return log_error_errno(r, "Event loop failed: %m");
        return m->exit_error;
}

static bool config_address_equal(const ConfigAddress *a, const ConfigAddress *b) {
        return a->family == b->family && a->prefixlen == b->prefixlen &&
               (a->family == AF_UNSPEC || in_addr_equal(a->family, &a->addr, &b->addr));
}

/* Keys that only a restart applies. */
static bool config_needs_restart(const ServerConfig *a, const ServerConfig *b) {
        if (a->control_port != b->control_port || a->data_port != b->data_port || a->n_listen != b->n_listen ||
            !streq(a->tunnel, b->tunnel) || !config_address_equal(&a->address, &b->address) ||
            !config_address_equal(&a->address6, &b->address6) || !config_address_equal(&a->pool, &b->pool) ||
            !config_address_equal(&a->pool6, &b->pool6))
                return true;
        for (size_t i = 0; i < a->n_listen; i++)
                if (!config_address_equal(&a->listen[i], &b->listen[i]))
                        return true;
        return false;
}

static bool strv_equal(char *const *a, char *const *b) {
        size_t n = strv_length(a);

        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

static int manager_apply_config(Manager *m, ServerConfig *n) {
        ServerConfig *o = m->config;
        int r;

        if (n->nat != o->nat || !streq_ptr(n->egress_interface, o->egress_interface) ||
            n->mss_clamp != o->mss_clamp || n->client_to_client != o->client_to_client) {
                r = server_kernel_apply_nft(&m->kernel, n);
                if (r < 0)
                        return r; /* the old table is still in place (atomic replace) */
        }
        if (n->mtu != o->mtu) {
                r = server_kernel_set_mtu(&m->kernel, n->mtu);
                if (r < 0)
                        log_warning_errno(r, "Failed to change the MTU to %u, ignoring: %m", n->mtu);
        }
        if (!strv_equal(n->server_names, o->server_names) && m->pki) {
                r = pki_store_ensure_server_cert(m->pki, n->server_names);
                if (r < 0)
                        log_warning_errno(r, "Failed to re-issue the server certificate, ignoring: %m");
                if (r > 0) {
                        for (size_t i = 0; i < m->n_control; i++)
                                (void) control_server_reload_pki(m->control[i]);
                        pki_bus_mark_dirty(m, UINT64_MAX);
                }
        }
        for (size_t i = 0; i < m->n_control; i++)
                control_server_set_accept_legacy(m->control[i], n->accept_legacy_clients);
        if (n->scheduler != o->scheduler)
                for (Session *s = m->sessions; s; s = s->next)
                        if (!s->scheduler_requested)
                                (void) session_set_scheduler(s, n->scheduler);
        return 0;
}

int manager_reload(Manager *m, char **reterr_message) {
        _cleanup_(server_config_freep) ServerConfig *n = NULL;
        int r;

        r = server_config_load(m->config_path, &n, reterr_message);
        if (r < 0)
                return r;
        if (m->state != MANAGER_RUNNING) {
                /* Nothing is set up yet (or any more): the new file wins as a whole. */
                server_config_free(m->config);
                m->config = TAKE_PTR(n);
                return 0;
        }
        if (config_needs_restart(m->config, n)) {
                log_warning("ControlPort=, DataPort=, Listen=, Tunnel=, Address*= or Pool*= changed: "
                            "restart fluxify-server to apply them; keeping the running values.");
                n->control_port = m->config->control_port;
                n->data_port = m->config->data_port;
                memcpy(n->listen, m->config->listen, sizeof(n->listen));
                n->n_listen = m->config->n_listen;
                n->listen_explicit = m->config->listen_explicit;
                free_and_replace(n->tunnel, m->config->tunnel);
                n->address = m->config->address;
                n->address6 = m->config->address6;
                n->pool = m->config->pool;
                n->pool6 = m->config->pool6;
        }
        r = manager_apply_config(m, n);
        if (r < 0) {
                if (reterr_message && asprintf(reterr_message, "Failed to apply the new configuration: %s",
                                               strerror(-r)) < 0)
                        *reterr_message = NULL;
                return r;
        }
        server_config_free(m->config);
        m->config = TAKE_PTR(n);
        return 0;
}

static int on_sighup(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        _cleanup_(freep) char *msg = NULL;
        int r;

        (void) notify_reloading();
        r = manager_reload(m, &msg);
        if (r < 0)
                log_error_errno(r, "Reload failed, keeping the running configuration: %s", msg ?: "%m");
        else
                log_info("Configuration reloaded.");
        (void) notify_ready_status("%u session%s, %u path%s up", m->n_sessions, m->n_sessions == 1 ? "" : "s",
                                   manager_n_paths_up(m), manager_n_paths_up(m) == 1 ? "" : "s");
        return 0;
}

/* ---- PKI operations ---- */

int manager_end_sessions_of(Manager *m, const char *client_name, const char *reason) {
        int n = 0;

        for (Session *s = m->sessions, *next; s; s = next) {
                next = s->next;
                if (streq(s->client_name, client_name)) {
                        session_end(s, reason);
                        n++;
                }
        }
        return n;
}

int manager_revoke_certificate(Manager *m, const char *name) {
        bool already;
        int r;

        r = pki_store_revoke(m->pki, name);
        if (r < 0 && r != -EALREADY)
                return r;
        already = r == -EALREADY;

        /* Even when the certificate was revoked before, make sure nothing of that client remains:
         * sessions first (they own their control connections), then any other connection of that
         * name (a resume in flight, a connection still being set up). */
        (void) manager_end_sessions_of(m, name, "revoked");
        for (size_t i = 0; i < m->n_control; i++) {
                (void) control_server_reload_crl(m->control[i]);
                (void) control_server_close_client(m->control[i], name, "revoked");
        }
        if (m->pool)
                (void) address_pool_forget(m->pool, name);
        if (!already)
                log_info("Revoked the certificate of %s.", name);
        return already ? 0 : 1;
}

int manager_regenerate_ca(Manager *m) {
        int r;

        r = pki_store_regenerate_ca(m->pki, PKI_KEY_ECDSA_P256);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_control; i++)
                (void) control_server_reload_pki(m->control[i]);
        manager_end_all_sessions(m, "ca-regenerated");
        pki_bus_mark_dirty(m, UINT64_MAX);
        log_notice("Regenerated the CA: every client certificate is now invalid.");
        return 0;
}
