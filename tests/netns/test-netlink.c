/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Kernel-facing tests of src/netlink: every test runs in its own network namespace (check forks per
 * test, and netns_enter_new() unshares inside the fork), operates on real TUN/veth devices, routes,
 * rules and nft tables, and cross-checks the result with `ip -j` / `nft -j`. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/fib_rules.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <linux/if.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>

#include "alloc-util.h"
#include "check-util.h"
#include "fd-util.h"
#include "monitor.h"
#include "netns-util.h"
#include "nft.h"
#include "rtnl.h"
#include "time-util.h"
#include "tun.h"

/* ---- helpers ---- */

_printf_(1, 2) static json_t *run_json(const char *fmt, ...) {
        _cleanup_(freep) char *cmd = NULL, *out = NULL;
        json_error_t err;
        va_list ap;
        json_t *j;
        int r;

        va_start(ap, fmt);
        ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
        va_end(ap);
        r = netns_run_capture(cmd, &out);
        ck_assert_msg(r == 0, "'%s' failed with %d: %s", cmd, r, out ? out : "");
        j = json_loads(out, 0, &err);
        ck_assert_msg(j, "'%s' gave no JSON (%s): %s", cmd, err.text, out);
        return j;
}

_printf_(1, 2) static void run_ok(const char *fmt, ...) {
        _cleanup_(freep) char *cmd = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
        va_end(ap);
        r = netns_run_capture(cmd, NULL);
        ck_assert_msg(r == 0, "'%s' failed with %d", cmd, r);
}

static void enter_netns(void) {
        int r = netns_enter_new();
        ck_assert_msg(r == 0, "netns_enter_new() failed: %s", strerror(-r));
}

static union in_addr_union addr(int family, const char *s) {
        union in_addr_union a;
        ck_assert_int_eq(in_addr_from_string(family, s, &a), 0);
        return a;
}

static const char *jstr(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Finds the array element whose key has the given string value. */
static json_t *jfind(json_t *array, const char *key, const char *value) {
        size_t i;
        json_t *e;

        json_array_foreach(array, i, e)
                if (streq_ptr(jstr(e, key), value))
                        return e;
        return NULL;
}

static bool json_flags_has(json_t *o, const char *flag) {
        size_t i;
        json_t *e;

        json_array_foreach(json_object_get(o, "flags"), i, e)
                if (json_is_string(e) && streq(json_string_value(e), flag))
                        return true;
        return false;
}

typedef struct VethPair {
        int a, b; /* ifindexes of va, vb */
} VethPair;

/* va 192.0.2.1/24 2001:db8:1::1/64, vb 198.51.100.1/24 2001:db8:2::1/64, both up. */
static VethPair setup_veths(Rtnl *rtnl) {
        VethPair p;
        union in_addr_union a;

        ck_assert_int_eq(rtnl_veth_create(rtnl, "va", "vb"), 0);
        ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "va", &p.a), 0);
        ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "vb", &p.b), 0);
        a = addr(AF_INET, "192.0.2.1");
        ck_assert_int_eq(rtnl_address_add(rtnl, p.a, AF_INET, &a, 24, 0), 0);
        a = addr(AF_INET, "198.51.100.1");
        ck_assert_int_eq(rtnl_address_add(rtnl, p.b, AF_INET, &a, 24, 0), 0);
        a = addr(AF_INET6, "2001:db8:1::1");
        ck_assert_int_eq(rtnl_address_add(rtnl, p.a, AF_INET6, &a, 64, IFA_F_NODAD), 0);
        a = addr(AF_INET6, "2001:db8:2::1");
        ck_assert_int_eq(rtnl_address_add(rtnl, p.b, AF_INET6, &a, 64, IFA_F_NODAD), 0);
        ck_assert_int_eq(rtnl_link_set_up(rtnl, p.a, true), 0);
        ck_assert_int_eq(rtnl_link_set_up(rtnl, p.b, true), 0);
        return p;
}

/* ---- TUN ---- */

START_TEST(test_tun_create) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        _cleanup_(closep) int fd = -EBADF;
        char name[IFNAMSIZ];
        int ifindex, flags;
        union in_addr_union a4 = addr(AF_INET, "10.8.0.1"), a6 = addr(AF_INET6, "fd00:8::1");
        _cleanup_(freep) RtnlAddress *addrs = NULL;
        size_t n_addrs;
        RtnlLink link;
        json_t *j, *l, *ai;
        size_t i;
        bool seen4 = false, seen6 = false;

        enter_netns();
        ck_assert_int_eq(rtnl_open(&rtnl), 0);

        ck_assert_int_eq(tun_open("fluxtest%d", 0, &fd, name, &ifindex), 0);
        ck_assert_str_eq(name, "fluxtest0");
        ck_assert_int_gt(ifindex, 0);
        flags = fcntl(fd, F_GETFL);
        ck_assert(flags & O_NONBLOCK);
        ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);

        ck_assert_int_eq(rtnl_address_add(rtnl, ifindex, AF_INET, &a4, 24, 0), 0);
        ck_assert_int_eq(rtnl_address_add(rtnl, ifindex, AF_INET6, &a6, 64, IFA_F_NODAD), 0);
        ck_assert_int_eq(rtnl_address_add(rtnl, ifindex, AF_INET, &a4, 24, 0), -EEXIST);
        ck_assert_int_eq(rtnl_link_set_mtu(rtnl, ifindex, 1380), 0);
        ck_assert_int_eq(rtnl_link_set_txqlen(rtnl, ifindex, 4000), 0);
        ck_assert_int_eq(rtnl_link_set_txqlen(rtnl, ifindex, 0), -EINVAL);
        ck_assert_int_eq(rtnl_link_set_up(rtnl, ifindex, true), 0);

        /* Our own view. */
        ck_assert_int_eq(rtnl_link_get_by_name(rtnl, name, &link), 0);
        ck_assert_int_eq(link.ifindex, ifindex);
        ck_assert_str_eq(link.kind, "tun");
        ck_assert_uint_eq(link.mtu, 1380);
        ck_assert(link.flags & IFF_UP);
        ck_assert_int_eq(rtnl_address_list(rtnl, AF_UNSPEC, ifindex, &addrs, &n_addrs), 0);
        for (i = 0; i < n_addrs; i++) {
                if (addrs[i].family == AF_INET && in_addr_equal(AF_INET, &addrs[i].address, &a4) &&
                    addrs[i].prefixlen == 24)
                        seen4 = true;
                if (addrs[i].family == AF_INET6 && in_addr_equal(AF_INET6, &addrs[i].address, &a6) &&
                    addrs[i].prefixlen == 64) {
                        seen6 = true;
                        ck_assert(addrs[i].flags & IFA_F_NODAD);
                }
        }
        ck_assert(seen4 && seen6);

        /* The kernel's view through iproute2. */
        j = run_json("ip -j addr show dev %s", name);
        l = json_array_get(j, 0);
        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(json_integer_value(json_object_get(l, "mtu")), 1380);
        ck_assert_int_eq(json_integer_value(json_object_get(l, "txqlen")), 4000);
        ck_assert(json_flags_has(l, "UP"));
        ai = json_object_get(l, "addr_info");
        ck_assert_ptr_nonnull(jfind(ai, "local", "10.8.0.1"));
        ck_assert_int_eq(json_integer_value(json_object_get(jfind(ai, "local", "10.8.0.1"), "prefixlen")), 24);
        ck_assert_ptr_nonnull(jfind(ai, "local", "fd00:8::1"));
        ck_assert_int_eq(json_integer_value(json_object_get(jfind(ai, "local", "fd00:8::1"), "prefixlen")), 64);
        json_decref(j);

        /* Packets routed into the TUN come out of the fd as bare IP (IFF_NO_PI). */
        {
                _cleanup_(closep) int us = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9999),
                                           .sin_addr = addr(AF_INET, "10.8.0.2").in };
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                uint8_t pkt[2048];
                ssize_t k;

                ck_assert_int_ge(us, 0);
                ck_assert_int_eq(sendto(us, "hello", 5, 0, (struct sockaddr *) &sin, sizeof sin), 5);
                for (;;) {
                        ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
                        k = read(fd, pkt, sizeof pkt);
                        ck_assert_int_gt(k, 0);
                        if ((pkt[0] >> 4) == 4)
                                break; /* skip IPv6 router solicitations and the like */
                }
                ck_assert_int_eq(k, 20 + 8 + 5);
                ck_assert_int_eq(pkt[9], IPPROTO_UDP);
                ck_assert_mem_eq(pkt + 12, &a4, 4);
                ck_assert_mem_eq(pkt + 16, &sin.sin_addr, 4);
                ck_assert_mem_eq(pkt + 28, "hello", 5);
        }

        /* Address removal, and removing it again. */
        ck_assert_int_eq(rtnl_address_delete(rtnl, ifindex, AF_INET, &a4, 24), 0);
        ck_assert_int_eq(rtnl_address_delete(rtnl, ifindex, AF_INET, &a4, 24), -EADDRNOTAVAIL);
        j = run_json("ip -j -4 addr show dev %s", name);
        l = json_array_get(j, 0);
        ck_assert(!l || json_array_size(json_object_get(l, "addr_info")) == 0);
        json_decref(j);

        /* Down again. */
        ck_assert_int_eq(rtnl_link_set_up(rtnl, ifindex, false), 0);
        ck_assert_int_eq(rtnl_link_get_by_index(rtnl, ifindex, &link), 0);
        ck_assert(!(link.flags & IFF_UP));

        /* Closing the fd of a non-persistent TUN removes it. */
        fd = safe_close(fd);
        ck_assert_int_eq(rtnl_link_get_by_name(rtnl, name, &link), -ENODEV);
}
END_TEST

START_TEST(test_tun_persist_delete) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        _cleanup_(closep) int fd = -EBADF, fd2 = -EBADF;
        char name[IFNAMSIZ];
        int ifindex, ifindex2;
        RtnlLink link;

        enter_netns();
        ck_assert_int_eq(rtnl_open(&rtnl), 0);

        ck_assert_int_eq(tun_open("flxp0", TUN_FLAG_PERSIST | TUN_FLAG_MULTI_QUEUE, &fd, name, &ifindex), 0);
        ck_assert_str_eq(name, "flxp0");
        /* A second queue of the same multi-queue device. */
        ck_assert_int_eq(tun_open("flxp0", TUN_FLAG_MULTI_QUEUE, &fd2, NULL, &ifindex2), 0);
        ck_assert_int_eq(ifindex, ifindex2);
        fd = safe_close(fd);
        fd2 = safe_close(fd2);

        /* Persistent: survives its fds (the daemon crashed), then crash cleanup removes it. */
        ck_assert_int_eq(rtnl_link_get_by_name(rtnl, "flxp0", &link), 0);
        ck_assert_int_eq(tun_delete("flxp0"), 0);
        ck_assert_int_eq(rtnl_link_get_by_name(rtnl, "flxp0", &link), -ENODEV);
        ck_assert_int_eq(tun_delete("flxp0"), -ENODEV);

        /* tun_delete() refuses devices that are not TUNs. */
        ck_assert_int_eq(rtnl_veth_create(rtnl, "va", "vb"), 0);
        ck_assert_int_eq(tun_delete("va"), -EMEDIUMTYPE);
        ck_assert_int_eq(rtnl_link_get_by_name(rtnl, "va", &link), 0);

        /* VNET_HDR flag and offload setting. */
        ck_assert_int_eq(tun_open("flxv%d", TUN_FLAG_VNET_HDR, &fd, name, NULL), 0);
        ck_assert_int_eq(tun_set_offload(fd, TUN_F_CSUM, 12), 0);

        /* Bad input. */
        ck_assert_int_eq(tun_open("this-name-is-too-long", 0, &fd2, NULL, NULL), -EINVAL);
        ck_assert_int_eq(tun_open("bad/name", 0, &fd2, NULL, NULL), -EINVAL);
        ck_assert_int_eq(tun_open("x", 0x100, &fd2, NULL, NULL), -EINVAL);
        ck_assert_int_eq(tun_delete(""), -EINVAL);
}
END_TEST

/* ---- routes ---- */

START_TEST(test_routes) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        _cleanup_(freep) RtnlRoute *routes = NULL;
        size_t n;
        VethPair p;
        RtnlRoute rt;
        json_t *j, *e, *nhs;

        enter_netns();
        ck_assert_int_eq(rtnl_open(&rtnl), 0);
        p = setup_veths(rtnl);

        /* The /1 pair into "the tunnel" (va) in table 100. */
        rt = (RtnlRoute) { .family = AF_INET, .dst = addr(AF_INET, "0.0.0.0"), .dst_prefixlen = 1,
                           .oif = p.a, .table = 100 };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), -EEXIST);
        rt.dst = addr(AF_INET, "128.0.0.0");
        rt.gateway = addr(AF_INET, "192.0.2.254");
        rt.metric = 50;
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);

        /* Multipath with weights. */
        rt = (RtnlRoute) { .family = AF_INET, .dst = addr(AF_INET, "203.0.113.0"), .dst_prefixlen = 24,
                           .table = 100, .n_nexthops = 2 };
        rt.nexthops[0] = (RtnlNexthop) { .ifindex = p.a, .gateway = addr(AF_INET, "192.0.2.2"), .weight = 3 };
        rt.nexthops[1] = (RtnlNexthop) { .ifindex = p.b, .gateway = addr(AF_INET, "198.51.100.2"), .weight = 1 };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);

        /* Blackhole and throw. */
        rt = (RtnlRoute) { .family = AF_INET, .dst = addr(AF_INET, "10.99.0.0"), .dst_prefixlen = 16,
                           .table = 100, .type = RTN_BLACKHOLE };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        rt.dst = addr(AF_INET, "10.98.0.0");
        rt.type = RTN_THROW;
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);

        /* IPv6 multipath in a table above 255. */
        rt = (RtnlRoute) { .family = AF_INET6, .dst = addr(AF_INET6, "2001:db8:99::"), .dst_prefixlen = 48,
                           .table = 1000, .n_nexthops = 2 };
        rt.nexthops[0] = (RtnlNexthop) { .ifindex = p.a, .gateway = addr(AF_INET6, "2001:db8:1::2"), .weight = 2 };
        rt.nexthops[1] = (RtnlNexthop) { .ifindex = p.b, .gateway = addr(AF_INET6, "2001:db8:2::2"), .weight = 5 };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);

        j = run_json("ip -j route show table 100");
        ck_assert_int_eq(json_array_size(j), 5);
        e = jfind(j, "dst", "0.0.0.0/1");
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(jstr(e, "dev"), "va");
        ck_assert_str_eq(jstr(e, "protocol"), "70");
        ck_assert_str_eq(jstr(e, "scope"), "link");
        e = jfind(j, "dst", "128.0.0.0/1");
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(jstr(e, "gateway"), "192.0.2.254");
        ck_assert_int_eq(json_integer_value(json_object_get(e, "metric")), 50);
        e = jfind(j, "dst", "203.0.113.0/24");
        ck_assert_ptr_nonnull(e);
        nhs = json_object_get(e, "nexthops");
        ck_assert_int_eq(json_array_size(nhs), 2);
        ck_assert_str_eq(jstr(jfind(nhs, "gateway", "192.0.2.2"), "dev"), "va");
        ck_assert_int_eq(json_integer_value(json_object_get(jfind(nhs, "gateway", "192.0.2.2"), "weight")), 3);
        ck_assert_str_eq(jstr(jfind(nhs, "gateway", "198.51.100.2"), "dev"), "vb");
        ck_assert_int_eq(json_integer_value(json_object_get(jfind(nhs, "gateway", "198.51.100.2"), "weight")), 1);
        ck_assert_str_eq(jstr(jfind(j, "dst", "10.99.0.0/16"), "type"), "blackhole");
        ck_assert_str_eq(jstr(jfind(j, "dst", "10.98.0.0/16"), "type"), "throw");
        json_decref(j);

        j = run_json("ip -j -6 route show table 1000");
        e = jfind(j, "dst", "2001:db8:99::/48");
        ck_assert_ptr_nonnull(e);
        nhs = json_object_get(e, "nexthops");
        ck_assert_int_eq(json_array_size(nhs), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(jfind(nhs, "gateway", "2001:db8:1::2"), "weight")), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(jfind(nhs, "gateway", "2001:db8:2::2"), "weight")), 5);
        json_decref(j);

        /* Our own dump parses the same. */
        ck_assert_int_eq(rtnl_route_list(rtnl, AF_INET, 100, &routes, &n), 0);
        ck_assert_uint_eq(n, 5);
        for (size_t i = 0; i < n; i++) {
                ck_assert_uint_eq(routes[i].table, 100);
                ck_assert_uint_eq(routes[i].protocol, RTPROT_FLUXIFY);
                if (routes[i].dst_prefixlen == 24) {
                        ck_assert_uint_eq(routes[i].n_nexthops, 2);
                        ck_assert_uint_eq(routes[i].nexthops[0].weight + routes[i].nexthops[1].weight, 4);
                }
        }
        routes = mfree(routes);
        ck_assert_int_eq(rtnl_route_list(rtnl, AF_INET6, 1000, &routes, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_uint_eq(routes[0].n_nexthops, 2);
        ck_assert_uint_eq(routes[0].nexthops[0].weight + routes[0].nexthops[1].weight, 7);
        routes = mfree(routes);

        /* Replace: the nexthop set changes live (load-balance mode drops an uplink). */
        rt = (RtnlRoute) { .family = AF_INET, .dst = addr(AF_INET, "203.0.113.0"), .dst_prefixlen = 24,
                           .table = 100, .n_nexthops = 1 };
        rt.nexthops[0] = (RtnlNexthop) { .ifindex = p.b, .gateway = addr(AF_INET, "198.51.100.2"), .weight = 1 };
        ck_assert_int_eq(rtnl_route_replace(rtnl, &rt), 0);
        j = run_json("ip -j route show table 100 203.0.113.0/24");
        ck_assert_int_eq(json_array_size(j), 1);
        e = json_array_get(j, 0);
        ck_assert_str_eq(jstr(e, "gateway"), "198.51.100.2");
        ck_assert_str_eq(jstr(e, "dev"), "vb");
        json_decref(j);

        /* The same for an IPv6 multipath route: three nexthops, then one. */
        rt = (RtnlRoute) { .family = AF_INET6, .dst = addr(AF_INET6, "2001:db8:99::"), .dst_prefixlen = 48,
                           .table = 1000, .n_nexthops = 3 };
        rt.nexthops[0] = (RtnlNexthop) { .ifindex = p.a, .gateway = addr(AF_INET6, "2001:db8:1::2") };
        rt.nexthops[1] = (RtnlNexthop) { .ifindex = p.a, .gateway = addr(AF_INET6, "2001:db8:1::3") };
        rt.nexthops[2] = (RtnlNexthop) { .ifindex = p.b, .gateway = addr(AF_INET6, "2001:db8:2::3"), .weight = 9 };
        ck_assert_int_eq(rtnl_route_replace(rtnl, &rt), 0);
        j = run_json("ip -j -6 route show table 1000");
        ck_assert_int_eq(json_array_size(j), 1);
        nhs = json_object_get(json_array_get(j, 0), "nexthops");
        ck_assert_int_eq(json_array_size(nhs), 3);
        ck_assert_int_eq(json_integer_value(json_object_get(jfind(nhs, "gateway", "2001:db8:2::3"), "weight")), 9);
        json_decref(j);
        rt.n_nexthops = 1;
        ck_assert_int_eq(rtnl_route_replace(rtnl, &rt), 0);
        j = run_json("ip -j -6 route show table 1000");
        ck_assert_int_eq(json_array_size(j), 1);
        e = json_array_get(j, 0);
        ck_assert_str_eq(jstr(e, "gateway"), "2001:db8:1::2");
        ck_assert_ptr_null(json_object_get(e, "nexthops"));
        json_decref(j);

        /* Delete, and delete again. */
        rt = (RtnlRoute) { .family = AF_INET, .dst = addr(AF_INET, "0.0.0.0"), .dst_prefixlen = 1, .table = 100 };
        ck_assert_int_eq(rtnl_route_delete(rtnl, &rt), 0);
        ck_assert_int_eq(rtnl_route_delete(rtnl, &rt), -ESRCH);
        j = run_json("ip -j route show table 100");
        ck_assert_ptr_null(jfind(j, "dst", "0.0.0.0/1"));
        ck_assert_int_eq(json_array_size(j), 4);
        json_decref(j);

        /* Bad input. */
        rt = (RtnlRoute) { .family = AF_INET, .dst_prefixlen = 33, .oif = p.a };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), -EINVAL);
        rt = (RtnlRoute) { .family = AF_PACKET };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), -EAFNOSUPPORT);
        rt = (RtnlRoute) { .family = AF_INET, .dst_prefixlen = 8 };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), -EINVAL); /* neither device nor gateway */
        rt = (RtnlRoute) { .family = AF_INET, .dst = addr(AF_INET, "10.0.0.0"), .dst_prefixlen = 8, .oif = 4242 };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), -ENODEV);
        /* The kernel explains itself through extended acks. */
        rt = (RtnlRoute) { .family = AF_INET, .dst = addr(AF_INET, "10.0.0.0"), .dst_prefixlen = 8, .oif = p.a,
                           .gateway = addr(AF_INET, "203.0.113.1") };
        ck_assert_int_lt(rtnl_route_add(rtnl, &rt), 0);
        ck_assert_msg(!isempty(rtnl_last_error_message(rtnl)), "no extack message");
        ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "va", &(int) { 0 }), 0);
        ck_assert_str_eq(rtnl_last_error_message(rtnl), "");
}
END_TEST

/* ---- rules ---- */

START_TEST(test_rules) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        _cleanup_(freep) RtnlRule *rules = NULL;
        size_t n, ours = 0;
        RtnlRule rule;
        json_t *j, *e;

        enter_netns();
        ck_assert_int_eq(rtnl_open(&rtnl), 0);

        rule = (RtnlRule) { .family = AF_INET, .priority = 25000, .table = 100, .fwmark = 0x100, .fwmask = 0xff00 };
        ck_assert_int_eq(rtnl_rule_add(rtnl, &rule), 0);
        ck_assert_int_eq(rtnl_rule_add(rtnl, &rule), -EEXIST);
        rule = (RtnlRule) { .family = AF_INET6, .priority = 25001, .table = 1000, .fwmark = 0x200 };
        ck_assert_int_eq(rtnl_rule_add(rtnl, &rule), 0);
        rule = (RtnlRule) { .family = AF_INET, .priority = 25002, .table = 101, .src = addr(AF_INET, "10.8.0.0"),
                            .src_prefixlen = 24, .iifname = "lo" };
        ck_assert_int_eq(rtnl_rule_add(rtnl, &rule), 0);

        j = run_json("ip -j -4 rule show");
        e = jfind(j, "fwmark", "0x100");
        ck_assert_ptr_nonnull(e);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "priority")), 25000);
        ck_assert_str_eq(jstr(e, "fwmask"), "0xff00");
        ck_assert_str_eq(jstr(e, "table"), "100");
        ck_assert_str_eq(jstr(e, "protocol"), "70");
        e = jfind(j, "table", "101");
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(jstr(e, "src"), "10.8.0.0");
        ck_assert_int_eq(json_integer_value(json_object_get(e, "srclen")), 24);
        ck_assert_str_eq(jstr(e, "iif"), "lo");
        json_decref(j);

        j = run_json("ip -j -6 rule show");
        e = jfind(j, "fwmark", "0x200");
        ck_assert_ptr_nonnull(e);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "priority")), 25001);
        ck_assert_str_eq(jstr(e, "table"), "1000");
        ck_assert_ptr_null(json_object_get(e, "fwmask")); /* full mask: iproute2 prints none */
        json_decref(j);

        ck_assert_int_eq(rtnl_rule_list(rtnl, AF_UNSPEC, &rules, &n), 0);
        for (size_t i = 0; i < n; i++)
                if (rules[i].protocol == RTPROT_FLUXIFY) {
                        ours++;
                        ck_assert_uint_ge(rules[i].priority, FLUXIFY_RULE_PRIORITY_MIN);
                }
        ck_assert_uint_eq(ours, 3);

        rule = (RtnlRule) { .family = AF_INET, .priority = 25000, .table = 100, .fwmark = 0x100, .fwmask = 0xff00 };
        ck_assert_int_eq(rtnl_rule_delete(rtnl, &rule), 0);
        ck_assert_int_eq(rtnl_rule_delete(rtnl, &rule), -ENOENT);
        j = run_json("ip -j -4 rule show");
        ck_assert_ptr_null(jfind(j, "fwmark", "0x100"));
        json_decref(j);

        rule = (RtnlRule) { .family = AF_INET, .priority = 25000 }; /* lookup without a table */
        ck_assert_int_eq(rtnl_rule_add(rtnl, &rule), -EINVAL);
}
END_TEST

/* ---- route lookup ---- */

START_TEST(test_route_get) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        union in_addr_union dst = addr(AF_INET, "8.8.8.8"), dst6 = addr(AF_INET6, "2001:4860::8888"), src;
        VethPair p;
        RtnlRoute rt, got;
        RtnlRule rule;

        enter_netns();
        ck_assert_int_eq(rtnl_open(&rtnl), 0);
        p = setup_veths(rtnl);

        /* No default route anywhere yet. */
        ck_assert_int_eq(rtnl_route_get(rtnl, AF_INET, &dst, 0, 0, &got), -ENETUNREACH);

        /* Per-uplink table selected by mark (the bonding client's socket routing). */
        rt = (RtnlRoute) { .family = AF_INET, .gateway = addr(AF_INET, "198.51.100.2"), .oif = p.b, .table = 200 };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        rule = (RtnlRule) { .family = AF_INET, .priority = 25010, .table = 200, .fwmark = 0x200 };
        ck_assert_int_eq(rtnl_rule_add(rtnl, &rule), 0);

        ck_assert_int_eq(rtnl_route_get(rtnl, AF_INET, &dst, 0, 0x200, &got), 0);
        ck_assert(in_addr_equal(AF_INET, &got.gateway, &rt.gateway));
        ck_assert_int_eq(got.oif, p.b);
        src = addr(AF_INET, "198.51.100.1");
        ck_assert(in_addr_equal(AF_INET, &got.prefsrc, &src));
        ck_assert_uint_eq(got.table, 200);
        /* Without the mark, still unreachable. */
        ck_assert_int_eq(rtnl_route_get(rtnl, AF_INET, &dst, 0, 0, &got), -ENETUNREACH);

        /* Gateway discovery per interface: main table default via va. */
        rt = (RtnlRoute) { .family = AF_INET, .gateway = addr(AF_INET, "192.0.2.2"), .oif = p.a };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        ck_assert_int_eq(rtnl_route_get(rtnl, AF_INET, &dst, p.a, 0, &got), 0);
        ck_assert(in_addr_equal(AF_INET, &got.gateway, &rt.gateway));
        ck_assert_int_eq(got.oif, p.a);

        /* Discovery: va's gateway from its main-table default route; vb has none in main. */
        ck_assert_int_eq(rtnl_gateway_discover(rtnl, AF_INET, p.a, &src), 0);
        ck_assert(in_addr_equal(AF_INET, &src, &rt.gateway));
        ck_assert_int_eq(rtnl_gateway_discover(rtnl, AF_INET, p.b, &src), -ENETUNREACH);
        ck_assert_int_eq(rtnl_gateway_discover(rtnl, AF_INET, 4242, &src), -ENODEV);
        /* ...also when the default route is a multipath one (load-balance mode installed it). */
        ck_assert_int_eq(rtnl_route_delete(rtnl, &rt), 0);
        rt = (RtnlRoute) { .family = AF_INET, .n_nexthops = 2, .metric = 10 };
        rt.nexthops[0] = (RtnlNexthop) { .ifindex = p.a, .gateway = addr(AF_INET, "192.0.2.3") };
        rt.nexthops[1] = (RtnlNexthop) { .ifindex = p.b, .gateway = addr(AF_INET, "198.51.100.3") };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        ck_assert_int_eq(rtnl_gateway_discover(rtnl, AF_INET, p.b, &src), 0);
        ck_assert(in_addr_equal(AF_INET, &src, &rt.nexthops[1].gateway));
        ck_assert_int_eq(rtnl_route_delete(rtnl, &rt), 0);
        run_ok("ip route add default via 192.0.2.2 dev va proto dhcp");

        /* On-link destination: no gateway. */
        dst = addr(AF_INET, "192.0.2.77");
        ck_assert_int_eq(rtnl_route_get(rtnl, AF_INET, &dst, 0, 0, &got), 0);
        ck_assert(in_addr_is_null(AF_INET, &got.gateway));
        ck_assert_int_eq(got.oif, p.a);

        /* IPv6. */
        rt = (RtnlRoute) { .family = AF_INET6, .gateway = addr(AF_INET6, "2001:db8:2::2"), .oif = p.b };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        ck_assert_int_eq(rtnl_route_get(rtnl, AF_INET6, &dst6, 0, 0, &got), 0);
        ck_assert(in_addr_equal(AF_INET6, &got.gateway, &rt.gateway));
        ck_assert_int_eq(got.oif, p.b);

        /* A blackhole answers with an error, not a route. */
        rt = (RtnlRoute) { .family = AF_INET, .dst = addr(AF_INET, "10.66.0.0"), .dst_prefixlen = 16,
                           .type = RTN_BLACKHOLE };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        dst = addr(AF_INET, "10.66.1.1");
        ck_assert_int_lt(rtnl_route_get(rtnl, AF_INET, &dst, 0, 0, &got), 0);
}
END_TEST

/* ---- tagged cleanup ---- */

START_TEST(test_flush_protocol) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        unsigned n_routes = 0, n_rules = 0;
        VethPair p;
        RtnlRoute rt;
        RtnlRule rule;
        json_t *j;

        enter_netns();
        ck_assert_int_eq(rtnl_open(&rtnl), 0);
        p = setup_veths(rtnl);

        /* Ours: /1 pair in main, a multipath route in table 100, v6 routes, and rules. */
        rt = (RtnlRoute) { .family = AF_INET, .dst_prefixlen = 1, .oif = p.a };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        rt.dst = addr(AF_INET, "128.0.0.0");
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        rt = (RtnlRoute) { .family = AF_INET, .table = 100, .n_nexthops = 2 };
        rt.nexthops[0] = (RtnlNexthop) { .ifindex = p.a, .gateway = addr(AF_INET, "192.0.2.2") };
        rt.nexthops[1] = (RtnlNexthop) { .ifindex = p.b, .gateway = addr(AF_INET, "198.51.100.2") };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        rt = (RtnlRoute) { .family = AF_INET6, .table = 100, .n_nexthops = 2 };
        rt.nexthops[0] = (RtnlNexthop) { .ifindex = p.a, .gateway = addr(AF_INET6, "2001:db8:1::2") };
        rt.nexthops[1] = (RtnlNexthop) { .ifindex = p.b, .gateway = addr(AF_INET6, "2001:db8:2::2") };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        rt = (RtnlRoute) { .family = AF_INET6, .dst_prefixlen = 1, .oif = p.a };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        rule = (RtnlRule) { .family = AF_INET, .priority = 25000, .table = 100, .fwmark = 1 };
        ck_assert_int_eq(rtnl_rule_add(rtnl, &rule), 0);
        rule.family = AF_INET6;
        ck_assert_int_eq(rtnl_rule_add(rtnl, &rule), 0);

        /* Not ours: same tables, other protocols, and a rule in our band with another protocol. */
        run_ok("ip route add 10.20.0.0/16 via 192.0.2.3 proto static");
        run_ok("ip route add 10.21.0.0/16 via 192.0.2.3 table 100 proto boot");
        run_ok("ip -6 route add 2001:db8:77::/48 via 2001:db8:1::3 table 100");
        run_ok("ip rule add fwmark 7 lookup 100 pref 25000");
        run_ok("ip -6 rule add fwmark 7 lookup 100 pref 25005 proto static");

        ck_assert_int_eq(rtnl_flush_protocol(rtnl, RTPROT_FLUXIFY, &n_routes, &n_rules), 0);
        ck_assert_uint_eq(n_routes, 5);
        ck_assert_uint_eq(n_rules, 2);

        /* Nothing of ours is left... */
        j = run_json("ip -j route show table all proto 70");
        ck_assert_int_eq(json_array_size(j), 0);
        json_decref(j);
        j = run_json("ip -j -6 route show table all proto 70");
        ck_assert_int_eq(json_array_size(j), 0);
        json_decref(j);
        /* (iproute2 6.1 ignores "proto" for rules: filter here.) */
        j = run_json("ip -j rule show");
        ck_assert_ptr_null(jfind(j, "protocol", "70"));
        ck_assert_int_eq(json_array_size(j), 4); /* local, the foreign fwmark 7, main, default */
        json_decref(j);
        j = run_json("ip -j -6 rule show");
        ck_assert_ptr_null(jfind(j, "protocol", "70"));
        ck_assert_int_eq(json_array_size(j), 3); /* local, the foreign fwmark 7, main */
        json_decref(j);

        /* ...and everything else is. */
        j = run_json("ip -j route show 10.20.0.0/16");
        ck_assert_int_eq(json_array_size(j), 1);
        json_decref(j);
        j = run_json("ip -j route show table 100");
        ck_assert_int_eq(json_array_size(j), 1);
        ck_assert_ptr_nonnull(jfind(j, "dst", "10.21.0.0/16"));
        json_decref(j);
        j = run_json("ip -j -6 route show table 100");
        ck_assert_int_eq(json_array_size(j), 1);
        json_decref(j);
        j = run_json("ip -j rule show");
        ck_assert_ptr_nonnull(jfind(j, "fwmark", "0x7"));
        json_decref(j);
        j = run_json("ip -j -6 rule show");
        ck_assert_ptr_nonnull(jfind(j, "fwmark", "0x7"));
        json_decref(j);
        /* The connected routes of the veths survive. */
        j = run_json("ip -j route show 192.0.2.0/24");
        ck_assert_int_eq(json_array_size(j), 1);
        json_decref(j);

        /* Idempotent. */
        ck_assert_int_eq(rtnl_flush_protocol(rtnl, RTPROT_FLUXIFY, &n_routes, &n_rules), 0);
        ck_assert_uint_eq(n_routes, 0);
        ck_assert_uint_eq(n_rules, 0);
        /* Refuses to sweep the kernel's own protocols. */
        ck_assert_int_eq(rtnl_flush_protocol(rtnl, RTPROT_KERNEL, NULL, NULL), -EINVAL);
}
END_TEST

/* ---- links, errors ---- */

START_TEST(test_links_and_errors) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        _cleanup_(freep) RtnlLink *links = NULL;
        union in_addr_union a = addr(AF_INET, "10.1.1.1");
        size_t n;
        RtnlLink l;
        VethPair p;
        int ifindex;
        bool va = false, vb = false, lo = false;

        enter_netns();
        ck_assert_int_eq(rtnl_open(&rtnl), 0);
        p = setup_veths(rtnl);

        /* Carrier comes up asynchronously (linkwatch): wait for it. */
        for (unsigned i = 0; i < 200; i++) {
                ck_assert_int_eq(rtnl_link_get_by_index(rtnl, p.a, &l), 0);
                if (rtnl_link_is_up(&l))
                        break;
                usleep(10 * 1000);
        }
        ck_assert_int_eq(rtnl_link_list(rtnl, &links, &n), 0);
        ck_assert_uint_eq(n, 3);
        for (size_t i = 0; i < n; i++) {
                if (streq(links[i].name, "va")) {
                        va = true;
                        ck_assert_int_eq(links[i].ifindex, p.a);
                        ck_assert_str_eq(links[i].kind, "veth");
                        ck_assert(rtnl_link_is_up(&links[i]));
                }
                vb = vb || streq(links[i].name, "vb");
                lo = lo || (streq(links[i].name, "lo") && (links[i].flags & IFF_LOOPBACK));
        }
        ck_assert(va && vb && lo);

        /* Carrier follows the peer: vb down → va loses IFF_RUNNING / operstate UP. */
        ck_assert_int_eq(rtnl_link_set_up(rtnl, p.b, false), 0);
        ck_assert_int_eq(rtnl_link_get_by_index(rtnl, p.a, &l), 0);
        ck_assert(l.flags & IFF_UP);
        ck_assert(!rtnl_link_is_up(&l));
        ck_assert_int_ne(l.operstate, IF_OPER_UP);

        /* Missing interfaces: -ENODEV everywhere. */
        ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "nope0", &ifindex), -ENODEV);
        ck_assert_int_eq(rtnl_link_get_by_index(rtnl, 4242, &l), -ENODEV);
        ck_assert_int_eq(rtnl_link_set_up(rtnl, 4242, true), -ENODEV);
        ck_assert_int_eq(rtnl_link_set_mtu(rtnl, 4242, 1400), -ENODEV);
        ck_assert_int_eq(rtnl_address_add(rtnl, 4242, AF_INET, &a, 24, 0), -ENODEV);
        ck_assert_int_eq(rtnl_link_delete(rtnl, 4242), -ENODEV);
        ck_assert_int_eq(tun_delete("nope0"), -ENODEV);

        /* Invalid arguments. */
        ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "", &ifindex), -EINVAL);
        ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "a/b", &ifindex), -EINVAL);
        ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "0123456789abcdefXYZ", &ifindex), -EINVAL);
        ck_assert_int_eq(rtnl_link_set_mtu(rtnl, p.a, 10), -EINVAL);
        ck_assert_int_eq(rtnl_address_add(rtnl, p.a, AF_INET, &a, 33, 0), -EINVAL);
        ck_assert_int_eq(rtnl_address_add(rtnl, p.a, AF_UNIX, &a, 8, 0), -EAFNOSUPPORT);
        ck_assert_int_eq(rtnl_veth_create(rtnl, "va", "vc"), -EEXIST);

        /* Deletion of a veth removes its peer too. */
        ck_assert_int_eq(rtnl_link_delete(rtnl, p.a), 0);
        ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "vb", &ifindex), -ENODEV);
}
END_TEST

/* ---- monitor ---- */

typedef struct MonitorSeen {
        int ifindex;
        bool down, up, removed, addr_added, addr_removed, route_added;
        unsigned resync;
} MonitorSeen;

static int monitor_cb(RtnlMonitor *m, const RtnlEvent *ev, void *userdata) {
        MonitorSeen *s = userdata;
        union in_addr_union want = addr(AF_INET, "192.0.2.50");

        ck_assert_ptr_nonnull(rtnl_event_type_to_string(ev->type));
        switch (ev->type) {
        case RTNL_EVENT_LINK_NEW:
                if (ev->link.ifindex != s->ifindex)
                        break;
                ck_assert_str_eq(ev->link.name, "va");
                if (rtnl_link_is_up(&ev->link))
                        s->up = true;
                else if (!(ev->link.flags & IFF_UP))
                        s->down = true;
                break;
        case RTNL_EVENT_LINK_REMOVED:
                if (ev->link.ifindex == s->ifindex) {
                        ck_assert_str_eq(ev->link.name, "va");
                        s->removed = true;
                }
                break;
        case RTNL_EVENT_ADDRESS_ADDED:
        case RTNL_EVENT_ADDRESS_REMOVED:
                if (ev->address.ifindex == s->ifindex && ev->address.family == AF_INET &&
                    in_addr_equal(AF_INET, &ev->address.address, &want) && ev->address.prefixlen == 24) {
                        if (ev->type == RTNL_EVENT_ADDRESS_ADDED)
                                s->addr_added = true;
                        else
                                s->addr_removed = true;
                }
                break;
        case RTNL_EVENT_ROUTE_ADDED:
                if (ev->route.protocol == RTPROT_FLUXIFY && ev->route.table == 100)
                        s->route_added = true;
                break;
        case RTNL_EVENT_RESYNC:
                s->resync++;
                break;
        default:
                break;
        }
        return 0;
}

static void run_until(sd_event *e, const bool *flag) {
        for (unsigned i = 0; i < 100 && !*flag; i++)
                ck_assert_int_ge(sd_event_run(e, 20 * USEC_PER_MSEC), 0);
        ck_assert(*flag);
}

START_TEST(test_monitor) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        _cleanup_(rtnl_monitor_freep) RtnlMonitor *m = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        union in_addr_union a = addr(AF_INET, "192.0.2.50");
        MonitorSeen s = {};
        VethPair p;
        RtnlRoute rt;

        enter_netns();
        ck_assert_int_eq(rtnl_open(&rtnl), 0);
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(rtnl_monitor_new(e, 0, monitor_cb, &s, &m), -EINVAL);
        ck_assert_int_eq(rtnl_monitor_new(e, RTNL_MONITOR_LINK | RTNL_MONITOR_ADDRESS | RTNL_MONITOR_ROUTE,
                                          monitor_cb, &s, &m), 0);
        ck_assert_int_eq(rtnl_monitor_set_priority(m, SD_EVENT_PRIORITY_IMPORTANT), 0);

        p = setup_veths(rtnl);
        s.ifindex = p.a;
        run_until(e, &s.up);

        ck_assert_int_eq(rtnl_link_set_up(rtnl, p.a, false), 0);
        run_until(e, &s.down);
        s.up = false;
        ck_assert_int_eq(rtnl_link_set_up(rtnl, p.a, true), 0);
        run_until(e, &s.up);

        ck_assert_int_eq(rtnl_address_add(rtnl, p.a, AF_INET, &a, 24, 0), 0);
        run_until(e, &s.addr_added);
        ck_assert_int_eq(rtnl_address_delete(rtnl, p.a, AF_INET, &a, 24), 0);
        run_until(e, &s.addr_removed);

        rt = (RtnlRoute) { .family = AF_INET, .dst_prefixlen = 1, .oif = p.a, .table = 100 };
        ck_assert_int_eq(rtnl_route_add(rtnl, &rt), 0);
        run_until(e, &s.route_added);

        /* Changes made by someone else (iproute2) are seen too. */
        s.down = false;
        run_ok("ip link set va down");
        run_until(e, &s.down);

        ck_assert_int_eq(rtnl_link_delete(rtnl, p.a), 0);
        run_until(e, &s.removed);
        ck_assert_uint_eq(s.resync, 0);
}
END_TEST

/* Overflow the monitor's socket buffer: it must report RESYNC rather than silently lose events. */
START_TEST(test_monitor_resync) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        _cleanup_(rtnl_monitor_freep) RtnlMonitor *m = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        MonitorSeen s = {};
        VethPair p;

        enter_netns();
        ck_assert_int_eq(rtnl_open(&rtnl), 0);
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(rtnl_monitor_new(e, RTNL_MONITOR_LINK | RTNL_MONITOR_ADDRESS, monitor_cb, &s, &m), 0);
        p = setup_veths(rtnl);
        s.ifindex = p.a;

        /* Thousands of address events without running the loop overflow even a 4 MiB buffer
         * (each event is charged as a full skb). */
        for (unsigned i = 0; i < 40000; i++) {
                union in_addr_union a = { .in.s_addr = htonl(0x0a000000 | (i & 0xffff)) };

                ck_assert_int_eq(rtnl_address_add(rtnl, p.a, AF_INET, &a, 32, 0), 0);
                ck_assert_int_eq(rtnl_address_delete(rtnl, p.a, AF_INET, &a, 32), 0);
        }
        for (unsigned i = 0; i < 2000 && s.resync == 0; i++)
                ck_assert_int_ge(sd_event_run(e, 0), 0);
        ck_assert_uint_ge(s.resync, 1);
        /* After a resync the monitor keeps working. */
        s.down = false;
        while (sd_event_run(e, 0) > 0)
                ;
        ck_assert_int_eq(rtnl_link_set_up(rtnl, p.a, false), 0);
        run_until(e, &s.down);
}
END_TEST

/* A consumer may free the monitor from its handler (a daemon stopping on an event): the rest of the
 * batch must not touch it any more. */
typedef struct FreeInHandler {
        RtnlMonitor *m;
        unsigned calls;
} FreeInHandler;

static int free_in_handler_cb(RtnlMonitor *m, const RtnlEvent *ev, void *userdata) {
        FreeInHandler *f = userdata;

        ck_assert_ptr_eq(m, f->m);
        f->calls++;
        f->m = rtnl_monitor_free(m);
        return 0;
}

START_TEST(test_monitor_free_in_handler) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        FreeInHandler f = {};
        VethPair p;

        enter_netns();
        ck_assert_int_eq(rtnl_open(&rtnl), 0);
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(rtnl_monitor_new(e, RTNL_MONITOR_LINK | RTNL_MONITOR_ADDRESS, free_in_handler_cb, &f, &f.m),
                         0);
        /* Many events queued at once, so that one read returns several. */
        p = setup_veths(rtnl);
        for (unsigned i = 0; i < 50; i++) {
                union in_addr_union a = { .in.s_addr = htonl(0x0a000000 | i) };

                ck_assert_int_eq(rtnl_address_add(rtnl, p.a, AF_INET, &a, 32, 0), 0);
        }
        for (unsigned i = 0; i < 50; i++)
                ck_assert_int_ge(sd_event_run(e, 0), 0);
        ck_assert_uint_eq(f.calls, 1);
        ck_assert_ptr_null(f.m);
}
END_TEST

/* ---- nftables ---- */

static NftServerConfig server_config(void) {
        return (NftServerConfig) {
                .tun_ifname = "fluxify0",
                .egress_ifname = "va",
                .masquerade = true,
                .has_pool4 = true,
                .pool4 = addr(AF_INET, "10.8.0.0"),
                .pool4_prefixlen = 24,
                .has_pool6 = true,
                .pool6 = addr(AF_INET6, "fd00:8::"),
                .pool6_prefixlen = 64,
                .mss_clamp = true,
        };
}

/* Counts rules in `nft -j list table inet NAME` whose chain is `chain` and whose JSON contains s. */
static unsigned nft_count_rules(json_t *j, const char *chain, const char *needle) {
        json_t *items = json_object_get(j, "nftables"), *e;
        unsigned n = 0;
        size_t i;

        json_array_foreach(items, i, e) {
                json_t *rule = json_object_get(e, "rule");
                char *dump;

                if (!rule || !streq_ptr(jstr(rule, "chain"), chain))
                        continue;
                dump = json_dumps(rule, JSON_COMPACT);
                if (!needle || strstr(dump, needle))
                        n++;
                free(dump);
        }
        return n;
}

static json_t *nft_chain(json_t *j, const char *name) {
        json_t *items = json_object_get(j, "nftables"), *e;
        size_t i;

        json_array_foreach(items, i, e) {
                json_t *c = json_object_get(e, "chain");
                if (c && streq_ptr(jstr(c, "name"), name))
                        return c;
        }
        return NULL;
}

START_TEST(test_nft_server) {
        NftServerConfig c = server_config();
        _cleanup_(freep) char *body = NULL, *error = NULL;
        json_t *j, *ch;

        enter_netns();

        ck_assert_int_eq(nft_table_exists("inet", "fluxify"), 0);
        ck_assert_int_eq(nft_server_table_build(&c, &body), 0);
        ck_assert_ptr_nonnull(strstr(body, "masquerade"));
        ck_assert_int_eq(nft_server_table_apply(&c, &error), 0);
        ck_assert_ptr_null(error);
        ck_assert_int_eq(nft_table_exists("inet", "fluxify"), 1);

        j = run_json("nft -j list table inet fluxify");
        ch = nft_chain(j, "forward");
        ck_assert_ptr_nonnull(ch);
        ck_assert_str_eq(jstr(ch, "hook"), "forward");
        ck_assert_str_eq(jstr(ch, "policy"), "accept");
        ch = nft_chain(j, "postrouting");
        ck_assert_ptr_nonnull(ch);
        ck_assert_str_eq(jstr(ch, "type"), "nat");
        ck_assert_uint_eq(nft_count_rules(j, "postrouting", "\"masquerade\""), 2);
        ck_assert_uint_eq(nft_count_rules(j, "postrouting", "10.8.0.0"), 1);
        ck_assert_uint_eq(nft_count_rules(j, "postrouting", "fd00:8::"), 1);
        ck_assert_uint_eq(nft_count_rules(j, "forward", "\"maxseg\""), 2);
        ck_assert_uint_eq(nft_count_rules(j, "forward", "established"), 1);
        /* Client-to-client is off: tun → tun is dropped. */
        ck_assert_uint_eq(nft_count_rules(j, "forward", "\"drop\""), 4);
        json_decref(j);

        /* Applying the same config again is idempotent (no duplicate rules). */
        ck_assert_int_eq(nft_server_table_apply(&c, NULL), 0);
        j = run_json("nft -j list table inet fluxify");
        ck_assert_uint_eq(nft_count_rules(j, "postrouting", "\"masquerade\""), 2);
        json_decref(j);

        /* Replace with another config: no NAT, client-to-client on, fixed MSS. */
        c.masquerade = false;
        c.client_to_client = true;
        c.mss = 1300;
        c.egress_ifname = NULL;
        ck_assert_int_eq(nft_server_table_apply(&c, NULL), 0);
        j = run_json("nft -j list table inet fluxify");
        ck_assert_ptr_null(nft_chain(j, "postrouting"));
        ck_assert_uint_eq(nft_count_rules(j, "forward", "1300"), 2);
        ck_assert_uint_eq(nft_count_rules(j, "forward", "\"drop\""), 3);
        json_decref(j);

        /* A rejected replacement leaves the live table untouched, and the error says why. */
        ck_assert_int_eq(nft_table_replace("inet", "fluxify", "chain x { bogus rule here; }", &error), -EINVAL);
        ck_assert_ptr_nonnull(error);
        ck_assert_ptr_nonnull(strstr(error, "Error"));
        j = run_json("nft -j list table inet fluxify");
        ck_assert_ptr_nonnull(nft_chain(j, "forward"));
        ck_assert_ptr_null(nft_chain(j, "x"));
        json_decref(j);
        error = mfree(error);
        ck_assert_int_eq(nft_run("add rule inet nosuchtable nosuchchain accept", &error), -ENOENT);
        ck_assert_ptr_nonnull(error);
        error = mfree(error);

        /* Delete, and delete again (crash cleanup when nothing is left). */
        ck_assert_int_eq(nft_table_delete("inet", "fluxify", &error), 1);
        ck_assert_int_eq(nft_table_exists("inet", "fluxify"), 0);
        ck_assert_int_eq(nft_table_delete("inet", "fluxify", &error), 0);
        ck_assert_int_ne(netns_run_capture("nft list table inet fluxify 2>/dev/null", NULL), 0);

        /* Bad input is refused before nft ever sees it. */
        c = server_config();
        c.tun_ifname = "evil\"; flush ruleset; \"";
        ck_assert_int_eq(nft_server_table_build(&c, &body), -EINVAL);
        c = server_config();
        c.tun_ifname = NULL;
        ck_assert_int_eq(nft_server_table_apply(&c, NULL), -EINVAL);
        c = server_config();
        c.has_pool4 = c.has_pool6 = false;
        ck_assert_int_eq(nft_server_table_apply(&c, NULL), -EINVAL);
        c = server_config();
        c.egress_ifname = c.tun_ifname;
        ck_assert_int_eq(nft_server_table_apply(&c, NULL), -EINVAL);
        ck_assert_int_eq(nft_table_replace("inet", "bad name", "", NULL), -EINVAL);
        ck_assert_int_eq(nft_table_replace("nosuchfamily", "x", "", NULL), -EINVAL);
}
END_TEST

/* The server table's behaviour on real traffic, three namespaces: client C (10.8.0.2) behind
 * "fluxify0" (a veth standing in for the TUN: the rules only see interface names), this test's
 * namespace as the server S, and the outside O (192.0.2.2) behind egress "va", with no route back to
 * the pool — so C reaching O proves masquerade, and O not reaching C proves the S7 fix. */
START_TEST(test_nft_server_traffic) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        _cleanup_(closep) int cfd = -EBADF, ofd = -EBADF;
        NftServerConfig c = server_config();
        union in_addr_union a;
        pid_t cpid = 0, opid = 0;
        int tun, va;

        enter_netns();
        ck_assert_int_eq(rtnl_open(&rtnl), 0);
        ck_assert_int_eq(netns_holder_new(&cpid, &cfd), 0);
        ck_assert_int_eq(netns_holder_new(&opid, &ofd), 0);

        ck_assert_int_eq(rtnl_veth_create(rtnl, "fluxify0", "c0"), 0);
        ck_assert_int_eq(rtnl_veth_create(rtnl, "va", "o0"), 0);
        ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "fluxify0", &tun), 0);
        ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "va", &va), 0);
        {
                int c0, o0;
                ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "c0", &c0), 0);
                ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "o0", &o0), 0);
                ck_assert_int_eq(rtnl_link_set_netns(rtnl, c0, cfd), 0);
                ck_assert_int_eq(rtnl_link_set_netns(rtnl, o0, ofd), 0);
                ck_assert_int_eq(rtnl_link_get_ifindex(rtnl, "c0", &c0), -ENODEV);
        }
        a = addr(AF_INET, "10.8.0.1");
        ck_assert_int_eq(rtnl_address_add(rtnl, tun, AF_INET, &a, 24, 0), 0);
        a = addr(AF_INET, "192.0.2.1");
        ck_assert_int_eq(rtnl_address_add(rtnl, va, AF_INET, &a, 24, 0), 0);
        ck_assert_int_eq(rtnl_link_set_up(rtnl, tun, true), 0);
        ck_assert_int_eq(rtnl_link_set_up(rtnl, va, true), 0);
        a = addr(AF_INET6, "fd00:8::1");
        ck_assert_int_eq(rtnl_address_add(rtnl, tun, AF_INET6, &a, 64, IFA_F_NODAD), 0);
        a = addr(AF_INET6, "2001:db8:1::1");
        ck_assert_int_eq(rtnl_address_add(rtnl, va, AF_INET6, &a, 64, IFA_F_NODAD), 0);
        ck_assert_int_eq(sysctl_ip_forward_set(AF_INET, true, NULL), 0);
        ck_assert_int_eq(sysctl_ip_forward_set(AF_INET6, true, NULL), 0);

        run_ok("nsenter --net=/proc/%d/ns/net sh -c 'ip addr add 10.8.0.2/24 dev c0 && "
               "ip -6 addr add fd00:8::2/64 dev c0 nodad && ip link set c0 up && "
               "ip route add default via 10.8.0.1 && ip -6 route add default via fd00:8::1'", (int) cpid);
        run_ok("nsenter --net=/proc/%d/ns/net sh -c 'ip addr add 192.0.2.2/24 dev o0 && "
               "ip -6 addr add 2001:db8:1::2/64 dev o0 nodad && ip link set o0 up'", (int) opid);

        ck_assert_int_eq(nft_server_table_apply(&c, NULL), 0);

        /* Client → outside works (replies come back to S's address and are un-NATed). */
        run_ok("nsenter --net=/proc/%d/ns/net ping -c 1 -W 2 -q 192.0.2.2 >/dev/null", (int) cpid);
        run_ok("nsenter --net=/proc/%d/ns/net ping -6 -c 1 -W 2 -q 2001:db8:1::2 >/dev/null", (int) cpid);

        /* Outside → client is dropped even with a route to the pool... */
        run_ok("nsenter --net=/proc/%d/ns/net ip route add 10.8.0.0/24 via 192.0.2.1", (int) opid);
        {
                _cleanup_(freep) char *cmd = NULL;
                ck_assert_int_ge(asprintf(&cmd, "nsenter --net=/proc/%d/ns/net ping -c 1 -W 1 -q 10.8.0.2 "
                                                ">/dev/null 2>&1", (int) opid), 0);
                ck_assert_int_ne(netns_run_capture(cmd, NULL), 0);

                /* ...and it is our table that drops it: without the table the same ping passes. */
                ck_assert_int_eq(nft_table_delete("inet", "fluxify", NULL), 1);
                ck_assert_int_eq(netns_run_capture(cmd, NULL), 0);
        }

        netns_holder_kill(cpid);
        netns_holder_kill(opid);
}
END_TEST

START_TEST(test_nft_client) {
        char *uplinks[] = { (char *) "va", (char *) "vb", NULL };
        NftClientConfig c = {
                .profile = "laptop",
                .tun_ifname = "fluxify0",
                .mss_clamp = true,
                .mark_restore = true,
        };
        _cleanup_(freep) char *name = NULL;
        json_t *j;

        enter_netns();

        ck_assert_int_eq(nft_client_table_name("laptop", &name), 0);
        ck_assert_str_eq(name, "fluxify_client_laptop");
        ck_assert_int_eq(nft_client_table_apply(&c, NULL), 0);
        j = run_json("nft -j list table inet fluxify_client_laptop");
        ck_assert_ptr_nonnull(nft_chain(j, "forward"));
        ck_assert_uint_eq(nft_count_rules(j, "forward", "\"maxseg\""), 2);
        ck_assert_uint_eq(nft_count_rules(j, "premangle", "\"ct\""), 1);
        ck_assert_uint_eq(nft_count_rules(j, "postmangle", "\"ct\""), 1);
        ck_assert_ptr_null(nft_chain(j, "postrouting"));
        json_decref(j);

        /* Load-balance mode: no tunnel, masquerade per uplink. Another profile's table coexists. */
        c = (NftClientConfig) { .profile = "lb", .masquerade_ifnames = uplinks };
        ck_assert_int_eq(nft_client_table_apply(&c, NULL), 0);
        j = run_json("nft -j list table inet fluxify_client_lb");
        ck_assert_uint_eq(nft_count_rules(j, "postrouting", "\"masquerade\""), 2);
        json_decref(j);
        ck_assert_int_eq(nft_table_exists("inet", "fluxify_client_laptop"), 1);

        /* Empty config: an empty table. */
        c = (NftClientConfig) { .profile = "empty" };
        ck_assert_int_eq(nft_client_table_apply(&c, NULL), 0);
        ck_assert_int_eq(nft_table_exists("inet", "fluxify_client_empty"), 1);

        ck_assert_int_eq(nft_table_delete("inet", "fluxify_client_laptop", NULL), 1);
        ck_assert_int_eq(nft_table_exists("inet", "fluxify_client_lb"), 1);

        /* Bad profile names and interface names. */
        ck_assert_int_eq(nft_client_table_name("1abc", &name), -EINVAL);
        ck_assert_int_eq(nft_client_table_name("a-b", &name), -EINVAL);
        c = (NftClientConfig) { .profile = "p", .mss_clamp = true }; /* clamp without a tunnel */
        ck_assert_int_eq(nft_client_table_apply(&c, NULL), -EINVAL);
        uplinks[1] = (char *) "v b";
        c = (NftClientConfig) { .profile = "p", .masquerade_ifnames = uplinks };
        ck_assert_int_eq(nft_client_table_apply(&c, NULL), -EINVAL);
}
END_TEST

/* ---- sysctl ---- */

START_TEST(test_sysctl_forward) {
        _cleanup_(freep) char *v = NULL;
        bool old, now_on;

        enter_netns();

        /* A fresh namespace starts with forwarding off. */
        ck_assert_int_eq(sysctl_ip_forward_get(AF_INET, &old), 0);
        ck_assert(!old);
        ck_assert_int_eq(sysctl_ip_forward_set(AF_INET, true, &old), 0);
        ck_assert(!old);
        ck_assert_int_eq(sysctl_ip_forward_get(AF_INET, &now_on), 0);
        ck_assert(now_on);
        ck_assert_int_eq(sysctl_read("net.ipv4.ip_forward", &v), 0);
        ck_assert_str_eq(v, "1");
        v = mfree(v);

        ck_assert_int_eq(sysctl_ip_forward_set(AF_INET6, true, NULL), 0);
        ck_assert_int_eq(sysctl_read("net/ipv6/conf/all/forwarding", &v), 0);
        ck_assert_str_eq(v, "1");
        v = mfree(v);
        ck_assert_int_eq(sysctl_ip_forward_set(AF_INET6, false, &old), 0);
        ck_assert(old);

        ck_assert_int_eq(sysctl_write("net.ipv4.conf.all.src_valid_mark", "1"), 0);
        ck_assert_int_eq(sysctl_read("net.ipv4.conf.all.src_valid_mark", &v), 0);
        ck_assert_str_eq(v, "1");

        ck_assert_int_eq(sysctl_ip_forward_set(AF_UNIX, true, NULL), -EAFNOSUPPORT);
        ck_assert_int_eq(sysctl_write("../../etc/passwd", "x"), -EINVAL);
        ck_assert_int_eq(sysctl_write("/etc/passwd", "x"), -EINVAL);
        ck_assert_int_eq(sysctl_write("net.ipv4.no_such_key", "1"), -ENOENT);
}
END_TEST

static Suite *netlink_suite(void) {
        Suite *s = suite_create("netlink");
        TCase *tc = tcase_create("netns");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_tun_create);
        tcase_add_test(tc, test_tun_persist_delete);
        tcase_add_test(tc, test_routes);
        tcase_add_test(tc, test_rules);
        tcase_add_test(tc, test_route_get);
        tcase_add_test(tc, test_flush_protocol);
        tcase_add_test(tc, test_links_and_errors);
        tcase_add_test(tc, test_monitor);
        tcase_add_test(tc, test_monitor_resync);
        tcase_add_test(tc, test_monitor_free_in_handler);
        tcase_add_test(tc, test_nft_server);
        tcase_add_test(tc, test_nft_server_traffic);
        tcase_add_test(tc, test_nft_client);
        tcase_add_test(tc, test_sysctl_forward);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_NETNS_MAIN(netlink_suite);
