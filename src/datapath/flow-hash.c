/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>

#include "flow-hash.h"

int flux_flow_hash(const uint8_t *ip, size_t len, uint64_t *ret) {
        const uint8_t zero_ports[4] = {};
        const uint8_t *addrs, *l4;
        size_t addr_len, l4_off;
        uint8_t proto;
        uint64_t h;

        if (!ip || len == 0)
                return -EINVAL;

        switch (ip[0] >> 4) {
        case 4: {
                size_t ihl;

                if (len < 20)
                        return -EINVAL;
                ihl = (size_t) (ip[0] & 0x0f) * 4;
                if (ihl < 20)
                        return -EINVAL;
                proto = ip[9];
                addrs = ip + 12;
                addr_len = 4;
                l4_off = ihl;
                break;
        }
        case 6:
                if (len < 40)
                        return -EINVAL;
                proto = ip[6];
                addrs = ip + 8;
                addr_len = 16;
                l4_off = 40;
                break;
        default:
                return -EINVAL;
        }

        /* Only TCP and UDP have ports, and only if the first four L4 bytes are there. */
        if ((proto == 6 || proto == 17) && len >= l4_off + 4)
                l4 = ip + l4_off;
        else
                l4 = zero_ports;

        h = flux_fnv1a64(FLUX_FNV64_OFFSET, &proto, 1);
        h = flux_fnv1a64(h, addrs, 2 * addr_len);
        h = flux_fnv1a64(h, l4, 4);
        *ret = h;
        return 0;
}
