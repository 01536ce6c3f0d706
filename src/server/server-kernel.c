/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <linux/if_addr.h>
#include <stdio.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "log.h"
#include "nft.h"
#include "rtnl.h"
#include "server-kernel.h"
#include "tun.h"

/* The record is "key=value" lines: tun=<name>, nft=inet fluxify, forward4=1, forward6=1 (the
 * latter when this daemon switched forwarding on and should switch it off again). */
static int record_write(ServerKernel *k, const char *tun_name) {
        _cleanup_(freep) char *text = NULL;
        int n;

        n = asprintf(&text, "tun=%s\nnft=inet %s\nforward4=%d\nforward6=%d\n", tun_name, NFT_SERVER_TABLE,
                     k->forward4_enabled_by_us, k->forward6_enabled_by_us);
        if (n < 0)
                return -ENOMEM;
        return write_file_atomic(k->record_path, text, (size_t) n, 0600);
}

static int record_path(const char *runtime_dir, char **ret) {
        return asprintf(ret, "%s/" SERVER_KERNEL_RECORD, runtime_dir) < 0 ? -ENOMEM : 0;
}

int server_kernel_cleanup_stale(const char *runtime_dir, bool *ret_forward4_ours, bool *ret_forward6_ours) {
        _cleanup_(freep) char *path = NULL, *text = NULL, *err = NULL;
        bool forward4 = false, forward6 = false, cleaned = false;
        size_t size;
        int r;

        r = record_path(runtime_dir, &path);
        if (r < 0)
                return r;
        r = read_full_file(path, 4096, &text, &size);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to read %s, ignoring: %m", path);
        if (r >= 0) {
                char *state = NULL;

                log_notice("Found %s: the previous instance did not stop cleanly, removing its state.", path);
                for (char *l = strtok_r(text, "\n", &state); l; l = strtok_r(NULL, "\n", &state)) {
                        if (strncmp(l, "tun=", 4) == 0 && ifname_is_valid(l + 4)) {
                                r = tun_delete(l + 4);
                                if (r >= 0)
                                        log_info("Removed stale TUN device %s.", l + 4);
                                else if (r != -ENODEV)
                                        log_warning_errno(r, "Failed to remove stale device %s, ignoring: %m",
                                                          l + 4);
                        } else if (streq(l, "forward4=1"))
                                forward4 = true;
                        else if (streq(l, "forward6=1"))
                                forward6 = true;
                }
                cleaned = true;
        }

        /* The table is ours by name whether or not a record survived. */
        r = nft_table_delete("inet", NFT_SERVER_TABLE, &err);
        if (r < 0)
                log_warning_errno(r, "Failed to delete stale nft table inet %s, ignoring: %s", NFT_SERVER_TABLE,
                                  strna(err));
        else if (r > 0) {
                log_info("Removed stale nft table inet %s.", NFT_SERVER_TABLE);
                cleaned = true;
        }
        if (text && unlink(path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Failed to remove %s, ignoring: %m", path);

        if (ret_forward4_ours)
                *ret_forward4_ours = forward4;
        if (ret_forward6_ours)
                *ret_forward6_ours = forward6;
        return cleaned;
}

static int enable_forwarding(int family, bool *enabled_by_us) {
        bool old = false, now_on = false;
        int r;

        r = sysctl_ip_forward_set(family, true, &old);
        if (r >= 0) {
                if (!old)
                        *enabled_by_us = true;
                return 0;
        }
        /* ProtectKernelTunables= makes /proc/sys read-only: fine if the sysctl.d snippet did it. */
        if (sysctl_ip_forward_get(family, &now_on) >= 0 && now_on)
                return 0;
        return log_warning_errno(r, "Failed to enable %s forwarding (install 60-fluxify-server.conf in "
                                 "sysctl.d), "
                                 "clients will not reach beyond the server: %m",
                                 family == AF_INET ? "IPv4" : "IPv6");
}

static int add_address(ServerKernel *k, const ConfigAddress *a, bool *installed) {
        char buf[IN_ADDR_PREFIX_STR_MAX];
        int r;

        r = rtnl_address_add(k->rtnl, k->tun_ifindex, a->family, &a->addr, a->prefixlen,
                             a->family == AF_INET6 ? IFA_F_NODAD : 0);
        if (r == -EEXIST)
                r = 0;
        if (r < 0)
                return log_error_errno(r, "Failed to add address %s to %s: %m",
                                       config_address_to_string(a, buf, sizeof(buf)), k->tun_name);
        *installed = true;
        return 0;
}

int server_kernel_setup(ServerKernel *k, const ServerConfig *c, const char *runtime_dir) {
        bool f4 = false, f6 = false;
        int r;

        r = server_kernel_cleanup_stale(runtime_dir, &f4, &f6);
        if (r < 0)
                return log_error_errno(r, "Failed to clean up stale state: %m");
        k->forward4_enabled_by_us = f4;
        k->forward6_enabled_by_us = f6;

        r = mkdir_p(runtime_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create runtime directory %s: %m", runtime_dir);
        r = record_path(runtime_dir, &k->record_path);
        if (r < 0)
                return log_oom();
        r = rtnl_open(&k->rtnl);
        if (r < 0)
                return log_error_errno(r, "Failed to open rtnetlink: %m");

        /* Record first, then act: a crash in between leaves nothing unrecorded. */
        r = record_write(k, c->tunnel);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", k->record_path);

        r = tun_open(c->tunnel, 0, &k->tun_fd, k->tun_name, &k->tun_ifindex);
        if (r < 0)
                return log_error_errno(r, "Failed to create TUN device %s: %m", c->tunnel);
        r = rtnl_link_set_mtu(k->rtnl, k->tun_ifindex, c->mtu);
        if (r < 0)
                return log_error_errno(r, "Failed to set MTU %u on %s: %m", c->mtu, k->tun_name);

        k->addr4 = c->address;
        k->addr6 = c->address6;
        r = add_address(k, &k->addr4, &k->addr4_installed);
        if (r < 0)
                return r;
        r = add_address(k, &k->addr6, &k->addr6_installed);
        if (r < 0)
                return r;
        r = rtnl_link_set_up(k->rtnl, k->tun_ifindex, true);
        if (r < 0)
                return log_error_errno(r, "Failed to bring %s up: %m", k->tun_name);

        (void) enable_forwarding(AF_INET, &k->forward4_enabled_by_us);
        (void) enable_forwarding(AF_INET6, &k->forward6_enabled_by_us);
        r = record_write(k, k->tun_name);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", k->record_path);

        return server_kernel_apply_nft(k, c);
}

int server_kernel_apply_nft(ServerKernel *k, const ServerConfig *c) {
        _cleanup_(freep) char *err = NULL;
        NftServerConfig n = {
                .tun_ifname = k->tun_name,
                .egress_ifname = c->egress_interface,
                .masquerade = c->nat,
                .has_pool4 = true,
                .pool4 = c->pool.addr,
                .pool4_prefixlen = c->pool.prefixlen,
                .has_pool6 = true,
                .pool6 = c->pool6.addr,
                .pool6_prefixlen = c->pool6.prefixlen,
                .client_to_client = c->client_to_client,
                .mss_clamp = c->mss_clamp,
        };
        int r;

        k->nft_installed = true; /* a failed transaction may still leave the empty table */
        r = nft_server_table_apply(&n, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to install nft table inet %s: %s", NFT_SERVER_TABLE,
                                       strna(err));
        return 0;
}

int server_kernel_set_mtu(ServerKernel *k, uint32_t mtu) {
        if (!k->rtnl || k->tun_ifindex <= 0)
                return -ENODEV;
        return rtnl_link_set_mtu(k->rtnl, k->tun_ifindex, mtu);
}

void server_kernel_teardown(ServerKernel *k) {
        _cleanup_(freep) char *err = NULL;
        int r;

        if (k->nft_installed) {
                r = nft_table_delete("inet", NFT_SERVER_TABLE, &err);
                if (r < 0)
                        log_warning_errno(r, "Failed to delete nft table inet %s: %s", NFT_SERVER_TABLE,
                                          strna(err));
                k->nft_installed = false;
        }
        if (k->forward4_enabled_by_us)
                (void) sysctl_ip_forward_set(AF_INET, false, NULL);
        if (k->forward6_enabled_by_us)
                (void) sysctl_ip_forward_set(AF_INET6, false, NULL);
        if (k->rtnl && k->tun_ifindex > 0) {
                if (k->addr6_installed)
                        (void) rtnl_address_delete(k->rtnl, k->tun_ifindex, AF_INET6, &k->addr6.addr,
                                                   k->addr6.prefixlen);
                if (k->addr4_installed)
                        (void) rtnl_address_delete(k->rtnl, k->tun_ifindex, AF_INET, &k->addr4.addr,
                                                   k->addr4.prefixlen);
        }
        k->addr4_installed = k->addr6_installed = false;
        /* Closing the only fd of a non-persistent TUN removes the device. */
        k->tun_fd = safe_close(k->tun_fd);
        k->tun_ifindex = 0;
        if (k->record_path && unlink(k->record_path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Failed to remove %s: %m", k->record_path);
        k->record_path = mfree(k->record_path);
        k->rtnl = rtnl_free(k->rtnl);
}
