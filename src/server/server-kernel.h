/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Kernel state the server installs: the TUN device with its addresses and MTU, the nft table
 * `inet fluxify`, IP forwarding. Before changing anything, what is about to be installed is
 * recorded in <runtime-dir>/server-kernel.state, so the next start after a crash (kill -9) removes
 * exactly that; a clean stop removes everything in reverse order and deletes the record. */

#include <net/if.h>
#include <stdbool.h>

#include "server-conf.h"

typedef struct Rtnl Rtnl;

typedef struct ServerKernel {
        Rtnl *rtnl;
        char *record_path;
        int tun_fd;
        int tun_ifindex;
        char tun_name[IFNAMSIZ];
        bool addr4_installed, addr6_installed;
        ConfigAddress addr4, addr6;
        bool nft_installed;
        bool forward4_enabled_by_us, forward6_enabled_by_us;
} ServerKernel;

#define SERVER_KERNEL_INIT ((ServerKernel) { .tun_fd = -EBADF })
#define SERVER_KERNEL_RECORD "server-kernel.state"

/* Removes what a previous instance recorded and did not remove (after a crash), and any stale
 * `inet fluxify` table. Returns > 0 if something was cleaned up. Logs what it removes. */
int server_kernel_cleanup_stale(const char *runtime_dir, bool *ret_forward4_ours, bool *ret_forward6_ours);

/* TUN up with addresses and MTU, forwarding on, nft table. Logs its own failures. */
int server_kernel_setup(ServerKernel *k, const ServerConfig *c, const char *runtime_dir);
/* (Re)applies the nft table from the configuration (atomic replace). Logs its own failures. */
int server_kernel_apply_nft(ServerKernel *k, const ServerConfig *c);
int server_kernel_set_mtu(ServerKernel *k, uint32_t mtu);
/* Removes everything in reverse order and the record. Safe on a half-set-up or empty state. */
void server_kernel_teardown(ServerKernel *k);
