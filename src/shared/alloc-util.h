/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdlib.h>
#include <string.h>

#include "macro.h"

#define new(t, n) ((t *) calloc((n) ?: 1, sizeof(t)))
#define new0(t, n) ((t *) calloc((n) ?: 1, sizeof(t)))

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

#define free_and_replace(a, b)                                                                           \
        __extension__({                                                                                  \
                free(a);                                                                                 \
                (a) = (b);                                                                               \
                (b) = NULL;                                                                              \
                0;                                                                                       \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}

/* Free a buffer that held secrets: wipe it first. */
static inline void *erase_and_free(void *p, size_t n) {
        if (p) {
                explicit_bzero(p, n);
                free(p);
        }
        return NULL;
}

static inline void erase_and_free_strp(char **p) {
        if (*p) {
                explicit_bzero(*p, strlen(*p));
                free(*p);
        }
}

static inline void strv_freep(char ***p) {
        if (*p) {
                for (char **i = *p; *i; i++)
                        free(*i);
                free(*p);
        }
}

static inline int free_and_strdup(char **p, const char *s) {
        char *t = NULL;

        if (s) {
                t = strdup(s);
                if (!t)
                        return -ENOMEM;
        }
        free(*p);
        *p = t;
        return 0;
}
