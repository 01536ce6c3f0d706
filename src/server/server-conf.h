/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The server's configuration: server.conf + drop-ins in server.conf.d/, section [Server]. Every key is
 * documented in data/server.conf and fluxify-server.conf(5). Pure: parsing and validation only. */

#include <stdbool.h>
#include <stdint.h>

#include "conf-parser.h"
#include "macro.h"

#define SERVER_CONF_LISTEN_MAX 8U
#define SERVER_CONF_DEFAULT_CONTROL_PORT 8443U
#define SERVER_CONF_DEFAULT_DATA_PORT 8000U
#define SERVER_CONF_DEFAULT_TUNNEL "fluxify0"
#define SERVER_CONF_DEFAULT_MTU 1400U
#define SERVER_CONF_DEFAULT_POOL "10.8.0.0/24"
#define SERVER_CONF_DEFAULT_POOL6 "fd00:8::/64"
#define SERVER_CONF_DEFAULT_MAX_SESSIONS 1024U
#define SERVER_CONF_DEFAULT_RESUME_TIMEOUT_SEC 60U
#define SERVER_CONF_DEFAULT_LEGACY_IDLE_TIMEOUT_SEC 180U

typedef enum ServerCompression {
        SERVER_COMPRESSION_NO,
        SERVER_COMPRESSION_GZIP,
        _SERVER_COMPRESSION_MAX,
        _SERVER_COMPRESSION_INVALID = -EINVAL,
} ServerCompression;

/* Same order and names as the data path's FluxSchedulerKind. */
typedef enum ServerScheduler {
        SERVER_SCHEDULER_WEIGHTED,
        SERVER_SCHEDULER_FLOW,
        SERVER_SCHEDULER_LOWEST_RTT,
        SERVER_SCHEDULER_REDUNDANT,
        _SERVER_SCHEDULER_MAX,
        _SERVER_SCHEDULER_INVALID = -EINVAL,
} ServerScheduler;

DECLARE_STRING_TABLE(server_compression, ServerCompression);
DECLARE_STRING_TABLE(server_scheduler, ServerScheduler);

typedef struct ServerConfig {
        uint16_t control_port;          /* ControlPort=, TCP */
        uint16_t data_port;             /* DataPort=, UDP */
        ConfigAddress listen[SERVER_CONF_LISTEN_MAX]; /* Listen=; none given = 0.0.0.0 and :: */
        size_t n_listen;
        bool listen_explicit;           /* Listen= was given (else the defaults, v6 optional) */
        char *tunnel;                   /* Tunnel=, interface name */
        ConfigAddress address;          /* Address=, server's IPv4 on the TUN, with prefix */
        ConfigAddress address6;         /* Address6= */
        ConfigAddress pool;             /* Pool=, network address + prefix */
        ConfigAddress pool6;            /* Pool6= */
        bool nat;                       /* NAT= */
        char *egress_interface;         /* EgressInterface=; NULL = any */
        uint32_t mtu;                   /* MTU= of the TUN */
        char **server_names;            /* ServerNames= for the server certificate */
        int compression;                /* ServerCompression */
        bool mss_clamp;                 /* MSSClamp= */
        bool client_to_client;          /* ClientToClient= */
        int scheduler;                  /* ServerScheduler */
        bool accept_legacy_clients;     /* AcceptLegacyClients= */
        uint32_t max_sessions;          /* MaxSessions= */
        uint32_t resume_timeout_sec;    /* ResumeTimeoutSec=: control loss → session end */
        uint32_t legacy_idle_timeout_sec; /* LegacyIdleTimeoutSec=: v1 sessions without traffic */
} ServerConfig;

/* Defaults (no file). */
int server_config_new(ServerConfig **ret);
ServerConfig *server_config_free(ServerConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ServerConfig *, server_config_free);

/* Parses main_path and its drop-ins on top of the defaults, then checks the keys together
 * (Address inside Pool, ...) and fills what is derived. On failure reterr_message says
 * "file:line: message" (or what is inconsistent). */
int server_config_load(const char *main_path, ServerConfig **ret, char **reterr_message);
/* Same from a buffer (tests, fuzzing). */
int server_config_load_buffer(const char *name, const char *text, size_t size, ServerConfig **ret,
                              char **reterr_message);

/* The config table (for tests). */
extern const ConfigTable server_config_table;

/* "10.8.0.1/24" etc. into buf of IN_ADDR_PREFIX_STR_MAX. */
const char *config_address_to_string(const ConfigAddress *a, char *buf, size_t size);
