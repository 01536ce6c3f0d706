/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "line-buffer.h"
#include "macro.h"

uint8_t *line_buffer_reserve(LineBuffer *b, size_t n) {
        size_t need;
        uint8_t *d;

        /* Drop what was consumed before growing. */
        if (b->start > 0) {
                memmove(b->data, b->data + b->start, b->len - b->start);
                b->len -= b->start;
                b->start = 0;
        }
        need = b->len + n + 1; /* +1: room for a terminating NUL */
        if (need > b->alloc) {
                size_t na = MAX(need, b->alloc * 2);
                d = realloc(b->data, na);
                if (!d)
                        return NULL;
                b->data = d;
                b->alloc = na;
        }
        return b->data + b->len;
}

void line_buffer_commit(LineBuffer *b, size_t n) {
        assert(b->len + n < b->alloc);
        b->len += n;
}

int line_buffer_append(LineBuffer *b, const void *p, size_t n) {
        uint8_t *d = line_buffer_reserve(b, n);

        if (!d)
                return -ENOMEM;
        if (n > 0)
                memcpy(d, p, n);
        line_buffer_commit(b, n);
        return 0;
}

int line_buffer_next(LineBuffer *b, char **ret, size_t *ret_len) {
        uint8_t *s, *nl;
        size_t avail;

        if (!b->data)
                return 0;
        s = b->data + b->start;
        avail = b->len - b->start;
        nl = memchr(s, '\n', avail);
        if (!nl)
                return avail > b->max ? -EMSGSIZE : 0;
        if ((size_t) (nl - s) > b->max)
                return -EMSGSIZE;
        *nl = 0;
        *ret = (char *) s;
        *ret_len = (size_t) (nl - s);
        b->start += *ret_len + 1;
        return 1;
}

size_t line_buffer_pending(const LineBuffer *b) {
        return b->len - b->start;
}

const char *line_buffer_rest(LineBuffer *b) {
        if (!b->data)
                return "";
        b->data[b->len] = 0; /* reserve() keeps one spare byte */
        return (const char *) b->data + b->start;
}

void line_buffer_done(LineBuffer *b) {
        if (b->data) {
                explicit_bzero(b->data, b->alloc);
                free(b->data);
        }
        *b = LINE_BUFFER_INIT(b->max);
}
