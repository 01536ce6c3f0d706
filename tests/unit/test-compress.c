/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <zlib.h>

#include "alloc-util.h"
#include "check-util.h"
#include "compress.h"
#include "wire.h"

static void fill_text(uint8_t *p, size_t n, unsigned seed) {
        static const char words[] = "GET /index.html HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n";

        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) words[(i + seed) % (sizeof(words) - 1)];
}

static void fill_random(uint8_t *p, size_t n, uint32_t seed) {
        for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245U + 12345U;
                p[i] = (uint8_t) (seed >> 16);
        }
}

START_TEST(test_roundtrip) {
        _cleanup_(flux_gzip_freep) FluxGzip *g = NULL;
        uint8_t in[1500], comp[1600], out[1500];

        ck_assert_int_eq(flux_gzip_new(&g), 0);
        for (size_t n = 0; n <= sizeof(in); n += 37) {
                size_t cn, on;

                fill_text(in, n, (unsigned) n);
                int r = flux_gzip_compress(g, in, n, comp, sizeof(comp), &cn);
                if (n < 20)
                        /* a gzip member has 18 bytes of framing: tiny inputs never shrink */
                        ck_assert_int_eq(r, 0);
                else if (n >= 150)
                        /* text repeating every 58 bytes always shrinks once it repeats twice */
                        ck_assert_int_eq(r, 1);
                if (r == 0)
                        continue;
                ck_assert_uint_lt(cn, n);
                /* RFC 1952 header, deflate, no FNAME etc. */
                ck_assert_mem_eq(comp, "\x1f\x8b\x08\x00", 4);
                ck_assert_int_eq(flux_gzip_decompress(g, comp, cn, out, sizeof(out), &on), 0);
                ck_assert_uint_eq(on, n);
                ck_assert_mem_eq(out, in, n);

                /* Every strict prefix is truncated: rejected. */
                for (size_t k = 1; k < cn; k++)
                        ck_assert_int_eq(flux_gzip_decompress(g, comp, k, out, sizeof(out), &on), -EBADMSG);
                /* Limit one below the size: too big; exactly the size: fine. */
                ck_assert_int_eq(flux_gzip_decompress(g, comp, cn, out, n - 1, &on), -EMSGSIZE);
                ck_assert_int_eq(flux_gzip_decompress(g, comp, cn, out, n, &on), 0);
                ck_assert_uint_eq(on, n);
        }
}
END_TEST

START_TEST(test_incompressible) {
        _cleanup_(flux_gzip_freep) FluxGzip *g = NULL;
        uint8_t in[1400], comp[2000];
        size_t cn = 4242;

        ck_assert_int_eq(flux_gzip_new(&g), 0);
        fill_random(in, sizeof(in), 7);
        ck_assert_int_eq(flux_gzip_compress(g, in, sizeof(in), comp, sizeof(comp), &cn), 0);
        ck_assert_uint_eq(cn, 4242);    /* untouched */
        ck_assert_int_eq(flux_gzip_compress(g, in, 0, comp, sizeof(comp), &cn), 0);

        /* A small output buffer only limits: the compressible input does not fit in 10 bytes. */
        fill_text(in, sizeof(in), 0);
        ck_assert_int_eq(flux_gzip_compress(g, in, sizeof(in), comp, 10, &cn), 0);
        /* The context is reusable after an incomplete stream. */
        ck_assert_int_eq(flux_gzip_compress(g, in, sizeof(in), comp, sizeof(comp), &cn), 1);
}
END_TEST

/* Builds gzip data with zlib's gz-format deflate directly (independent of flux_gzip_compress). */
static size_t zlib_gzip(const uint8_t *in, size_t n, uint8_t *out, size_t out_size, int window_bits) {
        z_stream z = {};

        ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *) in;
        z.avail_in = (uInt) n;
        z.next_out = out;
        z.avail_out = (uInt) out_size;
        ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
        n = z.total_out;
        deflateEnd(&z);
        return n;
}

START_TEST(test_members) {
        _cleanup_(flux_gzip_freep) FluxGzip *g = NULL;
        uint8_t a[700], b[800], buf[4000], out[1500];
        size_t na, nb, on;

        ck_assert_int_eq(flux_gzip_new(&g), 0);
        fill_text(a, sizeof(a), 1);
        fill_random(b, sizeof(b), 2);
        na = zlib_gzip(a, sizeof(a), buf, sizeof(buf), 31);
        nb = zlib_gzip(b, sizeof(b), buf + na, sizeof(buf) - na, 31);

        ck_assert_int_eq(flux_gzip_decompress(g, buf, na + nb, out, sizeof(out), &on), 0);
        ck_assert_uint_eq(on, 1500);
        ck_assert_mem_eq(out, a, sizeof(a));
        ck_assert_mem_eq(out + sizeof(a), b, sizeof(b));
        /* Over the limit by the second member only. */
        ck_assert_int_eq(flux_gzip_decompress(g, buf, na + nb, out, 1499, &on), -EMSGSIZE);
        /* Second member truncated. */
        ck_assert_int_eq(flux_gzip_decompress(g, buf, na + nb - 1, out, sizeof(out), &on), -EBADMSG);
        ck_assert_int_eq(flux_gzip_decompress(g, buf, na + 1, out, sizeof(out), &on), -EBADMSG);

        /* zlib and raw deflate wrappers are not gzip. */
        na = zlib_gzip(a, sizeof(a), buf, sizeof(buf), 15);
        ck_assert_int_eq(flux_gzip_decompress(g, buf, na, out, sizeof(out), &on), -EBADMSG);
        na = zlib_gzip(a, sizeof(a), buf, sizeof(buf), -15);
        ck_assert_int_eq(flux_gzip_decompress(g, buf, na, out, sizeof(out), &on), -EBADMSG);

        /* Every single-bit corruption of a valid member is rejected or (a flip in an unchecked
         * header field such as MTIME/XFL/OS) still gives exactly the original. */
        na = zlib_gzip(a, sizeof(a), buf, sizeof(buf), 31);
        for (size_t i = 0; i < na * 8; i++) {
                int r;

                buf[i / 8] ^= (uint8_t) (1U << (i % 8));
                r = flux_gzip_decompress(g, buf, na, out, sizeof(out), &on);
                if (r == 0) {
                        ck_assert_uint_lt(i / 8, 10);
                        ck_assert_uint_eq(on, sizeof(a));
                        ck_assert_mem_eq(out, a, sizeof(a));
                } else
                        ck_assert(r == -EBADMSG || r == -EMSGSIZE);
                buf[i / 8] ^= (uint8_t) (1U << (i % 8));
        }
}
END_TEST

START_TEST(test_bomb) {
        _cleanup_(flux_gzip_freep) FluxGzip *g = NULL;
        _cleanup_(freep) uint8_t *zeros = NULL;
        uint8_t buf[100000], out[1500];
        size_t n, on;

        ck_assert_int_eq(flux_gzip_new(&g), 0);
        zeros = calloc(1, 1 << 24);
        ck_assert_ptr_nonnull(zeros);
        n = zlib_gzip(zeros, 1 << 24, buf, sizeof(buf), 31);
        ck_assert_uint_lt(n, 20000);
        ck_assert_int_eq(flux_gzip_decompress(g, buf, n, out, sizeof(out), &on), -EMSGSIZE);
}
END_TEST

START_TEST(test_args) {
        _cleanup_(flux_gzip_freep) FluxGzip *g = NULL;
        uint8_t out[16];
        size_t on;

        ck_assert_int_eq(flux_gzip_new(&g), 0);
        ck_assert_int_eq(flux_gzip_decompress(g, NULL, 0, out, sizeof(out), &on), -EBADMSG);
        ck_assert_int_eq(flux_gzip_decompress(NULL, out, 1, out, sizeof(out), &on), -EINVAL);
        ck_assert_int_eq(flux_gzip_compress(g, out, 1, out, sizeof(out), NULL), -EINVAL);
        ck_assert_ptr_null(flux_gzip_free(NULL));
}
END_TEST

static Suite *compress_suite(void) {
        Suite *s = suite_create("compress");
        TCase *tc = tcase_create("gzip");

        tcase_add_test(tc, test_roundtrip);
        tcase_add_test(tc, test_incompressible);
        tcase_add_test(tc, test_members);
        tcase_add_test(tc, test_bomb);
        tcase_add_test(tc, test_args);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(compress_suite);
