/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <curses.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "macro.h"
#include "time-util.h"
#include "tui.h"

/* Painting only: every cell's text comes from tui-model.c. */

enum {
        PAIR_GOOD = 1,
        PAIR_WARN,
        PAIR_BAD,
        PAIR_DIM,
        PAIR_TITLE,
};

void tui_draw_init_colors(App *app) {
        if (!app->color)
                return;
        start_color();
        use_default_colors();
        init_pair(PAIR_GOOD, COLOR_GREEN, -1);
        init_pair(PAIR_WARN, COLOR_YELLOW, -1);
        init_pair(PAIR_BAD, COLOR_RED, -1);
        init_pair(PAIR_DIM, COLORS >= 16 ? 8 : COLOR_WHITE, -1);
        init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_CYAN);
}

static attr_t color_attr(const App *app, TuiColor c) {
        if (!app->color)
                /* Monochrome: only what needs attention stands out. */
                return c == TUI_COLOR_BAD ? A_BOLD : A_NORMAL;
        switch (c) {
        case TUI_COLOR_GOOD:
                return COLOR_PAIR(PAIR_GOOD);
        case TUI_COLOR_WARN:
                return COLOR_PAIR(PAIR_WARN);
        case TUI_COLOR_BAD:
                return COLOR_PAIR(PAIR_BAD) | A_BOLD;
        case TUI_COLOR_DIM:
                return COLOR_PAIR(PAIR_DIM);
        default:
                return A_NORMAL;
        }
}

/* Display width of UTF-8 text, counting every character as one column (our cells are ASCII plus
 * the odd "…"). */
static size_t text_width(const char *s) {
        size_t w = 0;

        for (; *s; s++)
                if (((unsigned char) *s & 0xC0) != 0x80)
                        w++;
        return w;
}

/* Prints s at (y, x), cut to at most width columns. */
static void put(int y, int x, int width, attr_t attr, const char *s) {
        if (width <= 0 || y < 0 || y >= LINES || x < 0 || x >= COLS)
                return;
        attron(attr);
        move(y, x);
        for (int col = 0; *s && col < width; col++) {
                size_t n = 1;

                while (((unsigned char) s[n] & 0xC0) == 0x80)
                        n++;
                addnstr(s, (int) n);
                s += n;
        }
        attroff(attr);
}

static void putf(int y, int x, int width, attr_t attr, const char *fmt, ...) _printf_(5, 6);

static void putf(int y, int x, int width, attr_t attr, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        put(y, x, width, attr, buf);
}

/* A full-width bar (title, key hints). */
static void bar(const App *app, int y, const char *text) {
        attr_t a = app->color ? COLOR_PAIR(PAIR_TITLE) : A_REVERSE;

        attron(a);
        mvhline(y, 0, ' ', COLS);
        attroff(a);
        put(y, 0, COLS, a, text);
}

/* "Label: value" pairs on one line; returns the next column. */
static int field(const App *app, int y, int x, const char *label, const char *value, TuiColor color) {
        if (x >= COLS)
                return x;
        put(y, x, COLS - x, A_BOLD, label);
        x += (int) text_width(label) + 1;
        put(y, x, COLS - x, color_attr(app, color), isempty(value) ? "-" : value);
        return x + (int) text_width(isempty(value) ? "-" : value) + 3;
}

/* Draws a table of rows at y with at most max_rows rows, scrolled so that the cursor row (if any,
 * cursor < n) is visible. Returns the number of lines used. */
static int table(const App *app, int y, const TuiColumn *cols, size_t n_cols, const TuiRow *rows, size_t n,
                 size_t cursor, bool show_cursor, int max_rows) {
        unsigned width[16] = {};
        size_t first = 0;
        int x = 1, lines = 0;

        n_cols = MIN(n_cols, ELEMENTSOF(width));
        for (size_t c = 0; c < n_cols; c++) {
                width[c] = MAX(cols[c].width, (unsigned) text_width(cols[c].header));
                for (size_t i = 0; i < n; i++)
                        width[c] = MAX(width[c], (unsigned) text_width(rows[i].cells[c]));
        }
        for (size_t c = 0; c < n_cols; c++) {
                char buf[TUI_CELL_MAX + 8];

                snprintf(buf, sizeof buf, cols[c].right ? "%*s" : "%-*s", (int) width[c], cols[c].header);
                put(y, x, COLS - x, A_BOLD | A_UNDERLINE, buf);
                x += (int) width[c] + 2;
        }
        lines++;
        if (max_rows < 1)
                return lines;
        if (show_cursor && cursor >= (size_t) max_rows)
                first = cursor - (size_t) max_rows + 1;
        for (size_t i = first; i < n && lines <= max_rows; i++, lines++) {
                bool sel = show_cursor && i == cursor;

                x = 1;
                if (sel) {
                        attron(A_REVERSE);
                        mvhline(y + lines, 0, ' ', COLS);
                        attroff(A_REVERSE);
                        put(y + lines, 0, 1, A_REVERSE, ">");
                }
                for (size_t c = 0; c < n_cols && c < rows[i].n_cells; c++) {
                        size_t w = text_width(rows[i].cells[c]);
                        int pad = cols[c].right ? (int) width[c] - (int) w : 0;

                        put(y + lines, x + pad, COLS - x - pad, color_attr(app, rows[i].colors[c]) | (sel ? A_REVERSE : 0),
                            rows[i].cells[c]);
                        x += (int) width[c] + 2;
                }
        }
        return lines;
}

static void draw_title(const App *app, const char *what) {
        char t[32], line[512];
        time_t now = time(NULL);
        struct tm tm;

        strftime(t, sizeof t, "%H:%M:%S", localtime_r(&now, &tm));
        snprintf(line, sizeof line, " Fluxify %s   [%s]", what, strempty(tui_bus_get_destination(app->tbus)));
        bar(app, 0, line);
        put(0, MAX(COLS - 9, 0), 9, app->color ? COLOR_PAIR(PAIR_TITLE) : A_REVERSE, t);
}

static void draw_bottom(const App *app) {
        static const char *const hints[] = {
                [TUI_VIEW_CHOOSER] = " Up/Down select  Enter open  q quit",
                [TUI_VIEW_CLIENT] = " c connect  d disconnect  a add iface  r remove iface  s sort  ? help  q quit",
                [TUI_VIEW_SERVER] = " Tab pane  Up/Down select  t terminate  i issue  R revoke  s sort  ? help  q quit",
        };
        int y = LINES - 1;

        if (app->status[0])
                put(LINES - 2, 0, COLS, app->status_error ? color_attr(app, TUI_COLOR_BAD) : A_BOLD, app->status);
        else if (app->busy)
                put(LINES - 2, 0, COLS, A_BOLD, app->busy);

        if (app->prompt == TUI_PROMPT_NONE) {
                bar(app, y, hints[app->view]);
                return;
        }
        /* The prompt replaces the hints; the cursor sits at the end of the input. */
        move(y, 0);
        clrtoeol();
        put(y, 0, COLS, A_BOLD, app->prompt_label);
        put(y, (int) text_width(app->prompt_label), COLS - (int) text_width(app->prompt_label), A_NORMAL, app->input);
}

static void draw_help(const App *app) {
        static const char *const lines[] = {
                "fluxify-tui keys",
                "",
                "Client view:",
                "  c      connect (asks for the interfaces, comma separated; empty = profile's)",
                "  d      disconnect",
                "  a / r  add / remove an interface live",
                "  Up/Dn  select a path (r suggests its interface)",
                "Server view:",
                "  Tab    switch between sessions and certificates",
                "  t      terminate the selected session (asks first)",
                "  i      issue a certificate (name, days, bundle file written 0600)",
                "  R      revoke the selected certificate (asks first)",
                "Both:",
                "  s      sort paths: name, share, rtt",
                "  Ctrl-L redraw and re-read now",
                "  Esc    cancel a prompt        q  quit",
                "",
                "Changing a daemon's state needs root; reading works for everyone.",
                "Press any key to close this help.",
        };
        int h = (int) ELEMENTSOF(lines) + 2, w = 82;
        int y0 = MAX((LINES - h) / 2, 0), x0 = MAX((COLS - w) / 2, 0);

        for (int y = 0; y < h && y0 + y < LINES; y++) {
                move(y0 + y, x0);
                for (int x = 0; x < w && x0 + x < COLS; x++)
                        addch(' ' | A_REVERSE);
        }
        for (size_t i = 0; i < ELEMENTSOF(lines); i++)
                put(y0 + 1 + (int) i, x0 + 2, MIN(w - 4, COLS - x0 - 2), A_REVERSE | (i == 0 ? A_BOLD : 0), lines[i]);
}

static void draw_unreachable(const App *app, int y) {
        const char *e = tui_bus_get_error(app->tbus);

        if (e)
                put(y, 1, COLS - 1, color_attr(app, TUI_COLOR_BAD), e);
        else
                put(y, 1, COLS - 1, A_NORMAL, "Reading the daemon's objects…");
}

static void draw_client(const App *app) {
        const TuiClient *c = app->client;
        char a[256], b[64], d[64], e[64];
        _cleanup_(freep) TuiRow *rows = NULL;
        size_t up = 0;
        int x, y;

        snprintf(a, sizeof a, "client '%s'", strempty(app->profile));
        draw_title(app, a);
        if (!c || !c->present) {
                draw_unreachable(app, 2);
                return;
        }

        x = field(app, 1, 1, "State:", c->state, tui_state_color(c->state));
        x = field(app, 1, x, "Mode:", c->mode, TUI_COLOR_NONE);
        x = field(app, 1, x, "Server:", streq_ptr(c->mode, "load-balance") ? "-" : c->server, TUI_COLOR_NONE);
        (void) field(app, 1, x, "Scheduler:", c->scheduler, TUI_COLOR_NONE);

        x = field(app, 2, 1, "Interfaces:", tui_format_list(a, sizeof a, c->interfaces, ", "), TUI_COLOR_NONE);
        if (c->has_session) {
                char s[256];

                snprintf(s, sizeof s, "%" PRIu64 " (%s)", c->session_id,
                         tui_format_list(a, sizeof a, c->session_addresses, ", "));
                (void) field(app, 2, x, "Session:", s, TUI_COLOR_NONE);
        } else
                (void) field(app, 2, x, "Session:", "-", TUI_COLOR_NONE);

        for (size_t i = 0; i < c->n_paths; i++)
                if (streq(c->paths[i].state, "up"))
                        up++;
        snprintf(a, sizeof a, "%s (%s)", format_bytes(b, sizeof b, c->rx_bytes), format_rate(d, sizeof d, c->rx_rate));
        x = field(app, 3, 1, "RX:", a, TUI_COLOR_NONE);
        snprintf(a, sizeof a, "%s (%s)", format_bytes(b, sizeof b, c->tx_bytes), format_rate(e, sizeof e, c->tx_rate));
        x = field(app, 3, x, "TX:", a, TUI_COLOR_NONE);
        snprintf(a, sizeof a, "%zu up of %zu", up, c->n_paths);
        x = field(app, 3, x, "Paths:", a, c->n_paths > 0 && up == 0 ? TUI_COLOR_BAD : TUI_COLOR_NONE);
        (void) field(app, 3, x, "Sort:", tui_path_sort_to_string(app->sort), TUI_COLOR_NONE);

        (void) field(app, 4, 1, "Last error:", c->last_error, isempty(c->last_error) ? TUI_COLOR_NONE : TUI_COLOR_BAD);

        y = 6;
        rows = new0(TuiRow, c->n_paths);
        if (!rows)
                return;
        for (size_t i = 0; i < c->n_paths; i++)
                tui_client_path_row(c->paths + i, rows + i);
        (void) table(app, y, tui_client_path_columns, tui_client_path_n_columns, rows, c->n_paths, app->path_cursor,
                     c->n_paths > 0, LINES - y - 3);
        if (c->n_paths == 0)
                put(y + 1, 1, COLS - 1, color_attr(app, TUI_COLOR_DIM),
                    streq_ptr(c->state, "idle") ? "Not connected: press c to connect." : "No paths.");
}

static void draw_server(const App *app) {
        const TuiServer *s = app->server;
        const TuiSession *sel = NULL;
        _cleanup_(freep) TuiRow *rows = NULL;
        char a[256], b[64], d[64];
        int x, y, avail, third, n_sessions_rows, n_paths_rows, n_certs_rows;
        size_t nrows;

        draw_title(app, "server");
        if (!s || !s->present) {
                draw_unreachable(app, 2);
                return;
        }

        x = field(app, 1, 1, "State:", s->state, tui_state_color(s->state));
        x = field(app, 1, x, "Version:", s->version, TUI_COLOR_NONE);
        snprintf(a, sizeof a, "%" PRIu64 "/tcp", s->control_port);
        x = field(app, 1, x, "Control:", a, TUI_COLOR_NONE);
        snprintf(a, sizeof a, "%" PRIu64 "/udp", s->data_port);
        x = field(app, 1, x, "Data:", a, TUI_COLOR_NONE);
        (void) field(app, 1, x, "Tunnel:", s->tunnel, TUI_COLOR_NONE);
        (void) field(app, 2, 1, "Addresses:", tui_format_list(a, sizeof a, s->addresses, ", "), TUI_COLOR_NONE);
        snprintf(a, sizeof a, "%" PRIu64, s->session_count);
        x = field(app, 3, 1, "Sessions:", a, TUI_COLOR_NONE);
        snprintf(a, sizeof a, "%s (%s)", format_bytes(b, sizeof b, s->rx_bytes), format_rate(d, sizeof d, s->rx_rate));
        x = field(app, 3, x, "RX:", a, TUI_COLOR_NONE);
        snprintf(a, sizeof a, "%s (%s)", format_bytes(b, sizeof b, s->tx_bytes), format_rate(d, sizeof d, s->tx_rate));
        (void) field(app, 3, x, "TX:", a, TUI_COLOR_NONE);

        /* Three panes share what is left: titles and headers take 2 lines each. */
        avail = LINES - 5 - 2 - 6;
        third = MAX(avail / 3, 1);
        n_sessions_rows = MIN((int) s->n_sessions, third);
        n_sessions_rows = MAX(n_sessions_rows, 1);
        n_certs_rows = MIN((int) s->n_certificates, third);
        n_certs_rows = MAX(n_certs_rows, 1);
        n_paths_rows = MAX(1, avail - n_sessions_rows - n_certs_rows);

        nrows = MAX(s->n_sessions, s->n_certificates);
        nrows = MAX(nrows, (size_t) 1);
        if (s->n_sessions > 0)
                sel = s->sessions + MIN(app->session_cursor, s->n_sessions - 1);
        if (sel)
                nrows = MAX(nrows, sel->n_paths);
        rows = new0(TuiRow, nrows);
        if (!rows)
                return;

        y = 5;
        put(y++, 0, COLS, A_BOLD | (app->focus == TUI_FOCUS_SESSIONS ? A_REVERSE : 0), " Sessions ");
        for (size_t i = 0; i < s->n_sessions; i++)
                tui_session_row(s->sessions + i, rows + i);
        y += table(app, y, tui_session_columns, tui_session_n_columns, rows, s->n_sessions, app->session_cursor,
                   app->focus == TUI_FOCUS_SESSIONS && s->n_sessions > 0, n_sessions_rows);
        if (s->n_sessions == 0)
                put(y++, 1, COLS - 1, color_attr(app, TUI_COLOR_DIM), "No sessions.");

        if (sel)
                putf(y++, 0, COLS, A_BOLD, " Paths of session %" PRIu64 " (%s) ", sel->id, strempty(sel->client_name));
        else
                put(y++, 0, COLS, A_BOLD, " Paths ");
        for (size_t i = 0; sel && i < sel->n_paths; i++)
                tui_server_path_row(sel->paths + i, rows + i);
        y += table(app, y, tui_server_path_columns, tui_server_path_n_columns, rows, sel ? sel->n_paths : 0, 0, false,
                   n_paths_rows);

        putf(y++, 0, COLS, A_BOLD | (app->focus == TUI_FOCUS_CERTIFICATES ? A_REVERSE : 0), " Certificates   CA %s%s ",
             s->has_pki && !isempty(s->ca_fingerprint) ? "sha256:" : "",
             s->has_pki && !isempty(s->ca_fingerprint) ? s->ca_fingerprint : "(PKI not initialized)");
        for (size_t i = 0; i < s->n_certificates; i++)
                tui_certificate_row(s->certificates + i, now(CLOCK_REALTIME), rows + i);
        y += table(app, y, tui_certificate_columns, tui_certificate_n_columns, rows, s->n_certificates,
                   app->certificate_cursor, app->focus == TUI_FOCUS_CERTIFICATES && s->n_certificates > 0,
                   MAX(n_certs_rows, LINES - 2 - y - 1));
        if (s->n_certificates == 0)
                put(y, 1, COLS - 1, color_attr(app, TUI_COLOR_DIM), "No certificates issued: press i to issue one.");
}

static void draw_chooser(const App *app) {
        size_t n = 0;

        bar(app, 0, " Fluxify: choose a client instance");
        for (char **p = app->profiles; p && *p; p++)
                n++;
        if (!app->profiles_known) {
                put(2, 1, COLS - 1, A_NORMAL, "Listing the client instances on the bus…");
                return;
        }
        if (n == 0) {
                put(2, 1, COLS - 1, A_NORMAL, "No fluxifyd-client instance is running on the system bus (waiting).");
                put(3, 1, COLS - 1, color_attr(app, TUI_COLOR_DIM),
                    "Start one with 'systemctl start fluxify-client@PROFILE', or run 'fluxify-tui --server'.");
                return;
        }
        put(2, 1, COLS - 1, A_BOLD, "Running client instances:");
        for (size_t i = 0; i < n && 4 + (int) i < LINES - 2; i++) {
                attr_t a = i == app->chooser_cursor ? A_REVERSE : A_NORMAL;

                putf(4 + (int) i, 2, COLS - 2, a, "%s %s", i == app->chooser_cursor ? ">" : " ", app->profiles[i]);
        }
}

void tui_draw(App *app) {
        erase();
        curs_set(app->prompt != TUI_PROMPT_NONE ? 1 : 0);
        if (LINES < 8 || COLS < 40) {
                put(0, 0, COLS, A_BOLD, "Terminal too small.");
                refresh();
                return;
        }
        switch (app->view) {
        case TUI_VIEW_CHOOSER:
                draw_chooser(app);
                break;
        case TUI_VIEW_CLIENT:
                draw_client(app);
                break;
        case TUI_VIEW_SERVER:
                draw_server(app);
                break;
        }
        if (app->help)
                draw_help(app);
        draw_bottom(app);
        if (app->prompt != TUI_PROMPT_NONE)
                move(LINES - 1, MIN((int) (text_width(app->prompt_label) + text_width(app->input)), COLS - 1));
        refresh();
}
