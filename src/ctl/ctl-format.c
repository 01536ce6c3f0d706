/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "ctl-format.h"
#include "flux-bus-names.h"
#include "time-util.h"

json_t *objects_get(json_t *objects, const char *path, const char *iface) {
        json_t *o = json_object_get(objects, path);

        return o ? json_object_get(o, iface) : NULL;
}

static int cmp_path(const void *a, const void *b) {
        json_t *const *x = a, *const *y = b;

        return strcmp(json_string_value(json_object_get(*x, "Path")),
                      json_string_value(json_object_get(*y, "Path")));
}

json_t *objects_collect(json_t *objects, const char *iface) {
        _cleanup_(freep) json_t **v = NULL;
        json_t *arr, *o;
        const char *path;
        size_t n = 0;

        v = new0(json_t *, json_object_size(objects));
        arr = json_array();
        if (!v || !arr) {
                json_decref(arr);
                return NULL;
        }

        json_object_foreach(objects, path, o) {
                json_t *p = json_object_get(o, iface), *c;

                if (!json_is_object(p))
                        continue;
                c = json_object();
                if (!c || json_object_set_new(c, "Path", json_string(path)) < 0 ||
                    json_object_update(c, p) < 0) {
                        json_decref(c);
                        for (size_t i = 0; i < n; i++)
                                json_decref(v[i]);
                        json_decref(arr);
                        return NULL;
                }
                v[n++] = c;
        }

        qsort(v, n, sizeof(json_t *), cmp_path);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, v[i]);
        return arr;
}

static int cmp_id(const void *a, const void *b) {
        json_int_t x = json_integer_value(json_object_get(*(json_t *const *) a, "Id")),
                   y = json_integer_value(json_object_get(*(json_t *const *) b, "Id"));

        return x < y ? -1 : x > y;
}

json_t *server_sessions_collect(json_t *objects) {
        json_t *all = objects_collect(objects, FLUX_SERVER_SESSION_IFACE), *sorted, *v;
        _cleanup_(freep) json_t **items = NULL;
        size_t i, n;

        if (!all)
                return NULL;
        n = json_array_size(all);
        items = new0(json_t *, n + 1);
        sorted = json_array();
        if (!items || !sorted) {
                json_decref(all);
                json_decref(sorted);
                return NULL;
        }
        json_array_foreach(all, i, v)
                items[i] = v;
        qsort(items, n, sizeof(json_t *), cmp_id);
        for (i = 0; i < n; i++)
                json_array_append(sorted, items[i]);
        json_decref(all);
        return sorted;
}

const char *props_string(json_t *props, const char *name) {
        return json_string_value(json_object_get(props, name));
}

uint64_t props_uint(json_t *props, const char *name) {
        json_t *v = json_object_get(props, name);

        if (json_is_null(v))
                return UINT64_MAX; /* see bus_message_read_json(): values above INT64_MAX */
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return 0;
        return (uint64_t) json_integer_value(v);
}

double props_double(json_t *props, const char *name) {
        return json_number_value(json_object_get(props, name));
}

const char *state_color(const char *state) {
        static const char *const green[] = { "up", "active", "connected", "running", "valid" };
        static const char *const yellow[] = { "probing", "degraded", "connecting", "reconnecting",
                                              "disconnecting", "starting", "stopping", "expired" };
        static const char *const red[] = { "down", "failed", "revoked" };

        if (!state)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(green); i++)
                if (streq(state, green[i]))
                        return ANSI_GREEN;
        for (size_t i = 0; i < ELEMENTSOF(yellow); i++)
                if (streq(state, yellow[i]))
                        return ANSI_YELLOW;
        for (size_t i = 0; i < ELEMENTSOF(red); i++)
                if (streq(state, red[i]))
                        return ANSI_RED;
        return NULL;
}

char *format_loss(char *buf, size_t size, uint64_t ppm) {
        snprintf(buf, size, "%.2f%%", (double) MIN(ppm, (uint64_t) 1000000) / 10000.0);
        return buf;
}

/* A measured duration; 0 means "not measured yet". */
static char *format_measured(char *buf, size_t size, uint64_t usec) {
        if (usec == 0 || usec == UINT64_MAX) {
                snprintf(buf, size, "-");
                return buf;
        }
        return format_timespan(buf, size, usec);
}

char *format_age(char *buf, size_t size, uint64_t then_usec, uint64_t now_usec) {
        char t[32];

        if (then_usec == 0 || then_usec == UINT64_MAX)
                snprintf(buf, size, "-");
        else if (then_usec >= now_usec)
                snprintf(buf, size, "just now");
        else
                snprintf(buf, size, "%s ago", format_timespan(t, sizeof t, now_usec - then_usec));
        return buf;
}

/* "a, b, c" from a JSON array of strings; "-" if empty. */
static char *join_strings(json_t *arr, const char *sep) {
        size_t l = 2, i;
        json_t *v;
        char *s;

        json_array_foreach(arr, i, v)
                l += strlen(strempty(json_string_value(v))) + strlen(sep);
        s = new0(char, l);
        if (!s)
                return NULL;
        json_array_foreach(arr, i, v) {
                if (i > 0)
                        strcat(s, sep);
                strcat(s, strempty(json_string_value(v)));
        }
        if (s[0] == '\0')
                strcpy(s, "-");
        return s;
}

static void field(FILE *f, const char *name, const char *color, bool use_color, const char *fmt, ...)
        _printf_(5, 6);

static void field(FILE *f, const char *name, const char *color, bool use_color, const char *fmt, ...) {
        va_list ap;

        fprintf(f, "%12s: ", name);
        if (use_color && color)
                fputs(color, f);
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        if (use_color && color)
                fputs(ANSI_NORMAL, f);
        fputc('\n', f);
}

json_t *client_paths_collect(json_t *objects) {
        json_t *m = objects_get(objects, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE);
        json_t *all = objects_collect(objects, FLUX_CLIENT_CONNECTION_IFACE), *arr, *p, *c;
        size_t i, j;

        if (!all)
                return NULL;
        /* Keep the daemon's order (Manager.Connections), then anything it did not list. */
        arr = json_array();
        if (!arr) {
                json_decref(all);
                return NULL;
        }
        json_array_foreach(json_object_get(m, "Connections"), i, p)
                json_array_foreach(all, j, c)
                        if (streq_ptr(json_string_value(p), props_string(c, "Path")))
                                json_array_append(arr, c);
        json_array_foreach(all, j, c) {
                bool found = false;
                json_array_foreach(arr, i, p)
                        if (p == c)
                                found = true;
                if (!found)
                        json_array_append(arr, c);
        }
        json_decref(all);
        return arr;
}

static void print_client_paths(FILE *f, json_t *paths, bool color) {
        size_t i, up = 0;
        json_t *c;

        json_array_foreach(paths, i, c)
                if (streq_ptr(props_string(c, "State"), "up"))
                        up++;
        field(f, "Paths", NULL, false, "%zu up of %zu", up, json_array_size(paths));

        json_array_foreach(paths, i, c) {
                char rtt[32], loss[16], rx[32], tx[32];
                const char *state = props_string(c, "State");

                fprintf(f, "%14s", "");
                fprintf(f, "%s: %s%s%s", strna(props_string(c, "Interface")),
                        color && state_color(state) ? state_color(state) : "", strna(state),
                        color && state_color(state) ? ANSI_NORMAL : "");
                fprintf(f, " (%s), rtt %s, loss %s, rx %s, tx %s\n", strna(props_string(c, "Priority")),
                        format_measured(rtt, sizeof rtt, props_uint(c, "RTTUSec")),
                        format_loss(loss, sizeof loss, props_uint(c, "LossPPM")),
                        format_rate(rx, sizeof rx, props_uint(c, "RxRate")),
                        format_rate(tx, sizeof tx, props_uint(c, "TxRate")));
        }
}

int format_client_status(json_t *objects, const char *profile, FILE *f, bool color, uint64_t now_usec) {
        json_t *m = objects_get(objects, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE), *s, *paths;
        _cleanup_(freep) char *ifaces = NULL;
        const char *state, *session, *err;
        char a[32], b[32];

        if (!m)
                return -EBADMSG;

        state = props_string(m, "State");
        fprintf(f, "%s%s●%s %s (fluxifyd-client)\n", "", color ? strempty(state_color(state)) : "",
                color && state_color(state) ? ANSI_NORMAL : "", profile ?: strna(props_string(m, "Profile")));
        field(f, "State", state_color(state), color, "%s", strna(state));
        field(f, "Mode", NULL, false, "%s", strna(props_string(m, "Mode")));
        field(f, "Server", NULL, false, "%s", isempty(props_string(m, "Server")) ? "-" : props_string(m, "Server"));
        field(f, "Scheduler", NULL, false, "%s", strna(props_string(m, "Scheduler")));
        ifaces = join_strings(json_object_get(m, "Interfaces"), ", ");
        if (!ifaces)
                return -ENOMEM;
        field(f, "Interfaces", NULL, false, "%s", ifaces);

        session = props_string(m, "Session");
        s = session && !streq(session, "/") ? objects_get(objects, session, FLUX_CLIENT_SESSION_IFACE) : NULL;
        if (s) {
                _cleanup_(freep) char *addrs = join_strings(json_object_get(s, "Addresses"), ", ");
                if (!addrs)
                        return -ENOMEM;
                field(f, "Session", NULL, false, "%" PRIu64 " (protocol %" PRIu64 ", server %s, created %s)",
                      props_uint(s, "Id"), props_uint(s, "Protocol"), strna(props_string(s, "ServerAddress")),
                      format_age(a, sizeof a, props_uint(s, "CreatedUSec"), now_usec));
                field(f, "Addresses", NULL, false, "%s", addrs);
        }

        paths = client_paths_collect(objects);
        if (!paths)
                return -ENOMEM;
        if (json_array_size(paths) > 0)
                print_client_paths(f, paths, color);
        json_decref(paths);

        field(f, "Traffic", NULL, false, "%s received, %s sent", format_bytes(a, sizeof a, props_uint(m, "RxBytes")),
              format_bytes(b, sizeof b, props_uint(m, "TxBytes")));
        err = props_string(m, "LastError");
        if (!isempty(err))
                field(f, "Last error", ANSI_RED, color, "%s", err);

        return ferror(f) ? -EIO : 0;
}

int format_server_status(json_t *objects, FILE *f, bool color, uint64_t now_usec) {
        json_t *m = objects_get(objects, FLUX_SERVER_PATH, FLUX_SERVER_MANAGER_IFACE);
        json_t *pki = objects_get(objects, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE);
        _cleanup_(freep) char *addrs = NULL;
        const char *state;
        char a[32], b[32];

        if (!m)
                return -EBADMSG;

        state = props_string(m, "State");
        fprintf(f, "%s●%s fluxifyd-server %s\n", color ? strempty(state_color(state)) : "",
                color && state_color(state) ? ANSI_NORMAL : "", strna(props_string(m, "Version")));
        field(f, "State", state_color(state), color, "%s", strna(state));
        addrs = join_strings(json_object_get(m, "Addresses"), ", ");
        if (!addrs)
                return -ENOMEM;
        field(f, "Tunnel", NULL, false, "%s (%s)", strna(props_string(m, "TunnelInterface")), addrs);
        field(f, "Ports", NULL, false, "control %" PRIu64 "/tcp, data %" PRIu64 "/udp",
              props_uint(m, "ControlPort"), props_uint(m, "DataPort"));
        field(f, "Sessions", NULL, false, "%" PRIu64, props_uint(m, "SessionCount"));
        field(f, "Traffic", NULL, false, "%s received, %s sent", format_bytes(a, sizeof a, props_uint(m, "RxBytes")),
              format_bytes(b, sizeof b, props_uint(m, "TxBytes")));
        if (pki) {
                const char *fp = props_string(pki, "CAFingerprint");
                uint64_t na = props_uint(pki, "ServerNotAfterUSec");

                field(f, "CA", NULL, false, "SHA-256 %s", isempty(fp) ? "(not initialized)" : fp);
                if (na > 0 && na != UINT64_MAX) {
                        char t[64];
                        time_t sec = (time_t) (na / USEC_PER_SEC);
                        struct tm tm;

                        strftime(t, sizeof t, "%Y-%m-%d %H:%M:%S %Z", localtime_r(&sec, &tm));
                        field(f, "Server cert", na < now_usec ? ANSI_RED : NULL, color, "valid until %s%s", t,
                              na < now_usec ? " (expired)" : "");
                }
        }

        return ferror(f) ? -EIO : 0;
}

int table_from_paths(json_t *paths, Table **ret) {
        _cleanup_(table_freep) Table *t = NULL;
        json_t *c;
        size_t i;
        int r = 0;

        t = table_new("INTERFACE", "STATE", "PRIORITY", "WEIGHT", "RTT", "JITTER", "LOSS", "RX-RATE", "TX-RATE",
                      "LOCAL", "REMOTE", NULL);
        if (!t)
                return -ENOMEM;
        for (size_t col = 3; col <= 8; col++)
                (void) table_set_align(t, col, TABLE_ALIGN_RIGHT);

        json_array_foreach(paths, i, c) {
                char w[16], rtt[32], jit[32], loss[16], rx[32], tx[32];
                const char *state = props_string(c, "State");

                snprintf(w, sizeof w, "%.2f", props_double(c, "Weight"));
                r = table_add_cell(t, props_string(c, "Interface"), NULL);
                if (r >= 0)
                        r = table_add_cell(t, state, state_color(state));
                if (r >= 0)
                        r = table_add_cells(t, 9, props_string(c, "Priority"), w,
                                          format_measured(rtt, sizeof rtt, props_uint(c, "RTTUSec")),
                                          format_measured(jit, sizeof jit, props_uint(c, "JitterUSec")),
                                          format_loss(loss, sizeof loss, props_uint(c, "LossPPM")),
                                          format_rate(rx, sizeof rx, props_uint(c, "RxRate")),
                                          format_rate(tx, sizeof tx, props_uint(c, "TxRate")),
                                          isempty(props_string(c, "LocalAddress")) ? "-" : props_string(c, "LocalAddress"),
                                          isempty(props_string(c, "RemoteAddress")) ? "-" : props_string(c, "RemoteAddress"));
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(t);
        return 0;
}

int table_from_sessions(json_t *sessions, uint64_t now_usec, Table **ret) {
        _cleanup_(table_freep) Table *t = NULL;
        json_t *s;
        size_t i;
        int r;

        t = table_new("ID", "CLIENT", "STATE", "ADDRESSES", "PATHS", "RX", "TX", "CREATED", NULL);
        if (!t)
                return -ENOMEM;
        (void) table_set_align(t, 0, TABLE_ALIGN_RIGHT);
        for (size_t col = 4; col <= 6; col++)
                (void) table_set_align(t, col, TABLE_ALIGN_RIGHT);

        json_array_foreach(sessions, i, s) {
                _cleanup_(freep) char *addrs = join_strings(json_object_get(s, "Addresses"), " ");
                char id[16], n[16], rx[32], tx[32], age[32];
                const char *state = props_string(s, "State");

                if (!addrs)
                        return -ENOMEM;
                snprintf(id, sizeof id, "%" PRIu64, props_uint(s, "Id"));
                snprintf(n, sizeof n, "%zu", json_array_size(json_object_get(s, "Connections")));
                r = table_add_cells(t, 2, id, props_string(s, "ClientName"));
                if (r >= 0)
                        r = table_add_cell(t, state, state_color(state));
                if (r >= 0)
                        r = table_add_cells(t, 5, addrs, n, format_bytes(rx, sizeof rx, props_uint(s, "RxBytes")),
                                          format_bytes(tx, sizeof tx, props_uint(s, "TxBytes")),
                                          format_age(age, sizeof age, props_uint(s, "CreatedUSec"), now_usec));
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(t);
        return 0;
}

static char *format_date(char *buf, size_t size, uint64_t usec) {
        time_t sec = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (usec == 0 || usec == UINT64_MAX || !gmtime_r(&sec, &tm))
                snprintf(buf, size, "-");
        else
                strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm);
        return buf;
}

int table_from_certificates(json_t *certs, uint64_t now_usec, Table **ret) {
        _cleanup_(table_freep) Table *t = NULL;
        json_t *c;
        size_t i;
        int r;

        t = table_new("NAME", "SERIAL", "NOT-BEFORE", "NOT-AFTER", "STATE", NULL);
        if (!t)
                return -ENOMEM;

        json_array_foreach(certs, i, c) {
                char nb[32], na[32];
                uint64_t not_after = props_uint(c, "NotAfterUSec");
                const char *state = json_is_true(json_object_get(c, "Revoked")) ? "revoked"
                                    : not_after < now_usec                       ? "expired"
                                                                                 : "valid";

                r = table_add_cells(t, 4, props_string(c, "Name"), props_string(c, "Serial"),
                                    format_date(nb, sizeof nb, props_uint(c, "NotBeforeUSec")),
                                    format_date(na, sizeof na, not_after));
                if (r >= 0)
                        r = table_add_cell(t, state, state_color(state));
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(t);
        return 0;
}
