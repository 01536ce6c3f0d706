/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Newline framing of the control stream, pure (no I/O): bytes go in, complete lines come out,
 * and no line — finished or not — may exceed `max` bytes (the '\n' not counted). */

#include <stddef.h>
#include <stdint.h>

typedef struct LineBuffer {
        uint8_t *data;
        size_t start;       /* first byte not yet returned as part of a line */
        size_t len;         /* bytes held (data[0..len)) */
        size_t alloc;
        size_t max;         /* per-line limit */
} LineBuffer;

#define LINE_BUFFER_INIT(m) ((LineBuffer) { .max = (m) })

/* Space for n more bytes at the end (NULL on OOM); then line_buffer_commit() what was filled. */
uint8_t *line_buffer_reserve(LineBuffer *b, size_t n);
void line_buffer_commit(LineBuffer *b, size_t n);
int line_buffer_append(LineBuffer *b, const void *p, size_t n);

/* 1 and the next complete line (NUL-terminated in place, valid until the next call), 0 if no
 * complete line is buffered, -EMSGSIZE if a line is (or already would be) longer than max. */
int line_buffer_next(LineBuffer *b, char **ret, size_t *ret_len);
/* Bytes of the unfinished line; the rest as a NUL-terminated string. */
size_t line_buffer_pending(const LineBuffer *b);
const char *line_buffer_rest(LineBuffer *b);
/* Wipes and frees. */
void line_buffer_done(LineBuffer *b);
