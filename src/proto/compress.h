/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* gzip (RFC 1952) payload compression for wire protocol version 1 (docs/protocol.md).
 *
 * A FluxGzip keeps one deflate and one inflate stream and resets them per packet, so the per
 * packet cost is no allocation. Not thread-safe: one per worker. */

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct FluxGzip FluxGzip;

int flux_gzip_new(FluxGzip **ret);
FluxGzip *flux_gzip_free(FluxGzip *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(FluxGzip *, flux_gzip_free);

/* Compresses `in` as one gzip member into out. Returns 1 if the result is strictly smaller than
 * the input (then *ret_size is set and the sender uses it with the gzip flag), 0 if it is not (send
 * the input uncompressed; out holds garbage), negative errno on failure. */
int flux_gzip_compress(FluxGzip *g, const void *in, size_t in_size, void *out, size_t out_size,
                       size_t *ret_size);

/* Inflates a gzip stream of one or more members into out, producing at most max_out bytes.
 * Returns 0 with *ret_size set, or:
 *   -EMSGSIZE  the output would exceed max_out
 *   -EBADMSG   empty input, not gzip (zlib or raw deflate), corrupt data, bad CRC32/ISIZE,
 *              truncated stream, or bytes after the last member */
int flux_gzip_decompress(FluxGzip *g, const void *in, size_t in_size, void *out, size_t max_out,
                         size_t *ret_size);
