/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* server.conf parsing (conf-parser on inih + the [Server] schema): never crash, never leak, and
 * every rejection comes with a message. */
#include <stdint.h>
#include <stdlib.h>

#include "alloc-util.h"
#include "server-conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(server_config_freep) ServerConfig *c = NULL;
        _cleanup_(freep) char *msg = NULL;
        int r;

        if (size > 64 * 1024)
                return 0;
        r = server_config_load_buffer("fuzz.conf", (const char *) data, size, &c, &msg);
        if (r < 0 && r != -ENOMEM && !msg)
                abort(); /* a rejection must say why */
        if (r >= 0 && (!c || !c->tunnel || c->n_listen == 0))
                abort();
        return 0;
}
