/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "in-addr-util.h"
#include "macro.h"

/* The route protocol number that tags every route and rule Fluxify installs (rtm_protocol /
 * FRA_PROTOCOL), so that stop and crash recovery remove exactly ours. 70 (0x46, 'F') is not
 * reserved in linux/rtnetlink.h nor in iproute2's rt_protos. `ip route show proto 70` lists them. */
#define RTPROT_FLUXIFY 70

/* Fluxify's band of policy-rule priorities (the kernel's own rules sit at 0, 32766, 32767;
 * wg-quick uses 32764/32765). */
#define FLUXIFY_RULE_PRIORITY_MIN 25000U
#define FLUXIFY_RULE_PRIORITY_MAX 25999U

#define RTNL_NEXTHOPS_MAX 32

typedef struct Rtnl Rtnl;

typedef struct RtnlLink {
        int ifindex;
        char name[IFNAMSIZ];
        unsigned flags;     /* IFF_UP, IFF_RUNNING (= lower up), IFF_LOOPBACK, ... */
        uint8_t operstate;  /* IF_OPER_UP, IF_OPER_DOWN, IF_OPER_UNKNOWN, ... */
        uint32_t mtu;
        uint16_t type;      /* ARPHRD_ETHER, ARPHRD_NONE (TUN), ARPHRD_LOOPBACK, ... */
        char kind[16];      /* IFLA_INFO_KIND ("veth", "tun", ...) or "" */
} RtnlLink;

/* Administratively up and carrier present: the interface can carry traffic. */
static inline bool rtnl_link_is_up(const RtnlLink *l) {
        return (l->flags & IFF_UP) && (l->flags & IFF_RUNNING);
}

typedef struct RtnlAddress {
        int family;
        int ifindex;
        union in_addr_union address; /* IFA_LOCAL for v4 (IFA_ADDRESS if absent), IFA_ADDRESS for v6 */
        uint8_t prefixlen;
        uint8_t scope;               /* RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST */
        uint32_t flags;              /* IFA_F_* (IFA_F_NODAD, IFA_F_TENTATIVE, ...) */
} RtnlAddress;

typedef struct RtnlNexthop {
        int ifindex;                 /* required */
        union in_addr_union gateway; /* same family as the route; all-zero = none (on-link) */
        uint16_t weight;             /* 1..256; 0 is taken as 1 */
} RtnlNexthop;

/* A route. Zero means "default" for every field on input: table 0 = main, protocol 0 =
 * RTPROT_FLUXIFY, scope 0 = universe (link scope is chosen automatically for a v4 unicast route with
 * neither gateway nor nexthops), type 0 = RTN_UNICAST, metric 0 = kernel default. For delete, zero
 * protocol/type/scope match any: pass RTPROT_FLUXIFY to delete only ours. */
typedef struct RtnlRoute {
        int family;                  /* AF_INET or AF_INET6 */
        union in_addr_union dst;
        uint8_t dst_prefixlen;
        union in_addr_union gateway; /* all-zero = none */
        union in_addr_union prefsrc; /* all-zero = none */
        int oif;                     /* 0 = none */
        uint32_t table;
        uint32_t metric;
        uint8_t protocol;
        uint8_t scope;
        uint8_t type;                /* RTN_UNICAST, RTN_BLACKHOLE, RTN_THROW, RTN_UNREACHABLE, ... */
        size_t n_nexthops;           /* > 0: RTA_MULTIPATH with these; gateway/oif then unused */
        RtnlNexthop nexthops[RTNL_NEXTHOPS_MAX];
} RtnlRoute;

/* A policy-routing rule ("ip rule"). On add, protocol 0 = RTPROT_FLUXIFY (on delete: any);
 * action 0 = FR_ACT_TO_TBL; fwmask 0 with a non-zero fwmark = 0xffffffff. */
typedef struct RtnlRule {
        int family;                  /* AF_INET or AF_INET6 */
        uint32_t priority;           /* required (no kernel-picked priorities: we must find it again) */
        uint32_t table;
        uint32_t fwmark;
        uint32_t fwmask;
        uint8_t protocol;
        uint8_t action;              /* FR_ACT_TO_TBL, FR_ACT_UNREACHABLE, ... */
        bool invert;                 /* "not" */
        union in_addr_union src;     /* with src_prefixlen > 0 */
        uint8_t src_prefixlen;
        union in_addr_union dst;
        uint8_t dst_prefixlen;
        char iifname[IFNAMSIZ];      /* "" = any */
        char oifname[IFNAMSIZ];      /* "" = any */
} RtnlRule;

/* A request socket for synchronous control-plane operations: each request carries NLM_F_ACK and a
 * fresh sequence number, and the reply is matched by it. Not thread-safe; one per daemon is enough.
 * It works on the network namespace it was opened in. */
int rtnl_open(Rtnl **ret);
Rtnl *rtnl_free(Rtnl *rtnl);
DEFINE_TRIVIAL_CLEANUP_FUNC(Rtnl *, rtnl_free);
/* The kernel's extended-ack text for the last failed request ("Nexthop has invalid gateway", ...),
 * or "" when it gave none. Valid until the next call; for log messages next to the errno. */
const char *rtnl_last_error_message(Rtnl *rtnl);

/* Links. Missing interfaces give -ENODEV. */
int rtnl_link_get_by_name(Rtnl *rtnl, const char *name, RtnlLink *ret);
int rtnl_link_get_by_index(Rtnl *rtnl, int ifindex, RtnlLink *ret);
int rtnl_link_get_ifindex(Rtnl *rtnl, const char *name, int *ret_ifindex);
int rtnl_link_set_up(Rtnl *rtnl, int ifindex, bool up);
int rtnl_link_set_mtu(Rtnl *rtnl, int ifindex, uint32_t mtu);
/* Transmit queue length (a TUN defaults to 500 packets; the data plane may want more). */
int rtnl_link_set_txqlen(Rtnl *rtnl, int ifindex, uint32_t txqlen);
int rtnl_link_delete(Rtnl *rtnl, int ifindex);
/* Array of all links, freed with free(). */
int rtnl_link_list(Rtnl *rtnl, RtnlLink **ret, size_t *ret_n);
/* Create a veth pair (tests, the testbed). */
int rtnl_veth_create(Rtnl *rtnl, const char *name, const char *peer_name);
/* Move a link into the network namespace referred to by netns_fd (e.g. open("/proc/<pid>/ns/net")). */
int rtnl_link_set_netns(Rtnl *rtnl, int ifindex, int netns_fd);

/* Addresses. flags: IFA_F_NODAD (v6, the TUN has no neighbours to ask), IFA_F_NOPREFIXROUTE, ...
 * Adding an existing address gives -EEXIST; deleting a missing one -EADDRNOTAVAIL. */
int rtnl_address_add(Rtnl *rtnl, int ifindex, int family, const union in_addr_union *address, uint8_t prefixlen,
                     uint32_t flags);
int rtnl_address_delete(Rtnl *rtnl, int ifindex, int family, const union in_addr_union *address,
                        uint8_t prefixlen);
/* family AF_UNSPEC for both; ifindex 0 for all links. Array freed with free(). */
int rtnl_address_list(Rtnl *rtnl, int family, int ifindex, RtnlAddress **ret, size_t *ret_n);

/* Routes. add fails with -EEXIST if the same route exists; replace creates or overwrites; delete
 * matches family, table, dst/prefixlen, and — when set — protocol, metric, type, oif/gateway
 * (-ESRCH if nothing matches). */
int rtnl_route_add(Rtnl *rtnl, const RtnlRoute *route);
int rtnl_route_replace(Rtnl *rtnl, const RtnlRoute *route);
int rtnl_route_delete(Rtnl *rtnl, const RtnlRoute *route);
/* family AF_UNSPEC for both; table 0 for all tables. Cached/cloned routes are skipped. Array freed
 * with free(). */
int rtnl_route_list(Rtnl *rtnl, int family, uint32_t table, RtnlRoute **ret, size_t *ret_n);
/* Route lookup ("ip route get DST [oif IFINDEX] [mark MARK]"): ret gets gateway, oif, prefsrc, table,
 * type. -ENETUNREACH / -EHOSTUNREACH / -EINVAL when the kernel has no route. */
int rtnl_route_get(Rtnl *rtnl, int family, const union in_addr_union *dst, int oif, uint32_t mark,
                   RtnlRoute *ret);

/* Gateway discovery for an uplink (load-balance mode, per-uplink tables): the gateway of a default
 * route through ifindex in the main table — a plain route or one nexthop of a multipath route,
 * preferring routes not tagged RTPROT_FLUXIFY — else the gateway a lookup of a public address
 * restricted to that interface yields ("ip route get 8.8.8.8 oif X"). -ENETUNREACH when the
 * interface has no gateway (a point-to-point uplink: route on-link instead), -ENODEV when it does
 * not exist. */
int rtnl_gateway_discover(Rtnl *rtnl, int family, int ifindex, union in_addr_union *ret_gateway);

/* Policy rules. add: -EEXIST if an identical rule exists; delete: -ENOENT if none. */
int rtnl_rule_add(Rtnl *rtnl, const RtnlRule *rule);
int rtnl_rule_delete(Rtnl *rtnl, const RtnlRule *rule);
int rtnl_rule_list(Rtnl *rtnl, int family, RtnlRule **ret, size_t *ret_n);

/* Crash cleanup: delete every route (all tables, v4 and v6) and every rule carrying this protocol
 * tag. Counts of deleted objects are optional. Nothing else is touched. */
int rtnl_flush_protocol(Rtnl *rtnl, uint8_t protocol, unsigned *ret_n_routes, unsigned *ret_n_rules);
