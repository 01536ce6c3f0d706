/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A client profile: <config-dir>/client/<profile>.conf (+ .conf.d drop-ins). Pure: parsing and
 * rewriting text, no sockets, no bus. */

#include <stdbool.h>
#include <stdint.h>

#include "in-addr-util.h"
#include "macro.h"

#define CLIENT_CONTROL_PORT_DEFAULT 8443U
#define CLIENT_MTU_DEFAULT 1400U
#define CLIENT_MTU_MIN 576U
#define CLIENT_MTU_MAX 9000U

typedef enum ClientMode {
        CLIENT_MODE_BONDING,
        CLIENT_MODE_LOAD_BALANCE,
        _CLIENT_MODE_MAX,
        _CLIENT_MODE_INVALID = -EINVAL,
} ClientMode;

/* Same order and names as FluxSchedulerKind (src/datapath/tunnel.h). */
typedef enum ClientScheduler {
        CLIENT_SCHEDULER_WEIGHTED,
        CLIENT_SCHEDULER_FLOW,
        CLIENT_SCHEDULER_LOWEST_RTT,
        CLIENT_SCHEDULER_REDUNDANT,
        _CLIENT_SCHEDULER_MAX,
        _CLIENT_SCHEDULER_INVALID = -EINVAL,
} ClientScheduler;

typedef enum ClientPriority {
        CLIENT_PRIORITY_PRIMARY,
        CLIENT_PRIORITY_BACKUP,
        _CLIENT_PRIORITY_MAX,
        _CLIENT_PRIORITY_INVALID = -EINVAL,
} ClientPriority;

DECLARE_STRING_TABLE(client_mode, ClientMode);
DECLARE_STRING_TABLE(client_scheduler, ClientScheduler);
DECLARE_STRING_TABLE(client_priority, ClientPriority);

/* [Interface <name>] */
typedef struct InterfaceConfig {
        char *name;
        int priority;   /* ClientPriority */
        double weight;  /* 0 < weight <= 1000, default 1 */
} InterfaceConfig;

typedef struct ClientConfig {
        char *server;           /* "host[:port]" as written; NULL = not set */
        int mode;               /* ClientMode */
        char **interfaces;      /* NULL-terminated; NULL = none */
        int scheduler;          /* ClientScheduler */
        char *bundle;           /* path of the PEM bundle (CA, certificate, key) */
        bool auto_connect;
        bool default_route;     /* default yes */
        uint32_t mtu;           /* TUN MTU; 0 = the server's announcement or CLIENT_MTU_DEFAULT */
        uint32_t protocol;      /* 1 (legacy Go server) or 2 (default) */
        InterfaceConfig *iface_configs;
        size_t n_iface_configs;
} ClientConfig;

void client_config_init(ClientConfig *c);
void client_config_done(ClientConfig *c);

/* Parses path (and its drop-ins) into c, which must be initialised. On failure c may hold partial
 * values and ret_message says "file:line: what". A missing file is an error (-ENOENT). Relative
 * Bundle= paths are taken relative to the profile's directory. */
int client_config_load(ClientConfig *c, const char *path, char **ret_message);
/* Same for a text buffer (tests, fuzzing); name is used in messages. */
int client_config_load_buffer(ClientConfig *c, const char *name, const char *text, char **ret_message);

/* The [Interface <name>] section for name, or NULL (defaults apply). */
const InterfaceConfig *client_config_get_interface(const ClientConfig *c, const char *name);

/* "host", "host:port", "[v6]:port" → host (without brackets) and port (default 8443). -EINVAL on
 * a malformed value (empty host, bad port, unbalanced brackets). */
int client_server_split(const char *s, char **ret_host, uint16_t *ret_port);

/* Rewrites the [Client] section of a profile text: each key in keys (NULL-terminated, with the
 * matching value in values; a NULL value removes the key) replaces the first existing line for
 * that key, later duplicates are dropped, missing keys are appended at the end of the section (a
 * [Client] section is added if there is none). Comments and other sections are kept as they are. */
int client_config_update_text(const char *text, const char *const *keys, const char *const *values,
                              char **ret);
