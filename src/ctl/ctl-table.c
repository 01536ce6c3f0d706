/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "ctl-table.h"

typedef struct TableCell {
        char *text;
        const char *color; /* static string or NULL */
} TableCell;

struct Table {
        size_t n_columns;
        char **headers;       /* n_columns entries */
        TableAlign *align;    /* n_columns entries */
        TableCell *cells;     /* n_cells entries, row-major */
        size_t n_cells, n_allocated;
};

Table *table_new(const char *first_header, ...) {
        _cleanup_(table_freep) Table *t = NULL;
        const char *h;
        va_list ap;
        size_t n = 0;

        va_start(ap, first_header);
        for (h = first_header; h; h = va_arg(ap, const char *))
                n++;
        va_end(ap);
        if (n == 0)
                return NULL;

        t = new0(Table, 1);
        if (!t)
                return NULL;
        t->headers = new0(char *, n);
        t->align = new0(TableAlign, n);
        if (!t->headers || !t->align)
                return NULL;
        t->n_columns = n;

        va_start(ap, first_header);
        n = 0;
        for (h = first_header; h; h = va_arg(ap, const char *)) {
                t->headers[n] = strdup(h);
                if (!t->headers[n++]) {
                        va_end(ap);
                        return NULL;
                }
        }
        va_end(ap);

        return TAKE_PTR(t);
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        if (t->headers)
                for (size_t i = 0; i < t->n_columns; i++)
                        free(t->headers[i]);
        free(t->headers);
        free(t->align);
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i].text);
        free(t->cells);
        return mfree(t);
}

int table_set_align(Table *t, size_t column, TableAlign align) {
        assert_return(t, -EINVAL);
        assert_return(column < t->n_columns, -EINVAL);
        t->align[column] = align;
        return 0;
}

int table_add_cell(Table *t, const char *text, const char *color) {
        char *s;

        assert_return(t, -EINVAL);

        if (t->n_cells == t->n_allocated) {
                size_t n = MAX(t->n_allocated * 2, t->n_columns * 8);
                TableCell *c = reallocarray(t->cells, n, sizeof(TableCell));
                if (!c)
                        return -ENOMEM;
                t->cells = c;
                t->n_allocated = n;
        }

        s = strdup(text ?: "-");
        if (!s)
                return -ENOMEM;
        t->cells[t->n_cells++] = (TableCell) { .text = s, .color = color };
        return 0;
}

int table_add_cells(Table *t, size_t n, ...) {
        va_list ap;
        int r = 0;

        assert_return(t, -EINVAL);

        va_start(ap, n);
        for (size_t i = 0; i < n && r >= 0; i++)
                r = table_add_cell(t, va_arg(ap, const char *), NULL);
        va_end(ap);
        return r;
}

size_t table_get_rows(const Table *t) {
        return t ? t->n_cells / t->n_columns : 0;
}

size_t table_get_columns(const Table *t) {
        return t ? t->n_columns : 0;
}

/* Display width of a UTF-8 string: count code points, not bytes (good enough for our ASCII-ish
 * cells and the odd "µ" or "—"). */
static size_t utf8_width(const char *s) {
        size_t n = 0;

        for (; *s; s++)
                if (((unsigned char) *s & 0xC0) != 0x80)
                        n++;
        return n;
}

static void print_cell(FILE *f, const char *text, const char *color, size_t width, TableAlign align,
                       bool last, bool use_color) {
        size_t w = utf8_width(text), pad = width > w ? width - w : 0;

        if (align == TABLE_ALIGN_RIGHT)
                fprintf(f, "%*s", (int) pad, "");
        if (use_color && color)
                fprintf(f, "%s%s%s", color, text, ANSI_NORMAL);
        else
                fputs(text, f);
        /* No trailing blanks on the last column. */
        if (align == TABLE_ALIGN_LEFT && !last)
                fprintf(f, "%*s", (int) pad, "");
        if (!last)
                fputc(' ', f);
}

int table_print(const Table *t, FILE *f, bool header, bool color) {
        _cleanup_(freep) size_t *width = NULL;
        size_t rows;

        assert_return(t, -EINVAL);
        assert_return(t->n_cells % t->n_columns == 0, -EINVAL);

        width = new0(size_t, t->n_columns);
        if (!width)
                return -ENOMEM;
        for (size_t c = 0; c < t->n_columns; c++)
                width[c] = header ? utf8_width(t->headers[c]) : 0;
        for (size_t i = 0; i < t->n_cells; i++)
                width[i % t->n_columns] = MAX(width[i % t->n_columns], utf8_width(t->cells[i].text));

        if (header) {
                for (size_t c = 0; c < t->n_columns; c++)
                        print_cell(f, t->headers[c], ANSI_BOLD, width[c], t->align[c], c + 1 == t->n_columns,
                                   color);
                fputc('\n', f);
        }

        rows = t->n_cells / t->n_columns;
        for (size_t r = 0; r < rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        const TableCell *cell = &t->cells[r * t->n_columns + c];
                        print_cell(f, cell->text, cell->color, width[c], t->align[c], c + 1 == t->n_columns,
                                   color);
                }
                fputc('\n', f);
        }

        return ferror(f) ? -EIO : 0;
}
