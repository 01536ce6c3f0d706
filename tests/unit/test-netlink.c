/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The kernel-free parts of src/netlink: nft rule-text builders and argument validation. The kernel
 * side is tested in tests/netns/test-netlink.c. */
#include <stdio.h>

#include "alloc-util.h"
#include "check-util.h"
#include "monitor.h"
#include "nft.h"
#include "rtnl.h"
#include "tun.h"

static union in_addr_union addr(int family, const char *s) {
        union in_addr_union a;
        ck_assert_int_eq(in_addr_from_string(family, s, &a), 0);
        return a;
}

static NftServerConfig server_config(void) {
        return (NftServerConfig) {
                .tun_ifname = "fluxify0",
                .egress_ifname = "eth0",
                .masquerade = true,
                .has_pool4 = true,
                .pool4 = addr(AF_INET, "10.8.0.1"), /* host bits are masked off */
                .pool4_prefixlen = 24,
                .has_pool6 = true,
                .pool6 = addr(AF_INET6, "fd00:8::1"),
                .pool6_prefixlen = 64,
        };
}

START_TEST(test_server_body) {
        NftServerConfig c = server_config();
        _cleanup_(freep) char *body = NULL;

        ck_assert_int_eq(nft_server_table_build(&c, &body), 0);
        ck_assert_ptr_nonnull(strstr(body, "type filter hook forward priority filter; policy accept;"));
        ck_assert_ptr_nonnull(strstr(body, "iifname \"fluxify0\" oifname \"fluxify0\" drop"));
        ck_assert_ptr_nonnull(strstr(body, "iifname \"fluxify0\" oifname \"eth0\" accept"));
        ck_assert_ptr_nonnull(strstr(body, "oifname \"fluxify0\" ct state established,related accept"));
        ck_assert_ptr_nonnull(strstr(body, "oifname \"fluxify0\" drop"));
        ck_assert_ptr_nonnull(strstr(body, "oifname \"eth0\" ip saddr 10.8.0.0/24 masquerade"));
        ck_assert_ptr_nonnull(strstr(body, "oifname \"eth0\" ip6 saddr fd00:8::/64 masquerade"));
        ck_assert_ptr_null(strstr(body, "maxseg"));
        /* The established/related accept comes before the catch-all drop toward the clients. */
        ck_assert(strstr(body, "ct state established") < strstr(body, "\t\toifname \"fluxify0\" drop"));
        body = mfree(body);

        /* No egress: anywhere but back into the tunnel. Client-to-client, MSS clamp, no NAT. */
        c.egress_ifname = NULL;
        c.client_to_client = true;
        c.mss_clamp = true;
        c.masquerade = false;
        ck_assert_int_eq(nft_server_table_build(&c, &body), 0);
        ck_assert_ptr_nonnull(strstr(body, "iifname \"fluxify0\" oifname \"fluxify0\" accept"));
        ck_assert_ptr_nonnull(strstr(body, "iifname \"fluxify0\" oifname != \"fluxify0\" accept"));
        ck_assert_ptr_nonnull(strstr(body, "tcp option maxseg size set rt mtu"));
        ck_assert_ptr_null(strstr(body, "masquerade"));
        ck_assert_ptr_null(strstr(body, "postrouting"));
        /* MSS clamping sits before any verdict. */
        ck_assert(strstr(body, "maxseg") < strstr(body, "accept\n"));
        body = mfree(body);

        c.mss = 1300;
        ck_assert_int_eq(nft_server_table_build(&c, &body), 0);
        ck_assert_ptr_nonnull(strstr(body, "tcp option maxseg size > 1300 tcp option maxseg size set 1300"));
}
END_TEST

START_TEST(test_server_invalid) {
        NftServerConfig c;
        char *body = NULL;

        c = server_config();
        c.tun_ifname = NULL;
        ck_assert_int_eq(nft_server_table_build(&c, &body), -EINVAL);
        c = server_config();
        c.tun_ifname = "a\"b";
        ck_assert_int_eq(nft_server_table_build(&c, &body), -EINVAL);
        c = server_config();
        c.egress_ifname = "eth0 accept";
        ck_assert_int_eq(nft_server_table_build(&c, &body), -EINVAL);
        c = server_config();
        c.egress_ifname = "averyveryverylongname";
        ck_assert_int_eq(nft_server_table_build(&c, &body), -EINVAL);
        c = server_config();
        c.pool4_prefixlen = 33;
        ck_assert_int_eq(nft_server_table_build(&c, &body), -EINVAL);
        c = server_config();
        c.mss_clamp = true;
        c.mss = 100;
        ck_assert_int_eq(nft_server_table_build(&c, &body), -EINVAL);
        c = server_config();
        c.has_pool4 = c.has_pool6 = false;
        ck_assert_int_eq(nft_server_table_build(&c, &body), -EINVAL);
        ck_assert_int_eq(nft_server_table_build(NULL, &body), -EINVAL);
        ck_assert_ptr_null(body);
}
END_TEST

START_TEST(test_client_body) {
        char *uplinks[] = { (char *) "eth0", (char *) "wlan0", NULL };
        NftClientConfig c = {
                .profile = "laptop",
                .tun_ifname = "fluxify0",
                .mss_clamp = true,
                .mark_restore = true,
                .masquerade_ifnames = uplinks,
        };
        _cleanup_(freep) char *body = NULL, *name = NULL;

        ck_assert_int_eq(nft_client_table_build(&c, &body), 0);
        ck_assert_ptr_nonnull(strstr(body, "oifname \"fluxify0\" tcp flags"));
        ck_assert_ptr_nonnull(strstr(body, "meta mark set ct mark"));
        ck_assert_ptr_nonnull(strstr(body, "ct mark set meta mark"));
        ck_assert_ptr_nonnull(strstr(body, "oifname \"eth0\" masquerade"));
        ck_assert_ptr_nonnull(strstr(body, "oifname \"wlan0\" masquerade"));
        body = mfree(body);

        c = (NftClientConfig) { .profile = "p" };
        ck_assert_int_eq(nft_client_table_build(&c, &body), 0);
        ck_assert_str_eq(body, "");

        ck_assert_int_eq(nft_client_table_name("Work_2", &name), 0);
        ck_assert_str_eq(name, "fluxify_client_Work_2");
        name = mfree(name);
        ck_assert_int_eq(nft_client_table_name("_x", &name), -EINVAL);
        ck_assert_int_eq(nft_client_table_name("", &name), -EINVAL);
        ck_assert_int_eq(nft_client_table_name("abcdefghijabcdefghijabcdefghijabc", &name), -EINVAL);
        ck_assert_int_eq(nft_client_table_name(NULL, &name), -EINVAL);
        ck_assert_ptr_null(name);
}
END_TEST

START_TEST(test_argument_checks) {
        char name[IFNAMSIZ];
        int fd;

        ck_assert_str_eq(rtnl_event_type_to_string(RTNL_EVENT_RESYNC), "resync");
        ck_assert_str_eq(rtnl_event_type_to_string(RTNL_EVENT_LINK_REMOVED), "link-removed");
        ck_assert_ptr_null(rtnl_event_type_to_string(_RTNL_EVENT_TYPE_MAX));
        ck_assert_ptr_null(rtnl_event_type_to_string(-1));

        ck_assert_int_eq(tun_open("a:b", 0, &fd, name, NULL), -EINVAL);
        ck_assert_int_eq(tun_open(NULL, 0, NULL, name, NULL), -EINVAL);
        ck_assert_int_eq(tun_delete("tun%d"), -EINVAL);
        ck_assert_int_eq(rtnl_open(NULL), -EINVAL);
        ck_assert_int_eq(nft_run(NULL, NULL), -EINVAL);
        ck_assert_int_eq(nft_table_delete("inet", "x;y", NULL), -EINVAL);
        ck_assert_int_eq(sysctl_write("net..x", "1"), -EINVAL);
        ck_assert_int_eq(sysctl_write("", "1"), -EINVAL);
        ck_assert_int_eq(sysctl_write("net.ipv4.ip_forward", NULL), -EINVAL);
        ck_assert_uint_eq(RTPROT_FLUXIFY, 70);
        ck_assert_uint_lt(FLUXIFY_RULE_PRIORITY_MAX, 32766);
}
END_TEST

static Suite *netlink_suite(void) {
        Suite *s = suite_create("netlink");
        TCase *tc = tcase_create("builders");

        tcase_add_test(tc, test_server_body);
        tcase_add_test(tc, test_server_invalid);
        tcase_add_test(tc, test_client_body);
        tcase_add_test(tc, test_argument_checks);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(netlink_suite);
