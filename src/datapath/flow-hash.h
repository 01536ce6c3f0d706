/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 flow key of an IP packet, bit-compatible with the version 1 reference (docs/multipath.md):
 *   proto(1) || src || dst || sport(2, BE) || dport(2, BE)
 * Ports only for TCP/UDP with 4 bytes after the IPv4 header (IHL) or the fixed IPv6 header, else 0;
 * IPv6 extension headers are not walked. Returns 0, or -EINVAL when the packet has no flow key
 * (empty, not version 4 or 6, IPv4 shorter than 20 bytes or IHL < 5, IPv6 shorter than 40 bytes). */
int flux_flow_hash(const uint8_t *ip, size_t len, uint64_t *ret);

#define FLUX_FNV64_OFFSET UINT64_C(0xcbf29ce484222325)
#define FLUX_FNV64_PRIME UINT64_C(0x100000001b3)

static inline uint64_t flux_fnv1a64(uint64_t h, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= FLUX_FNV64_PRIME;
        }
        return h;
}
