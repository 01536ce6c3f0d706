/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* server.conf: defaults, every key, derived values, and every kind of bad input. */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/stat.h>

#include "alloc-util.h"
#include "check-util.h"
#include "fd-util.h"
#include "server-conf.h"

static ServerConfig *load_ok(const char *text) {
        ServerConfig *c = NULL;
        _cleanup_(freep) char *msg = NULL;
        int r;

        r = server_config_load_buffer("server.conf", text, strlen(text), &c, &msg);
        if (r < 0)
                ck_abort_msg("unexpected failure %d: %s", r, strna(msg));
        return c;
}

static void load_fail(const char *text, const char *expected) {
        ServerConfig *c = NULL;
        _cleanup_(freep) char *msg = NULL;
        int r;

        r = server_config_load_buffer("server.conf", text, strlen(text), &c, &msg);
        ck_assert_int_lt(r, 0);
        ck_assert_ptr_null(c);
        if (!msg || !strstr(msg, expected))
                ck_abort_msg("expected '%s', got '%s'", expected, strna(msg));
}

static const char *addr(const ConfigAddress *a) {
        static char buf[4][IN_ADDR_PREFIX_STR_MAX];
        static unsigned i;

        return config_address_to_string(a, buf[i++ % 4], sizeof(buf[0]));
}

START_TEST(test_defaults) {
        _cleanup_(server_config_freep) ServerConfig *c = load_ok("");

        ck_assert_uint_eq(c->control_port, 8443);
        ck_assert_uint_eq(c->data_port, 8000);
        ck_assert_str_eq(c->tunnel, "fluxify0");
        ck_assert_str_eq(addr(&c->address), "10.8.0.1/24");
        ck_assert_str_eq(addr(&c->address6), "fd00:8::1/64");
        ck_assert_str_eq(addr(&c->pool), "10.8.0.0/24");
        ck_assert_str_eq(addr(&c->pool6), "fd00:8::/64");
        ck_assert(c->nat);
        ck_assert_ptr_null(c->egress_interface);
        ck_assert_uint_eq(c->mtu, 1400);
        ck_assert_ptr_null(c->server_names);
        ck_assert_int_eq(c->compression, SERVER_COMPRESSION_NO);
        ck_assert(c->mss_clamp);
        ck_assert(!c->client_to_client);
        ck_assert_int_eq(c->scheduler, SERVER_SCHEDULER_WEIGHTED);
        ck_assert(!c->accept_legacy_clients);
        ck_assert_uint_eq(c->n_listen, 2);
        ck_assert(!c->listen_explicit);
        ck_assert_int_eq(c->listen[0].family, AF_INET6);
        ck_assert_int_eq(c->listen[1].family, AF_INET);
        ck_assert_uint_eq(c->max_sessions, 1024);
        ck_assert_uint_eq(c->resume_timeout_sec, 60);
        ck_assert_uint_eq(c->legacy_idle_timeout_sec, 180);
}
END_TEST

START_TEST(test_every_key) {
        _cleanup_(server_config_freep) ServerConfig *c = load_ok(
                "# all keys\n"
                "[Server]\n"
                "ControlPort=9443\n"
                "DataPort = 9000\n"
                "Listen=192.0.2.1, 2001:db8::1\n"
                "Tunnel=fx1\n"
                "Address=10.9.0.1/16\n"
                "Address6=fd00:9::1/80\n"
                "Pool=10.9.0.0/16\n"
                "Pool6=fd00:9::/80\n"
                "NAT=no\n"
                "EgressInterface=eth1\n"
                "MTU=1280\n"
                "ServerNames=vpn.example.org 192.0.2.1\n"
                "ServerNames=2001:db8::1\n"
                "Compression=gzip\n"
                "MSSClamp=off\n"
                "ClientToClient=yes\n"
                "Scheduler=lowest-rtt\n"
                "AcceptLegacyClients=true\n"
                "MaxSessions=300\n"
                "ResumeTimeoutSec=30\n"
                "LegacyIdleTimeoutSec=600\n");

        ck_assert_uint_eq(c->control_port, 9443);
        ck_assert_uint_eq(c->data_port, 9000);
        ck_assert_uint_eq(c->n_listen, 2);
        ck_assert(c->listen_explicit);
        ck_assert_str_eq(addr(&c->listen[0]), "192.0.2.1/32");
        ck_assert_str_eq(addr(&c->listen[1]), "2001:db8::1/128");
        ck_assert_str_eq(c->tunnel, "fx1");
        ck_assert_str_eq(addr(&c->address), "10.9.0.1/16");
        ck_assert_str_eq(addr(&c->address6), "fd00:9::1/80");
        ck_assert_str_eq(addr(&c->pool), "10.9.0.0/16");
        ck_assert_str_eq(addr(&c->pool6), "fd00:9::/80");
        ck_assert(!c->nat);
        ck_assert_str_eq(c->egress_interface, "eth1");
        ck_assert_uint_eq(c->mtu, 1280);
        ck_assert_uint_eq(strv_length(c->server_names), 3);
        ck_assert_str_eq(c->server_names[0], "vpn.example.org");
        ck_assert_str_eq(c->server_names[2], "2001:db8::1");
        ck_assert_int_eq(c->compression, SERVER_COMPRESSION_GZIP);
        ck_assert(!c->mss_clamp);
        ck_assert(c->client_to_client);
        ck_assert_int_eq(c->scheduler, SERVER_SCHEDULER_LOWEST_RTT);
        ck_assert(c->accept_legacy_clients);
        ck_assert_uint_eq(c->max_sessions, 300);
        ck_assert_uint_eq(c->resume_timeout_sec, 30);
        ck_assert_uint_eq(c->legacy_idle_timeout_sec, 600);
}
END_TEST

START_TEST(test_derived) {
        ServerConfig *c;

        /* Pool derived from Address, and the other way round. */
        c = load_ok("[Server]\nAddress=172.16.4.1/22\nPool6=fd00:77::/64\n");
        ck_assert_str_eq(addr(&c->pool), "172.16.4.0/22");
        ck_assert_str_eq(addr(&c->address), "172.16.4.1/22");
        c = server_config_free(c);
        ck_assert_ptr_null(c);
        load_fail("[Server]\nAddress=172.16.5.1/22\n", "Address=172.16.5.1/22 must be the first host address of Pool=172.16.4.0/22");

        c = load_ok("[Server]\nPool6=fd00:77::/64\nScheduler=redundant\n");
        ck_assert_str_eq(addr(&c->address6), "fd00:77::1/64");
        ck_assert_int_eq(c->scheduler, SERVER_SCHEDULER_REDUNDANT);
        server_config_free(c);

        /* Host bits in Pool= are masked. */
        c = load_ok("[Server]\nPool=10.1.2.3/24\n");
        ck_assert_str_eq(addr(&c->pool), "10.1.2.0/24");
        ck_assert_str_eq(addr(&c->address), "10.1.2.1/24");
        server_config_free(c);

        /* Later assignments win; empty resets. */
        c = load_ok("[Server]\nTunnel=a0\nTunnel=b0\nListen=10.0.0.1\nListen=\nServerNames=x\nServerNames=\n");
        ck_assert_str_eq(c->tunnel, "b0");
        ck_assert(!c->listen_explicit);
        ck_assert_uint_eq(c->n_listen, 2);
        ck_assert_ptr_null(c->server_names);
        server_config_free(c);
}
END_TEST

START_TEST(test_bad_values) {
        load_fail("[Server]\nControlPort=0\n", "server.conf:2: ControlPort=0 is not a valid port");
        load_fail("[Server]\nControlPort=70000\n", "server.conf:2: ControlPort=70000");
        load_fail("[Server]\nDataPort=udp\n", "server.conf:2: DataPort=udp is not a valid port");
        load_fail("[Server]\nControlPort=8000\n", "ControlPort= and DataPort= must differ");
        load_fail("[Server]\nListen=localhost\n", "server.conf:2: Listen=: 'localhost' is not an IPv4 or IPv6 address");
        load_fail("[Server]\nListen=::1 ::1\n", "'::1' is listed twice");
        load_fail("[Server]\nListen=1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 1.1.1.8 1.1.1.9\n",
                  "at most 8 addresses");
        load_fail("[Server]\nTunnel=this-name-is-too-long\n", "server.conf:2: Tunnel=this-name-is-too-long is not a valid interface name");
        load_fail("[Server]\nTunnel=a/b\n", "is not a valid interface name");
        load_fail("[Server]\nAddress=10.8.0.1\n", "server.conf:2: Address=10.8.0.1 is not a valid IPv4 address with prefix");
        load_fail("[Server]\nAddress=fd00::1/64\n", "is not a valid IPv4 address with prefix");
        load_fail("[Server]\nAddress6=10.8.0.1/24\n", "is not a valid IPv6 address with prefix");
        load_fail("[Server]\nPool=10.8.0.0/31\n", "Pool=10.8.0.0/31: the prefix length must be 8…30");
        load_fail("[Server]\nPool6=fd00::/48\n", "Pool6=fd00::/48: the prefix length must be 64…126");
        load_fail("[Server]\nPool=10.8.0.0/33\n", "server.conf:2: Pool=10.8.0.0/33");
        load_fail("[Server]\nAddress=10.8.0.5/24\n", "must be the first host address");
        load_fail("[Server]\nAddress=10.8.0.1/24\nPool=10.9.0.0/24\n", "must be the first host address of Pool=10.9.0.0/24");
        load_fail("[Server]\nNAT=perhaps\n", "server.conf:2: NAT=perhaps is not a boolean");
        load_fail("[Server]\nEgressInterface=fluxify0\n", "EgressInterface=fluxify0 cannot be the tunnel itself");
        load_fail("[Server]\nEgressInterface=eth 0\n", "is not a valid interface name");
        load_fail("[Server]\nMTU=575\n", "server.conf:2: MTU=575 is out of range 576…9000");
        load_fail("[Server]\nMTU=9001\n", "out of range");
        load_fail("[Server]\nMTU=1.5k\n", "is not an unsigned integer");
        load_fail("[Server]\nServerNames=good.example bad_name!\n", "'bad_name!' is neither a DNS name nor an IP address");
        load_fail("[Server]\nServerNames=.lead\n", "neither a DNS name");
        load_fail("[Server]\nCompression=lz4\n", "server.conf:2: Compression=lz4 is not one of: no, gzip");
        load_fail("[Server]\nMSSClamp=2\n", "MSSClamp=2 is not a boolean");
        load_fail("[Server]\nClientToClient=\n", "ClientToClient= is not a boolean");
        load_fail("[Server]\nScheduler=fastest\n", "Scheduler=fastest is not one of: weighted, flow, lowest-rtt, redundant");
        load_fail("[Server]\nAcceptLegacyClients=si\n", "AcceptLegacyClients=si is not a boolean");
        load_fail("[Server]\nMaxSessions=0\n", "MaxSessions=0 is out of range");
        load_fail("[Server]\nResumeTimeoutSec=-5\n", "ResumeTimeoutSec=-5 is not an unsigned integer");
        load_fail("[Server]\nLegacyIdleTimeoutSec=100000\n", "out of range");
}
END_TEST

START_TEST(test_malformed_files) {
        load_fail("[Server]\nControlPort\n", "server.conf:2: Syntax error");
        load_fail("ControlPort=1\n", "server.conf:1: Assignment outside of a section");
        load_fail("[Client]\n", "server.conf:1: Unknown section [Client]");
        load_fail("[Server]\n# ok\n\nBogus=1\n", "server.conf:4: Unknown key Bogus= in section [Server]");
        load_fail("[Server x]\n", "Section [Server] takes no argument");
        load_fail("[Server\n", "Invalid section header");
        load_fail("\xef\xbb\xbf[Server]\nMTU=1\n", "server.conf:2: MTU=1 is out of range");
        load_fail("[Server]\ncontrolport=1\n", "Unknown key controlport=");
}
END_TEST

START_TEST(test_files_and_dropins) {
        char dir[] = "/tmp/test-server-conf-XXXXXX";
        _cleanup_(freep) char *main_path = NULL, *dropdir = NULL, *p = NULL, *msg = NULL, *cmd = NULL;
        ServerConfig *c = NULL;
        const char *text;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_ge(asprintf(&main_path, "%s/server.conf", dir), 0);
        ck_assert_int_ge(asprintf(&dropdir, "%s/server.conf.d", dir), 0);

        /* Missing file: defaults. */
        ck_assert_int_eq(server_config_load(main_path, &c, &msg), 0);
        ck_assert_uint_eq(c->control_port, 8443);
        c = server_config_free(c);

        text = "[Server]\nControlPort=1111\nMTU=1300\n";
        ck_assert_int_eq(write_file_atomic(main_path, text, strlen(text), 0644), 0);
        ck_assert_int_eq(mkdir(dropdir, 0755), 0);
        ck_assert_int_ge(asprintf(&p, "%s/50-mtu.conf", dropdir), 0);
        text = "[Server]\nMTU=1350\n";
        ck_assert_int_eq(write_file_atomic(p, text, strlen(text), 0644), 0);
        ck_assert_int_eq(server_config_load(main_path, &c, &msg), 0);
        ck_assert_uint_eq(c->control_port, 1111);
        ck_assert_uint_eq(c->mtu, 1350);
        c = server_config_free(c);

        text = "[Server]\n\n\nMTU=huge\n";
        ck_assert_int_eq(write_file_atomic(p, text, strlen(text), 0644), 0);
        ck_assert_int_lt(server_config_load(main_path, &c, &msg), 0);
        if (!strstr(msg, "server.conf.d/50-mtu.conf:4: MTU=huge"))
                ck_abort_msg("unexpected: %s", msg);

        ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", dir), 0);
        ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_example_file) {
        /* The shipped example documents every key with its default: uncommented, it must parse to
         * exactly the defaults. */
        _cleanup_(server_config_freep) ServerConfig *c = NULL, *d = NULL;
        _cleanup_(freep) char *text = NULL, *msg = NULL;
        size_t size, n = 0;
        char *out;

        ck_assert_int_eq(read_full_file(FLUXIFY_SOURCE_ROOT "/data/server.conf", 1 << 20, &text, &size), 0);
        out = text;
        for (const char *l = text; *l;) {
                const char *e = strchrnul(l, '\n');
                if (l[0] == '#' && l[1] >= 'A' && l[1] <= 'Z' && memchr(l, '=', e - l))
                        l++, n++;
                memmove(out, l, e - l);
                out += e - l;
                if (*e)
                        *out++ = '\n';
                l = *e ? e + 1 : e;
        }
        *out = '\0';

        for (const ConfigItem *i = server_config_table.items; i->key; i++) {
                _cleanup_(freep) char *needle = NULL;
                ck_assert_int_ge(asprintf(&needle, "\n%s=", i->key), 0);
                if (!strstr(text, needle))
                        ck_abort_msg("data/server.conf does not document %s=", i->key);
        }
        ck_assert_uint_ge(n, 20);

        if (server_config_load_buffer("server.conf", text, strlen(text), &c, &msg) < 0)
                ck_abort_msg("data/server.conf uncommented: %s", strna(msg));
        d = load_ok("");
        ck_assert_uint_eq(c->control_port, d->control_port);
        ck_assert_uint_eq(c->data_port, d->data_port);
        ck_assert_str_eq(c->tunnel, d->tunnel);
        ck_assert_str_eq(addr(&c->address), addr(&d->address));
        ck_assert_str_eq(addr(&c->address6), addr(&d->address6));
        ck_assert_str_eq(addr(&c->pool), addr(&d->pool));
        ck_assert_str_eq(addr(&c->pool6), addr(&d->pool6));
        ck_assert_int_eq(c->nat, d->nat);
        ck_assert_uint_eq(c->mtu, d->mtu);
        ck_assert_int_eq(c->compression, d->compression);
        ck_assert_int_eq(c->mss_clamp, d->mss_clamp);
        ck_assert_int_eq(c->client_to_client, d->client_to_client);
        ck_assert_int_eq(c->scheduler, d->scheduler);
        ck_assert_int_eq(c->accept_legacy_clients, d->accept_legacy_clients);
        ck_assert_uint_eq(c->max_sessions, d->max_sessions);
        ck_assert_uint_eq(c->resume_timeout_sec, d->resume_timeout_sec);
        ck_assert_uint_eq(c->legacy_idle_timeout_sec, d->legacy_idle_timeout_sec);
        ck_assert_uint_eq(c->n_listen, d->n_listen);
        ck_assert_ptr_null(c->server_names);
        ck_assert_ptr_null(c->egress_interface);
}
END_TEST

START_TEST(test_string_tables) {
        ck_assert_str_eq(server_scheduler_to_string(SERVER_SCHEDULER_LOWEST_RTT), "lowest-rtt");
        ck_assert_int_eq(server_scheduler_from_string("flow"), SERVER_SCHEDULER_FLOW);
        ck_assert_int_lt(server_scheduler_from_string("x"), 0);
        ck_assert_str_eq(server_compression_to_string(SERVER_COMPRESSION_GZIP), "gzip");
}
END_TEST

static Suite *server_conf_suite(void) {
        Suite *s = suite_create("server-conf");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_every_key);
        tcase_add_test(tc, test_derived);
        tcase_add_test(tc, test_bad_values);
        tcase_add_test(tc, test_malformed_files);
        tcase_add_test(tc, test_files_and_dropins);
        tcase_add_test(tc, test_example_file);
        tcase_add_test(tc, test_string_tables);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(server_conf_suite)
