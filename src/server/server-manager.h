/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The server's Manager: owns the event loop, the bus connection, the configuration, the PKI store,
 * the address pool, the control listeners, the kernel state (TUN, addresses, nft table), the data
 * sockets and the table of sessions. Start-up runs in two phases: the bus name is requested first
 * (so a second instance never touches the first one's kernel state), everything else once it is
 * owned; READY=1 follows. */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "bus-util.h"
#include "server-conf.h"
#include "server-kernel.h"
#include "time-util.h"

typedef struct Manager Manager;
typedef struct Session Session;
typedef struct Connection Connection;
typedef struct DataSocket DataSocket;
typedef struct ControlServer ControlServer;
typedef struct PkiStore PkiStore;
typedef struct AddressPool AddressPool;

/* Event source priorities: bus and control before timers, timers before packets (STYLE.md). */
#define MANAGER_PRIORITY_BUS (SD_EVENT_PRIORITY_NORMAL - 10)
#define MANAGER_PRIORITY_CONTROL (SD_EVENT_PRIORITY_NORMAL - 5)
#define MANAGER_PRIORITY_TIMER SD_EVENT_PRIORITY_NORMAL
#define MANAGER_PRIORITY_PACKETS (SD_EVENT_PRIORITY_NORMAL + 10)
#define MANAGER_PRIORITY_PROPERTIES (SD_EVENT_PRIORITY_IDLE)

#define SESSION_HASH_SIZE 1024U

typedef enum ManagerState {
        MANAGER_STARTING,
        MANAGER_RUNNING,
        MANAGER_STOPPING,
        _MANAGER_STATE_MAX,
        _MANAGER_STATE_INVALID = -EINVAL,
} ManagerState;

DECLARE_STRING_TABLE(manager_state, ManagerState);

/* Bits for Manager PropertiesChanged (index into manager_property_names). */
enum {
        MANAGER_PROPERTY_STATE,
        MANAGER_PROPERTY_SESSION_COUNT,
        MANAGER_PROPERTY_ADDRESSES,
};

/* Drops that belong to no session: counted, exported, never logged per packet. */
typedef struct ManagerDrops {
        uint64_t unknown_session;   /* UDP: header names no live session */
        uint64_t malformed;         /* UDP: too short, truncated, unknown version */
        uint64_t tun_no_session;    /* TUN: destination is no client's address */
        uint64_t tun_malformed;     /* TUN: not IPv4/IPv6 or truncated */
        uint64_t tun_write_errors;  /* TUN: write() failed */
        uint64_t send_errors;       /* UDP: datagrams sendmmsg() could not send */
        uint64_t send_queue_full;   /* UDP: times the socket buffer filled (TUN paused meanwhile) */
} ManagerDrops;

struct Manager {
        sd_event *event;
        sd_bus *bus;
        BusChangeQueue *changes;

        char *config_dir;
        char *state_dir;
        char *runtime_dir;
        char *config_path;

        ServerConfig *config;
        ManagerState state;
        int exit_error;                 /* first fatal error, reported as ERRNO= */
        sd_event_source *sighup;
        sd_event_source *status_defer;  /* STATUS= refresh, coalesced */

        PkiStore *pki;
        AddressPool *pool;
        ControlServer *control[SERVER_CONF_LISTEN_MAX];
        size_t n_control;

        ServerKernel kernel;
        DataSocket *sockets[SERVER_CONF_LISTEN_MAX];
        size_t n_sockets;
        sd_event_source *tun_source;
        bool tun_paused;                /* a data socket is full: do not read the TUN */
        uint8_t *tun_buf;
        size_t tun_buf_size;

        /* Sessions: a list, and intrusive hash chains by id and by assigned address. */
        Session *sessions;
        unsigned n_sessions;
        Session *by_id[SESSION_HASH_SIZE];
        Session *by_addr4[SESSION_HASH_SIZE];
        Session *by_addr6[SESSION_HASH_SIZE];

        /* Totals of ended sessions; live sessions are added on read. */
        uint64_t rx_bytes_ended, tx_bytes_ended;
        ManagerDrops drops;

        /* The data socket and local address of the datagram being processed, for paths the engine
         * registers from inside flux_tunnel_receive(). */
        DataSocket *current_socket;
        const union sockaddr_union *current_local;
};

int manager_new(const char *config_dir, const char *state_dir, const char *runtime_dir, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Loads the configuration and connects the bus; the rest follows once the name is owned. */
int manager_start(Manager *m);
/* Runs the loop until exit; returns the exit code (0 or a negative errno). */
int manager_run(Manager *m);

/* Re-reads the configuration. On error the old one stays and reterr_message says why. */
int manager_reload(Manager *m, char **reterr_message);

/* Totals over ended and live sessions. */
uint64_t manager_rx_bytes(Manager *m);
uint64_t manager_tx_bytes(Manager *m);
unsigned manager_n_paths_up(Manager *m);

Session *manager_find_session(Manager *m, uint32_t id);
Session *manager_find_session_by_address(Manager *m, int family, const void *addr);

/* Change notification (batched) and STATUS= refresh. */
void manager_mark_dirty(Manager *m, uint64_t bits);
void manager_update_status(Manager *m);

/* The server addresses on the TUN as CIDR strings (NULL-terminated, freed with strv_free). */
int manager_addresses_strv(Manager *m, char ***ret);

/* PKI operations shared by the bus and sessions. Each returns a negative errno the bus layer maps.
 * manager_revoke_certificate() returns 1 if newly revoked, 0 if it already was (sessions end either way). */
int manager_revoke_certificate(Manager *m, const char *name);
int manager_regenerate_ca(Manager *m);
int manager_end_sessions_of(Manager *m, const char *client_name, const char *reason);

/* Failure after start: log, remember the error and leave the loop. */
void manager_fail(Manager *m, int error);
