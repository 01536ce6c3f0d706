/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "in-addr-util.h"
#include "macro.h"

/* nftables through libnftables: rule text, applied atomically (one transaction per buffer).
 * Every function that talks to the kernel takes an optional ret_error: on failure it receives nft's
 * own error text (for the daemon's log), freed with free(). The return value is a negative errno
 * (-EINVAL for text nft rejected, -ENOMEM, -EPERM, ...). All operate in the caller's network
 * namespace. */

#define NFT_SERVER_TABLE "fluxify"                 /* family inet */
#define NFT_CLIENT_TABLE_PREFIX "fluxify_client_"  /* + profile, family inet */

/* Run an arbitrary nft script atomically. */
int nft_run(const char *text, char **ret_error);

/* Replace table `family name` with the given table definition atomically and idempotently: the
 * table is created if missing, then deleted and re-created from `body` (the text between the table's
 * braces), all in one transaction — so either the new table is live or the old one is untouched. */
int nft_table_replace(const char *family, const char *name, const char *body, char **ret_error);

/* Delete the table if it exists (crash cleanup). Returns 1 if a table was deleted, 0 if none. */
int nft_table_delete(const char *family, const char *name, char **ret_error);

/* Returns 1 if the table exists, 0 if not. */
int nft_table_exists(const char *family, const char *name);

/* The server's table `inet fluxify`. */
typedef struct NftServerConfig {
        const char *tun_ifname;         /* required */
        const char *egress_ifname;      /* NULL: masquerade/forward toward any interface but the TUN */
        bool masquerade;                /* NAT=yes */
        bool has_pool4;
        union in_addr_union pool4;      /* e.g. 10.8.0.0 */
        uint8_t pool4_prefixlen;        /* e.g. 24 */
        bool has_pool6;
        union in_addr_union pool6;      /* e.g. fd00:8:: */
        uint8_t pool6_prefixlen;        /* e.g. 64 */
        bool client_to_client;          /* allow tun → tun forwarding (off by default) */
        bool mss_clamp;                 /* clamp TCP MSS of forwarded SYNs */
        uint16_t mss;                   /* 0: "rt mtu" (to the route's MTU); else this fixed value */
} NftServerConfig;

/* Build the body of `table inet fluxify` (for nft_table_replace()): forward chain with policy accept
 * for traffic that does not involve the TUN, tun → egress allowed, established/related back to the
 * clients, everything else toward the clients dropped (the original's S7 flaw), optional
 * client-to-client, optional MSS clamping, and masquerade of the pools toward the egress. */
int nft_server_table_build(const NftServerConfig *c, char **ret_body);
/* Build and nft_table_replace("inet", "fluxify", ...). */
int nft_server_table_apply(const NftServerConfig *c, char **ret_error);

/* A client profile's table `inet fluxify_client_<profile>`. */
typedef struct NftClientConfig {
        const char *profile;            /* required, [A-Za-z][A-Za-z0-9_]{0,31} */
        const char *tun_ifname;         /* bonding: the tunnel, NULL in load-balance mode */
        bool mss_clamp;                 /* clamp SYNs leaving/entering through the tunnel */
        uint16_t mss;                   /* 0: "rt mtu" */
        char **masquerade_ifnames;      /* load-balance: NULL-terminated uplinks to masquerade, or NULL */
        bool mark_restore;              /* bonding: save a socket's fwmark in the conntrack entry on
                                         * output and restore it on the replies' prerouting, so reverse
                                         * path filtering (with src_valid_mark=1) looks the replies up in
                                         * the uplink's table rather than the tunnel's /1 routes (as
                                         * wg-quick does) */
} NftClientConfig;

int nft_client_table_name(const char *profile, char **ret_name);
int nft_client_table_build(const NftClientConfig *c, char **ret_body);
int nft_client_table_apply(const NftClientConfig *c, char **ret_error);

/* Enable/disable forwarding by writing /proc/sys (net.ipv4.ip_forward or
 * net.ipv6.conf.all.forwarding). ret_old (optional) gets the previous value for restoring on stop. */
int sysctl_ip_forward_set(int family, bool enable, bool *ret_old);
int sysctl_ip_forward_get(int family, bool *ret);
/* Write one value below /proc/sys, key in dotted or slashed form ("net.ipv4.conf.all.src_valid_mark").
 * Interface names in keys must use the slashed form. */
int sysctl_write(const char *key, const char *value);
int sysctl_read(const char *key, char **ret_value);
