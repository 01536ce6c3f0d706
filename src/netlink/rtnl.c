/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <time.h>

#include "alloc-util.h"
#include "rtnl-internal.h"
#include "rtnl.h"

/* Large enough for any dump datagram the kernel sends (it sizes them by the reader's buffer, capped
 * at 32 KiB for rtnetlink unless the socket asks for more). */
#define RTNL_BUFFER_SIZE (64U * 1024U)
#define RTNL_DUMP_RETRIES 5

struct Rtnl {
        struct mnl_socket *nl;
        uint32_t portid;
        uint32_t seq;
        uint8_t *buf; /* RTNL_BUFFER_SIZE, for requests and replies */
        char error_message[256]; /* the kernel's extended ack text of the last failed call, or "" */
};

const char *rtnl_last_error_message(Rtnl *rtnl) {
        return rtnl ? rtnl->error_message : "";
}

static int extack_cb(const struct nlattr *attr, void *data) {
        Rtnl *rtnl = data;
        size_t len;

        if (mnl_attr_get_type(attr) != NLMSGERR_ATTR_MSG)
                return MNL_CB_OK;
        len = strnlen(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr));
        len = MIN(len, sizeof(rtnl->error_message) - 1);
        memcpy(rtnl->error_message, mnl_attr_get_payload(attr), len);
        rtnl->error_message[len] = '\0';
        return MNL_CB_OK;
}

/* Keeps the kernel's explanation of an error ("Nexthop device is not up", ...) for the caller's log. */
static void extack_parse(Rtnl *rtnl, const struct nlmsghdr *m) {
        const struct nlmsgerr *err;
        size_t off;

        if (m->nlmsg_type != NLMSG_ERROR || !(m->nlmsg_flags & NLM_F_ACK_TLVS))
                return;
        if (m->nlmsg_len < mnl_nlmsg_size(sizeof(*err)))
                return;
        err = mnl_nlmsg_get_payload(m);
        if (err->error == 0)
                return;
        off = sizeof(*err);
        if (!(m->nlmsg_flags & NLM_F_CAPPED))
                off += err->msg.nlmsg_len > sizeof(struct nlmsghdr) ? err->msg.nlmsg_len - sizeof(struct nlmsghdr) : 0;
        if (mnl_nlmsg_size(off) > m->nlmsg_len)
                return;
        (void) mnl_attr_parse(m, off, extack_cb, rtnl);
}

int rtnl_open(Rtnl **ret) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        int one = 1;

        assert_return(ret, -EINVAL);

        rtnl = new0(Rtnl, 1);
        if (!rtnl)
                return -ENOMEM;
        rtnl->buf = malloc(RTNL_BUFFER_SIZE);
        if (!rtnl->buf)
                return -ENOMEM;

        rtnl->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        if (!rtnl->nl)
                return -errno;
        /* Extended acks carry the kernel's reason; strict checking makes dumps honour filters. Both are
         * best effort (older kernels). */
        (void) mnl_socket_setsockopt(rtnl->nl, NETLINK_EXT_ACK, &one, sizeof one);
        (void) mnl_socket_setsockopt(rtnl->nl, NETLINK_CAP_ACK, &one, sizeof one);
        if (mnl_socket_bind(rtnl->nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return -errno;
        rtnl->portid = mnl_socket_get_portid(rtnl->nl);
        /* Start somewhere unpredictable so stale replies of a previous instance never match. */
        rtnl->seq = (uint32_t) time(NULL);

        *ret = TAKE_PTR(rtnl);
        return 0;
}

Rtnl *rtnl_free(Rtnl *rtnl) {
        if (!rtnl)
                return NULL;
        if (rtnl->nl)
                mnl_socket_close(rtnl->nl);
        free(rtnl->buf);
        return mfree(rtnl);
}

/* Starts a request in the socket's buffer. */
static struct nlmsghdr *rtnl_message_new(Rtnl *rtnl, uint16_t type, uint16_t flags) {
        struct nlmsghdr *nlh;

        memset(rtnl->buf, 0, 4096);
        nlh = mnl_nlmsg_put_header(rtnl->buf);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        return nlh;
}

typedef struct CallContext {
        RtnlParse parse;
        void *userdata;
        int error; /* first error returned by parse */
} CallContext;

static int call_data_cb(const struct nlmsghdr *nlh, void *data) {
        CallContext *ctx = data;
        int r;

        if (!ctx->parse || ctx->error < 0)
                return MNL_CB_OK;
        r = ctx->parse(nlh, ctx->userdata);
        if (r < 0)
                ctx->error = r;
        return MNL_CB_OK;
}

/* Sends nlh (seq-stamped, with NLM_F_ACK unless it is a dump) and processes replies until the ack,
 * the error or NLMSG_DONE carrying our sequence number. Replies with another sequence number
 * (leftovers of an aborted earlier call) are skipped. */
int rtnl_call(Rtnl *rtnl, struct nlmsghdr *nlh, RtnlParse parse, void *userdata) {
        CallContext ctx = { .parse = parse, .userdata = userdata };
        uint32_t seq;

        assert_return(rtnl && nlh, -EINVAL);

        rtnl->error_message[0] = '\0';
        seq = ++rtnl->seq;
        nlh->nlmsg_seq = seq;
        /* NLM_F_DUMP shares its bits with NLM_F_REPLACE|NLM_F_EXCL: only a GET can be a dump. */
        if (!((nlh->nlmsg_type & 3) == 2 && (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP))
                nlh->nlmsg_flags |= NLM_F_ACK;

        if (mnl_socket_sendto(rtnl->nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;

        for (;;) {
                ssize_t n;
                int len;

                n = mnl_socket_recvfrom(rtnl->nl, rtnl->buf, RTNL_BUFFER_SIZE);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                len = (int) n;

                for (const struct nlmsghdr *m = (const struct nlmsghdr *) rtnl->buf; mnl_nlmsg_ok(m, len);
                     m = mnl_nlmsg_next(m, &len)) {
                        int k;

                        if (m->nlmsg_seq != seq)
                                continue;

                        extack_parse(rtnl, m);
                        k = mnl_cb_run(m, m->nlmsg_len, seq, rtnl->portid, call_data_cb, &ctx);
                        if (k == MNL_CB_ERROR)
                                /* errno from the kernel's NLMSG_ERROR, or EINTR for an interrupted
                                 * dump (NLM_F_DUMP_INTR): the caller may retry. */
                                return -(errno ?: EIO);
                        if (k == MNL_CB_STOP)
                                return ctx.error;
                }
        }
}

/* Dumps are retried when the kernel reports an inconsistent snapshot (NLM_F_DUMP_INTR). The
 * builder must rebuild the request each time since the buffer is reused for the replies. */
static int rtnl_dump(Rtnl *rtnl, struct nlmsghdr *(*build)(Rtnl *rtnl, int family), int family,
                     RtnlParse parse, void *userdata, void (*reset)(void *userdata)) {
        int r = -EINTR;

        for (unsigned i = 0; i < RTNL_DUMP_RETRIES && r == -EINTR; i++) {
                if (reset)
                        reset(userdata);
                r = rtnl_call(rtnl, build(rtnl, family), parse, userdata);
        }
        return r;
}

/* ---- attribute helpers ---- */

typedef struct AttrTable {
        const struct nlattr **tb;
        unsigned max;
} AttrTable;

static int attr_table_cb(const struct nlattr *attr, void *data) {
        AttrTable *t = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (type <= t->max)
                t->tb[type] = attr;
        return MNL_CB_OK;
}

int rtnl_parse_attrs(const struct nlmsghdr *nlh, size_t header_len, const struct nlattr **tb, unsigned max) {
        AttrTable t = { .tb = tb, .max = max };

        memset(tb, 0, sizeof(*tb) * (max + 1));
        if (nlh->nlmsg_len < mnl_nlmsg_size(header_len))
                return -EBADMSG;
        if (mnl_attr_parse(nlh, header_len, attr_table_cb, &t) < 0)
                return -EBADMSG;
        return 0;
}

static int parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned max) {
        AttrTable t = { .tb = tb, .max = max };

        memset(tb, 0, sizeof(*tb) * (max + 1));
        if (mnl_attr_parse_nested(nest, attr_table_cb, &t) < 0)
                return -EBADMSG;
        return 0;
}

static bool attr_get_u32(const struct nlattr *a, uint32_t *ret) {
        if (!a || mnl_attr_get_payload_len(a) < sizeof(uint32_t))
                return false;
        *ret = mnl_attr_get_u32(a);
        return true;
}

static bool attr_get_u8(const struct nlattr *a, uint8_t *ret) {
        if (!a || mnl_attr_get_payload_len(a) < sizeof(uint8_t))
                return false;
        *ret = mnl_attr_get_u8(a);
        return true;
}

static bool attr_get_addr(const struct nlattr *a, int family, union in_addr_union *ret) {
        size_t sz = family_address_size(family);

        if (!a || sz == 0 || mnl_attr_get_payload_len(a) != sz)
                return false;
        memset(ret, 0, sizeof(*ret));
        memcpy(ret, mnl_attr_get_payload(a), sz);
        return true;
}

static bool attr_get_str(const struct nlattr *a, char *buf, size_t size) {
        size_t len;
        const char *s;

        if (!a || size == 0)
                return false;
        len = mnl_attr_get_payload_len(a);
        s = mnl_attr_get_payload(a);
        len = strnlen(s, len);
        if (len >= size)
                return false;
        memcpy(buf, s, len);
        buf[len] = '\0';
        return true;
}

static bool family_valid(int family) {
        return family == AF_INET || family == AF_INET6;
}

static bool ifname_valid(const char *name) {
        size_t n;

        if (isempty(name))
                return false;
        n = strlen(name);
        if (n >= IFNAMSIZ || streq(name, ".") || streq(name, ".."))
                return false;
        for (const char *p = name; *p; p++)
                if (*p == '/' || *p == ':' || *p == '%' || *p <= ' ' || *p == 0x7f)
                        return false;
        return true;
}

/* Append to a growing array of fixed-size records. */
typedef struct Collect {
        void *items;
        size_t n, allocated, item_size;
        int family;         /* filter: AF_UNSPEC for any */
        int ifindex;        /* filter: 0 for any */
        uint32_t table;     /* filter: 0 for any */
} Collect;

static void *collect_new_item(Collect *c) {
        if (c->n >= c->allocated) {
                size_t na = MAX(c->allocated * 2, (size_t) 16);
                void *t = reallocarray(c->items, na, c->item_size);
                if (!t)
                        return NULL;
                c->items = t;
                c->allocated = na;
        }
        return memset((uint8_t *) c->items + c->n++ * c->item_size, 0, c->item_size);
}

static void collect_reset(void *userdata) {
        Collect *c = userdata;

        c->n = 0;
}

/* ---- links ---- */

int rtnl_link_parse(const struct nlmsghdr *nlh, RtnlLink *ret) {
        const struct nlattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1];
        const struct ifinfomsg *ifi;
        RtnlLink l = {};
        uint32_t u;
        int r;

        r = rtnl_parse_attrs(nlh, sizeof(*ifi), tb, IFLA_MAX);
        if (r < 0)
                return r;
        ifi = mnl_nlmsg_get_payload(nlh);

        l.ifindex = ifi->ifi_index;
        l.flags = ifi->ifi_flags;
        l.type = ifi->ifi_type;
        if (!attr_get_str(tb[IFLA_IFNAME], l.name, sizeof l.name))
                return -EBADMSG;
        if (attr_get_u32(tb[IFLA_MTU], &u))
                l.mtu = u;
        (void) attr_get_u8(tb[IFLA_OPERSTATE], &l.operstate);
        if (tb[IFLA_LINKINFO] && parse_nested(tb[IFLA_LINKINFO], info, IFLA_INFO_MAX) >= 0)
                (void) attr_get_str(info[IFLA_INFO_KIND], l.kind, sizeof l.kind);

        *ret = l;
        return 0;
}

static int link_get_cb(const struct nlmsghdr *nlh, void *userdata) {
        if (nlh->nlmsg_type != RTM_NEWLINK)
                return 0;
        return rtnl_link_parse(nlh, userdata);
}

static int link_get(Rtnl *rtnl, int ifindex, const char *name, RtnlLink *ret) {
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifi;
        RtnlLink l = { .ifindex = 0 };
        int r;

        nlh = rtnl_message_new(rtnl, RTM_GETLINK, 0);
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        if (name)
                mnl_attr_put_strz(nlh, IFLA_IFNAME, name);

        r = rtnl_call(rtnl, nlh, link_get_cb, &l);
        if (r < 0)
                return r;
        if (l.ifindex <= 0)
                return -ENODEV;
        if (ret)
                *ret = l;
        return 0;
}

int rtnl_link_get_by_name(Rtnl *rtnl, const char *name, RtnlLink *ret) {
        assert_return(rtnl, -EINVAL);
        assert_return(ifname_valid(name), -EINVAL);

        return link_get(rtnl, 0, name, ret);
}

int rtnl_link_get_by_index(Rtnl *rtnl, int ifindex, RtnlLink *ret) {
        assert_return(rtnl, -EINVAL);
        assert_return(ifindex > 0, -EINVAL);

        return link_get(rtnl, ifindex, NULL, ret);
}

int rtnl_link_get_ifindex(Rtnl *rtnl, const char *name, int *ret_ifindex) {
        RtnlLink l;
        int r;

        assert_return(ret_ifindex, -EINVAL);

        r = rtnl_link_get_by_name(rtnl, name, &l);
        if (r < 0)
                return r;
        *ret_ifindex = l.ifindex;
        return 0;
}

static struct nlmsghdr *link_request(Rtnl *rtnl, uint16_t type, uint16_t flags, int ifindex) {
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifi;

        nlh = rtnl_message_new(rtnl, type, flags);
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        return nlh;
}

int rtnl_link_set_up(Rtnl *rtnl, int ifindex, bool up) {
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifi;

        assert_return(rtnl, -EINVAL);
        assert_return(ifindex > 0, -EINVAL);

        nlh = link_request(rtnl, RTM_NEWLINK, 0, ifindex);
        ifi = mnl_nlmsg_get_payload(nlh);
        ifi->ifi_change = IFF_UP;
        ifi->ifi_flags = up ? IFF_UP : 0;
        return rtnl_call(rtnl, nlh, NULL, NULL);
}

int rtnl_link_set_mtu(Rtnl *rtnl, int ifindex, uint32_t mtu) {
        struct nlmsghdr *nlh;

        assert_return(rtnl, -EINVAL);
        assert_return(ifindex > 0, -EINVAL);
        assert_return(mtu >= 68 && mtu <= 65535, -EINVAL);

        nlh = link_request(rtnl, RTM_NEWLINK, 0, ifindex);
        mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
        return rtnl_call(rtnl, nlh, NULL, NULL);
}

int rtnl_link_set_txqlen(Rtnl *rtnl, int ifindex, uint32_t txqlen) {
        struct nlmsghdr *nlh;

        assert_return(rtnl, -EINVAL);
        assert_return(ifindex > 0, -EINVAL);
        assert_return(txqlen > 0 && txqlen <= 1000000, -EINVAL);

        nlh = link_request(rtnl, RTM_NEWLINK, 0, ifindex);
        mnl_attr_put_u32(nlh, IFLA_TXQLEN, txqlen);
        return rtnl_call(rtnl, nlh, NULL, NULL);
}

int rtnl_link_delete(Rtnl *rtnl, int ifindex) {
        assert_return(rtnl, -EINVAL);
        assert_return(ifindex > 0, -EINVAL);

        return rtnl_call(rtnl, link_request(rtnl, RTM_DELLINK, 0, ifindex), NULL, NULL);
}

int rtnl_link_set_netns(Rtnl *rtnl, int ifindex, int netns_fd) {
        struct nlmsghdr *nlh;

        assert_return(rtnl, -EINVAL);
        assert_return(ifindex > 0, -EINVAL);
        assert_return(netns_fd >= 0, -EBADF);

        nlh = link_request(rtnl, RTM_NEWLINK, 0, ifindex);
        mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t) netns_fd);
        return rtnl_call(rtnl, nlh, NULL, NULL);
}

int rtnl_veth_create(Rtnl *rtnl, const char *name, const char *peer_name) {
        struct nlattr *linkinfo, *data, *peer;
        struct nlmsghdr *nlh;
        struct ifinfomsg *pifi;

        assert_return(rtnl, -EINVAL);
        assert_return(ifname_valid(name) && ifname_valid(peer_name), -EINVAL);
        assert_return(!streq(name, peer_name), -EINVAL);

        nlh = link_request(rtnl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
        data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
        /* The peer's attributes follow its own ifinfomsg header. */
        pifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifi));
        pifi->ifi_family = AF_UNSPEC;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
        mnl_attr_nest_end(nlh, peer);
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, linkinfo);
        return rtnl_call(rtnl, nlh, NULL, NULL);
}

static int link_list_cb(const struct nlmsghdr *nlh, void *userdata) {
        Collect *c = userdata;
        RtnlLink l, *p;
        int r;

        if (nlh->nlmsg_type != RTM_NEWLINK)
                return 0;
        r = rtnl_link_parse(nlh, &l);
        if (r < 0)
                return 0; /* skip what we cannot parse rather than fail the whole listing */
        p = collect_new_item(c);
        if (!p)
                return -ENOMEM;
        *p = l;
        return 0;
}

static struct nlmsghdr *link_dump_build(Rtnl *rtnl, int family) {
        struct nlmsghdr *nlh = link_request(rtnl, RTM_GETLINK, NLM_F_DUMP, 0);
        return nlh;
}

int rtnl_link_list(Rtnl *rtnl, RtnlLink **ret, size_t *ret_n) {
        Collect c = { .item_size = sizeof(RtnlLink) };
        int r;

        assert_return(rtnl && ret && ret_n, -EINVAL);

        r = rtnl_dump(rtnl, link_dump_build, AF_UNSPEC, link_list_cb, &c, collect_reset);
        if (r < 0) {
                free(c.items);
                return r;
        }
        *ret = c.items;
        *ret_n = c.n;
        return 0;
}

/* ---- addresses ---- */

int rtnl_address_parse(const struct nlmsghdr *nlh, RtnlAddress *ret) {
        const struct nlattr *tb[IFA_MAX + 1];
        const struct ifaddrmsg *ifa;
        RtnlAddress a = {};
        uint32_t u;
        int r;

        r = rtnl_parse_attrs(nlh, sizeof(*ifa), tb, IFA_MAX);
        if (r < 0)
                return r;
        ifa = mnl_nlmsg_get_payload(nlh);
        if (!family_valid(ifa->ifa_family))
                return -EAFNOSUPPORT;

        a.family = ifa->ifa_family;
        a.ifindex = (int) ifa->ifa_index;
        a.prefixlen = ifa->ifa_prefixlen;
        a.scope = ifa->ifa_scope;
        a.flags = attr_get_u32(tb[IFA_FLAGS], &u) ? u : ifa->ifa_flags;
        /* For v4, IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on
         * point-to-point links); for v6, IFA_ADDRESS is the address unless a peer is set. */
        if (a.family == AF_INET) {
                if (!attr_get_addr(tb[IFA_LOCAL], a.family, &a.address) &&
                    !attr_get_addr(tb[IFA_ADDRESS], a.family, &a.address))
                        return -EBADMSG;
        } else if (!attr_get_addr(tb[IFA_LOCAL], a.family, &a.address) &&
                   !attr_get_addr(tb[IFA_ADDRESS], a.family, &a.address))
                return -EBADMSG;

        *ret = a;
        return 0;
}

static int address_modify(Rtnl *rtnl, uint16_t type, uint16_t flags, int ifindex, int family,
                          const union in_addr_union *address, uint8_t prefixlen, uint32_t ifa_flags) {
        struct nlmsghdr *nlh;
        struct ifaddrmsg *ifa;
        size_t sz;

        assert_return(rtnl && address, -EINVAL);
        assert_return(ifindex > 0, -EINVAL);
        assert_return(family_valid(family), -EAFNOSUPPORT);
        sz = family_address_size(family);
        assert_return(prefixlen <= sz * 8, -EINVAL);

        nlh = rtnl_message_new(rtnl, type, flags);
        ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = family;
        ifa->ifa_prefixlen = prefixlen;
        ifa->ifa_flags = ifa_flags & 0xff;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        ifa->ifa_index = ifindex;
        mnl_attr_put(nlh, IFA_LOCAL, sz, address);
        mnl_attr_put(nlh, IFA_ADDRESS, sz, address);
        if (ifa_flags > 0xff)
                mnl_attr_put_u32(nlh, IFA_FLAGS, ifa_flags);
        return rtnl_call(rtnl, nlh, NULL, NULL);
}

int rtnl_address_add(Rtnl *rtnl, int ifindex, int family, const union in_addr_union *address, uint8_t prefixlen,
                     uint32_t flags) {
        return address_modify(rtnl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, family, address, prefixlen,
                              flags);
}

int rtnl_address_delete(Rtnl *rtnl, int ifindex, int family, const union in_addr_union *address,
                        uint8_t prefixlen) {
        return address_modify(rtnl, RTM_DELADDR, 0, ifindex, family, address, prefixlen, 0);
}

static int address_list_cb(const struct nlmsghdr *nlh, void *userdata) {
        Collect *c = userdata;
        RtnlAddress a, *p;

        if (nlh->nlmsg_type != RTM_NEWADDR)
                return 0;
        if (rtnl_address_parse(nlh, &a) < 0)
                return 0;
        if (c->ifindex > 0 && a.ifindex != c->ifindex)
                return 0;
        if (c->family != AF_UNSPEC && a.family != c->family)
                return 0;
        p = collect_new_item(c);
        if (!p)
                return -ENOMEM;
        *p = a;
        return 0;
}

static struct nlmsghdr *address_dump_build(Rtnl *rtnl, int family) {
        struct nlmsghdr *nlh;
        struct ifaddrmsg *ifa;

        nlh = rtnl_message_new(rtnl, RTM_GETADDR, NLM_F_DUMP);
        ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = family;
        return nlh;
}

int rtnl_address_list(Rtnl *rtnl, int family, int ifindex, RtnlAddress **ret, size_t *ret_n) {
        Collect c = { .item_size = sizeof(RtnlAddress), .family = family, .ifindex = ifindex };
        int r;

        assert_return(rtnl && ret && ret_n, -EINVAL);
        assert_return(family == AF_UNSPEC || family_valid(family), -EAFNOSUPPORT);
        assert_return(ifindex >= 0, -EINVAL);

        r = rtnl_dump(rtnl, address_dump_build, family, address_list_cb, &c, collect_reset);
        if (r < 0) {
                free(c.items);
                return r;
        }
        *ret = c.items;
        *ret_n = c.n;
        return 0;
}

/* ---- routes ---- */

static int parse_multipath(const struct nlattr *mp, int family, RtnlRoute *rt) {
        const uint8_t *p = mnl_attr_get_payload(mp);
        size_t left = mnl_attr_get_payload_len(mp);

        while (left >= sizeof(struct rtnexthop)) {
                const struct rtnexthop *nh = (const struct rtnexthop *) p;
                RtnlNexthop *o;

                if (nh->rtnh_len < sizeof(*nh) || nh->rtnh_len > left)
                        return -EBADMSG;
                if (rt->n_nexthops >= RTNL_NEXTHOPS_MAX)
                        return -E2BIG;
                o = &rt->nexthops[rt->n_nexthops++];
                *o = (RtnlNexthop) {
                        .ifindex = nh->rtnh_ifindex,
                        .weight = (uint16_t) nh->rtnh_hops + 1,
                };
                /* The nexthop's attributes (RTA_GATEWAY, ...) follow the header. */
                for (size_t off = RTNH_ALIGN(sizeof(*nh)); off + sizeof(struct nlattr) <= nh->rtnh_len;) {
                        const struct nlattr *a = (const struct nlattr *) (p + off);

                        if (a->nla_len < sizeof(*a) || off + a->nla_len > nh->rtnh_len)
                                return -EBADMSG;
                        if (mnl_attr_get_type(a) == RTA_GATEWAY)
                                (void) attr_get_addr(a, family, &o->gateway);
                        off += MNL_ALIGN(a->nla_len);
                }
                left -= MIN(left, (size_t) RTNH_ALIGN(nh->rtnh_len));
                p += RTNH_ALIGN(nh->rtnh_len);
        }
        return 0;
}

int rtnl_route_parse(const struct nlmsghdr *nlh, RtnlRoute *ret) {
        const struct nlattr *tb[RTA_MAX + 1];
        const struct rtmsg *rtm;
        uint32_t u;
        int r;

        r = rtnl_parse_attrs(nlh, sizeof(*rtm), tb, RTA_MAX);
        if (r < 0)
                return r;
        rtm = mnl_nlmsg_get_payload(nlh);
        if (!family_valid(rtm->rtm_family))
                return -EAFNOSUPPORT;

        memset(ret, 0, sizeof(*ret));
        ret->family = rtm->rtm_family;
        ret->dst_prefixlen = rtm->rtm_dst_len;
        ret->protocol = rtm->rtm_protocol;
        ret->scope = rtm->rtm_scope;
        ret->type = rtm->rtm_type;
        ret->table = attr_get_u32(tb[RTA_TABLE], &u) ? u : rtm->rtm_table;
        (void) attr_get_addr(tb[RTA_DST], ret->family, &ret->dst);
        (void) attr_get_addr(tb[RTA_GATEWAY], ret->family, &ret->gateway);
        (void) attr_get_addr(tb[RTA_PREFSRC], ret->family, &ret->prefsrc);
        if (attr_get_u32(tb[RTA_OIF], &u))
                ret->oif = (int) u;
        if (attr_get_u32(tb[RTA_PRIORITY], &u))
                ret->metric = u;
        if (tb[RTA_MULTIPATH]) {
                r = parse_multipath(tb[RTA_MULTIPATH], ret->family, ret);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool route_is_cloned(const struct nlmsghdr *nlh) {
        const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
        return rtm->rtm_flags & RTM_F_CLONED;
}

static int route_validate(const RtnlRoute *rt, bool for_delete) {
        size_t sz;

        if (!rt || !family_valid(rt->family))
                return -EAFNOSUPPORT;
        sz = family_address_size(rt->family);
        if (rt->dst_prefixlen > sz * 8)
                return -EINVAL;
        if (rt->n_nexthops > RTNL_NEXTHOPS_MAX)
                return -E2BIG;
        if (rt->oif < 0)
                return -EINVAL;
        for (size_t i = 0; i < rt->n_nexthops; i++) {
                if (rt->nexthops[i].ifindex <= 0)
                        return -EINVAL;
                if (rt->nexthops[i].weight > 256)
                        return -EINVAL;
        }
        if (!for_delete && (rt->type == 0 || rt->type == RTN_UNICAST) && rt->n_nexthops == 0 && rt->oif == 0 &&
            in_addr_is_null(rt->family, &rt->gateway))
                return -EINVAL; /* a unicast route needs a device or a gateway */
        return 0;
}

static struct nlmsghdr *route_message(Rtnl *rtnl, uint16_t type, uint16_t flags, const RtnlRoute *rt,
                                      bool for_delete) {
        size_t sz = family_address_size(rt->family);
        struct nlmsghdr *nlh;
        struct rtmsg *rtm;
        uint32_t table = rt->table ?: RT_TABLE_MAIN;
        bool has_gw = !in_addr_is_null(rt->family, &rt->gateway);

        nlh = rtnl_message_new(rtnl, type, flags);
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = rt->family;
        rtm->rtm_dst_len = rt->dst_prefixlen;
        rtm->rtm_table = table < 256 ? table : RT_TABLE_UNSPEC;
        if (for_delete) {
                /* Zero protocol/type and scope "nowhere" match anything. */
                rtm->rtm_protocol = rt->protocol;
                rtm->rtm_type = rt->type;
                rtm->rtm_scope = rt->scope ?: RT_SCOPE_NOWHERE;
        } else {
                rtm->rtm_protocol = rt->protocol ?: RTPROT_FLUXIFY;
                rtm->rtm_type = rt->type ?: RTN_UNICAST;
                rtm->rtm_scope = rt->scope;
                /* Like `ip route add 10.0.0.0/24 dev X`: a directly connected v4 route is link scope. */
                if (rt->scope == RT_SCOPE_UNIVERSE && rt->family == AF_INET && rtm->rtm_type == RTN_UNICAST &&
                    !has_gw && rt->n_nexthops == 0)
                        rtm->rtm_scope = RT_SCOPE_LINK;
        }
        mnl_attr_put_u32(nlh, RTA_TABLE, table);
        if (rt->dst_prefixlen > 0 || !in_addr_is_null(rt->family, &rt->dst))
                mnl_attr_put(nlh, RTA_DST, sz, &rt->dst);
        if (!in_addr_is_null(rt->family, &rt->prefsrc))
                mnl_attr_put(nlh, RTA_PREFSRC, sz, &rt->prefsrc);
        if (rt->metric > 0)
                mnl_attr_put_u32(nlh, RTA_PRIORITY, rt->metric);

        if (rt->n_nexthops > 0) {
                struct nlattr *mp = mnl_attr_nest_start(nlh, RTA_MULTIPATH);

                for (size_t i = 0; i < rt->n_nexthops; i++) {
                        const RtnlNexthop *nh = &rt->nexthops[i];
                        struct rtnexthop *rtnh = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtnh));

                        rtnh->rtnh_ifindex = nh->ifindex;
                        rtnh->rtnh_hops = (uint8_t) ((nh->weight ?: 1) - 1);
                        if (!in_addr_is_null(rt->family, &nh->gateway))
                                mnl_attr_put(nlh, RTA_GATEWAY, sz, &nh->gateway);
                        rtnh->rtnh_len = (uint8_t *) mnl_nlmsg_get_payload_tail(nlh) - (uint8_t *) rtnh;
                }
                mnl_attr_nest_end(nlh, mp);
        } else {
                if (has_gw)
                        mnl_attr_put(nlh, RTA_GATEWAY, sz, &rt->gateway);
                if (rt->oif > 0)
                        mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t) rt->oif);
        }
        return nlh;
}

int rtnl_route_add(Rtnl *rtnl, const RtnlRoute *route) {
        int r;

        assert_return(rtnl, -EINVAL);
        r = route_validate(route, false);
        if (r < 0)
                return r;
        return rtnl_call(rtnl, route_message(rtnl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, route, false),
                         NULL, NULL);
}

int rtnl_route_replace(Rtnl *rtnl, const RtnlRoute *route) {
        int r;

        assert_return(rtnl, -EINVAL);
        r = route_validate(route, false);
        if (r < 0)
                return r;
        return rtnl_call(rtnl, route_message(rtnl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, route, false),
                         NULL, NULL);
}

int rtnl_route_delete(Rtnl *rtnl, const RtnlRoute *route) {
        int r;

        assert_return(rtnl, -EINVAL);
        r = route_validate(route, true);
        if (r < 0)
                return r;
        return rtnl_call(rtnl, route_message(rtnl, RTM_DELROUTE, 0, route, true), NULL, NULL);
}

static int route_list_cb(const struct nlmsghdr *nlh, void *userdata) {
        Collect *c = userdata;
        RtnlRoute rt, *p;

        if (nlh->nlmsg_type != RTM_NEWROUTE || route_is_cloned(nlh))
                return 0;
        if (rtnl_route_parse(nlh, &rt) < 0)
                return 0;
        if (c->family != AF_UNSPEC && rt.family != c->family)
                return 0;
        if (c->table != 0 && rt.table != c->table)
                return 0;
        p = collect_new_item(c);
        if (!p)
                return -ENOMEM;
        *p = rt;
        return 0;
}

static struct nlmsghdr *route_dump_build(Rtnl *rtnl, int family) {
        struct nlmsghdr *nlh;
        struct rtmsg *rtm;

        nlh = rtnl_message_new(rtnl, RTM_GETROUTE, NLM_F_DUMP);
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = family;
        return nlh;
}

int rtnl_route_list(Rtnl *rtnl, int family, uint32_t table, RtnlRoute **ret, size_t *ret_n) {
        Collect c = { .item_size = sizeof(RtnlRoute), .family = family, .table = table };
        int r;

        assert_return(rtnl && ret && ret_n, -EINVAL);
        assert_return(family == AF_UNSPEC || family_valid(family), -EAFNOSUPPORT);

        r = rtnl_dump(rtnl, route_dump_build, family, route_list_cb, &c, collect_reset);
        if (r < 0) {
                free(c.items);
                return r;
        }
        *ret = c.items;
        *ret_n = c.n;
        return 0;
}

typedef struct RouteGet {
        RtnlRoute route;
        bool found;
} RouteGet;

static int route_get_cb(const struct nlmsghdr *nlh, void *userdata) {
        RouteGet *g = userdata;
        int r;

        if (nlh->nlmsg_type != RTM_NEWROUTE || g->found)
                return 0;
        r = rtnl_route_parse(nlh, &g->route);
        if (r < 0)
                return r;
        g->found = true;
        return 0;
}

int rtnl_route_get(Rtnl *rtnl, int family, const union in_addr_union *dst, int oif, uint32_t mark,
                   RtnlRoute *ret) {
        struct nlmsghdr *nlh;
        struct rtmsg *rtm;
        RouteGet g = {};
        size_t sz;
        int r;

        assert_return(rtnl && dst && ret, -EINVAL);
        assert_return(family_valid(family), -EAFNOSUPPORT);
        assert_return(oif >= 0, -EINVAL);
        sz = family_address_size(family);

        nlh = rtnl_message_new(rtnl, RTM_GETROUTE, 0);
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = family;
        rtm->rtm_dst_len = sz * 8;
        /* Report the table the route was found in rather than "main". */
        rtm->rtm_flags = RTM_F_LOOKUP_TABLE;
        mnl_attr_put(nlh, RTA_DST, sz, dst);
        if (oif > 0)
                mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t) oif);
        if (mark != 0)
                mnl_attr_put_u32(nlh, RTA_MARK, mark);

        r = rtnl_call(rtnl, nlh, route_get_cb, &g);
        if (r < 0)
                return r;
        if (!g.found)
                return -ENETUNREACH;
        switch (g.route.type) {
        case RTN_UNICAST:
        case RTN_LOCAL:
                break;
        case RTN_PROHIBIT:
                return -EACCES;
        case RTN_BLACKHOLE:
                return -EINVAL;
        case RTN_UNREACHABLE:
        default:
                return -EHOSTUNREACH;
        }
        *ret = g.route;
        return 0;
}

static bool route_gateway_via(const RtnlRoute *rt, int ifindex, union in_addr_union *ret) {
        if (rt->n_nexthops == 0) {
                if (rt->oif != ifindex || in_addr_is_null(rt->family, &rt->gateway))
                        return false;
                *ret = rt->gateway;
                return true;
        }
        for (size_t i = 0; i < rt->n_nexthops; i++)
                if (rt->nexthops[i].ifindex == ifindex && !in_addr_is_null(rt->family, &rt->nexthops[i].gateway)) {
                        *ret = rt->nexthops[i].gateway;
                        return true;
                }
        return false;
}

int rtnl_gateway_discover(Rtnl *rtnl, int family, int ifindex, union in_addr_union *ret_gateway) {
        _cleanup_(freep) RtnlRoute *routes = NULL;
        union in_addr_union gw, probe = {};
        bool found = false;
        RtnlRoute rt;
        size_t n;
        int r;

        assert_return(rtnl && ret_gateway, -EINVAL);
        assert_return(family_valid(family), -EAFNOSUPPORT);
        assert_return(ifindex > 0, -EINVAL);

        r = rtnl_link_get_by_index(rtnl, ifindex, NULL);
        if (r < 0)
                return r;

        r = rtnl_route_list(rtnl, family, RT_TABLE_MAIN, &routes, &n);
        if (r < 0)
                return r;
        /* Two passes: foreign routes first (the uplink's own configuration), then ours. */
        for (int pass = 0; pass < 2 && !found; pass++)
                for (size_t i = 0; i < n && !found; i++) {
                        if (routes[i].dst_prefixlen != 0 || routes[i].type != RTN_UNICAST)
                                continue;
                        if ((routes[i].protocol == RTPROT_FLUXIFY) != (pass == 1))
                                continue;
                        found = route_gateway_via(&routes[i], ifindex, &gw);
                }
        if (found) {
                *ret_gateway = gw;
                return 0;
        }

        /* A documentation-free public address: 8.8.8.8 / 2001:4860:4860::8888. */
        if (family == AF_INET)
                probe.in.s_addr = htonl(0x08080808);
        else {
                probe.bytes[0] = 0x20, probe.bytes[1] = 0x01, probe.bytes[2] = 0x48, probe.bytes[3] = 0x60;
                probe.bytes[4] = 0x48, probe.bytes[5] = 0x60, probe.bytes[14] = 0x88, probe.bytes[15] = 0x88;
        }
        r = rtnl_route_get(rtnl, family, &probe, ifindex, 0, &rt);
        if (r < 0)
                return -ENETUNREACH;
        if (rt.oif != ifindex || in_addr_is_null(family, &rt.gateway))
                return -ENETUNREACH;
        *ret_gateway = rt.gateway;
        return 0;
}

/* ---- rules ---- */

int rtnl_rule_parse(const struct nlmsghdr *nlh, RtnlRule *ret) {
        const struct nlattr *tb[FRA_MAX + 1];
        const struct fib_rule_hdr *frh;
        RtnlRule rule = {};
        uint32_t u;
        int r;

        r = rtnl_parse_attrs(nlh, sizeof(*frh), tb, FRA_MAX);
        if (r < 0)
                return r;
        frh = mnl_nlmsg_get_payload(nlh);
        if (!family_valid(frh->family))
                return -EAFNOSUPPORT;

        rule.family = frh->family;
        rule.action = frh->action;
        rule.invert = frh->flags & FIB_RULE_INVERT;
        rule.table = attr_get_u32(tb[FRA_TABLE], &u) ? u : frh->table;
        (void) attr_get_u32(tb[FRA_PRIORITY], &rule.priority);
        (void) attr_get_u32(tb[FRA_FWMARK], &rule.fwmark);
        (void) attr_get_u32(tb[FRA_FWMASK], &rule.fwmask);
        (void) attr_get_u8(tb[FRA_PROTOCOL], &rule.protocol);
        rule.src_prefixlen = frh->src_len;
        rule.dst_prefixlen = frh->dst_len;
        (void) attr_get_addr(tb[FRA_SRC], rule.family, &rule.src);
        (void) attr_get_addr(tb[FRA_DST], rule.family, &rule.dst);
        (void) attr_get_str(tb[FRA_IIFNAME], rule.iifname, sizeof rule.iifname);
        (void) attr_get_str(tb[FRA_OIFNAME], rule.oifname, sizeof rule.oifname);

        *ret = rule;
        return 0;
}

static struct nlmsghdr *rule_message(Rtnl *rtnl, uint16_t type, uint16_t flags, const RtnlRule *rule,
                                     bool for_delete) {
        size_t sz = family_address_size(rule->family);
        struct fib_rule_hdr *frh;
        struct nlmsghdr *nlh;
        uint32_t table = rule->table;
        uint8_t protocol = for_delete ? rule->protocol : (rule->protocol ?: RTPROT_FLUXIFY);

        nlh = rtnl_message_new(rtnl, type, flags);
        frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
        frh->family = rule->family;
        frh->action = rule->action ?: FR_ACT_TO_TBL;
        frh->flags = rule->invert ? FIB_RULE_INVERT : 0;
        frh->src_len = rule->src_prefixlen;
        frh->dst_len = rule->dst_prefixlen;
        frh->table = table < 256 ? table : RT_TABLE_UNSPEC;
        if (table > 0)
                mnl_attr_put_u32(nlh, FRA_TABLE, table);
        mnl_attr_put_u32(nlh, FRA_PRIORITY, rule->priority);
        if (rule->fwmark != 0 || rule->fwmask != 0) {
                mnl_attr_put_u32(nlh, FRA_FWMARK, rule->fwmark);
                mnl_attr_put_u32(nlh, FRA_FWMASK, rule->fwmask ?: UINT32_MAX);
        }
        if (protocol != 0)
                mnl_attr_put_u8(nlh, FRA_PROTOCOL, protocol);
        if (rule->src_prefixlen > 0)
                mnl_attr_put(nlh, FRA_SRC, sz, &rule->src);
        if (rule->dst_prefixlen > 0)
                mnl_attr_put(nlh, FRA_DST, sz, &rule->dst);
        if (!isempty(rule->iifname))
                mnl_attr_put_strz(nlh, FRA_IIFNAME, rule->iifname);
        if (!isempty(rule->oifname))
                mnl_attr_put_strz(nlh, FRA_OIFNAME, rule->oifname);
        return nlh;
}

static int rule_validate(const RtnlRule *rule) {
        size_t sz;

        if (!rule || !family_valid(rule->family))
                return -EAFNOSUPPORT;
        sz = family_address_size(rule->family);
        if (rule->src_prefixlen > sz * 8 || rule->dst_prefixlen > sz * 8)
                return -EINVAL;
        if (strnlen(rule->iifname, IFNAMSIZ) >= IFNAMSIZ || strnlen(rule->oifname, IFNAMSIZ) >= IFNAMSIZ)
                return -EINVAL;
        if ((rule->action == 0 || rule->action == FR_ACT_TO_TBL) && rule->table == 0)
                return -EINVAL; /* "lookup" without a table */
        return 0;
}

int rtnl_rule_add(Rtnl *rtnl, const RtnlRule *rule) {
        int r;

        assert_return(rtnl, -EINVAL);
        r = rule_validate(rule);
        if (r < 0)
                return r;
        return rtnl_call(rtnl, rule_message(rtnl, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, rule, false), NULL,
                         NULL);
}

int rtnl_rule_delete(Rtnl *rtnl, const RtnlRule *rule) {
        int r;

        assert_return(rtnl, -EINVAL);
        r = rule_validate(rule);
        if (r < 0)
                return r;
        return rtnl_call(rtnl, rule_message(rtnl, RTM_DELRULE, 0, rule, true), NULL, NULL);
}

static int rule_list_cb(const struct nlmsghdr *nlh, void *userdata) {
        Collect *c = userdata;
        RtnlRule rule, *p;

        if (nlh->nlmsg_type != RTM_NEWRULE)
                return 0;
        if (rtnl_rule_parse(nlh, &rule) < 0)
                return 0;
        if (c->family != AF_UNSPEC && rule.family != c->family)
                return 0;
        p = collect_new_item(c);
        if (!p)
                return -ENOMEM;
        *p = rule;
        return 0;
}

static struct nlmsghdr *rule_dump_build(Rtnl *rtnl, int family) {
        struct nlmsghdr *nlh;
        struct fib_rule_hdr *frh;

        nlh = rtnl_message_new(rtnl, RTM_GETRULE, NLM_F_DUMP);
        frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
        frh->family = family;
        return nlh;
}

int rtnl_rule_list(Rtnl *rtnl, int family, RtnlRule **ret, size_t *ret_n) {
        Collect c = { .item_size = sizeof(RtnlRule), .family = family };
        int r;

        assert_return(rtnl && ret && ret_n, -EINVAL);
        assert_return(family == AF_UNSPEC || family_valid(family), -EAFNOSUPPORT);

        r = rtnl_dump(rtnl, rule_dump_build, family, rule_list_cb, &c, collect_reset);
        if (r < 0) {
                free(c.items);
                return r;
        }
        *ret = c.items;
        *ret_n = c.n;
        return 0;
}

/* ---- crash cleanup ---- */

static int flush_routes(Rtnl *rtnl, uint8_t protocol, unsigned *n_deleted) {
        _cleanup_(freep) RtnlRoute *routes = NULL;
        size_t n = 0;
        int r;

        r = rtnl_route_list(rtnl, AF_UNSPEC, 0, &routes, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                RtnlRoute del;

                if (routes[i].protocol != protocol)
                        continue;
                /* Identify the route by its key (family, table, dst, metric, protocol, type); no
                 * nexthops, so a v6 multipath route goes with all its siblings at once. */
                del = (RtnlRoute) {
                        .family = routes[i].family,
                        .dst = routes[i].dst,
                        .dst_prefixlen = routes[i].dst_prefixlen,
                        .table = routes[i].table,
                        .metric = routes[i].metric,
                        .protocol = protocol,
                        .type = routes[i].type,
                };
                if (routes[i].n_nexthops == 0) {
                        del.oif = routes[i].oif;
                        del.gateway = routes[i].gateway;
                }
                r = rtnl_route_delete(rtnl, &del);
                if (r == -ESRCH || r == -ENOENT)
                        continue; /* went with a sibling */
                if (r < 0)
                        return r;
                (*n_deleted)++;
        }
        return 0;
}

static int flush_rules(Rtnl *rtnl, uint8_t protocol, unsigned *n_deleted) {
        _cleanup_(freep) RtnlRule *rules = NULL;
        size_t n = 0;
        int r;

        r = rtnl_rule_list(rtnl, AF_UNSPEC, &rules, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (rules[i].protocol != protocol)
                        continue;
                r = rtnl_rule_delete(rtnl, &rules[i]);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                (*n_deleted)++;
        }
        return 0;
}

int rtnl_flush_protocol(Rtnl *rtnl, uint8_t protocol, unsigned *ret_n_routes, unsigned *ret_n_rules) {
        unsigned n_routes = 0, n_rules = 0;
        int r;

        assert_return(rtnl, -EINVAL);
        /* Never sweep the kernel's own or unspecified routes. */
        assert_return(protocol > RTPROT_STATIC, -EINVAL);

        /* Rules first, so no traffic is steered into tables while they are being emptied. */
        r = flush_rules(rtnl, protocol, &n_rules);
        if (r < 0)
                return r;
        r = flush_routes(rtnl, protocol, &n_routes);
        if (r < 0)
                return r;

        if (ret_n_routes)
                *ret_n_routes = n_routes;
        if (ret_n_rules)
                *ret_n_rules = n_rules;
        return 0;
}
