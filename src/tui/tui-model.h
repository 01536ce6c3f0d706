/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "macro.h"

/* fluxify-tui's data model: what the screen shows, built from the JSON form of a daemon's objects
 * ({ path: { iface: { prop: value } } }, as read by bus_message_read_json() of src/ctl), plus the
 * formatting of every row into cells. Pure: no D-Bus, no curses, no clock. The drawing code only
 * lays out the cells this module produces. */

#define TUI_CELL_MAX 64

typedef enum TuiColor {
        TUI_COLOR_NONE,
        TUI_COLOR_GOOD,  /* up, connected, running */
        TUI_COLOR_WARN,  /* probing, degraded, connecting… */
        TUI_COLOR_BAD,   /* down, failed, revoked */
        TUI_COLOR_DIM,
        _TUI_COLOR_MAX,
} TuiColor;

TuiColor tui_state_color(const char *state) _pure_;

/* One path (a Connection object, client or server side). */
typedef struct TuiPath {
        char *object;       /* D-Bus object path */
        char *interface;    /* client: uplink name; server: empty */
        char *local_address;
        char *remote_address;
        char *state;
        uint64_t rtt_usec;
        uint64_t jitter_usec;
        uint64_t loss_ppm;
        uint64_t rx_bytes, tx_bytes;
        uint64_t rx_rate, tx_rate; /* bytes/s */
        char *priority;
        double weight;
        double share;       /* % of the traffic of all paths listed together, see tui_paths_compute_share() */
} TuiPath;

typedef enum TuiPathSort {
        TUI_PATH_SORT_NAME,   /* interface (client) or remote address (server), then object path */
        TUI_PATH_SORT_SHARE,  /* biggest share first */
        TUI_PATH_SORT_RTT,    /* lowest measured RTT first, unmeasured last */
        _TUI_PATH_SORT_MAX,
        _TUI_PATH_SORT_INVALID = -EINVAL,
} TuiPathSort;

DECLARE_STRING_TABLE(tui_path_sort, TuiPathSort);

typedef struct TuiClient {
        bool present;        /* the Manager object was there */
        char *profile, *mode, *state, *server, *scheduler, *last_error;
        char **interfaces;   /* NULL-terminated, never NULL once built */
        uint64_t rx_bytes, tx_bytes;
        uint64_t rx_rate, tx_rate; /* sums over the paths */
        bool has_session;
        uint64_t session_id;
        char **session_addresses;
        char *session_server;
        TuiPath *paths;
        size_t n_paths;
} TuiClient;

typedef struct TuiSession {
        char *object;
        uint64_t id;
        char *client_name;
        char **addresses;
        char *state;
        uint64_t created_usec;
        uint64_t rx_bytes, tx_bytes;
        uint64_t rx_rate, tx_rate;  /* sums over its paths */
        size_t paths_up;
        TuiPath *paths;
        size_t n_paths;
} TuiSession;

typedef struct TuiCertificate {
        char *name;
        char *serial;
        uint64_t not_before_usec, not_after_usec; /* CLOCK_REALTIME */
        bool revoked;
} TuiCertificate;

typedef struct TuiServer {
        bool present;
        char *version, *state, *tunnel;
        uint64_t control_port, data_port;
        char **addresses;
        uint64_t session_count;
        uint64_t rx_bytes, tx_bytes;
        uint64_t rx_rate, tx_rate;  /* sums over every session's paths */
        TuiSession *sessions;       /* sorted by id */
        size_t n_sessions;
        bool has_pki;
        char *ca_fingerprint;
        uint64_t server_not_after_usec;
        TuiCertificate *certificates; /* sorted by name */
        size_t n_certificates;
} TuiServer;

TuiClient *tui_client_free(TuiClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(TuiClient *, tui_client_free);
TuiServer *tui_server_free(TuiServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(TuiServer *, tui_server_free);

/* objects may be NULL (daemon not reachable): the result then has present = false. */
int tui_client_from_objects(json_t *objects, TuiPathSort sort, TuiClient **ret);
/* certs: the JSON form of ListCertificates() (an array of [name, serial, not_before, not_after,
 * revoked] arrays), or NULL. */
int tui_server_from_objects(json_t *objects, json_t *certs, TuiPathSort sort, TuiServer **ret);

/* Fills every path's share: its rx+tx rate over the sum of all rates, in %; when nothing moves
 * (all rates 0) the cumulative byte counters are used instead, so an idle tunnel still shows how
 * the traffic was spread. All 0 when there was no traffic at all. */
void tui_paths_compute_share(TuiPath *paths, size_t n);
void tui_paths_sort(TuiPath *paths, size_t n, TuiPathSort sort);

/* Index of the session with that id, or -ENOENT. */
int tui_server_find_session(const TuiServer *s, uint64_t id);

/* Table layout: column headers, widths and alignment, and one row's cells. */
typedef struct TuiColumn {
        const char *header;
        unsigned width;     /* minimum width */
        bool right;         /* right-aligned (numbers) */
} TuiColumn;

typedef struct TuiRow {
        char cells[12][TUI_CELL_MAX];
        TuiColor colors[12];
        size_t n_cells;
} TuiRow;

extern const TuiColumn tui_client_path_columns[];
extern const size_t tui_client_path_n_columns;
extern const TuiColumn tui_server_path_columns[];
extern const size_t tui_server_path_n_columns;
extern const TuiColumn tui_session_columns[];
extern const size_t tui_session_n_columns;
extern const TuiColumn tui_certificate_columns[];
extern const size_t tui_certificate_n_columns;

void tui_client_path_row(const TuiPath *p, TuiRow *ret);
void tui_server_path_row(const TuiPath *p, TuiRow *ret);
void tui_session_row(const TuiSession *s, TuiRow *ret);
/* now_usec: CLOCK_REALTIME, to mark expired certificates. */
void tui_certificate_row(const TuiCertificate *c, uint64_t now_usec, TuiRow *ret);

/* Small formatting helpers, also used for the header lines. */
char *tui_format_measured(char *buf, size_t size, uint64_t usec); /* "-" when 0 (not measured) */
char *tui_format_loss(char *buf, size_t size, uint64_t ppm);        /* "0.25%" */
char *tui_format_date(char *buf, size_t size, uint64_t realtime_usec); /* "2027-11-29", UTC */
/* "a, b, c"; "-" for an empty or NULL list. Returns buf, truncated with "…" if it does not fit. */
char *tui_format_list(char *buf, size_t size, char *const *v, const char *sep);
/* Joins with "," for the connect prompt (no spaces, so it splits back). */
char *tui_join_comma(char *const *v);
/* Splits a comma list typed by the user: spaces around items are dropped, empty items skipped.
 * Returns the number of items. */
int tui_split_list(const char *s, char ***ret);
