/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client profile: parsing, errors with file:line, server addresses, rewriting for --save; and the
 * other pure part of the client, the resume decisions (client-resume.c). */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc-util.h"
#include "check-util.h"
#include "client-conf.h"
#include "client-resume.h"
#include "conf-parser.h"
#include "fd-util.h"

static int load(const char *text, ClientConfig *c, char **msg) {
        client_config_init(c);
        return client_config_load_buffer(c, "laptop.conf", text, msg);
}

START_TEST(test_defaults) {
        ClientConfig c;
        char *msg = NULL;

        ck_assert_int_eq(load("", &c, &msg), 0);
        ck_assert_int_eq(c.mode, CLIENT_MODE_BONDING);
        ck_assert_int_eq(c.scheduler, CLIENT_SCHEDULER_WEIGHTED);
        ck_assert(c.default_route);
        ck_assert(!c.auto_connect);
        ck_assert_uint_eq(c.protocol, 2);
        ck_assert_uint_eq(c.mtu, 0);
        ck_assert_ptr_null(c.server);
        ck_assert_ptr_null(c.interfaces);
        client_config_done(&c);
}
END_TEST

START_TEST(test_full_profile) {
        static const char text[] =
                "# a comment\n"
                "[Client]\n"
                "Server=[2001:db8::1]:9443\n"
                "Mode=bonding\n"
                "Interfaces=eth0, wlan0 wwan0\n"
                "Scheduler=redundant\n"
                "Bundle=/etc/fluxify/client/laptop.bundle\n"
                "AutoConnect=yes\n"
                "DefaultRoute=no\n"
                "MTU=1380\n"
                "Protocol=1\n"
                "\n"
                "[Interface wwan0]\n"
                "Priority=backup\n"
                "Weight=0.5\n"
                "[Interface eth0]\n"
                "Weight=3\n";
        const InterfaceConfig *ic;
        ClientConfig c;
        char *msg = NULL;

        ck_assert_int_eq(load(text, &c, &msg), 0);
        ck_assert_str_eq(c.server, "[2001:db8::1]:9443");
        ck_assert_int_eq(c.scheduler, CLIENT_SCHEDULER_REDUNDANT);
        ck_assert_uint_eq(strv_length(c.interfaces), 3);
        ck_assert_str_eq(c.interfaces[2], "wwan0");
        ck_assert(c.auto_connect);
        ck_assert(!c.default_route);
        ck_assert_uint_eq(c.mtu, 1380);
        ck_assert_uint_eq(c.protocol, 1);
        ic = client_config_get_interface(&c, "wwan0");
        ck_assert_ptr_nonnull(ic);
        ck_assert_int_eq(ic->priority, CLIENT_PRIORITY_BACKUP);
        ck_assert(ic->weight == 0.5);
        ic = client_config_get_interface(&c, "eth0");
        ck_assert_int_eq(ic->priority, CLIENT_PRIORITY_PRIMARY);
        ck_assert(ic->weight == 3.0);
        ck_assert_ptr_null(client_config_get_interface(&c, "wlan0"));
        client_config_done(&c);
}
END_TEST

START_TEST(test_errors_have_file_and_line) {
        static const struct {
                const char *text, *where;
        } cases[] = {
                { "[Client]\nMode=turbo\n", "laptop.conf:2" },
                { "[Client]\nServer=1.2.3.4\nScheduler=fastest\n", "laptop.conf:3" },
                { "[Client]\nServer=[::1\n", "laptop.conf:2" },
                { "[Client]\nServer=host:0\n", "laptop.conf:2" },
                { "[Client]\nServer=host:70000\n", "laptop.conf:2" },
                { "[Client]\nInterfaces=eth0 a/b\n", "laptop.conf:2" },
                { "[Client]\nInterfaces=eth0 eth0\n", "laptop.conf:2" },
                { "[Client]\nAutoConnect=maybe\n", "laptop.conf:2" },
                { "[Client]\nMTU=100\n", "laptop.conf:2" },
                { "[Client]\nMTU=70000\n", "laptop.conf:2" },
                { "[Client]\nProtocol=3\n", "laptop.conf:2" },
                { "[Client]\nBogus=1\n", "laptop.conf:2" },
                { "[Server]\n", "laptop.conf:1" },
                { "Server=1.2.3.4\n", "laptop.conf:1" },
                { "[Interface]\nWeight=1\n", "laptop.conf:1" },
                { "[Interface bad/name]\n", "laptop.conf:1" },
                { "[Interface eth0]\nWeight=0\n", "laptop.conf:2" },
                { "[Interface eth0]\nWeight=1001\n", "laptop.conf:2" },
                { "[Interface eth0]\nWeight=-1\n", "laptop.conf:2" },
                { "[Interface eth0]\nPriority=high\n", "laptop.conf:2" },
                { "[Client]\n[Interface eth0]\nMode=bonding\n", "laptop.conf:3" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(freep) char *msg = NULL;
                ClientConfig c;
                int r;

                r = load(cases[i].text, &c, &msg);
                ck_assert_msg(r < 0, "case %zu accepted: %s", i, cases[i].text);
                ck_assert_ptr_nonnull(msg);
                ck_assert_msg(strncmp(msg, cases[i].where, strlen(cases[i].where)) == 0 &&
                                      msg[strlen(cases[i].where)] == ':',
                              "case %zu: message '%s' does not start with %s:", i, msg, cases[i].where);
                client_config_done(&c);
        }
}
END_TEST

START_TEST(test_load_file_and_relative_bundle) {
        char dir[] = "/tmp/test-client-conf.XXXXXX", path[128];
        _cleanup_(freep) char *msg = NULL, *msg2 = NULL, *want = NULL;
        static const char text[] = "[Client]\nServer=10.0.0.1\nBundle=laptop.bundle\n";
        ClientConfig c;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/laptop.conf", dir);
        ck_assert_int_eq(write_file_atomic(path, text, strlen(text), 0644), 0);

        client_config_init(&c);
        ck_assert_int_eq(client_config_load(&c, path, &msg), 0);
        ck_assert_int_ge(asprintf(&want, "%s/laptop.bundle", dir), 0);
        ck_assert_str_eq(c.bundle, want);
        client_config_done(&c);

        unlink(path);
        client_config_init(&c);
        ck_assert_int_eq(client_config_load(&c, path, &msg2), -ENOENT);
        ck_assert_ptr_nonnull(msg2);
        client_config_done(&c);
        rmdir(dir);
}
END_TEST

START_TEST(test_server_split) {
        static const struct {
                const char *in, *host;
                uint16_t port;
        } good[] = {
                { "10.0.0.1", "10.0.0.1", 8443 },
                { "10.0.0.1:9000", "10.0.0.1", 9000 },
                { "vpn.example.org", "vpn.example.org", 8443 },
                { "vpn.example.org:1", "vpn.example.org", 1 },
                { "[2001:db8::1]:443", "2001:db8::1", 443 },
                { "[2001:db8::1]", "2001:db8::1", 8443 },
                { "2001:db8::1", "2001:db8::1", 8443 },
        };
        static const char *const bad[] = { "", ":80", "[]:80", "[::1", "[::1]x", "host:", "host:0", "host:65536",
                                           "host:80x", "a b", "a/b" };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_(freep) char *host = NULL;
                uint16_t port = 0;

                ck_assert_msg(client_server_split(good[i].in, &host, &port) == 0, "%s", good[i].in);
                ck_assert_str_eq(host, good[i].host);
                ck_assert_uint_eq(port, good[i].port);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *host = NULL;
                uint16_t port = 0;

                ck_assert_msg(client_server_split(bad[i], &host, &port) == -EINVAL, "accepted '%s'", bad[i]);
                ck_assert_ptr_null(host);
        }
}
END_TEST

static char *update(const char *text, const char *const *keys, const char *const *values) {
        char *out = NULL;

        ck_assert_int_eq(client_config_update_text(text, keys, values, &out), 0);
        return out;
}

START_TEST(test_update_text) {
        static const char *const keys[] = { "Interfaces", "Scheduler", NULL };
        static const char *const values[] = { "eth0 wlan0", "redundant", NULL };
        _cleanup_(freep) char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;

        /* Replace in place, keep comments and other sections, drop duplicates. */
        a = update("# mine\n[Client]\nServer=1.2.3.4\nInterfaces=eth0\nInterfaces=eth1\n\n[Interface eth0]\nWeight=2\n",
                   keys, values);
        ck_assert_str_eq(a, "# mine\n[Client]\nServer=1.2.3.4\nInterfaces=eth0 wlan0\nScheduler=redundant\n\n"
                            "[Interface eth0]\nWeight=2\n");

        /* No [Client] yet. */
        b = update("", keys, values);
        ck_assert_str_eq(b, "[Client]\nInterfaces=eth0 wlan0\nScheduler=redundant\n");

        /* Keys of other sections are left alone. */
        c = update("[Interface eth0]\nScheduler=x\n", keys, values);
        ck_assert_str_eq(c, "[Interface eth0]\nScheduler=x\n[Client]\nInterfaces=eth0 wlan0\nScheduler=redundant\n");

        /* A NULL value removes the key; a missing final newline is added. */
        {
                static const char *const k2[] = { "Server", NULL };
                static const char *const v2[] = { NULL, NULL };
                d = update("[Client]\nServer=1.2.3.4\nMode=bonding", k2, v2);
                ck_assert_str_eq(d, "[Client]\nMode=bonding\n");
        }

        /* The result parses, and says what was saved. */
        {
                ClientConfig cfg;
                char *msg = NULL;

                e = update("[Client]\nServer=1.2.3.4\n", keys, values);
                ck_assert_int_eq(load(e, &cfg, &msg), 0);
                ck_assert_int_eq(cfg.scheduler, CLIENT_SCHEDULER_REDUNDANT);
                ck_assert_uint_eq(strv_length(cfg.interfaces), 2);
                client_config_done(&cfg);
        }
}
END_TEST

START_TEST(test_string_tables) {
        ck_assert_str_eq(client_mode_to_string(CLIENT_MODE_LOAD_BALANCE), "load-balance");
        ck_assert_int_eq(client_mode_from_string("bonding"), CLIENT_MODE_BONDING);
        ck_assert_int_lt(client_mode_from_string("bond"), 0);
        ck_assert_int_eq(client_scheduler_from_string("lowest-rtt"), CLIENT_SCHEDULER_LOWEST_RTT);
        ck_assert_int_lt(client_scheduler_from_string(NULL), 0);
        ck_assert_str_eq(client_priority_to_string(CLIENT_PRIORITY_BACKUP), "backup");
        ck_assert_ptr_null(client_priority_to_string(_CLIENT_PRIORITY_MAX));
}
END_TEST

/* The documented example profile (data/client.conf) is valid. */
START_TEST(test_example_profile) {
        _cleanup_(freep) char *msg = NULL;
        ClientConfig c;

        client_config_init(&c);
        ck_assert_msg(client_config_load(&c, FLUXIFY_SOURCE_ROOT "/data/client.conf", &msg) == 0, "%s", strna(msg));
        ck_assert_str_eq(c.server, "vpn.example.org:8443");
        ck_assert_uint_eq(strv_length(c.interfaces), 2);
        ck_assert_int_eq(client_config_get_interface(&c, "wlan0")->priority, CLIENT_PRIORITY_BACKUP);
        ck_assert_ptr_nonnull(strstr(c.bundle, "/data/laptop.bundle"));
        client_config_done(&c);
}
END_TEST

/* A resumed control connection keeps the data keys of the connection that created the session
 * (docs/protocol.md). The client must resume only a session whose keys it still runs, and must not
 * build a tunnel from the new connection's exporter when the server says "resumed". */
START_TEST(test_resume_decisions) {
        SessionKeys running = { .has_tunnel = true, .session_id = 7 };
        SessionKeys none = { .has_tunnel = false, .session_id = 7 };  /* e.g. the set-up failed */

        /* The normal resume: same session, keys kept. */
        ck_assert(session_may_resume(&running, true, 7));
        ck_assert_int_eq(session_setup_classify(&running, true, 7), SESSION_SETUP_RESUMED);
        /* A fresh session (the server forgot us, or a first connect): new keys. */
        ck_assert_int_eq(session_setup_classify(&running, false, 9), SESSION_SETUP_NEW);
        ck_assert_int_eq(session_setup_classify(&none, false, 7), SESSION_SETUP_NEW);
        ck_assert(!session_may_resume(&running, false, 7));
        ck_assert(!session_may_resume(&running, true, 0));

        /* The bug: a token but no tunnel. Asking for a resume would get the server's old keys. */
        ck_assert(!session_may_resume(&none, true, 7));
        /* And if a resume is granted anyway (an attempt started before the keys went), it is
         * refused, never keyed from the new exporter. */
        ck_assert_int_eq(session_setup_classify(&none, true, 7), SESSION_SETUP_REFUSE);
        /* Keys of another session are not this session's keys. */
        ck_assert(!session_may_resume(&running, true, 8));
        ck_assert_int_eq(session_setup_classify(&running, true, 8), SESSION_SETUP_REFUSE);

        ck_assert_str_eq(session_setup_to_string(SESSION_SETUP_REFUSE), "refuse");
        ck_assert_ptr_null(session_setup_to_string(_SESSION_SETUP_MAX));
}
END_TEST

static Suite *client_conf_suite(void) {
        Suite *s = suite_create("client-conf");
        TCase *tc = tcase_create("conf");

        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_full_profile);
        tcase_add_test(tc, test_errors_have_file_and_line);
        tcase_add_test(tc, test_load_file_and_relative_bundle);
        tcase_add_test(tc, test_server_split);
        tcase_add_test(tc, test_update_text);
        tcase_add_test(tc, test_string_tables);
        tcase_add_test(tc, test_example_profile);
        tcase_add_test(tc, test_resume_decisions);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(client_conf_suite)
