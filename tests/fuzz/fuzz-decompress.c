/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bounded gzip decompressor with the version 1 limit; anything accepted must survive a
 * compress/decompress round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static FluxGzip *g;
        uint8_t out[FLUX_WIRE_V1_MAX_PACKET], comp[FLUX_WIRE_V1_MAX_PACKET], again[FLUX_WIRE_V1_MAX_PACKET];
        size_t n = SIZE_MAX, cn, an;
        int r;

        /* One context for the whole run, as a daemon worker keeps one. */
        if (!g && flux_gzip_new(&g) < 0)
                abort();

        r = flux_gzip_decompress(g, data, size, out, sizeof(out), &n);
        if (r < 0) {
                if ((r != -EBADMSG && r != -EMSGSIZE) || n != SIZE_MAX)
                        abort();
                return 0;
        }
        if (n > sizeof(out))
                abort();

        r = flux_gzip_compress(g, out, n, comp, sizeof(comp), &cn);
        if (r < 0)
                abort();
        if (r == 1) {
                if (cn >= n)
                        abort();
                if (flux_gzip_decompress(g, comp, cn, again, sizeof(again), &an) != 0 || an != n ||
                    memcmp(again, out, n) != 0)
                        abort();
        }
        return 0;
}
