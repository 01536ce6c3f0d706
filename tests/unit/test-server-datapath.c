/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure pieces of the server: inner destination parsing for TUN demultiplexing, and the session
 * tables (by id, by IPv4 and IPv6 address) on a Manager without bus or kernel state. */
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <stdio.h>

#include "check-util.h"
#include "server-datapath.h"
#include "server-manager.h"
#include "server-session.h"

START_TEST(test_ip_destination) {
        uint8_t p4[20] = { 0x45 }, p6[40] = { 0x60 };
        const uint8_t *dst;
        int family;

        p4[16] = 10, p4[17] = 8, p4[18] = 0, p4[19] = 7;
        ck_assert_int_eq(ip_packet_destination(p4, sizeof(p4), &family, &dst), 0);
        ck_assert_int_eq(family, AF_INET);
        ck_assert_mem_eq(dst, p4 + 16, 4);

        p6[24] = 0xfd, p6[39] = 7;
        ck_assert_int_eq(ip_packet_destination(p6, sizeof(p6), &family, &dst), 0);
        ck_assert_int_eq(family, AF_INET6);
        ck_assert_mem_eq(dst, p6 + 24, 16);

        ck_assert_int_eq(ip_packet_destination(p4, 19, &family, &dst), -EBADMSG);
        ck_assert_int_eq(ip_packet_destination(p6, 39, &family, &dst), -EBADMSG);
        ck_assert_int_eq(ip_packet_destination(p4, 0, &family, &dst), -EBADMSG);
        p4[0] = 0x55;
        ck_assert_int_eq(ip_packet_destination(p4, sizeof(p4), &family, &dst), -EBADMSG);
}
END_TEST

static AddressLease lease_for(unsigned i) {
        AddressLease l = { .has4 = true, .prefixlen4 = 24, .has6 = true, .prefixlen6 = 64 };

        l.address4.in.s_addr = htonl(0x0a080000 | i);
        (void) inet_pton(AF_INET6, "fd00:8::", &l.address6.in6);
        l.address6.in6.s6_addr[14] = (uint8_t) (i >> 8);
        l.address6.in6.s6_addr[15] = (uint8_t) i;
        return l;
}

START_TEST(test_session_tables) {
        _cleanup_(manager_freep) Manager *m = NULL;
        uint8_t secret[32] = { 1 };
        Session *s[300];
        char **addrs = NULL;

        ck_assert_int_eq(manager_new("/nonexistent/etc", "/nonexistent/state", "/nonexistent/run", &m), 0);
        ck_assert_int_eq(server_config_new(&m->config), 0);

        /* More sessions than hash buckets per chain would ever see in practice. */
        for (unsigned i = 0; i < ELEMENTSOF(s); i++) {
                AddressLease l = lease_for(i + 2);
                uint32_t id;
                char name[32];

                snprintf(name, sizeof(name), "client%u", i);
                ck_assert_int_eq(session_pick_id(m, &id), 0);
                ck_assert_int_eq(session_new(m, id, &(SessionParams) { .client_name = name, .protocol = 2,
                                                                         .secret = secret, .lease = &l },
                                             &s[i]),
                                 0);
                s[i]->lease_live = false; /* no pool in this test */
        }
        ck_assert_uint_eq(m->n_sessions, ELEMENTSOF(s));

        for (unsigned i = 0; i < ELEMENTSOF(s); i++) {
                AddressLease l = lease_for(i + 2);
                ck_assert_ptr_eq(manager_find_session(m, s[i]->id), s[i]);
                ck_assert_ptr_eq(manager_find_session_by_address(m, AF_INET, &l.address4.in), s[i]);
                ck_assert_ptr_eq(manager_find_session_by_address(m, AF_INET6, &l.address6.in6), s[i]);
        }
        {
                AddressLease none = lease_for(1000);
                ck_assert_ptr_null(manager_find_session_by_address(m, AF_INET, &none.address4.in));
                ck_assert_ptr_null(manager_find_session_by_address(m, AF_INET6, &none.address6.in6));
        }

        ck_assert_int_eq(session_addresses_strv(s[0], &addrs), 0);
        ck_assert_str_eq(addrs[0], "10.8.0.2/24");
        ck_assert_str_eq(addrs[1], "fd00:8::2/64");
        ck_assert_ptr_null(addrs[2]);
        strv_free(addrs);

        /* Ending every other session unlinks it from all three tables. */
        for (unsigned i = 0; i < ELEMENTSOF(s); i += 2) {
                uint32_t id = s[i]->id;
                AddressLease l = lease_for(i + 2);

                session_end(s[i], "test");
                ck_assert_ptr_null(manager_find_session(m, id));
                ck_assert_ptr_null(manager_find_session_by_address(m, AF_INET, &l.address4.in));
                ck_assert_ptr_null(manager_find_session_by_address(m, AF_INET6, &l.address6.in6));
        }
        ck_assert_uint_eq(m->n_sessions, ELEMENTSOF(s) / 2);
        for (unsigned i = 1; i < ELEMENTSOF(s); i += 2)
                ck_assert_ptr_eq(manager_find_session(m, s[i]->id), s[i]);

        /* manager_free() ends the rest. */
}
END_TEST

START_TEST(test_session_bad_params) {
        _cleanup_(manager_freep) Manager *m = NULL;
        uint8_t secret[32] = {};
        AddressLease l = lease_for(2);
        Session *s = NULL;

        ck_assert_int_eq(manager_new("/x", "/y", "/z", &m), 0);
        ck_assert_int_eq(server_config_new(&m->config), 0);
        ck_assert_int_eq(session_new(m, 0, &(SessionParams) { .client_name = "a", .protocol = 2, .secret = secret,
                                                             .lease = &l }, &s), -EINVAL);
        ck_assert_int_eq(session_new(m, 5, &(SessionParams) { .client_name = "a", .protocol = 3, .secret = secret,
                                                             .lease = &l }, &s), -EPROTONOSUPPORT);
        ck_assert_int_eq(session_new(m, 5, &(SessionParams) { .client_name = NULL, .protocol = 2, .secret = secret,
                                                             .lease = &l }, &s), -EINVAL);
        ck_assert_uint_eq(m->n_sessions, 0);
}
END_TEST

static Suite *server_suite(void) {
        Suite *s = suite_create("server-datapath");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_ip_destination);
        tcase_add_test(tc, test_session_tables);
        tcase_add_test(tc, test_session_bad_params);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(server_suite)
