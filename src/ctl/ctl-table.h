/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "macro.h"

/* A column printer for fluxifyctl's human view: CAPS headers, every column as wide as its widest
 * cell, cells optionally coloured (only when colour is enabled), an optional legend line. Pure: it
 * knows nothing about D-Bus. */

typedef enum TableAlign {
        TABLE_ALIGN_LEFT,
        TABLE_ALIGN_RIGHT,
} TableAlign;

typedef struct Table Table;

/* Column headers, NULL-terminated. They are printed as given (callers pass them in CAPS). */
Table *table_new(const char *first_header, ...) _sentinel_;
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);

int table_set_align(Table *t, size_t column, TableAlign align);
/* Adds one cell to the current row; a row is complete when every column has a cell. NULL prints as
 * "-". color is an ANSI SGR sequence (e.g. ANSI_GREEN) or NULL. */
int table_add_cell(Table *t, const char *text, const char *color);
/* Adds n uncoloured cells (const char * arguments, NULL prints as "-"). */
int table_add_cells(Table *t, size_t n, ...);

size_t table_get_rows(const Table *t);
size_t table_get_columns(const Table *t);

/* Prints header (unless !header) and rows. Fails with -EINVAL if the last row is incomplete. */
int table_print(const Table *t, FILE *f, bool header, bool color);

#define ANSI_NORMAL "\x1B[0m"
#define ANSI_BOLD "\x1B[1m"
#define ANSI_RED "\x1B[0;31m"
#define ANSI_GREEN "\x1B[0;32m"
#define ANSI_YELLOW "\x1B[0;33m"
#define ANSI_GREY "\x1B[0;38;5;245m"
