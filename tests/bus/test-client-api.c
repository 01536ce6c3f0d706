/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The org.fluxify.client1 API of a running fluxifyd-client, over a private dbus-daemon with the
 * project's policy. Started by test-client-bus.sh, which provides the bus (DBUS_SYSTEM_BUS_ADDRESS),
 * the daemon (profile FLUX_TEST_PROFILE, uplink FLUX_TEST_IFACE in its namespace, server address
 * FLUX_TEST_SERVER that refuses connections) and runs this program. */

#include <check.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "alloc-util.h"
#include "check-util.h"
#include "fd-util.h"
#include "flux-bus-names.h"
#include "flux-errors.h"

static const char *profile(void) {
        return getenv("FLUX_TEST_PROFILE") ?: "bustest";
}

static const char *dest(void) {
        static char buf[128];
        snprintf(buf, sizeof buf, "%s.%s", FLUX_CLIENT_BUS_NAME_PREFIX, profile());
        return buf;
}

static sd_bus *open_bus(void) {
        sd_bus *bus = NULL;

        ck_assert_int_ge(flux_errors_register(), 0);
        ck_assert_int_ge(sd_bus_open_system(&bus), 0);
        return bus;
}

static char *get_string(sd_bus *bus, const char *path, const char *iface, const char *prop) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        char *s = NULL;
        int r;

        r = sd_bus_get_property_string(bus, dest(), path, iface, prop, &error, &s);
        ck_assert_msg(r >= 0, "Get %s.%s failed: %s", iface, prop, error.message ?: strerror(-r));
        return s;
}

static char *manager_string(sd_bus *bus, const char *prop) {
        return get_string(bus, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, prop);
}

static char *manager_object_path(sd_bus *bus, const char *prop) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *p;

        ck_assert_int_ge(sd_bus_get_property(bus, dest(), FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, prop, &error,
                                             &reply, "o"), 0);
        ck_assert_int_ge(sd_bus_message_read(reply, "o", &p), 0);
        return strdup(p);
}

/* Calls Connect with one option {key: <sig> value}; returns the error name ("" on success). */
static char *connect_one(sd_bus *bus, const char *key, const char *sig, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        ck_assert_int_ge(sd_bus_message_new_method_call(bus, &m, dest(), FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE,
                                                        "Connect"), 0);
        ck_assert_int_ge(sd_bus_message_open_container(m, 'a', "{sv}"), 0);
        if (key) {
                ck_assert_int_ge(sd_bus_message_open_container(m, 'e', "sv"), 0);
                ck_assert_int_ge(sd_bus_message_append(m, "s", key), 0);
                ck_assert_int_ge(sd_bus_message_open_container(m, 'v', sig), 0);
                va_start(ap, sig);
                r = sd_bus_message_appendv(m, sig, ap);
                va_end(ap);
                ck_assert_int_ge(r, 0);
                ck_assert_int_ge(sd_bus_message_close_container(m), 0);
                ck_assert_int_ge(sd_bus_message_close_container(m), 0);
        }
        ck_assert_int_ge(sd_bus_message_close_container(m), 0);
        r = sd_bus_call(bus, m, 0, &error, NULL);
        if (r >= 0)
                return strdup("");
        ck_assert_ptr_nonnull(error.name);
        return strdup(error.name);
}

static char *call_simple(sd_bus *bus, const char *method, const char *types, const char *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (types)
                r = sd_bus_call_method(bus, dest(), FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, method, &error, NULL,
                                       types, arg);
        else
                r = sd_bus_call_method(bus, dest(), FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, method, &error, NULL,
                                       NULL);
        if (r >= 0)
                return strdup("");
        return strdup(error.name);
}

static void wait_state(sd_bus *bus, const char *want) {
        for (int i = 0; i < 100; i++) {
                _cleanup_(freep) char *s = manager_string(bus, "State");
                if (streq(s, want))
                        return;
                usleep(50 * 1000);
        }
        ck_abort_msg("State never became '%s'", want);
}

/* The <interface name="iface"> … </interface> element of an introspection document, with
 * whitespace between tags removed. */
static char *interface_section(const char *xml, const char *iface) {
        _cleanup_(freep) char *open_tag = NULL;
        const char *b, *e;
        char *s, *o;

        ck_assert_int_ge(asprintf(&open_tag, "<interface name=\"%s\">", iface), 0);
        b = strstr(xml, open_tag);
        ck_assert_msg(b, "Interface %s not found in the introspection data", iface);
        e = strstr(b, "</interface>");
        ck_assert_ptr_nonnull(e);
        s = strndup(b, (size_t) (e - b) + strlen("</interface>"));
        ck_assert_ptr_nonnull(s);
        /* Drop whitespace that follows a '>' (indentation differences are not API). */
        o = s;
        for (const char *p = s; *p; p++) {
                if ((*p == ' ' || *p == '\n') && o > s && (o[-1] == '>' || o[-1] == '\n'))
                        continue;
                *o++ = *p;
        }
        *o = '\0';
        return s;
}

static void check_introspection(sd_bus *bus, const char *path, const char *iface) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *file = NULL, *text = NULL, *want = NULL, *got = NULL;
        const char *xml;

        ck_assert_int_ge(asprintf(&file, "%s/dbus/interfaces/%s.xml", FLUXIFY_SOURCE_ROOT, iface), 0);
        ck_assert_int_ge(read_full_file(file, 1 << 20, &text, NULL), 0);
        ck_assert_int_ge(sd_bus_call_method(bus, dest(), path, "org.freedesktop.DBus.Introspectable", "Introspect",
                                            &error, &reply, NULL),
                         0);
        ck_assert_int_ge(sd_bus_message_read(reply, "s", &xml), 0);
        want = interface_section(text, iface);
        got = interface_section(xml, iface);
        ck_assert_msg(streq(want, got), "Introspection of %s differs from %s:\n%s\n---\n%s", iface, file, got, want);
}

START_TEST(test_introspection_manager) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = open_bus();

        check_introspection(bus, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE);
}
END_TEST

START_TEST(test_properties_idle) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = open_bus();
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *p = manager_string(bus, "Profile"), *st = manager_string(bus, "State"),
                              *mode = manager_string(bus, "Mode"), *sched = manager_string(bus, "Scheduler"),
                              *sess = manager_object_path(bus, "Session"), *err = manager_string(bus, "LastError"),
                              *server = manager_string(bus, "Server");
        _cleanup_(strv_freep) char **ifaces = NULL;

        ck_assert_str_eq(p, profile());
        ck_assert_str_eq(st, "idle");
        ck_assert_str_eq(mode, "bonding");
        ck_assert_str_eq(sched, "weighted");
        ck_assert_str_eq(sess, "/");
        ck_assert_str_eq(err, "");
        ck_assert_str_eq(server, getenv("FLUX_TEST_SERVER"));
        ck_assert_int_ge(sd_bus_get_property_strv(bus, dest(), FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE,
                                                  "Interfaces", &error, &ifaces),
                         0);
        ck_assert_ptr_nonnull(ifaces[0]);
        ck_assert_str_eq(ifaces[0], getenv("FLUX_TEST_IFACE"));
        ck_assert_ptr_null(ifaces[1]);
}
END_TEST

START_TEST(test_connect_invalid_args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = open_bus();
        struct {
                const char *key, *sig, *sval;
                uint32_t uval;
        } cases[] = {
                { "mode", "u", NULL, 3 },              /* wrong type */
                { "mode", "s", "turbo" },              /* bad value */
                { "scheduler", "s", "fastest" },
                { "server", "s", "[::1" },
                { "server", "s", "host:99999" },
                { "server", "s", "" },
                { "bogus", "s", "x" },                 /* unknown key */
                { "save", "s", "yes" },                /* wrong type */
                { "interfaces", "s", "eth0" },         /* wrong type */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(freep) char *e = cases[i].sval ? connect_one(bus, cases[i].key, cases[i].sig, cases[i].sval)
                                                         : connect_one(bus, cases[i].key, cases[i].sig, cases[i].uval);
                ck_assert_msg(streq(e, SD_BUS_ERROR_INVALID_ARGS), "case %zu (%s): got '%s'", i, cases[i].key, e);
        }

        /* Bad interface lists. */
        {
                char *empty[] = { NULL }, *dup[] = { (char *) "lo", (char *) "lo", NULL },
                     *bad[] = { (char *) "a/b", NULL }, *longname[] = { (char *) "abcdefghijklmnopq", NULL };
                char **lists[] = { empty, dup, bad, longname };

                for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
                        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                        ck_assert_int_ge(sd_bus_message_new_method_call(bus, &m, dest(), FLUX_CLIENT_PATH,
                                                                        FLUX_CLIENT_MANAGER_IFACE, "Connect"), 0);
                        ck_assert_int_ge(sd_bus_message_open_container(m, 'a', "{sv}"), 0);
                        ck_assert_int_ge(sd_bus_message_open_container(m, 'e', "sv"), 0);
                        ck_assert_int_ge(sd_bus_message_append(m, "s", "interfaces"), 0);
                        ck_assert_int_ge(sd_bus_message_open_container(m, 'v', "as"), 0);
                        ck_assert_int_ge(sd_bus_message_append_strv(m, lists[i]), 0);
                        ck_assert_int_ge(sd_bus_message_close_container(m), 0);
                        ck_assert_int_ge(sd_bus_message_close_container(m), 0);
                        ck_assert_int_ge(sd_bus_message_close_container(m), 0);
                        ck_assert_int_lt(sd_bus_call(bus, m, 0, &error, NULL), 0);
                        ck_assert_msg(sd_bus_error_has_name(&error, SD_BUS_ERROR_INVALID_ARGS), "list %zu: %s", i,
                                      error.name);
                }
        }

        /* Nothing of this changed the daemon. */
        {
                _cleanup_(freep) char *st = manager_string(bus, "State");
                ck_assert_str_eq(st, "idle");
        }
}
END_TEST

START_TEST(test_connect_errors) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = open_bus();
        _cleanup_(freep) char *e1 = connect_one(bus, "interfaces", "as", 1, "fxnope0");
        _cleanup_(freep) char *e3 = call_simple(bus, "Disconnect", NULL, NULL);
        _cleanup_(freep) char *e4 = call_simple(bus, "AddInterface", "s", "fxnope0");
        _cleanup_(freep) char *e5 = call_simple(bus, "RemoveInterface", "s", "fxnope0");
        _cleanup_(freep) char *e6 = call_simple(bus, "AddInterface", "s", "bad/name");
        _cleanup_(freep) char *e2 = NULL, *mode = NULL, *d = NULL, *after = NULL;

        ck_assert_str_eq(e1, FLUX_ERROR_NO_SUCH_INTERFACE);
        ck_assert_str_eq(e3, FLUX_ERROR_NOT_CONNECTED);
        ck_assert_str_eq(e4, FLUX_ERROR_NO_SUCH_INTERFACE);
        ck_assert_str_eq(e5, FLUX_ERROR_NO_SUCH_INTERFACE);
        ck_assert_str_eq(e6, SD_BUS_ERROR_INVALID_ARGS);

        /* load-balance is serverless: it connects without a server or a bundle. */
        e2 = connect_one(bus, "mode", "s", "load-balance");
        ck_assert_str_eq(e2, "");
        mode = manager_string(bus, "Mode");
        ck_assert_str_eq(mode, "load-balance");
        d = call_simple(bus, "Disconnect", NULL, NULL);
        ck_assert_str_eq(d, "");
        after = manager_string(bus, "Mode");
        ck_assert_str_eq(after, "bonding"); /* back to the profile's */
}
END_TEST

START_TEST(test_add_remove_idle) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = open_bus();
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(strv_freep) char **l1 = NULL, **l2 = NULL;
        _cleanup_(freep) char *e1 = call_simple(bus, "AddInterface", "s", "lo");
        _cleanup_(freep) char *e2 = call_simple(bus, "AddInterface", "s", "lo");

        ck_assert_str_eq(e1, "");
        ck_assert_str_eq(e2, SD_BUS_ERROR_INVALID_ARGS); /* already there */
        ck_assert_int_ge(sd_bus_get_property_strv(bus, dest(), FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE,
                                                  "Interfaces", &error, &l1), 0);
        ck_assert_ptr_nonnull(l1[0]);
        ck_assert_ptr_nonnull(l1[1]);
        ck_assert_str_eq(l1[1], "lo");

        free(e1);
        e1 = call_simple(bus, "RemoveInterface", "s", "lo");
        ck_assert_str_eq(e1, "");
        ck_assert_int_ge(sd_bus_get_property_strv(bus, dest(), FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE,
                                                  "Interfaces", &error, &l2), 0);
        ck_assert_ptr_null(l2[1]);
}
END_TEST

static int on_props_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char **seen = userdata;
        const char *iface, *name;

        if (sd_bus_message_read(m, "s", &iface) < 0 || !streq(iface, FLUX_CLIENT_MANAGER_IFACE))
                return 0;
        if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                return 0;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &name) >= 0 && streq(name, "State")) {
                        const char *v;
                        if (sd_bus_message_read(m, "v", "s", &v) >= 0) {
                                free(*seen);
                                *seen = strdup(v);
                        }
                } else
                        (void) sd_bus_message_skip(m, "v");
                (void) sd_bus_message_exit_container(m);
        }
        return 0;
}

/* Manager.State changes are signalled (PropertiesChanged), not only pollable. */
START_TEST(test_state_signalled) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = open_bus();
        _cleanup_(freep) char *seen = NULL, *e1 = NULL, *e2 = NULL;

        ck_assert_int_ge(sd_bus_match_signal(bus, NULL, dest(), FLUX_CLIENT_PATH, "org.freedesktop.DBus.Properties",
                                             "PropertiesChanged", on_props_changed, &seen), 0);
        e1 = connect_one(bus, NULL, NULL);
        ck_assert_str_eq(e1, "");
        for (int i = 0; i < 200 && !(seen && streq(seen, "connecting")); i++) {
                if (sd_bus_process(bus, NULL) > 0)
                        continue;
                (void) sd_bus_wait(bus, 25 * 1000);
        }
        ck_assert_msg(seen && streq(seen, "connecting"), "no PropertiesChanged(State=connecting), got %s", strna(seen));
        e2 = call_simple(bus, "Disconnect", NULL, NULL);
        ck_assert_str_eq(e2, "");
        for (int i = 0; i < 200 && !streq(seen, "idle"); i++) {
                if (sd_bus_process(bus, NULL) > 0)
                        continue;
                (void) sd_bus_wait(bus, 25 * 1000);
        }
        ck_assert_str_eq(seen, "idle");
}
END_TEST

/* The server address refuses connections: the daemon keeps trying (state connecting), with a
 * Connection object per uplink. */
START_TEST(test_connect_already_disconnect) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = open_bus();
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(strv_freep) char **conns = NULL;
        _cleanup_(freep) char *e1 = connect_one(bus, NULL, NULL), *e2 = NULL, *e3 = NULL, *st = NULL, *ifn = NULL;

        ck_assert_str_eq(e1, "");
        st = manager_string(bus, "State");
        ck_assert_msg(streq(st, "connecting") || streq(st, "reconnecting"), "state %s", st);

        e2 = connect_one(bus, NULL, NULL);
        ck_assert_str_eq(e2, FLUX_ERROR_ALREADY_CONNECTED);

        ck_assert_int_ge(sd_bus_get_property_strv(bus, dest(), FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE,
                                                  "Connections", &error, &conns), 0);
        ck_assert_ptr_nonnull(conns[0]);
        ifn = get_string(bus, conns[0], FLUX_CLIENT_CONNECTION_IFACE, "Interface");
        ck_assert_str_eq(ifn, getenv("FLUX_TEST_IFACE"));
        check_introspection(bus, conns[0], FLUX_CLIENT_CONNECTION_IFACE);

        e3 = call_simple(bus, "Disconnect", NULL, NULL);
        ck_assert_str_eq(e3, "");
        wait_state(bus, "idle");
}
END_TEST

/* An ordinary user may read but not change anything: the bus policy refuses, and so would the
 * daemon (sd-bus privilege check). */
START_TEST(test_unprivileged) {
        pid_t pid = fork();
        int status;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
                _cleanup_(freep) char *e1 = NULL, *e2 = NULL, *e3 = NULL, *st = NULL;

                if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(10);
                bus = open_bus();
                st = manager_string(bus, "State");
                e1 = connect_one(bus, NULL, NULL);
                e2 = call_simple(bus, "Disconnect", NULL, NULL);
                e3 = call_simple(bus, "AddInterface", "s", "lo");
                _exit(streq(st, "idle") && streq(e1, SD_BUS_ERROR_ACCESS_DENIED) &&
                                      streq(e2, SD_BUS_ERROR_ACCESS_DENIED) && streq(e3, SD_BUS_ERROR_ACCESS_DENIED)
                              ? 0
                              : 11);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "unprivileged checks failed (status %d)",
                      status);
}
END_TEST

static Suite *client_api_suite(void) {
        Suite *s = suite_create("client-api");
        TCase *tc = tcase_create("api");

        /* Order matters a little: the idle checks run before anything connects. */
        tcase_add_test(tc, test_introspection_manager);
        tcase_add_test(tc, test_properties_idle);
        tcase_add_test(tc, test_connect_invalid_args);
        tcase_add_test(tc, test_connect_errors);
        tcase_add_test(tc, test_add_remove_idle);
        tcase_add_test(tc, test_unprivileged);
        tcase_add_test(tc, test_connect_already_disconnect);
        tcase_add_test(tc, test_state_signalled);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(client_api_suite)
