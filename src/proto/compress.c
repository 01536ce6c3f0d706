/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <zlib.h>

#include "alloc-util.h"
#include "compress.h"
#include "macro.h"

/* windowBits 15 + 16: gzip wrapper only (zlib's inflate then refuses zlib and raw streams). */
#define GZIP_WINDOW_BITS (15 + 16)

struct FluxGzip {
        z_stream deflate;
        z_stream inflate;
        bool deflate_ready;
        bool inflate_ready;
};

int flux_gzip_new(FluxGzip **ret) {
        _cleanup_(flux_gzip_freep) FluxGzip *g = NULL;

        assert_return(ret, -EINVAL);

        g = new0(FluxGzip, 1);
        if (!g)
                return -ENOMEM;

        /* Level 1 like the reference (Go's BestSpeed): compression only pays for itself on
         * redundant payloads anyway. */
        if (deflateInit2(&g->deflate, 1, Z_DEFLATED, GZIP_WINDOW_BITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return -ENOMEM;
        g->deflate_ready = true;

        if (inflateInit2(&g->inflate, GZIP_WINDOW_BITS) != Z_OK)
                return -ENOMEM;
        g->inflate_ready = true;

        *ret = TAKE_PTR(g);
        return 0;
}

FluxGzip *flux_gzip_free(FluxGzip *g) {
        if (!g)
                return NULL;
        if (g->deflate_ready)
                (void) deflateEnd(&g->deflate);
        if (g->inflate_ready)
                (void) inflateEnd(&g->inflate);
        return mfree(g);
}

int flux_gzip_compress(FluxGzip *g, const void *in, size_t in_size, void *out, size_t out_size,
                       size_t *ret_size) {
        z_stream *z;
        int r;

        assert_return(g, -EINVAL);
        assert_return(in || in_size == 0, -EINVAL);
        assert_return(out || out_size == 0, -EINVAL);
        assert_return(ret_size, -EINVAL);

        if (in_size > UINT32_MAX || out_size > UINT32_MAX)
                return -EMSGSIZE;

        z = &g->deflate;
        if (deflateReset(z) != Z_OK)
                return -EIO;

        /* Only a result strictly smaller than the input is useful, so stop there. */
        z->next_in = (Bytef *) in;
        z->avail_in = (uInt) in_size;
        z->next_out = out;
        z->avail_out = (uInt) MIN(out_size, in_size > 0 ? in_size - 1 : 0);

        r = deflate(z, Z_FINISH);
        if (r == Z_STREAM_END) {
                *ret_size = z->total_out;
                return 1;
        }
        if (r == Z_OK || r == Z_BUF_ERROR)
                return 0;       /* did not fit: not smaller */
        return -EIO;
}

/* One inflate step into out[*produced..max_out). Returns like zlib. When out is full and the
 * member is not finished, inflates into a one-byte scratch buffer to tell "exactly max_out" (the
 * trailer follows) from "too big". */
static int gzip_inflate_step(z_stream *z, uint8_t *out, size_t max_out, size_t *produced) {
        uint8_t scratch;
        int r;

        z->next_out = out + *produced;
        z->avail_out = (uInt) (max_out - *produced);
        if (z->avail_out == 0) {
                z->next_out = &scratch;
                z->avail_out = 1;
                r = inflate(z, Z_NO_FLUSH);
                if (z->avail_out == 0)
                        return Z_MEM_ERROR;     /* mapped to -EMSGSIZE by the caller */
                return r;
        }

        r = inflate(z, Z_NO_FLUSH);
        *produced = max_out - z->avail_out;
        return r;
}

int flux_gzip_decompress(FluxGzip *g, const void *in, size_t in_size, void *out, size_t max_out,
                         size_t *ret_size) {
        size_t produced = 0;
        z_stream *z;

        assert_return(g, -EINVAL);
        assert_return(in || in_size == 0, -EINVAL);
        assert_return(out || max_out == 0, -EINVAL);
        assert_return(ret_size, -EINVAL);

        if (in_size == 0)
                return -EBADMSG;
        if (in_size > UINT32_MAX || max_out > UINT32_MAX)
                return -EMSGSIZE;

        z = &g->inflate;
        z->next_in = (Bytef *) in;
        z->avail_in = (uInt) in_size;

        /* RFC 1952 §2.2: a gzip file is a series of members; like the reference (Go's multistream
         * reader) every member must be complete and nothing may follow the last one. */
        while (z->avail_in > 0) {
                int r;

                if (inflateReset(z) != Z_OK)
                        return -EIO;

                for (;;) {
                        uInt before_in = z->avail_in;
                        size_t before_out = produced;

                        r = gzip_inflate_step(z, out, max_out, &produced);
                        if (r == Z_STREAM_END)
                                break;
                        if (r == Z_MEM_ERROR)
                                return -EMSGSIZE;
                        if (r != Z_OK && r != Z_BUF_ERROR)
                                return -EBADMSG;        /* Z_DATA_ERROR: bad header, data, CRC, ISIZE */
                        if (before_in == z->avail_in && before_out == produced)
                                return -EBADMSG;        /* truncated: input ran out mid-member */
                }
        }

        *ret_size = produced;
        return 0;
}
