/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Fill buf with n bytes from the kernel's CSPRNG (getrandom(2), blocking only until the pool is
 * initialised at boot), retrying short reads and EINTR. Returns 0 or a negative errno. */
int random_bytes(void *buf, size_t n);
