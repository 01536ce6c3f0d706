/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <signal.h>
#include <stdarg.h>
#include <sys/signalfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "alloc-util.h"
#include "bus-util.h"
#include "client-balance.h"
#include "client-manager.h"
#include "client-routing.h"
#include "client-session.h"
#include "client-uplink.h"
#include "conf-parser.h"
#include "daemon-util.h"
#include "fd-util.h"
#include "flux-bus-names.h"
#include "log.h"
#include "monitor.h"
#include "nft.h"
#include "rtnl.h"

static const char *const client_state_table[_CLIENT_STATE_MAX] = {
        [CLIENT_STATE_IDLE] = "idle",
        [CLIENT_STATE_CONNECTING] = "connecting",
        [CLIENT_STATE_CONNECTED] = "connected",
        [CLIENT_STATE_RECONNECTING] = "reconnecting",
        [CLIENT_STATE_DISCONNECTING] = "disconnecting",
        [CLIENT_STATE_FAILED] = "failed",
};
DEFINE_STRING_TABLE(client_state, ClientState, _CLIENT_STATE_MAX);

const char *const manager_property_names[] = {
        "Mode", "State", "Server", "Interfaces", "Scheduler", "LastError", "Session", "Connections", NULL,
};

void connect_options_done(ConnectOptions *o) {
        strv_free(o->interfaces);
        o->interfaces = NULL;
        o->server = mfree(o->server);
}

static char **strv_copy(char *const *l) {
        size_t n = strv_length(l);
        char **c = new0(char *, n + 1);

        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(l[i]);
                if (!c[i]) {
                        strv_free(c);
                        return NULL;
                }
        }
        return c;
}

int manager_new(const char *profile, const char *config_dir, const char *state_dir, const char *runtime_dir,
                Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = new0(Manager, 1);
        if (!m)
                return -ENOMEM;
        client_config_init(&m->config);
        m->state = CLIENT_STATE_IDLE;
        m->profile = strdup(profile);
        m->config_dir = strdup(config_dir);
        m->state_dir = strdup(state_dir);
        m->runtime_dir = strdup(runtime_dir);
        m->last_error = strdup("");
        m->interfaces = new0(char *, 1);
        if (!m->profile || !m->config_dir || !m->state_dir || !m->runtime_dir || !m->last_error || !m->interfaces)
                return -ENOMEM;
        if (asprintf(&m->bus_name, "%s.%s", FLUX_CLIENT_BUS_NAME_PREFIX, profile) < 0 ||
            asprintf(&m->config_path, "%s/client/%s.conf", config_dir, profile) < 0) {
                m->bus_name = m->config_path = NULL;
                return -ENOMEM;
        }

        r = sd_event_new(&m->event);
        if (r < 0)
                return r;
        r = sd_event_set_signal_exit(m->event, true);
        if (r < 0)
                return r;
        (void) daemon_watchdog_enable(m->event);

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        m->stopping = true;
        m->session = session_free(m->session);
        m->balance = balance_free(m->balance);
        while (m->n_uplinks > 0)
                uplink_free(m->uplinks[m->n_uplinks - 1]);
        free(m->uplinks);
        if (m->routing)
                (void) routing_remove_all(m->routing);
        m->routing = routing_free(m->routing);
        m->monitor = rtnl_monitor_free(m->monitor);
        m->rtnl = rtnl_free(m->rtnl);

        m->changes = bus_change_queue_free(m->changes);
        manager_bus_free(m);
        m->event = sd_event_unref(m->event);

        client_config_done(&m->config);
        strv_free(m->interfaces);
        free(m->server);
        free(m->last_error);
        free(m->last_status);
        free(m->profile);
        free(m->bus_name);
        free(m->config_dir);
        free(m->state_dir);
        free(m->runtime_dir);
        free(m->config_path);
        return mfree(m);
}

/* Effective settings from the profile (at start, and after Disconnect()). */
static int manager_reset_effective(Manager *m) {
        char **l = strv_copy(m->config.interfaces);

        if (!l)
                return -ENOMEM;
        strv_free(m->interfaces);
        m->interfaces = l;
        if (free_and_strdup(&m->server, m->config.server) < 0)
                return -ENOMEM;
        m->mode = m->config.mode;
        m->scheduler = m->config.scheduler;
        manager_mark_changed(m, MANAGER_PROP_MODE | MANAGER_PROP_SERVER | MANAGER_PROP_INTERFACES |
                                        MANAGER_PROP_SCHEDULER);
        return 0;
}

/* SIGHUP: re-read the profile. A bad file keeps the old settings; a running session keeps its
 * settings until the next Connect(), while idle the new ones show at once. */
static int on_sighup(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        _cleanup_(freep) char *msg = NULL;
        ClientConfig c;
        int r;

        (void) notify_reloading();
        client_config_init(&c);
        r = client_config_load(&c, m->config_path, &msg);
        if (r < 0) {
                log_error_errno(r, "Failed to reload profile '%s', keeping the previous settings: %s", m->profile,
                                msg ?: "unknown error");
                client_config_done(&c);
        } else {
                client_config_done(&m->config);
                m->config = c;
                if (m->state == CLIENT_STATE_IDLE || m->state == CLIENT_STATE_FAILED)
                        (void) manager_reset_effective(m);
                log_info("Reloaded profile %s.", m->profile);
        }
        (void) notify_ready();
        manager_update_status(m);
        return 0;
}

int manager_load_config(Manager *m) {
        _cleanup_(freep) char *msg = NULL;
        int r;

        client_config_done(&m->config);
        r = client_config_load(&m->config, m->config_path, &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to load profile '%s': %s", m->profile,
                                       msg ?: "unknown error");
        r = manager_reset_effective(m);
        if (r < 0)
                return log_oom();
        return 0;
}

void manager_mark_changed(Manager *m, uint64_t bits) {
        if (!m->changes)
                return;
        (void) bus_change_queue_mark(m->changes, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, manager_property_names,
                                     bits);
}

void manager_update_status(Manager *m) {
        char buf[128];
        size_t up = 0;

        for (size_t i = 0; i < m->n_uplinks; i++)
                if (streq(uplink_state_string(m->uplinks[i]), "up"))
                        up++;
        if (m->state == CLIENT_STATE_CONNECTED || m->state == CLIENT_STATE_RECONNECTING)
                snprintf(buf, sizeof buf, "%s, %zu of %zu paths up", client_state_to_string(m->state), up,
                         m->n_uplinks);
        else
                snprintf(buf, sizeof buf, "%s", client_state_to_string(m->state));
        if (streq_ptr(buf, m->last_status))
                return;
        (void) free_and_strdup(&m->last_status, buf);
        (void) notify_status("%s", buf);
}

void manager_set_state(Manager *m, ClientState state) {
        if (m->state == state)
                return;
        log_info("Profile %s: %s → %s", m->profile, client_state_to_string(m->state), client_state_to_string(state));
        m->state = state;
        manager_mark_changed(m, MANAGER_PROP_STATE);
        manager_update_status(m);
}

void manager_set_error(Manager *m, const char *fmt, ...) {
        char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s)
                return;
        if (streq_ptr(s, m->last_error)) {
                free(s);
                return;
        }
        free_and_replace(m->last_error, s);
        manager_mark_changed(m, MANAGER_PROP_LAST_ERROR);
}

Uplink *manager_find_uplink(Manager *m, const char *ifname) {
        for (size_t i = 0; i < m->n_uplinks; i++)
                if (streq(m->uplinks[i]->name, ifname))
                        return m->uplinks[i];
        return NULL;
}

Uplink *manager_find_uplink_by_index(Manager *m, int ifindex) {
        for (size_t i = 0; i < m->n_uplinks; i++)
                if (m->uplinks[i]->ifindex == ifindex)
                        return m->uplinks[i];
        return NULL;
}

uint64_t manager_rx_bytes(Manager *m) {
        return m->session ? session_rx_bytes(m->session) : 0;
}

uint64_t manager_tx_bytes(Manager *m) {
        return m->session ? session_tx_bytes(m->session) : 0;
}

static void manager_link_event(Manager *m, Uplink *u) {
        int old_index = u->ifindex;

        if (uplink_refresh(u) > 0 || (old_index != u->ifindex && uplink_is_usable(u))) {
                log_info("Uplink %s is %s.", u->name, uplink_is_usable(u) ? "usable" : "not usable");
                if (m->session)
                        session_uplink_changed(m->session, u);
                if (m->balance)
                        balance_uplink_changed(m->balance, u);
        }
        uplink_check_state(u);
        manager_update_status(m);
}

static int on_rtnl_event(RtnlMonitor *mon, const RtnlEvent *ev, void *userdata) {
        Manager *m = userdata;
        Uplink *u = NULL;

        switch (ev->type) {
        case RTNL_EVENT_LINK_NEW:
        case RTNL_EVENT_LINK_REMOVED:
                /* By name too: an interface that comes back gets a new index. */
                u = manager_find_uplink(m, ev->link.name) ?: manager_find_uplink_by_index(m, ev->link.ifindex);
                break;
        case RTNL_EVENT_ADDRESS_ADDED:
        case RTNL_EVENT_ADDRESS_REMOVED:
                u = manager_find_uplink_by_index(m, ev->address.ifindex);
                break;
        case RTNL_EVENT_ROUTE_ADDED:
        case RTNL_EVENT_ROUTE_REMOVED:
                /* Only foreign default routes in main matter: they give the uplinks' gateways. */
                if ((!m->session && !m->balance) || ev->route.protocol == RTPROT_FLUXIFY || ev->route.dst_prefixlen != 0 ||
                    (ev->route.table != 0 && ev->route.table != RT_TABLE_MAIN))
                        return 0;
                for (size_t i = 0; i < m->n_uplinks; i++) {
                        bool match = m->uplinks[i]->ifindex == ev->route.oif;
                        for (size_t j = 0; j < ev->route.n_nexthops; j++)
                                match = match || ev->route.nexthops[j].ifindex == m->uplinks[i]->ifindex;
                        if (match && m->session)
                                session_uplink_routes_changed(m->session, m->uplinks[i]);
                        else if (match && m->balance && !m->uplinks[i]->routed)
                                balance_uplink_changed(m->balance, m->uplinks[i]);
                }
                return 0;
        case RTNL_EVENT_RESYNC:
                for (size_t i = 0; i < m->n_uplinks; i++)
                        manager_link_event(m, m->uplinks[i]);
                return 0;
        default:
                return 0;
        }
        if (u)
                manager_link_event(m, u);
        return 0;
}

static int manager_save_profile(Manager *m, const ConnectOptions *o) {
        _cleanup_(freep) char *text = NULL, *out = NULL, *ifaces = NULL;
        const char *keys[5], *values[5];
        size_t n = 0, l = 1;
        int r;

        r = read_full_file(m->config_path, CONFIG_FILE_MAX, &text, NULL);
        if (r < 0 && r != -ENOENT)
                return r;

        if (o->interfaces) {
                for (char **i = o->interfaces; *i; i++)
                        l += strlen(*i) + 1;
                ifaces = new0(char, l);
                if (!ifaces)
                        return -ENOMEM;
                for (char **i = o->interfaces; *i; i++) {
                        if (i != o->interfaces)
                                strcat(ifaces, " ");
                        strcat(ifaces, *i);
                }
                keys[n] = "Interfaces";
                values[n++] = ifaces;
        }
        if (o->mode >= 0) {
                keys[n] = "Mode";
                values[n++] = client_mode_to_string(o->mode);
        }
        if (o->server) {
                keys[n] = "Server";
                values[n++] = o->server;
        }
        if (o->scheduler >= 0) {
                keys[n] = "Scheduler";
                values[n++] = client_scheduler_to_string(o->scheduler);
        }
        keys[n] = values[n] = NULL;

        r = client_config_update_text(text, keys, values, &out);
        if (r < 0)
                return r;
        return write_file_atomic(m->config_path, out, strlen(out), 0644);
}

/* Checks that the effective settings can make a session; message for the caller on failure. */
static int manager_check_connectable(Manager *m, char **ret_message, char **ret_bad_iface) {
        RtnlLink link;

        if (!m->interfaces[0])
                return asprintf(ret_message, "No uplink interfaces: set Interfaces= in %s or pass 'interfaces'.",
                                m->config_path) < 0 ? -ENOMEM : -EBADMSG;
        for (char **i = m->interfaces; *i; i++)
                if (rtnl_link_get_by_name(m->rtnl, *i, &link) < 0) {
                        *ret_bad_iface = strdup(*i);
                        return asprintf(ret_message, "No such interface '%s'.", *i) < 0 ? -ENOMEM : -ENODEV;
                }
        if (m->mode == CLIENT_MODE_LOAD_BALANCE)
                return 0; /* serverless: no server, no bundle */
        if (!m->server)
                return asprintf(ret_message, "No server: set Server= in %s or pass 'server'.", m->config_path) < 0
                               ? -ENOMEM : -EBADMSG;
        if (!m->config.bundle)
                return asprintf(ret_message, "No certificate bundle: set Bundle= in %s.", m->config_path) < 0
                               ? -ENOMEM : -EBADMSG;
        return 0;
}

int manager_connect(Manager *m, ConnectOptions *o, char **ret_message) {
        _cleanup_(freep) char *bad = NULL;
        int r;

        if (m->state != CLIENT_STATE_IDLE && m->state != CLIENT_STATE_FAILED)
                return -EALREADY;

        /* Apply the options on top of the profile (not on top of what AddInterface() changed while
         * idle: Interfaces then already holds those); roll back if the result cannot connect. */
        if (o->interfaces) {
                strv_free(m->interfaces);
                m->interfaces = TAKE_PTR(o->interfaces);
        }
        if (o->server)
                free_and_replace(m->server, o->server);
        if (o->mode >= 0)
                m->mode = o->mode;
        if (o->scheduler >= 0)
                m->scheduler = o->scheduler;

        r = manager_check_connectable(m, ret_message, &bad);
        if (r < 0) {
                (void) manager_reset_effective(m);
                return r;
        }

        if (o->save) {
                /* o's strings were moved into m: save what is now effective for the given keys. */
                ConnectOptions eff = {
                        .interfaces = m->interfaces,
                        .server = m->server,
                        .mode = m->mode,
                        .scheduler = m->scheduler,
                };
                r = manager_save_profile(m, &eff);
                if (r < 0) {
                        (void) manager_reset_effective(m);
                        return asprintf(ret_message, "Failed to save the profile %s: %s", m->config_path,
                                        strerror(-r)) < 0 ? -ENOMEM : r;
                }
                log_info("Saved the connection settings to %s.", m->config_path);
        }

        manager_mark_changed(m, MANAGER_PROP_MODE | MANAGER_PROP_SERVER | MANAGER_PROP_INTERFACES |
                                        MANAGER_PROP_SCHEDULER);
        manager_set_error(m, "%s", "");
        manager_set_state(m, CLIENT_STATE_CONNECTING);

        for (char **i = m->interfaces; *i; i++) {
                r = uplink_new(m, *i, NULL);
                if (r < 0)
                        goto fail;
        }
        r = m->mode == CLIENT_MODE_LOAD_BALANCE ? balance_start(m) : session_start(m);
        if (r < 0)
                goto fail;
        return 0;

fail:
        /* session_start() explains bundle and server problems in LastError: pass that on as an
         * InvalidConfig error. */
        if (isempty(m->last_error))
                manager_set_error(m, "Failed to start the session: %s", strerror(-r));
        m->session = session_free(m->session);
        m->balance = balance_free(m->balance);
        while (m->n_uplinks > 0)
                uplink_free(m->uplinks[m->n_uplinks - 1]);
        manager_set_state(m, CLIENT_STATE_FAILED);
        if (free_and_strdup(ret_message, m->last_error) < 0)
                return -ENOMEM;
        return r == -ENOMEM ? r : -EBADMSG;
}

int manager_disconnect(Manager *m, const char *reason) {
        if (m->state == CLIENT_STATE_IDLE || m->state == CLIENT_STATE_FAILED)
                return -ENOTCONN;

        log_info("Disconnecting profile %s (%s).", m->profile, reason);
        manager_set_state(m, CLIENT_STATE_DISCONNECTING);
        m->session = session_free(m->session);
        m->balance = balance_free(m->balance);
        while (m->n_uplinks > 0)
                uplink_free(m->uplinks[m->n_uplinks - 1]);
        if (m->routing)
                (void) routing_remove_all(m->routing);
        (void) manager_reset_effective(m);
        manager_set_state(m, CLIENT_STATE_IDLE);
        return 0;
}

int manager_add_interface(Manager *m, const char *ifname, char **ret_message) {
        size_t n = strv_length(m->interfaces);
        RtnlLink link;
        char **l;
        Uplink *u;
        int r;

        if (rtnl_link_get_by_name(m->rtnl, ifname, &link) < 0)
                return asprintf(ret_message, "No such interface '%s'.", ifname) < 0 ? -ENOMEM : -ENODEV;
        if (strv_contains(m->interfaces, ifname))
                return asprintf(ret_message, "Interface '%s' is already an uplink of profile '%s'.", ifname,
                                m->profile) < 0 ? -ENOMEM : -EEXIST;

        l = reallocarray(m->interfaces, n + 2, sizeof(char *));
        if (!l)
                return -ENOMEM;
        m->interfaces = l;
        l[n] = strdup(ifname);
        if (!l[n])
                return -ENOMEM;
        l[n + 1] = NULL;
        manager_mark_changed(m, MANAGER_PROP_INTERFACES);

        if (m->state == CLIENT_STATE_IDLE || m->state == CLIENT_STATE_FAILED)
                return 0; /* used by the next Connect() */

        r = uplink_new(m, ifname, &u);
        if (r < 0)
                return r;
        if (m->session) {
                r = session_add_uplink(m->session, u);
                if (r < 0)
                        log_warning_errno(r, "Failed to add uplink %s to the session, will retry: %m", ifname);
        }
        if (m->balance)
                (void) balance_add_uplink(m->balance, u);
        log_info("Added uplink %s.", ifname);
        manager_update_status(m);
        return 0;
}

int manager_remove_interface(Manager *m, const char *ifname, char **ret_message) {
        size_t n = strv_length(m->interfaces), j = 0;
        bool running = m->state != CLIENT_STATE_IDLE && m->state != CLIENT_STATE_FAILED;
        Uplink *u;

        if (!strv_contains(m->interfaces, ifname))
                return asprintf(ret_message, "Interface '%s' is not an uplink of profile '%s'.", ifname,
                                m->profile) < 0 ? -ENOMEM : -ENODEV;
        if (running && n == 1)
                return asprintf(ret_message, "'%s' is the last uplink; use Disconnect() instead.", ifname) < 0
                               ? -ENOMEM : -EBUSY;

        for (size_t i = 0; i < n; i++) {
                if (streq(m->interfaces[i], ifname))
                        free(m->interfaces[i]);
                else
                        m->interfaces[j++] = m->interfaces[i];
        }
        m->interfaces[j] = NULL;
        manager_mark_changed(m, MANAGER_PROP_INTERFACES);

        u = manager_find_uplink(m, ifname);
        if (u) {
                if (m->session)
                        session_remove_uplink(m->session, u);
                if (m->balance)
                        balance_remove_uplink(m->balance, u);
                uplink_free(u);
                log_info("Removed uplink %s.", ifname);
        }
        manager_update_status(m);
        return 0;
}

static void on_name_acquired(void *userdata, int error, const char *message) {
        Manager *m = userdata;
        _cleanup_(freep) char *msg = NULL;
        int r;

        if (error < 0) {
                log_error_errno(error, "Failed to acquire bus name %s: %s", m->bus_name, message ?: "unknown error");
                (void) notify_errno(error);
                (void) sd_event_exit(m->event, error);
                return;
        }
        m->name_acquired = true;
        log_info("Profile %s ready on the bus as %s.", m->profile, m->bus_name);
        (void) notify_ready_status("idle");

        if (m->config.auto_connect) {
                ConnectOptions o = { .mode = -1, .scheduler = -1 };

                r = manager_connect(m, &o, &msg);
                if (r < 0)
                        log_error_errno(r, "AutoConnect=yes, but connecting failed: %s", msg ?: strerror(-r));
        }
}

int manager_start(Manager *m) {
        _cleanup_(freep) char *journal = NULL, *dir = NULL;
        int r;

        r = rtnl_open(&m->rtnl);
        if (r < 0)
                return log_error_errno(r, "Failed to open an rtnetlink socket: %m");

        if (asprintf(&dir, "%s/client", m->runtime_dir) < 0 ||
            asprintf(&journal, "%s/client/%s.routes", m->runtime_dir, m->profile) < 0)
                return log_oom();
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create the runtime directory %s: %m", dir);

        /* Crash recovery: undo what a previous instance of this profile left behind. */
        r = routing_recover(m->rtnl, journal);
        if (r < 0)
                log_warning_errno(r, "Failed to clean up after a previous run (%s), ignoring: %m", journal);
        else if (r > 0)
                log_notice("Removed %i routes and rules left behind by a previous run.", r);
        /* Our nft table is ours by name: a crashed instance's goes. */
        {
                _cleanup_(freep) char *table = NULL;
                if (nft_client_table_name(m->profile, &table) >= 0 && nft_table_delete("inet", table, NULL) > 0)
                        log_notice("Removed the nftables table %s left behind by a previous run.", table);
        }
        r = routing_new(m->rtnl, journal, &m->routing);
        if (r < 0)
                return log_oom();

        r = sd_event_add_signal(m->event, NULL, SIGHUP | SD_EVENT_SIGNAL_PROCMASK, on_sighup, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch SIGHUP: %m");

        r = rtnl_monitor_new(m->event, RTNL_MONITOR_LINK | RTNL_MONITOR_ADDRESS | RTNL_MONITOR_ROUTE, on_rtnl_event, m, &m->monitor);
        if (r < 0)
                return log_error_errno(r, "Failed to watch network interfaces: %m");
        (void) rtnl_monitor_set_priority(m->monitor, SD_EVENT_PRIORITY_NORMAL - 5);

        r = bus_open_system_attached(m->event, "fluxifyd-client", SD_EVENT_PRIORITY_NORMAL - 10, &m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = bus_change_queue_new(m->event, m->bus, SD_EVENT_PRIORITY_NORMAL - 10, &m->changes);
        if (r < 0)
                return log_error_errno(r, "Failed to set up change notification: %m");
        r = manager_bus_register(m);
        if (r < 0)
                return log_error_errno(r, "Failed to register the bus objects: %m");
        r = bus_request_name_async_done(m->bus, m->bus_name, on_name_acquired, m);
        if (r < 0)
                return log_error_errno(r, "Failed to request bus name %s: %m", m->bus_name);
        return 0;
}

int manager_run(Manager *m) {
        int r;

        r = sd_event_loop(m->event);
        (void) notify_stopping();
        if (m->state != CLIENT_STATE_IDLE && m->state != CLIENT_STATE_FAILED)
                (void) manager_disconnect(m, "stopping");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return r;
}
