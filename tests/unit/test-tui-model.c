/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <string.h>

#include <jansson.h>

#include "alloc-util.h"
#include "check-util.h"
#include "flux-bus-names.h"
#include "time-util.h"
#include "tui-bus.h"
#include "tui-model.h"

/* fluxify-tui's pure model: objects → rows, share of traffic, sorting, cell formatting. The input is
 * the JSON shape the bus reader produces ({ path: { iface: { prop: value } } }). */

static json_t *client_conn(const char *ifname, const char *state, json_int_t rtt, json_int_t loss, json_int_t rx_rate,
                           json_int_t tx_rate, json_int_t rx_bytes, const char *prio) {
        return json_pack("{s:{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:f}}", FLUX_CLIENT_CONNECTION_IFACE,
                         "Interface", ifname, "LocalAddress", "192.0.2.2", "RemoteAddress", "198.51.100.1:8000",
                         "State", state, "RTTUSec", rtt, "JitterUSec", (json_int_t) 1500, "LossPPM", loss, "RxBytes",
                         rx_bytes, "TxBytes", (json_int_t) 0, "RxRate", rx_rate, "TxRate", tx_rate, "LastRxUSec",
                         (json_int_t) 0, "Priority", prio, "Weight", 1.5);
}

static json_t *client_objects(void) {
        json_t *o = json_pack("{s:{s:{s:s,s:s,s:s,s:s,s:[s,s,s],s:s,s:s,s:s,s:[],s:I,s:I}}}", FLUX_CLIENT_PATH,
                              FLUX_CLIENT_MANAGER_IFACE, "Profile", "laptop", "Mode", "bonding", "State", "connected",
                              "Server", "vpn.example.org:8443", "Interfaces", "wlan0", "eth0", "lte0", "Scheduler",
                              "weighted", "LastError", "", "Session", FLUX_CLIENT_SESSION_PATH, "Connections",
                              "RxBytes", (json_int_t) 3000, "TxBytes", (json_int_t) 1000);

        ck_assert_ptr_nonnull(o);
        json_object_set_new(o, FLUX_CLIENT_CONNECTION_PREFIX "/wlan0",
                            client_conn("wlan0", "up", 30000, 0, 750, 0, 100, "primary"));
        json_object_set_new(o, FLUX_CLIENT_CONNECTION_PREFIX "/eth0",
                            client_conn("eth0", "up", 10000, 25000, 200, 50, 900, "primary"));
        json_object_set_new(o, FLUX_CLIENT_CONNECTION_PREFIX "/lte0",
                            client_conn("lte0", "down", 0, 1000000, 0, 0, 0, "backup"));
        json_object_set_new(o, FLUX_CLIENT_SESSION_PATH,
                            json_pack("{s:{s:I,s:[s],s:s,s:I,s:I}}", FLUX_CLIENT_SESSION_IFACE, "Id", (json_int_t) 7,
                                      "Addresses", "10.8.0.2/24", "ServerAddress", "198.51.100.1:8000", "Protocol",
                                      (json_int_t) 2, "CreatedUSec", (json_int_t) 1));
        return o;
}

static const TuiPath *find_path(const TuiClient *c, const char *ifname) {
        for (size_t i = 0; i < c->n_paths; i++)
                if (streq(c->paths[i].interface, ifname))
                        return c->paths + i;
        return NULL;
}

START_TEST(test_client_model) {
        _cleanup_(tui_client_freep) TuiClient *c = NULL;
        json_t *o = client_objects();

        ck_assert_int_eq(tui_client_from_objects(o, TUI_PATH_SORT_NAME, &c), 0);
        ck_assert(c->present);
        ck_assert_str_eq(c->profile, "laptop");
        ck_assert_str_eq(c->state, "connected");
        ck_assert_str_eq(c->scheduler, "weighted");
        ck_assert_str_eq(c->interfaces[0], "wlan0");
        ck_assert_str_eq(c->interfaces[2], "lte0");
        ck_assert_ptr_null(c->interfaces[3]);
        ck_assert(c->has_session);
        ck_assert_uint_eq(c->session_id, 7);
        ck_assert_str_eq(c->session_addresses[0], "10.8.0.2/24");
        ck_assert_uint_eq(c->rx_bytes, 3000);
        /* Rates are summed over the paths. */
        ck_assert_uint_eq(c->rx_rate, 950);
        ck_assert_uint_eq(c->tx_rate, 50);

        /* Sorted by interface name. */
        ck_assert_uint_eq(c->n_paths, 3);
        ck_assert_str_eq(c->paths[0].interface, "eth0");
        ck_assert_str_eq(c->paths[1].interface, "lte0");
        ck_assert_str_eq(c->paths[2].interface, "wlan0");

        /* Share by rate: wlan0 750 of 1000, eth0 250, lte0 0. */
        ck_assert_double_eq_tol(find_path(c, "wlan0")->share, 75.0, 1e-9);
        ck_assert_double_eq_tol(find_path(c, "eth0")->share, 25.0, 1e-9);
        ck_assert_double_eq_tol(find_path(c, "lte0")->share, 0.0, 1e-9);
        json_decref(o);
}
END_TEST

START_TEST(test_client_absent) {
        _cleanup_(tui_client_freep) TuiClient *c = NULL;
        json_t *empty = json_object();

        /* The daemon could not be read: an empty model, not an error. */
        ck_assert_int_eq(tui_client_from_objects(NULL, TUI_PATH_SORT_NAME, &c), 0);
        ck_assert(!c->present);
        ck_assert_uint_eq(c->n_paths, 0);
        ck_assert_ptr_nonnull(c->interfaces);
        c = tui_client_free(c);

        ck_assert_int_eq(tui_client_from_objects(empty, TUI_PATH_SORT_SHARE, &c), 0);
        ck_assert(!c->present);
        ck_assert(!c->has_session);
        json_decref(empty);
}
END_TEST

START_TEST(test_share) {
        TuiPath p[3] = {
                { .rx_bytes = 600, .tx_bytes = 200 },
                { .rx_bytes = 100, .tx_bytes = 100 },
                { .rx_bytes = 0 },
        };

        /* Idle (no rate): the cumulative bytes decide. */
        tui_paths_compute_share(p, 3);
        ck_assert_double_eq_tol(p[0].share, 80.0, 1e-9);
        ck_assert_double_eq_tol(p[1].share, 20.0, 1e-9);
        ck_assert_double_eq_tol(p[2].share, 0.0, 1e-9);

        /* Any rate: the rates decide. */
        p[2].tx_rate = 10;
        tui_paths_compute_share(p, 3);
        ck_assert_double_eq_tol(p[0].share, 0.0, 1e-9);
        ck_assert_double_eq_tol(p[2].share, 100.0, 1e-9);

        /* Nothing at all: 0, not NaN. */
        memset(p, 0, sizeof p);
        tui_paths_compute_share(p, 3);
        for (size_t i = 0; i < 3; i++)
                ck_assert_double_eq_tol(p[i].share, 0.0, 1e-9);
        tui_paths_compute_share(NULL, 0);
}
END_TEST

START_TEST(test_sort) {
        _cleanup_(tui_client_freep) TuiClient *c = NULL;
        json_t *o = client_objects();

        ck_assert_int_eq(tui_client_from_objects(o, TUI_PATH_SORT_SHARE, &c), 0);
        ck_assert_str_eq(c->paths[0].interface, "wlan0");
        ck_assert_str_eq(c->paths[1].interface, "eth0");
        ck_assert_str_eq(c->paths[2].interface, "lte0");

        /* Lowest RTT first, unmeasured (0) last. */
        tui_paths_sort(c->paths, c->n_paths, TUI_PATH_SORT_RTT);
        ck_assert_str_eq(c->paths[0].interface, "eth0");
        ck_assert_str_eq(c->paths[1].interface, "wlan0");
        ck_assert_str_eq(c->paths[2].interface, "lte0");

        ck_assert_str_eq(tui_path_sort_to_string(TUI_PATH_SORT_RTT), "rtt");
        ck_assert_int_eq(tui_path_sort_from_string("share"), TUI_PATH_SORT_SHARE);
        ck_assert_int_lt(tui_path_sort_from_string("nope"), 0);
        json_decref(o);
}
END_TEST

START_TEST(test_client_row) {
        _cleanup_(tui_client_freep) TuiClient *c = NULL;
        json_t *o = client_objects();
        TuiRow row;

        ck_assert_int_eq(tui_client_from_objects(o, TUI_PATH_SORT_NAME, &c), 0);
        tui_client_path_row(find_path(c, "eth0"), &row);
        ck_assert_uint_eq(row.n_cells, tui_client_path_n_columns);
        ck_assert_str_eq(row.cells[0], "eth0");
        ck_assert_str_eq(row.cells[1], "up");
        ck_assert_int_eq(row.colors[1], TUI_COLOR_GOOD);
        ck_assert_str_eq(row.cells[2], "10.0ms");
        ck_assert_str_eq(row.cells[3], "1.5ms");
        ck_assert_str_eq(row.cells[4], "2.50%");
        ck_assert_int_eq(row.colors[4], TUI_COLOR_WARN);
        ck_assert_str_eq(row.cells[5], "1.6 kbit/s");
        ck_assert_str_eq(row.cells[6], "400 bit/s");
        ck_assert_str_eq(row.cells[7], "25%");
        ck_assert_str_eq(row.cells[8], "primary");
        ck_assert_str_eq(row.cells[9], "1.50");

        tui_client_path_row(find_path(c, "lte0"), &row);
        ck_assert_str_eq(row.cells[1], "down");
        ck_assert_int_eq(row.colors[1], TUI_COLOR_BAD);
        ck_assert_str_eq(row.cells[2], "-"); /* not measured */
        ck_assert_str_eq(row.cells[4], "100.00%");
        ck_assert_int_eq(row.colors[4], TUI_COLOR_BAD);
        ck_assert_str_eq(row.cells[8], "backup");
        ck_assert_int_eq(row.colors[8], TUI_COLOR_DIM);
        json_decref(o);
}
END_TEST

static json_t *server_objects(void) {
        json_t *o = json_pack("{s:{s:{s:s,s:s,s:i,s:i,s:s,s:[s,s],s:i,s:I,s:I}}}", FLUX_SERVER_PATH,
                              FLUX_SERVER_MANAGER_IFACE, "Version", "0.1.0", "State", "running", "ControlPort", 8443,
                              "DataPort", 8000, "TunnelInterface", "fluxify0", "Addresses", "10.8.0.1/24",
                              "fd00:8::1/64", "SessionCount", 2, "RxBytes", (json_int_t) 5000, "TxBytes",
                              (json_int_t) 6000);
        const char *s2 = FLUX_SERVER_SESSION_PREFIX "/2", *s10 = FLUX_SERVER_SESSION_PREFIX "/10";

        json_object_set_new(o, s10,
                            json_pack("{s:{s:i,s:s,s:[s],s:I,s:s,s:[s,s],s:I,s:I}}", FLUX_SERVER_SESSION_IFACE, "Id",
                                      10, "ClientName", "laptop", "Addresses", "10.8.0.2/24", "CreatedUSec",
                                      (json_int_t) 1, "State", "up", "Connections", "/c/10/0", "/c/10/1", "RxBytes",
                                      (json_int_t) 1, "TxBytes", (json_int_t) 2));
        json_object_set_new(o, s2,
                            json_pack("{s:{s:i,s:s,s:[],s:I,s:s,s:[],s:I,s:I}}", FLUX_SERVER_SESSION_IFACE, "Id", 2,
                                      "ClientName", "phone", "Addresses", "CreatedUSec", (json_int_t) 1, "State", "up",
                                      "Connections", "RxBytes", (json_int_t) 1, "TxBytes", (json_int_t) 2));
        json_object_set_new(o, "/c/10/0",
                            json_pack("{s:{s:s,s:s,s:s,s:I,s:I}}", FLUX_SERVER_CONNECTION_IFACE, "Interface", "",
                                      "RemoteAddress", "192.0.2.9:4000", "State", "up", "RxRate", (json_int_t) 100,
                                      "TxRate", (json_int_t) 300));
        json_object_set_new(o, "/c/10/1",
                            json_pack("{s:{s:s,s:s,s:s,s:I,s:I}}", FLUX_SERVER_CONNECTION_IFACE, "Interface", "",
                                      "RemoteAddress", "192.0.2.7:4001", "State", "degraded", "RxRate",
                                      (json_int_t) 0, "TxRate", (json_int_t) 0));
        /* A connection of no listed session: not shown. */
        json_object_set_new(o, "/c/99/0",
                            json_pack("{s:{s:s,s:s}}", FLUX_SERVER_CONNECTION_IFACE, "RemoteAddress", "x", "State", "up"));
        json_object_set_new(o, FLUX_SERVER_PKI_PATH,
                            json_pack("{s:{s:s,s:[s],s:I}}", FLUX_SERVER_PKI_IFACE, "CAFingerprint", "abcd",
                                      "ServerNames", "vpn", "ServerNotAfterUSec", (json_int_t) 1));
        return o;
}

START_TEST(test_server_model) {
        _cleanup_(tui_server_freep) TuiServer *s = NULL;
        json_t *o = server_objects();
        /* 2027-01-01 and 2020-01-01 in µs. */
        json_t *certs = json_pack("[[s,s,I,I,b],[s,s,I,I,b],[s,s,I,I,b]]", "zed", "0a", (json_int_t) 0,
                                  (json_int_t) 1798761600000000LL, 0, "laptop", "01", (json_int_t) 0,
                                  (json_int_t) 1798761600000000LL, 0, "old", "02", (json_int_t) 0,
                                  (json_int_t) 1577836800000000LL, 1);
        TuiRow row;

        ck_assert_int_eq(tui_server_from_objects(o, certs, TUI_PATH_SORT_NAME, &s), 0);
        ck_assert(s->present);
        ck_assert(s->has_pki);
        ck_assert_str_eq(s->ca_fingerprint, "abcd");
        ck_assert_uint_eq(s->control_port, 8443);
        ck_assert_str_eq(s->addresses[1], "fd00:8::1/64");

        /* Sessions sorted by id (numerically: 2 before 10, although "/10" < "/2" as paths). */
        ck_assert_uint_eq(s->n_sessions, 2);
        ck_assert_uint_eq(s->sessions[0].id, 2);
        ck_assert_uint_eq(s->sessions[1].id, 10);
        ck_assert_uint_eq(s->sessions[0].n_paths, 0);
        ck_assert_uint_eq(s->sessions[1].n_paths, 2);
        ck_assert_uint_eq(s->sessions[1].paths_up, 1);
        ck_assert_uint_eq(s->sessions[1].rx_rate, 100);
        ck_assert_uint_eq(s->sessions[1].tx_rate, 300);
        ck_assert_uint_eq(s->rx_rate, 100);
        ck_assert_int_eq(tui_server_find_session(s, 10), 1);
        ck_assert_int_eq(tui_server_find_session(s, 3), -ENOENT);

        /* Server paths sort by remote address. */
        ck_assert_str_eq(s->sessions[1].paths[0].remote_address, "192.0.2.7:4001");
        ck_assert_double_eq_tol(s->sessions[1].paths[1].share, 100.0, 1e-9);

        tui_session_row(s->sessions + 1, &row);
        ck_assert_uint_eq(row.n_cells, tui_session_n_columns);
        ck_assert_str_eq(row.cells[0], "10");
        ck_assert_str_eq(row.cells[1], "laptop");
        ck_assert_str_eq(row.cells[2], "10.8.0.2/24");
        ck_assert_str_eq(row.cells[4], "1/2");
        ck_assert_int_eq(row.colors[4], TUI_COLOR_WARN);
        tui_session_row(s->sessions, &row);
        ck_assert_str_eq(row.cells[2], "-");
        ck_assert_str_eq(row.cells[4], "0/0");

        tui_server_path_row(s->sessions[1].paths + 1, &row);
        ck_assert_uint_eq(row.n_cells, tui_server_path_n_columns);
        ck_assert_str_eq(row.cells[0], "192.0.2.9:4000");
        ck_assert_str_eq(row.cells[7], "100%");

        /* Certificates sorted by name; expired and revoked marked. */
        ck_assert_uint_eq(s->n_certificates, 3);
        ck_assert_str_eq(s->certificates[0].name, "laptop");
        ck_assert_str_eq(s->certificates[1].name, "old");
        ck_assert(s->certificates[1].revoked);
        tui_certificate_row(s->certificates, 1700000000000000ULL, &row);
        ck_assert_str_eq(row.cells[2], "2027-01-01");
        ck_assert_str_eq(row.cells[3], "valid");
        ck_assert_int_eq(row.colors[3], TUI_COLOR_GOOD);
        tui_certificate_row(s->certificates + 1, 1700000000000000ULL, &row);
        ck_assert_str_eq(row.cells[3], "revoked");
        ck_assert_int_eq(row.colors[3], TUI_COLOR_BAD);
        tui_certificate_row(s->certificates + 2, 1800000000000000ULL, &row);
        ck_assert_str_eq(row.cells[3], "expired");
        ck_assert_int_eq(row.colors[2], TUI_COLOR_BAD);

        json_decref(certs);
        json_decref(o);
}
END_TEST

START_TEST(test_lists) {
        char buf[16], *v[] = { "eth0", "wlan0", NULL }, *none[] = { NULL };
        _cleanup_(strv_freep) char **w = NULL;
        _cleanup_(freep) char *j = NULL;

        ck_assert_str_eq(tui_format_list(buf, sizeof buf, v, ", "), "eth0, wlan0");
        ck_assert_str_eq(tui_format_list(buf, sizeof buf, none, ", "), "-");
        ck_assert_str_eq(tui_format_list(buf, sizeof buf, NULL, ", "), "-");
        /* Too long: cut, ending in an ellipsis, still NUL-terminated within the buffer. */
        ck_assert_str_eq(tui_format_list(buf, 10, v, ", "), "eth0, \u2026");

        j = tui_join_comma(v);
        ck_assert_str_eq(j, "eth0,wlan0");

        ck_assert_int_eq(tui_split_list(" eth0 , ,wlan0,", &w), 2);
        ck_assert_str_eq(w[0], "eth0");
        ck_assert_str_eq(w[1], "wlan0");
        ck_assert_ptr_null(w[2]);
        strv_freep(&w);
        w = NULL;
        ck_assert_int_eq(tui_split_list("", &w), 0);
        ck_assert_ptr_null(w[0]);
}
END_TEST

START_TEST(test_formatting) {
        char buf[64];

        ck_assert_str_eq(tui_format_measured(buf, sizeof buf, 0), "-");
        ck_assert_str_eq(tui_format_measured(buf, sizeof buf, UINT64_MAX), "-");
        ck_assert_str_eq(tui_format_measured(buf, sizeof buf, 2500), "2.5ms");
        ck_assert_str_eq(tui_format_loss(buf, sizeof buf, 0), "0.00%");
        ck_assert_str_eq(tui_format_loss(buf, sizeof buf, 5000000), "100.00%");
        ck_assert_str_eq(tui_format_date(buf, sizeof buf, 0), "-");
        ck_assert_str_eq(tui_format_date(buf, sizeof buf, 1577836800000000ULL), "2020-01-01");
        ck_assert_int_eq(tui_state_color("connected"), TUI_COLOR_GOOD);
        ck_assert_int_eq(tui_state_color("reconnecting"), TUI_COLOR_WARN);
        ck_assert_int_eq(tui_state_color("failed"), TUI_COLOR_BAD);
        ck_assert_int_eq(tui_state_color("idle"), TUI_COLOR_NONE);
        ck_assert_int_eq(tui_state_color(NULL), TUI_COLOR_NONE);
}
END_TEST

START_TEST(test_error_messages) {
        char buf[256];

        tui_bus_format_error(buf, sizeof buf, "Connect failed", "org.freedesktop.DBus.Error.AccessDenied",
                             "Access denied", -EACCES);
        ck_assert_str_eq(buf, "Connect failed: access denied, this needs root (Access denied)");
        tui_bus_format_error(buf, sizeof buf, "Disconnect failed", "org.freedesktop.DBus.Error.AccessDenied",
                             "Rejected send message, 2 matched rules; type=\"method_call\", sender=\":1.9\"",
                             -EACCES);
        ck_assert_str_eq(buf, "Disconnect failed: access denied, this needs root (refused by the D-Bus policy)");
        tui_bus_format_error(buf, sizeof buf, "Connect failed", FLUX_ERROR_NO_SUCH_INTERFACE,
                             "No interface 'eth9'.", -ENODEV);
        ck_assert_str_eq(buf, "Connect failed: No interface 'eth9'.");
        tui_bus_format_error(buf, sizeof buf, "Cannot read the daemon", "org.freedesktop.DBus.Error.ServiceUnknown",
                             "The name is not activatable", -EHOSTDOWN);
        ck_assert_str_eq(buf, "Cannot read the daemon: the daemon is not on the bus");
        tui_bus_format_error(buf, sizeof buf, "X", NULL, NULL, -ENOMEM);
        ck_assert_str_eq(buf, "X: Cannot allocate memory");
}
END_TEST

static Suite *tui_suite(void) {
        Suite *s = suite_create("tui");
        TCase *tc = tcase_create("model");

        tcase_add_test(tc, test_client_model);
        tcase_add_test(tc, test_client_absent);
        tcase_add_test(tc, test_share);
        tcase_add_test(tc, test_sort);
        tcase_add_test(tc, test_client_row);
        tcase_add_test(tc, test_server_model);
        tcase_add_test(tc, test_lists);
        tcase_add_test(tc, test_formatting);
        tcase_add_test(tc, test_error_messages);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(tui_suite)
