/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fluxifyctl's pure parts: the table printer, list splitting, the views built from the JSON form
 * of GetManagedObjects(). */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc-util.h"
#include "check-util.h"
#include "ctl-format.h"
#include "ctl-table.h"
#include "ctl.h"
#include "flux-bus-names.h"

static char *print_to_string(Table *t, bool header, bool color) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(table_print(t, f, header, color), 0);
        fclose(f);
        return buf;
}

START_TEST(test_table_widths) {
        _cleanup_(table_freep) Table *t = table_new("NAME", "STATE", "RTT", NULL);
        _cleanup_(freep) char *out = NULL, *noheader = NULL, *colored = NULL;

        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(table_set_align(t, 2, TABLE_ALIGN_RIGHT), 0);
        ck_assert_int_eq(table_set_align(t, 3, TABLE_ALIGN_RIGHT), -EINVAL);
        ck_assert_int_eq(table_add_cells(t, 3, "eth0", "up", "1.2ms"), 0);
        ck_assert_int_eq(table_add_cell(t, "wlan0-long", NULL), 0);
        ck_assert_int_eq(table_add_cell(t, "down", ANSI_RED), 0);
        ck_assert_int_eq(table_add_cell(t, NULL, NULL), 0);
        ck_assert_uint_eq(table_get_rows(t), 2);
        ck_assert_uint_eq(table_get_columns(t), 3);

        out = print_to_string(t, true, false);
        ck_assert_str_eq(out, "NAME       STATE   RTT\n"
                              "eth0       up    1.2ms\n"
                              "wlan0-long down      -\n");
        noheader = print_to_string(t, false, false);
        ck_assert_str_eq(noheader, "eth0       up   1.2ms\n"
                                   "wlan0-long down     -\n");
        colored = print_to_string(t, false, true);
        ck_assert_ptr_nonnull(strstr(colored, ANSI_RED "down" ANSI_NORMAL));
}
END_TEST

START_TEST(test_table_incomplete_row) {
        _cleanup_(table_freep) Table *t = table_new("A", "B", NULL);
        char buf[64];
        FILE *f = fmemopen(buf, sizeof buf, "w");

        ck_assert_int_eq(table_add_cell(t, "x", NULL), 0);
        ck_assert_int_eq(table_print(t, f, true, false), -EINVAL);
        fclose(f);
        ck_assert_ptr_null(table_new((const char *) NULL, (const char *) NULL));
}
END_TEST

START_TEST(test_utf8_width) {
        _cleanup_(table_freep) Table *t = table_new("X", "Y", NULL);
        _cleanup_(freep) char *out = NULL;

        ck_assert_int_eq(table_add_cells(t, 2, "µs—", "1"), 0);
        out = print_to_string(t, true, false);
        ck_assert_str_eq(out, "X   Y\nµs— 1\n");
}
END_TEST

START_TEST(test_split_list) {
        _cleanup_(strv_freep) char **l = NULL;
        char **bad = NULL;

        ck_assert_int_eq(ctl_split_list("eth0,wlan0,wwan0", &l), 0);
        ck_assert_str_eq(l[0], "eth0");
        ck_assert_str_eq(l[2], "wwan0");
        ck_assert_ptr_null(l[3]);
        ck_assert_int_eq(ctl_split_list("", &bad), -EINVAL);
        ck_assert_int_eq(ctl_split_list("a,,b", &bad), -EINVAL);
        ck_assert_int_eq(ctl_split_list("a,", &bad), -EINVAL);
        ck_assert_ptr_null(bad);
}
END_TEST

START_TEST(test_formatters) {
        char buf[64];

        ck_assert_str_eq(format_loss(buf, sizeof buf, 0), "0.00%");
        ck_assert_str_eq(format_loss(buf, sizeof buf, 12345), "1.23%");
        ck_assert_str_eq(format_loss(buf, sizeof buf, 5000000), "100.00%");
        ck_assert_str_eq(format_age(buf, sizeof buf, 0, 100), "-");
        ck_assert_str_eq(format_age(buf, sizeof buf, 200, 100), "just now");
        ck_assert_str_eq(format_age(buf, sizeof buf, 1000000, 3500000), "2.50s ago");
        ck_assert_str_eq(state_color("up"), ANSI_GREEN);
        ck_assert_str_eq(state_color("reconnecting"), ANSI_YELLOW);
        ck_assert_str_eq(state_color("failed"), ANSI_RED);
        ck_assert_ptr_null(state_color("idle"));
        ck_assert_ptr_null(state_color(NULL));
        ck_assert_int_eq(json_format_from_string("pretty"), JSON_PRETTY);
        ck_assert_int_lt(json_format_from_string("yaml"), 0);
}
END_TEST

/* What bus_message_read_json() makes of a client's GetManagedObjects() + Manager GetAll. */
static json_t *client_objects(void) {
        json_error_t e;
        json_t *j = json_loads(
                "{\"/org/fluxify/client1\": {\"org.fluxify.client1.Manager\": {\"Profile\": \"laptop\","
                " \"State\": \"connected\", \"Mode\": \"bonding\", \"Server\": \"10.0.0.1\", \"Scheduler\": \"weighted\","
                " \"Interfaces\": [\"wlan0\", \"eth0\"], \"LastError\": \"\", \"Session\": \"/org/fluxify/client1/session\","
                " \"Connections\": [\"/org/fluxify/client1/connection/wlan0\", \"/org/fluxify/client1/connection/eth0\"],"
                " \"RxBytes\": 2048, \"TxBytes\": 1024}},"
                " \"/org/fluxify/client1/session\": {\"org.fluxify.client1.Session\": {\"Id\": 7, \"Addresses\":"
                " [\"10.8.0.2/24\", \"fd00:8::2/64\"], \"ServerAddress\": \"10.0.0.1:8000\", \"Protocol\": 2, \"CreatedUSec\": 1000000}},"
                " \"/org/fluxify/client1/connection/eth0\": {\"org.fluxify.client1.Connection\": {\"Interface\": \"eth0\","
                " \"State\": \"up\", \"Priority\": \"primary\", \"Weight\": 1.0, \"RTTUSec\": 1500, \"JitterUSec\": 200,"
                " \"LossPPM\": 10000, \"RxRate\": 125000, \"TxRate\": 0, \"LocalAddress\": \"192.168.1.2:40000\","
                " \"RemoteAddress\": \"10.0.0.1:8000\"}},"
                " \"/org/fluxify/client1/connection/wlan0\": {\"org.fluxify.client1.Connection\": {\"Interface\": \"wlan0\","
                " \"State\": \"down\", \"Priority\": \"backup\", \"Weight\": 2.5, \"RTTUSec\": 0, \"JitterUSec\": 0,"
                " \"LossPPM\": 0, \"RxRate\": 0, \"TxRate\": 0, \"LocalAddress\": \"\", \"RemoteAddress\": \"\"}}}",
                0, &e);
        ck_assert_msg(j, "%s", e.text);
        return j;
}

START_TEST(test_paths_view) {
        json_t *objects = client_objects(), *paths;
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_(freep) char *out = NULL;

        paths = client_paths_collect(objects);
        ck_assert_uint_eq(json_array_size(paths), 2);
        /* The daemon's order (Manager.Connections), not the path order. */
        ck_assert_str_eq(props_string(json_array_get(paths, 0), "Interface"), "wlan0");
        ck_assert_str_eq(props_string(json_array_get(paths, 1), "Path"), "/org/fluxify/client1/connection/eth0");

        ck_assert_int_eq(table_from_paths(paths, &t), 0);
        ck_assert_uint_eq(table_get_rows(t), 2);
        out = print_to_string(t, true, false);
        ck_assert_ptr_nonnull(strstr(out, "INTERFACE STATE PRIORITY WEIGHT"));
        ck_assert_ptr_nonnull(strstr(out, "eth0      up    primary    1.00 1.5ms  200us 1.00% 1.0 Mbit/s 0 bit/s 192.168.1.2:40000 10.0.0.1:8000\n"));
        ck_assert_ptr_nonnull(strstr(out, "wlan0     down  backup     2.50     -      - 0.00%    0 bit/s 0 bit/s -                 -\n"));
        json_decref(paths);
        json_decref(objects);
}
END_TEST

START_TEST(test_client_status_view) {
        json_t *objects = client_objects();
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        ck_assert_int_eq(format_client_status(objects, "laptop", f, false, 3 * 1000000), 0);
        fclose(f);
        ck_assert_ptr_nonnull(strstr(buf, "● laptop (fluxifyd-client)\n"));
        ck_assert_ptr_nonnull(strstr(buf, "       State: connected\n"));
        ck_assert_ptr_nonnull(strstr(buf, "  Interfaces: wlan0, eth0\n"));
        ck_assert_ptr_nonnull(strstr(buf, "     Session: 7 (protocol 2, server 10.0.0.1:8000, created 2.00s ago)\n"));
        ck_assert_ptr_nonnull(strstr(buf, "   Addresses: 10.8.0.2/24, fd00:8::2/64\n"));
        ck_assert_ptr_nonnull(strstr(buf, "       Paths: 1 up of 2\n"));
        ck_assert_ptr_nonnull(strstr(buf, "     Traffic: 2.0 KiB received, 1.0 KiB sent\n"));
        ck_assert_ptr_null(strstr(buf, "Last error"));
        ck_assert_ptr_null(strstr(buf, "\x1B["));
        json_decref(objects);

        /* No Manager object: refused rather than printing nonsense. */
        objects = json_object();
        f = fopen("/dev/null", "w");
        ck_assert_int_eq(format_client_status(objects, "x", f, false, 0), -EBADMSG);
        fclose(f);
        json_decref(objects);
}
END_TEST

START_TEST(test_sessions_and_certificates) {
        json_error_t e;
        json_t *objects = json_loads(
                "{\"/org/fluxify/server1/session/9\": {\"org.fluxify.server1.Session\": {\"Id\": 9, \"ClientName\": \"b\","
                " \"State\": \"up\", \"Addresses\": [\"10.8.0.3/24\"], \"Connections\": [\"/x/1\", \"/x/2\"],"
                " \"RxBytes\": 0, \"TxBytes\": 1048576, \"CreatedUSec\": 0}},"
                " \"/org/fluxify/server1/session/10\": {\"org.fluxify.server1.Session\": {\"Id\": 10, \"ClientName\": \"a\","
                " \"State\": \"up\", \"Addresses\": [], \"Connections\": [], \"RxBytes\": 0, \"TxBytes\": 0, \"CreatedUSec\": 0}},"
                " \"/org/fluxify/server1/pki\": {\"org.fluxify.server1.PKI\": {}}}",
                0, &e);
        json_t *sessions, *certs;
        _cleanup_(table_freep) Table *t = NULL, *c = NULL;
        _cleanup_(freep) char *out = NULL, *cout = NULL;

        ck_assert_msg(objects, "%s", e.text);
        sessions = server_sessions_collect(objects);
        ck_assert_uint_eq(json_array_size(sessions), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(sessions, 0), "Id")), 9);
        ck_assert_int_eq(table_from_sessions(sessions, 0, &t), 0);
        out = print_to_string(t, true, false);
        ck_assert_ptr_nonnull(strstr(out, "ID CLIENT STATE ADDRESSES   PATHS  RX      TX CREATED"));
        ck_assert_ptr_nonnull(strstr(out, " 9 b      up    10.8.0.3/24     2 0 B 1.0 MiB -"));

        certs = json_loads("[{\"Name\": \"laptop\", \"Serial\": \"0a\", \"NotBeforeUSec\": 0, \"NotAfterUSec\": 2000000,"
                           " \"Revoked\": false}, {\"Name\": \"old\", \"Serial\": \"0b\", \"NotBeforeUSec\": 0,"
                           " \"NotAfterUSec\": 2000000, \"Revoked\": true}, {\"Name\": \"gone\", \"Serial\": \"0c\","
                           " \"NotBeforeUSec\": 0, \"NotAfterUSec\": 10, \"Revoked\": false}]", 0, &e);
        ck_assert_int_eq(table_from_certificates(certs, 1000000, &c), 0);
        cout = print_to_string(c, true, false);
        ck_assert_ptr_nonnull(strstr(cout, "laptop 0a     -          1970-01-01 00:00 UTC valid"));
        ck_assert_ptr_nonnull(strstr(cout, "revoked"));
        ck_assert_ptr_nonnull(strstr(cout, "expired"));
        json_decref(certs);
        json_decref(sessions);
        json_decref(objects);
}
END_TEST

static Suite *ctl_suite(void) {
        Suite *s = suite_create("ctl");
        TCase *tc = tcase_create("ctl");

        tcase_add_test(tc, test_table_widths);
        tcase_add_test(tc, test_table_incomplete_row);
        tcase_add_test(tc, test_utf8_width);
        tcase_add_test(tc, test_split_list);
        tcase_add_test(tc, test_formatters);
        tcase_add_test(tc, test_paths_view);
        tcase_add_test(tc, test_client_status_view);
        tcase_add_test(tc, test_sessions_and_certificates);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(ctl_suite)
