/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "bus-util.h"
#include "client-conf.h"
#include "macro.h"
#include "time-util.h"

typedef struct sd_bus_slot sd_bus_slot;
typedef struct Manager Manager;
typedef struct Uplink Uplink;
typedef struct Session Session;
typedef struct Balance Balance;
typedef struct Routing Routing;
typedef struct Rtnl Rtnl;
typedef struct RtnlMonitor RtnlMonitor;

typedef enum ClientState {
        CLIENT_STATE_IDLE,
        CLIENT_STATE_CONNECTING,
        CLIENT_STATE_CONNECTED,
        CLIENT_STATE_RECONNECTING,
        CLIENT_STATE_DISCONNECTING,
        CLIENT_STATE_FAILED,
        _CLIENT_STATE_MAX,
        _CLIENT_STATE_INVALID = -EINVAL,
} ClientState;

DECLARE_STRING_TABLE(client_state, ClientState);

/* Manager properties that emit PropertiesChanged, as bits for BusChangeQueue. */
typedef enum ManagerProperty {
        MANAGER_PROP_MODE = 1 << 0,
        MANAGER_PROP_STATE = 1 << 1,
        MANAGER_PROP_SERVER = 1 << 2,
        MANAGER_PROP_INTERFACES = 1 << 3,
        MANAGER_PROP_SCHEDULER = 1 << 4,
        MANAGER_PROP_LAST_ERROR = 1 << 5,
        MANAGER_PROP_SESSION = 1 << 6,
        MANAGER_PROP_CONNECTIONS = 1 << 7,
} ManagerProperty;

extern const char *const manager_property_names[];

/* Options of Connect(): what the caller gave (NULL / -1 = the profile's value). */
typedef struct ConnectOptions {
        char **interfaces;
        int mode;
        char *server;
        int scheduler;
        bool save;
} ConnectOptions;

void connect_options_done(ConnectOptions *o);

struct Manager {
        sd_event *event;
        sd_bus *bus;
        BusChangeQueue *changes;
        sd_bus_slot *slots[8];          /* vtables, enumerators, object manager */

        char *profile;
        char *bus_name;                 /* org.fluxify.client1.<profile> */
        char *config_dir, *state_dir, *runtime_dir;
        char *config_path;              /* <config_dir>/client/<profile>.conf */
        ClientConfig config;            /* as loaded from config_path */

        /* Effective settings: the profile's, overridden by Connect() options and changed by
         * AddInterface()/RemoveInterface(). */
        int mode;                       /* ClientMode */
        char *server;
        char **interfaces;              /* NULL-terminated, never NULL */
        int scheduler;                  /* ClientScheduler */

        ClientState state;
        char *last_error;               /* "" when none */

        Uplink **uplinks;               /* one per effective interface while not idle */
        size_t n_uplinks;
        Session *session;               /* bonding session while connecting/connected */
        Balance *balance;               /* load-balance mode while connected */

        Rtnl *rtnl;
        RtnlMonitor *monitor;
        Routing *routing;               /* every route and rule we installed, journaled */

        char *last_status;              /* last STATUS= sent, to send changes only */
        bool name_acquired;
        bool stopping;
};

int manager_new(const char *profile, const char *config_dir, const char *state_dir, const char *runtime_dir,
                Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Loads the profile (logs "file:line: …" on failure). */
int manager_load_config(Manager *m);
/* Netlink, crash clean-up, bus objects and name, READY=1 once the name is owned. */
int manager_start(Manager *m);
int manager_run(Manager *m);

/* Connect()/Disconnect() logic; the bus layer has validated syntax. -EALREADY, -ENOTCONN,
 * -ENODEV (with *ret_bad_iface set), -EOPNOTSUPP, -EBADMSG (profile lacks something; message in
 * *ret_message). */
int manager_connect(Manager *m, ConnectOptions *o, char **ret_message);
int manager_disconnect(Manager *m, const char *reason);
int manager_add_interface(Manager *m, const char *ifname, char **ret_message);
int manager_remove_interface(Manager *m, const char *ifname, char **ret_message);

void manager_set_state(Manager *m, ClientState state);
void manager_set_error(Manager *m, const char *fmt, ...) _printf_(2, 3);
void manager_mark_changed(Manager *m, uint64_t bits);
void manager_update_status(Manager *m);

Uplink *manager_find_uplink(Manager *m, const char *ifname);
Uplink *manager_find_uplink_by_index(Manager *m, int ifindex);

/* Traffic totals (tunnel counters) for RxBytes/TxBytes. */
uint64_t manager_rx_bytes(Manager *m);
uint64_t manager_tx_bytes(Manager *m);

/* client-manager-bus.c */
int manager_bus_register(Manager *m);
void manager_bus_free(Manager *m);
int manager_bus_request_name(Manager *m);
