/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

#include "random-util.h"

int random_bytes(void *buf, size_t n) {
        uint8_t *p = buf;
        size_t done = 0;

        while (done < n) {
                ssize_t k = getrandom(p + done, n - done, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) k;
        }
        return 0;
}
