/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "ctl-format.h"
#include "flux-bus-names.h"
#include "time-util.h"
#include "tui-model.h"

static const char *const tui_path_sort_table[_TUI_PATH_SORT_MAX] = {
        [TUI_PATH_SORT_NAME] = "name",
        [TUI_PATH_SORT_SHARE] = "share",
        [TUI_PATH_SORT_RTT] = "rtt",
};

DEFINE_STRING_TABLE(tui_path_sort, TuiPathSort, _TUI_PATH_SORT_MAX);

TuiColor tui_state_color(const char *state) {
        static const char *const good[] = { "up", "connected", "running", "active", "established", "valid" };
        static const char *const warn[] = { "probing", "degraded", "connecting", "reconnecting", "detached",
                                            "disconnecting", "starting", "stopping" };
        static const char *const bad[] = { "down", "failed", "revoked", "expired" };

        if (!state)
                return TUI_COLOR_NONE;
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (streq(state, good[i]))
                        return TUI_COLOR_GOOD;
        for (size_t i = 0; i < ELEMENTSOF(warn); i++)
                if (streq(state, warn[i]))
                        return TUI_COLOR_WARN;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (streq(state, bad[i]))
                        return TUI_COLOR_BAD;
        return TUI_COLOR_NONE;
}

/* ---- building ---- */

static void strv_free(char **v) {
        strv_freep(&v);
}

static int dup_prop(json_t *props, const char *name, char **ret) {
        char *s = strdup(strempty(props_string(props, name)));

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int strv_from_json(json_t *arr, char ***ret) {
        char **v;
        size_t i, n = 0;
        json_t *e;

        v = new0(char *, json_array_size(arr) + 1);
        if (!v)
                return -ENOMEM;
        json_array_foreach(arr, i, e) {
                if (!json_is_string(e))
                        continue;
                v[n] = strdup(json_string_value(e));
                if (!v[n]) {
                        strv_free(v);
                        return -ENOMEM;
                }
                n++;
        }
        *ret = v;
        return 0;
}

static void path_done(TuiPath *p) {
        free(p->object);
        free(p->interface);
        free(p->local_address);
        free(p->remote_address);
        free(p->state);
        free(p->priority);
}

static void paths_free(TuiPath *paths, size_t n) {
        for (size_t i = 0; i < n; i++)
                path_done(paths + i);
        free(paths);
}

static int path_from_props(json_t *props, TuiPath *ret) {
        TuiPath p = {
                .rtt_usec = props_uint(props, "RTTUSec"),
                .jitter_usec = props_uint(props, "JitterUSec"),
                .loss_ppm = props_uint(props, "LossPPM"),
                .rx_bytes = props_uint(props, "RxBytes"),
                .tx_bytes = props_uint(props, "TxBytes"),
                .rx_rate = props_uint(props, "RxRate"),
                .tx_rate = props_uint(props, "TxRate"),
                .weight = props_double(props, "Weight"),
        };

        if (dup_prop(props, "Path", &p.object) < 0 || dup_prop(props, "Interface", &p.interface) < 0 ||
            dup_prop(props, "LocalAddress", &p.local_address) < 0 ||
            dup_prop(props, "RemoteAddress", &p.remote_address) < 0 || dup_prop(props, "State", &p.state) < 0 ||
            dup_prop(props, "Priority", &p.priority) < 0) {
                path_done(&p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

/* The Connection objects whose object path is listed in `which` (an array of object paths), or every
 * one carrying iface when which is NULL. */
static int paths_collect(json_t *objects, const char *iface, json_t *which, TuiPath **ret, size_t *ret_n) {
        json_t *all, *c;
        TuiPath *v;
        size_t i, n = 0;
        int r = 0;

        all = objects_collect(objects, iface);
        if (!all)
                return -ENOMEM;
        v = new0(TuiPath, json_array_size(all));
        if (!v) {
                json_decref(all);
                return -ENOMEM;
        }
        json_array_foreach(all, i, c) {
                if (which) {
                        bool found = false;
                        size_t j;
                        json_t *w;

                        json_array_foreach(which, j, w)
                                if (streq_ptr(json_string_value(w), props_string(c, "Path")))
                                        found = true;
                        if (!found)
                                continue;
                }
                r = path_from_props(c, v + n);
                if (r < 0)
                        break;
                n++;
        }
        json_decref(all);
        if (r < 0) {
                paths_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void tui_paths_compute_share(TuiPath *paths, size_t n) {
        uint64_t total_rate = 0, total_bytes = 0;
        bool by_rate;

        for (size_t i = 0; i < n; i++) {
                total_rate += paths[i].rx_rate + paths[i].tx_rate;
                total_bytes += paths[i].rx_bytes + paths[i].tx_bytes;
        }
        by_rate = total_rate > 0;
        for (size_t i = 0; i < n; i++) {
                uint64_t mine = by_rate ? paths[i].rx_rate + paths[i].tx_rate : paths[i].rx_bytes + paths[i].tx_bytes;
                uint64_t total = by_rate ? total_rate : total_bytes;

                paths[i].share = total > 0 ? 100.0 * (double) mine / (double) total : 0.0;
        }
}

static const char *path_name(const TuiPath *p) {
        return !isempty(p->interface) ? p->interface : strempty(p->remote_address);
}

static int cmp_path_name(const void *a, const void *b) {
        const TuiPath *x = a, *y = b;
        int c = strcmp(path_name(x), path_name(y));

        return c != 0 ? c : strcmp(strempty(x->object), strempty(y->object));
}

static int cmp_path_share(const void *a, const void *b) {
        const TuiPath *x = a, *y = b;

        if (x->share != y->share)
                return x->share > y->share ? -1 : 1;
        return cmp_path_name(a, b);
}

static int cmp_path_rtt(const void *a, const void *b) {
        const TuiPath *x = a, *y = b;
        /* 0 = not measured yet: sort it after every measured path. */
        uint64_t rx = x->rtt_usec == 0 ? UINT64_MAX : x->rtt_usec, ry = y->rtt_usec == 0 ? UINT64_MAX : y->rtt_usec;

        if (rx != ry)
                return rx < ry ? -1 : 1;
        return cmp_path_name(a, b);
}

void tui_paths_sort(TuiPath *paths, size_t n, TuiPathSort sort) {
        static int (*const cmp[_TUI_PATH_SORT_MAX])(const void *, const void *) = {
                [TUI_PATH_SORT_NAME] = cmp_path_name,
                [TUI_PATH_SORT_SHARE] = cmp_path_share,
                [TUI_PATH_SORT_RTT] = cmp_path_rtt,
        };

        if (n > 0 && sort >= 0 && sort < _TUI_PATH_SORT_MAX)
                qsort(paths, n, sizeof(TuiPath), cmp[sort]);
}

TuiClient *tui_client_free(TuiClient *c) {
        if (!c)
                return NULL;
        free(c->profile);
        free(c->mode);
        free(c->state);
        free(c->server);
        free(c->scheduler);
        free(c->last_error);
        strv_free(c->interfaces);
        strv_free(c->session_addresses);
        free(c->session_server);
        paths_free(c->paths, c->n_paths);
        return mfree(c);
}

int tui_client_from_objects(json_t *objects, TuiPathSort sort, TuiClient **ret) {
        _cleanup_(tui_client_freep) TuiClient *c = NULL;
        json_t *m, *s;
        int r;

        c = new0(TuiClient, 1);
        if (!c)
                return -ENOMEM;

        m = objects_get(objects, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE);
        s = objects_get(objects, FLUX_CLIENT_SESSION_PATH, FLUX_CLIENT_SESSION_IFACE);
        c->present = m;
        if (dup_prop(m, "Profile", &c->profile) < 0 || dup_prop(m, "Mode", &c->mode) < 0 ||
            dup_prop(m, "State", &c->state) < 0 || dup_prop(m, "Server", &c->server) < 0 ||
            dup_prop(m, "Scheduler", &c->scheduler) < 0 || dup_prop(m, "LastError", &c->last_error) < 0 ||
            dup_prop(s, "ServerAddress", &c->session_server) < 0)
                return -ENOMEM;
        r = strv_from_json(json_object_get(m, "Interfaces"), &c->interfaces);
        if (r < 0)
                return r;
        r = strv_from_json(json_object_get(s, "Addresses"), &c->session_addresses);
        if (r < 0)
                return r;
        c->rx_bytes = props_uint(m, "RxBytes");
        c->tx_bytes = props_uint(m, "TxBytes");
        c->has_session = s;
        c->session_id = props_uint(s, "Id");

        r = paths_collect(objects, FLUX_CLIENT_CONNECTION_IFACE, NULL, &c->paths, &c->n_paths);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_paths; i++) {
                c->rx_rate += c->paths[i].rx_rate;
                c->tx_rate += c->paths[i].tx_rate;
        }
        tui_paths_compute_share(c->paths, c->n_paths);
        tui_paths_sort(c->paths, c->n_paths, sort);

        *ret = TAKE_PTR(c);
        return 0;
}

static void session_done(TuiSession *s) {
        free(s->object);
        free(s->client_name);
        strv_free(s->addresses);
        free(s->state);
        paths_free(s->paths, s->n_paths);
}

TuiServer *tui_server_free(TuiServer *s) {
        if (!s)
                return NULL;
        free(s->version);
        free(s->state);
        free(s->tunnel);
        strv_free(s->addresses);
        for (size_t i = 0; i < s->n_sessions; i++)
                session_done(s->sessions + i);
        free(s->sessions);
        free(s->ca_fingerprint);
        for (size_t i = 0; i < s->n_certificates; i++) {
                free(s->certificates[i].name);
                free(s->certificates[i].serial);
        }
        free(s->certificates);
        return mfree(s);
}

static int session_from_props(json_t *objects, json_t *props, TuiPathSort sort, TuiSession *ret) {
        TuiSession s = {
                .id = props_uint(props, "Id"),
                .created_usec = props_uint(props, "CreatedUSec"),
                .rx_bytes = props_uint(props, "RxBytes"),
                .tx_bytes = props_uint(props, "TxBytes"),
        };
        json_t *conns = json_object_get(props, "Connections"), *empty;
        int r;

        if (dup_prop(props, "Path", &s.object) < 0 || dup_prop(props, "ClientName", &s.client_name) < 0 ||
            dup_prop(props, "State", &s.state) < 0 || strv_from_json(json_object_get(props, "Addresses"), &s.addresses) < 0) {
                session_done(&s);
                return -ENOMEM;
        }
        /* Connections lists the session's paths; without it the session has none we can show. */
        empty = conns ? NULL : json_array();
        if (!conns && !empty)
                r = -ENOMEM;
        else
                r = paths_collect(objects, FLUX_SERVER_CONNECTION_IFACE, conns ?: empty, &s.paths, &s.n_paths);
        json_decref(empty);
        if (r < 0) {
                session_done(&s);
                return r;
        }
        for (size_t i = 0; i < s.n_paths; i++) {
                s.rx_rate += s.paths[i].rx_rate;
                s.tx_rate += s.paths[i].tx_rate;
                if (streq(s.paths[i].state, "up"))
                        s.paths_up++;
        }
        tui_paths_compute_share(s.paths, s.n_paths);
        tui_paths_sort(s.paths, s.n_paths, sort);
        *ret = s;
        return 0;
}

static int cmp_session(const void *a, const void *b) {
        const TuiSession *x = a, *y = b;

        return x->id < y->id ? -1 : x->id > y->id ? 1 : 0;
}

static int cmp_certificate(const void *a, const void *b) {
        const TuiCertificate *x = a, *y = b;

        return strcmp(x->name, y->name);
}

static int server_add_certificates(TuiServer *s, json_t *certs) {
        size_t i;
        json_t *e;

        s->certificates = new0(TuiCertificate, json_array_size(certs));
        if (!s->certificates)
                return -ENOMEM;
        json_array_foreach(certs, i, e) {
                TuiCertificate *c = s->certificates + s->n_certificates;
                json_t *na = json_array_get(e, 2), *nb = json_array_get(e, 3);

                if (!json_is_array(e) || json_array_size(e) < 5)
                        continue;
                c->name = strdup(strempty(json_string_value(json_array_get(e, 0))));
                c->serial = strdup(strempty(json_string_value(json_array_get(e, 1))));
                if (!c->name || !c->serial) {
                        free(c->name);
                        free(c->serial);
                        return -ENOMEM;
                }
                c->not_before_usec = json_is_integer(na) ? (uint64_t) json_integer_value(na) : 0;
                c->not_after_usec = json_is_integer(nb) ? (uint64_t) json_integer_value(nb) : UINT64_MAX;
                c->revoked = json_is_true(json_array_get(e, 4));
                s->n_certificates++;
        }
        qsort(s->certificates, s->n_certificates, sizeof(TuiCertificate), cmp_certificate);
        return 0;
}

int tui_server_from_objects(json_t *objects, json_t *certs, TuiPathSort sort, TuiServer **ret) {
        _cleanup_(tui_server_freep) TuiServer *s = NULL;
        json_t *m, *pki, *all, *e;
        size_t i;
        int r = 0;

        s = new0(TuiServer, 1);
        if (!s)
                return -ENOMEM;

        m = objects_get(objects, FLUX_SERVER_PATH, FLUX_SERVER_MANAGER_IFACE);
        pki = objects_get(objects, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE);
        s->present = m;
        s->has_pki = pki;
        if (dup_prop(m, "Version", &s->version) < 0 || dup_prop(m, "State", &s->state) < 0 ||
            dup_prop(m, "TunnelInterface", &s->tunnel) < 0 || dup_prop(pki, "CAFingerprint", &s->ca_fingerprint) < 0 ||
            strv_from_json(json_object_get(m, "Addresses"), &s->addresses) < 0)
                return -ENOMEM;
        s->control_port = props_uint(m, "ControlPort");
        s->data_port = props_uint(m, "DataPort");
        s->session_count = props_uint(m, "SessionCount");
        s->rx_bytes = props_uint(m, "RxBytes");
        s->tx_bytes = props_uint(m, "TxBytes");
        s->server_not_after_usec = props_uint(pki, "ServerNotAfterUSec");

        all = objects_collect(objects, FLUX_SERVER_SESSION_IFACE);
        if (!all)
                return -ENOMEM;
        s->sessions = new0(TuiSession, json_array_size(all));
        if (!s->sessions) {
                json_decref(all);
                return -ENOMEM;
        }
        json_array_foreach(all, i, e) {
                r = session_from_props(objects, e, sort, s->sessions + s->n_sessions);
                if (r < 0)
                        break;
                s->rx_rate += s->sessions[s->n_sessions].rx_rate;
                s->tx_rate += s->sessions[s->n_sessions].tx_rate;
                s->n_sessions++;
        }
        json_decref(all);
        if (r < 0)
                return r;
        qsort(s->sessions, s->n_sessions, sizeof(TuiSession), cmp_session);

        r = server_add_certificates(s, certs);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

int tui_server_find_session(const TuiServer *s, uint64_t id) {
        if (!s)
                return -ENOENT;
        for (size_t i = 0; i < s->n_sessions; i++)
                if (s->sessions[i].id == id)
                        return (int) i;
        return -ENOENT;
}

/* ---- formatting ---- */

char *tui_format_measured(char *buf, size_t size, uint64_t usec) {
        if (usec == 0 || usec == UINT64_MAX) {
                snprintf(buf, size, "-");
                return buf;
        }
        return format_timespan(buf, size, usec);
}

char *tui_format_loss(char *buf, size_t size, uint64_t ppm) {
        snprintf(buf, size, "%.2f%%", (double) MIN(ppm, (uint64_t) 1000000) / 10000.0);
        return buf;
}

char *tui_format_date(char *buf, size_t size, uint64_t realtime_usec) {
        struct tm tm;
        time_t t;

        if (realtime_usec == 0 || realtime_usec == UINT64_MAX) {
                snprintf(buf, size, "-");
                return buf;
        }
        t = (time_t) (realtime_usec / USEC_PER_SEC);
        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d", &tm) == 0)
                snprintf(buf, size, "-");
        return buf;
}

char *tui_format_list(char *buf, size_t size, char *const *v, const char *sep) {
        size_t l = 0;

        assert(size >= 4);
        buf[0] = '\0';
        for (size_t i = 0; v && v[i]; i++) {
                int k = snprintf(buf + l, size - l, "%s%s", i > 0 ? sep : "", v[i]);

                if (k < 0 || (size_t) k >= size - l) {
                        /* Does not fit: end with an ellipsis (3 bytes in UTF-8). */
                        strcpy(buf + size - 4, "\u2026");
                        return buf;
                }
                l += (size_t) k;
        }
        if (l == 0)
                snprintf(buf, size, "-");
        return buf;
}

char *tui_join_comma(char *const *v) {
        size_t l = 1;
        char *s;

        for (size_t i = 0; v && v[i]; i++)
                l += strlen(v[i]) + 1;
        s = new0(char, l);
        if (!s)
                return NULL;
        for (size_t i = 0; v && v[i]; i++) {
                if (i > 0)
                        strcat(s, ",");
                strcat(s, v[i]);
        }
        return s;
}

int tui_split_list(const char *s, char ***ret) {
        _cleanup_(strv_freep) char **v = NULL;
        size_t n = 0;

        v = new0(char *, strlen(strempty(s)) / 2 + 2);
        if (!v)
                return -ENOMEM;
        for (const char *p = strempty(s); *p;) {
                size_t k = strcspn(p, ",");
                const char *b = p, *e = p + k;

                while (b < e && (*b == ' ' || *b == '\t'))
                        b++;
                while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                        e--;
                if (e > b) {
                        v[n] = strndup(b, (size_t) (e - b));
                        if (!v[n])
                                return -ENOMEM;
                        n++;
                }
                p += k;
                if (*p == ',')
                        p++;
        }
        *ret = TAKE_PTR(v);
        return (int) MIN(n, (size_t) INT32_MAX);
}

const TuiColumn tui_client_path_columns[] = {
        { "IFACE", 8, false },  { "STATE", 8, false },  { "RTT", 7, true },      { "JITTER", 7, true },
        { "LOSS", 6, true },    { "RX/s", 11, true },   { "TX/s", 11, true },    { "SHARE", 6, true },
        { "PRIO", 7, false },   { "WEIGHT", 6, true },
};
const size_t tui_client_path_n_columns = ELEMENTSOF(tui_client_path_columns);

const TuiColumn tui_server_path_columns[] = {
        { "REMOTE", 21, false }, { "STATE", 8, false }, { "RTT", 7, true },   { "JITTER", 7, true },
        { "LOSS", 6, true },     { "RX/s", 11, true },  { "TX/s", 11, true }, { "SHARE", 6, true },
};
const size_t tui_server_path_n_columns = ELEMENTSOF(tui_server_path_columns);

const TuiColumn tui_session_columns[] = {
        { "ID", 4, true },      { "CLIENT", 10, false }, { "ADDRESSES", 18, false }, { "STATE", 8, false },
        { "PATHS", 5, true },   { "RX/s", 11, true },    { "TX/s", 11, true },
};
const size_t tui_session_n_columns = ELEMENTSOF(tui_session_columns);

const TuiColumn tui_certificate_columns[] = {
        { "NAME", 12, false }, { "SERIAL", 16, false }, { "NOT AFTER", 10, false }, { "STATUS", 7, false },
};
const size_t tui_certificate_n_columns = ELEMENTSOF(tui_certificate_columns);

static void row_add(TuiRow *row, TuiColor color, const char *fmt, ...) _printf_(3, 4);

static void row_add(TuiRow *row, TuiColor color, const char *fmt, ...) {
        va_list ap;

        if (row->n_cells >= ELEMENTSOF(row->cells))
                return;
        va_start(ap, fmt);
        vsnprintf(row->cells[row->n_cells], TUI_CELL_MAX, fmt, ap);
        va_end(ap);
        row->colors[row->n_cells++] = color;
}

/* The columns both kinds of path rows share, from STATE to SHARE. */
static void path_row_common(const TuiPath *p, TuiRow *row) {
        char a[32], b[32];

        row_add(row, tui_state_color(p->state), "%s", isempty(p->state) ? "-" : p->state);
        row_add(row, TUI_COLOR_NONE, "%s", tui_format_measured(a, sizeof a, p->rtt_usec));
        row_add(row, TUI_COLOR_NONE, "%s", tui_format_measured(a, sizeof a, p->jitter_usec));
        row_add(row, p->loss_ppm >= 50000 ? TUI_COLOR_BAD : p->loss_ppm > 0 ? TUI_COLOR_WARN : TUI_COLOR_NONE, "%s",
                tui_format_loss(a, sizeof a, p->loss_ppm));
        row_add(row, TUI_COLOR_NONE, "%s", format_rate(a, sizeof a, p->rx_rate));
        row_add(row, TUI_COLOR_NONE, "%s", format_rate(b, sizeof b, p->tx_rate));
        row_add(row, TUI_COLOR_NONE, "%.0f%%", p->share);
}

void tui_client_path_row(const TuiPath *p, TuiRow *ret) {
        *ret = (TuiRow) {};
        row_add(ret, TUI_COLOR_NONE, "%s", isempty(p->interface) ? "-" : p->interface);
        path_row_common(p, ret);
        row_add(ret, streq_ptr(p->priority, "backup") ? TUI_COLOR_DIM : TUI_COLOR_NONE, "%s",
                isempty(p->priority) ? "-" : p->priority);
        row_add(ret, TUI_COLOR_NONE, "%.2f", p->weight);
}

void tui_server_path_row(const TuiPath *p, TuiRow *ret) {
        *ret = (TuiRow) {};
        row_add(ret, TUI_COLOR_NONE, "%s", isempty(p->remote_address) ? "-" : p->remote_address);
        path_row_common(p, ret);
}

void tui_session_row(const TuiSession *s, TuiRow *ret) {
        char a[TUI_CELL_MAX], b[32];

        *ret = (TuiRow) {};
        row_add(ret, TUI_COLOR_NONE, "%" PRIu64, s->id);
        row_add(ret, TUI_COLOR_NONE, "%s", isempty(s->client_name) ? "-" : s->client_name);
        row_add(ret, TUI_COLOR_NONE, "%s", tui_format_list(a, sizeof a, s->addresses, ","));
        row_add(ret, tui_state_color(s->state), "%s", isempty(s->state) ? "-" : s->state);
        row_add(ret, s->n_paths > 0 && s->paths_up == 0 ? TUI_COLOR_BAD :
                     s->paths_up < s->n_paths ? TUI_COLOR_WARN : TUI_COLOR_NONE,
                "%zu/%zu", s->paths_up, s->n_paths);
        row_add(ret, TUI_COLOR_NONE, "%s", format_rate(b, sizeof b, s->rx_rate));
        row_add(ret, TUI_COLOR_NONE, "%s", format_rate(b, sizeof b, s->tx_rate));
}

void tui_certificate_row(const TuiCertificate *c, uint64_t now_usec, TuiRow *ret) {
        bool expired = c->not_after_usec != UINT64_MAX && c->not_after_usec < now_usec;
        char a[32];

        *ret = (TuiRow) {};
        row_add(ret, TUI_COLOR_NONE, "%s", c->name);
        row_add(ret, TUI_COLOR_NONE, "%s", isempty(c->serial) ? "-" : c->serial);
        row_add(ret, expired ? TUI_COLOR_BAD : TUI_COLOR_NONE, "%s", tui_format_date(a, sizeof a, c->not_after_usec));
        row_add(ret, c->revoked || expired ? TUI_COLOR_BAD : TUI_COLOR_GOOD, "%s",
                c->revoked ? "revoked" : expired ? "expired" : "valid");
}
