/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Address pool with persistent leases (server).
 *
 * One IPv4 and/or one IPv6 prefix (defaults 10.8.0.0/24 and fd00:8::/64). The server takes the
 * first host address (10.8.0.1, fd00:8::1). Client addresses are handed out by host index, the
 * same index in both families (10.8.0.7 ↔ fd00:8::7), so a client's two addresses correspond.
 *
 * A lease binds a client name to an index for good: the same name gets the same addresses across
 * reconnects and daemon restarts. A lease is *live* while a session uses it; two live sessions
 * never share an address. When every index is leased, the least recently used non-live lease of
 * another name is reassigned; when every index is live the pool is full (-ENOSPC).
 *
 * The lease file is text, rewritten atomically (temp, fsync, rename, fsync dir) on every change;
 * a torn or corrupted file is detected (-EBADMSG) and never silently replaced. Format in
 * docs/protocol.md. Pure apart from the file: takes `now` (CLOCK_REALTIME µs) for last-use times. */

#include <stdbool.h>
#include <stdint.h>

#include "in-addr-util.h"
#include "macro.h"
#include "time-util.h"

#define ADDRESS_POOL_DEFAULT4 "10.8.0.0/24"
#define ADDRESS_POOL_DEFAULT6 "fd00:8::/64"
/* Upper bound on host indexes used in an IPv6-only or huge pool. */
#define ADDRESS_POOL_MAX_HOSTS 65534U

typedef struct AddressPool AddressPool;

typedef struct AddressPoolConfig {
        bool enable4;
        union in_addr_union prefix4;    /* network address (host bits are masked) */
        uint8_t prefixlen4;             /* 8..30 */
        bool enable6;
        union in_addr_union prefix6;
        uint8_t prefixlen6;             /* 64..126 */
        const char *lease_file;         /* NULL = no persistence (tests) */
} AddressPoolConfig;

typedef struct AddressLease {
        bool has4;
        union in_addr_union address4;
        uint8_t prefixlen4;
        bool has6;
        union in_addr_union address6;
        uint8_t prefixlen6;
} AddressLease;

/* Parses "10.8.0.0/24" style prefixes into a config (either may be NULL = family disabled). */
int address_pool_config_from_strings(const char *pool4, const char *pool6, const char *lease_file,
                                     AddressPoolConfig *ret);

/* Loads the lease file if it exists. -EBADMSG corrupt file, -EINVAL bad config (no family,
 * prefix too small). Leases whose index does not fit the (changed) prefixes are dropped. */
int address_pool_new(const AddressPoolConfig *c, AddressPool **ret);
AddressPool *address_pool_free(AddressPool *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(AddressPool *, address_pool_free);

/* The server's own address (first host) of a family: -EAFNOSUPPORT if disabled. */
int address_pool_server_address(AddressPool *p, int family, union in_addr_union *ret, uint8_t *ret_prefixlen);

/* Gives name its leased addresses (creating the lease if needed) and marks them live.
 * -EADDRINUSE the name's lease is already live (release the old session first),
 * -ENOSPC every address is live, -EINVAL bad name, or an error writing the lease file (the
 * in-memory state is then unchanged). */
int address_pool_acquire(AddressPool *p, const char *name, usec_t now, AddressLease *ret);
/* The session ended: the lease stays, no longer live. -ENOENT if name has no live lease. */
int address_pool_release(AddressPool *p, const char *name, usec_t now);
/* Forget a lease entirely (e.g. certificate revoked). -ENOENT unknown, or an error writing the
 * lease file (the lease is then kept, in memory as on disk). */
int address_pool_forget(AddressPool *p, const char *name);

/* Lookup without changing anything: 0 and the lease, -ENOENT. */
int address_pool_lookup(AddressPool *p, const char *name, AddressLease *ret);
bool address_pool_is_live(AddressPool *p, const char *name);
unsigned address_pool_size(AddressPool *p);       /* usable client indexes */
unsigned address_pool_n_leases(AddressPool *p);
unsigned address_pool_n_live(AddressPool *p);
