/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _pure_ __attribute__((pure))
#define _const_ __attribute__((const))
#define _packed_ __attribute__((packed))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))
#define _noreturn_ __attribute__((noreturn))
#define _sentinel_ __attribute__((sentinel))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x)                                                                                    \
        (__builtin_choose_expr(!__builtin_types_compatible_p(typeof(x), typeof(&*(x))),                  \
                               sizeof(x) / sizeof((x)[0]), (void) 0))

/* Distinct local names so that CLAMP() (MIN inside MAX) does not shadow. */
#define MIN(a, b) __extension__({ typeof(a) _min_a = (a); typeof(b) _min_b = (b); _min_a < _min_b ? _min_a : _min_b; })
#define MAX(a, b) __extension__({ typeof(a) _max_a = (a); typeof(b) _max_b = (b); _max_a > _max_b ? _max_a : _max_b; })
#define CLAMP(x, lo, hi) MIN(MAX((x), (lo)), (hi))
#define DIV_ROUND_UP(x, y) (((x) + (y) - 1) / (y))

#define STRINGIFY(x) _STRINGIFY(x)
#define _STRINGIFY(x) #x

/* Take ownership of a pointer or fd, leaving the cleanup variable empty. */
#define TAKE_PTR(p) __extension__({ typeof(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) __extension__({ int _fd = (fd); (fd) = -EBADF; _fd; })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                           \
        static inline void func##p(type *p) {                                                            \
                if (*p)                                                                                  \
                        func(*p);                                                                        \
        }

/* Like assert(), but for arguments of public functions: return -EINVAL rather than abort. */
#define assert_return(expr, r)                                                                           \
        do {                                                                                             \
                if (!(expr))                                                                             \
                        return (r);                                                                      \
        } while (false)

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline const char *strempty(const char *s) {
        return s ?: "";
}

static inline const char *strna(const char *s) {
        return s ?: "n/a";
}

static inline bool isempty(const char *s) {
        return !s || s[0] == '\0';
}

/* Enum <-> string tables, systemd style: foo_to_string()/foo_from_string(). */
#define DECLARE_STRING_TABLE(name, type)                                                                 \
        const char *name##_to_string(type i) _const_;                                                    \
        type name##_from_string(const char *s) _pure_;

#define DEFINE_STRING_TABLE(name, type, max)                                                             \
        const char *name##_to_string(type i) {                                                           \
                if ((int) i < 0 || (size_t) i >= ELEMENTSOF(name##_table))                               \
                        return NULL;                                                                     \
                return name##_table[i];                                                                  \
        }                                                                                                \
        type name##_from_string(const char *s) {                                                         \
                if (!s)                                                                                  \
                        return (type) -EINVAL;                                                           \
                for (size_t i = 0; i < (size_t) (max); i++)                                              \
                        if (name##_table[i] && streq(name##_table[i], s))                                \
                                return (type) i;                                                         \
                return (type) -EINVAL;                                                                   \
        }
