/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the proto / crypto unit tests: hex decoding for vectors. */

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline int unhex_nibble(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decodes hex into a malloc()ed buffer (never NULL, at least one byte); fails the test on bad input. */
static inline uint8_t *unhex(const char *s, size_t *ret_len) {
        size_t n = strlen(s);
        uint8_t *b;

        ck_assert_msg(n % 2 == 0, "odd hex length %zu", n);
        b = malloc(n / 2 + 1);
        ck_assert_ptr_nonnull(b);
        for (size_t i = 0; i < n / 2; i++) {
                int hi = unhex_nibble(s[2 * i]), lo = unhex_nibble(s[2 * i + 1]);
                ck_assert_msg(hi >= 0 && lo >= 0, "bad hex digit at %zu", 2 * i);
                b[i] = (uint8_t) (hi << 4 | lo);
        }
        *ret_len = n / 2;
        return b;
}

/* Decodes hex into a fixed buffer of exactly `len` bytes. */
static inline void unhex_exact(const char *s, uint8_t *out, size_t len) {
        size_t n;
        uint8_t *b = unhex(s, &n);

        ck_assert_uint_eq(n, len);
        memcpy(out, b, len);
        free(b);
}

static inline char *hexmem(const uint8_t *p, size_t n) {
        static const char digits[] = "0123456789abcdef";
        char *s = malloc(2 * n + 1);

        ck_assert_ptr_nonnull(s);
        for (size_t i = 0; i < n; i++) {
                s[2 * i] = digits[p[i] >> 4];
                s[2 * i + 1] = digits[p[i] & 15];
        }
        s[2 * n] = '\0';
        return s;
}

#define ck_assert_mem_hex_eq(p, n, hex)                                                                  \
        do {                                                                                             \
                char *_h = hexmem((p), (n));                                                             \
                ck_assert_str_eq(_h, (hex));                                                             \
                free(_h);                                                                                \
        } while (0)
